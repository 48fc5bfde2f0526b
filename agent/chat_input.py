"""What the chat reads: messages and short answers, from a terminal (prompt_toolkit line editing,
history, completion, multi-line keys, one-key answers) or from piped stdin (a line a message)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, Protocol

import anyio

from agent.approval import choose_key
from agent.approval import plain_style as _plain
from agent.config import user_data_dir
from agent.input_text import utf8_input
from agent.private_files import private_file
from agent.terminal import no_color, say

if TYPE_CHECKING:
    from agent.chat import Chat

__all__ = ["Input", "PlainInput", "TerminalInput"]


class Input(Protocol):
    async def read(self) -> str:
        """The next message; raises EOFError (end) or KeyboardInterrupt (Ctrl-C at an empty prompt)."""
        ...

    async def ask(self, question: str) -> str:
        """One short answer; raises EOFError or KeyboardInterrupt."""
        ...


class PlainInput:
    """Lines from stdin, for piped input: a trailing backslash continues the message."""

    def __init__(self) -> None:
        self._offset = 0  # bytes of stdin read so far: where a bad byte is

    async def _line(self) -> str:
        data: bytes = await anyio.to_thread.run_sync(sys.stdin.buffer.readline, abandon_on_cancel=True)
        if not data:
            raise EOFError
        line = utf8_input(data, "stdin", offset=self._offset)
        self._offset += len(data)
        return line.removesuffix("\n")

    async def read(self) -> str:
        lines = [await self._line()]
        while lines[-1].endswith("\\"):
            lines[-1] = lines[-1][:-1]
            try:
                lines.append(await self._line())
            except EOFError:
                break
        return "\n".join(lines)

    async def ask(self, question: str) -> str:
        say(question, sys.stdout)
        return await self._line()


class TerminalInput:
    """prompt_toolkit line editing: history file, completion, multi-line keys (see the module doc)."""

    def __init__(self, chat: Chat) -> None:
        from prompt_toolkit import PromptSession
        from prompt_toolkit.history import FileHistory, InMemoryHistory

        from agent.slash import ChatCompleter

        self.chat = chat
        path = user_data_dir() / "history"
        try:
            history: FileHistory | InMemoryHistory = FileHistory(str(private_file(path)))
        except OSError:
            history = InMemoryHistory()
        self.session: PromptSession[str] = PromptSession(
            history=history,
            completer=ChatCompleter(chat),
            complete_while_typing=True,
            multiline=True,
            key_bindings=_key_bindings(),
            prompt_continuation=lambda width, line_number, wrap_count: "… ".rjust(width),
            bottom_toolbar=self._toolbar,
            style_transformation=_plain() if no_color() else None,
        )
        self._questions: PromptSession[str] = PromptSession(
            style_transformation=_plain() if no_color() else None
        )

    def _toolbar(self) -> str:
        n = len(self.chat.toolbox)
        tools = f"{n} tool" if n == 1 else f"{n} tools"
        return f" {self.chat.model} · {tools} · Esc+Enter: new line · /help"

    async def read(self) -> str:
        from prompt_toolkit.formatted_text import FormattedText

        line: str = await self.session.prompt_async(
            FormattedText([("" if no_color() else "bold ansicyan", "> ")])
        )
        return line

    async def ask(self, question: str) -> str:
        # handle_sigint=False: the turn's own Ctrl-C handler stays in place; Ctrl-C arrives as a key.
        return await self._questions.prompt_async(question, handle_sigint=False)

    async def choose(self, question: str, keys: str) -> str:
        """One of ``keys``, answered by the key alone (no Enter); other keys are ignored."""
        return await choose_key(question, keys)


def _key_bindings() -> Any:
    from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent

    bindings = KeyBindings()

    # Ctrl-J submits too: typed-ahead Enters arrive as Ctrl-J while the terminal is not yet raw.
    @bindings.add("enter")
    @bindings.add("c-j")
    def _enter(event: KeyPressEvent) -> None:
        buffer = event.current_buffer
        if buffer.document.text_before_cursor.endswith("\\") and buffer.document.is_cursor_at_the_end:
            buffer.delete_before_cursor(1)
            buffer.insert_text("\n")
        else:
            buffer.validate_and_handle()

    @bindings.add("escape", "enter")
    def _newline(event: KeyPressEvent) -> None:
        event.current_buffer.insert_text("\n")

    @bindings.add("c-c")
    def _interrupt(event: KeyPressEvent) -> None:
        buffer = event.current_buffer
        if buffer.text:
            buffer.reset()
        else:
            event.app.exit(exception=KeyboardInterrupt, style="class:aborting")

    return bindings
