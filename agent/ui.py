"""The terminal chat: ``agent chat``, also what a bare ``agent`` runs.

Keys (on a terminal):

- Enter sends the message. Esc then Enter (Alt+Enter in most terminals) inserts a new line; so
  does a line ending in a backslash ``\\`` when Enter is pressed.
- Up / Down recall earlier messages (saved across sessions in ``user_data_dir()/history``).
- Tab completes slash commands, tool names (``/call``), models (``/model``) and server names.
- Ctrl-C while the model answers or a tool runs cancels that turn (the tool call is cancelled on
  the server too) and returns to the prompt; the conversation so far is kept. Ctrl-C with text at
  the prompt clears it; at an empty prompt it ends the chat, like Ctrl-D and ``/quit``. Ending the
  chat is not an error: the exit code is 0.

Without a terminal (input or output piped) the chat reads one message per line from stdin (a
line ending in ``\\`` continues on the next) and writes plain text, with no prompt and no colour.
``NO_COLOR`` turns colour off on a terminal too.

The tool calls of one answer run at once, and each call's line is printed the moment that call
finishes, so the lines come in the order the calls finish (the model still gets the results in its
own order). Slash commands live in :mod:`agent.slash`; what a turn looks like in
:mod:`agent.ui_render`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from collections.abc import AsyncGenerator, Iterator, Mapping
from contextlib import aclosing
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, cast

import anyio
from rich.console import Console
from rich.text import Text

from agent import __version__
from agent.config import Config, ServerSettings, approval_mode, user_data_dir
from agent.core import Agent, Event, ToolCallFinished, load_system_prompt
from agent.errors import AgentError, UsageError
from agent.messages import Message, decode_transcript, encode_transcript
from agent.ui_render import CallRecord, ConnectStatus, TurnView, error_line, short_args

if TYPE_CHECKING:
    import argparse

    from agent.mcp.manager import ServerManager
    from agent.providers.base import Provider
    from agent.tools import Toolbox

__all__ = [
    "Chat",
    "PlainInput",
    "TerminalInput",
    "approval_mode",
    "load_transcript",
    "main",
    "save_transcript",
]

Answer = Literal["y", "n", "a"]


def save_transcript(file: str, messages: list[Message], *, model: str) -> Path:
    """Write the conversation as JSON (see :func:`load_transcript`); returns the path written."""
    path = Path(file).expanduser()
    data = encode_transcript(messages, model=model)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    except OSError as exc:
        raise UsageError(f"cannot write {str(path)!r}: {exc.strerror}", hint="choose another file") from None
    return path


def load_transcript(file: str) -> list[Message]:
    """The messages of a transcript written by ``/save`` (or a bare JSON list of messages)."""
    path = Path(file).expanduser()
    hint = "give a file written by /save in the chat"
    try:
        return decode_transcript(path.read_bytes())
    except FileNotFoundError:
        raise UsageError(f"transcript {str(path)!r} not found", hint=hint) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"cannot read transcript {str(path)!r}: {exc}", hint=hint) from None
    except ValueError as exc:
        raise UsageError(f"transcript {str(path)!r} is malformed: {exc}", hint=hint) from None


@contextlib.contextmanager
def _cancel_on_sigint(scope: anyio.CancelScope) -> Iterator[None]:
    """While inside, Ctrl-C (SIGINT) cancels ``scope`` instead of raising KeyboardInterrupt."""
    loop = asyncio.get_running_loop()
    try:
        loop.add_signal_handler(signal.SIGINT, scope.cancel)
    except (NotImplementedError, RuntimeError, ValueError):  # no signal support (Windows, threads)
        yield
        return
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGINT)


@contextlib.contextmanager
def _no_echo(enabled: bool) -> Iterator[None]:
    """While inside, keys typed ahead are not echoed (they would break the live output); they stay
    buffered for the next prompt. Ctrl-C still raises SIGINT."""
    if not enabled:
        yield
        return
    try:
        import termios
    except ImportError:  # not on this platform
        yield
        return
    try:
        fd = sys.stdin.fileno()
        saved = termios.tcgetattr(fd)
        quiet = list(saved)
        quiet[3] &= ~termios.ECHO  # the local-modes word
        termios.tcsetattr(fd, termios.TCSANOW, quiet)
    except (OSError, ValueError, termios.error):  # stdin is not a terminal after all
        yield
        return
    try:
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSANOW, saved)


class Input(Protocol):
    async def read(self) -> str:
        """The next message; raises EOFError (end) or KeyboardInterrupt (Ctrl-C at an empty prompt)."""
        ...

    async def ask(self, question: str) -> str:
        """One short answer; raises EOFError or KeyboardInterrupt."""
        ...


class PlainInput:
    """Lines from stdin, for piped input: a trailing backslash continues the message."""

    async def _line(self) -> str:
        line: str = await anyio.to_thread.run_sync(sys.stdin.readline, abandon_on_cancel=True)
        if not line:
            raise EOFError
        return line.rstrip("\n")

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
        print(question, flush=True)
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
            path.parent.mkdir(parents=True, exist_ok=True)
            history: FileHistory | InMemoryHistory = FileHistory(str(path))
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
        )
        self._questions: PromptSession[str] = PromptSession()

    def _toolbar(self) -> str:
        tools = len(self.chat.toolbox)
        return f" {self.chat.model} · {tools} tools · Esc+Enter: new line · /help"

    async def read(self) -> str:
        from prompt_toolkit.formatted_text import FormattedText

        line: str = await self.session.prompt_async(FormattedText([("bold ansicyan", "> ")]))
        return line

    async def ask(self, question: str) -> str:
        # handle_sigint=False: the turn's own Ctrl-C handler stays in place; Ctrl-C arrives as a key.
        return await self._questions.prompt_async(question, handle_sigint=False)


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


class Chat:
    """One chat session: the provider, the servers, the conversation and the commands."""

    def __init__(
        self,
        config: Config,
        console: Console,
        manager: ServerManager,
        toolbox: Toolbox,
        provider: Provider,
        servers: Mapping[str, ServerSettings],
        *,
        history: list[Message] | None = None,
        fancy: bool = True,
    ) -> None:
        self.config = config
        self.console = console
        self.manager = manager
        self.toolbox = toolbox
        self.provider = provider
        self.servers = dict(servers)
        self.fancy = fancy
        self.system = load_system_prompt(config)
        self.always: set[tuple[str, str]] = set()  # tools the user allowed for this session
        self.last_call: CallRecord | None = None
        self.input: Input = PlainInput()
        self._view: TurnView | None = None
        self._turn_scope: anyio.CancelScope | None = None
        self.agent = self.new_agent(history or [])

    @property
    def model(self) -> str:
        return f"{self.provider.name}:{self.provider.model}"

    def new_agent(self, history: list[Message]) -> Agent:
        return Agent(
            self.provider,
            self.toolbox,
            system=self.system,
            max_steps=self.config.max_steps,
            history=history,
            approve=self._approve,
            on_tool_finished=self._tool_finished,
        )

    # -- output --------------------------------------------------------------------------------

    def say(self, text: str, style: str = "") -> None:
        self.console.print(Text(text, style=style), soft_wrap=True)

    def error(self, exc: AgentError) -> None:
        self.console.print(Text(error_line(exc), style="red"), soft_wrap=True)

    def banner(self) -> None:
        connected = self.manager.connected
        tools = f"{len(self.toolbox)} tools from {', '.join(connected)}" if connected else "no tools"
        self.say(f"agent {__version__} · {self.model} · {tools}", "bold")
        for state in self.manager.states.values():
            if state.status == "failed" and state.error is not None:
                self.error(state.error)
        if self.fancy:
            self.say("/help for commands · Esc+Enter for a new line · Ctrl-C cancels · Ctrl-D quits", "dim")

    # -- the loop ------------------------------------------------------------------------------

    async def loop(self) -> int:
        """Read and answer messages until /quit, Ctrl-D, or Ctrl-C at an empty prompt."""
        from agent import slash

        self.banner()
        while True:
            try:
                line = await self.input.read()
            except (EOFError, KeyboardInterrupt):
                return 0
            line = line.strip()
            if not line:
                continue
            if line.startswith("/") and not line.startswith("//"):
                with anyio.CancelScope() as scope, _cancel_on_sigint(scope), _no_echo(self.fancy):
                    try:
                        if await slash.dispatch(self, line) is slash.QUIT:
                            return 0
                    except AgentError as exc:
                        self.error(exc)
                if scope.cancelled_caught:
                    self.say("cancelled", "yellow")
                continue
            await self.turn(line.removeprefix("/"))

    async def turn(self, prompt: str) -> None:
        """One turn of the conversation; Ctrl-C cancels it and keeps the history valid."""
        view = self._view = TurnView(self.console, model=self.provider.model, fancy=self.fancy)
        scope = self._turn_scope = anyio.CancelScope()
        try:
            with scope, _cancel_on_sigint(scope), _no_echo(self.fancy):
                async with anyio.create_task_group() as tg:
                    if self.fancy:
                        tg.start_soon(view.animate)
                    events = cast("AsyncGenerator[Event, None]", self.agent.run(prompt))
                    async with aclosing(events):
                        async for event in events:
                            view.handle(event)
                    tg.cancel_scope.cancel()
        finally:
            view.close()
            self._view = self._turn_scope = None
            if view.last_call is not None:
                self.last_call = view.last_call
        if scope.cancelled_caught:
            view.cancelled()

    def _tool_finished(self, event: ToolCallFinished) -> None:
        """A tool call just finished: show its line now, not when the slowest call of the batch ends."""
        if self._view is not None:
            self._view.tool_finished(event)

    # -- approval ------------------------------------------------------------------------------

    async def _approve(self, server: str, tool: str, arguments: Mapping[str, Any]) -> bool:
        mode = approval_mode(self.config, self.servers, server, tool)
        if mode == "always" or (server, tool) in self.always:
            return True
        if mode == "never":
            return False
        if self._view is not None:
            self._view.pause()
        try:
            answer = await self.ask_approval(server, tool, arguments)
        except KeyboardInterrupt:
            # Ctrl-C at the question: cancel the whole turn, as Ctrl-C does elsewhere.
            if self._turn_scope is not None:
                self._turn_scope.cancel()
            await anyio.lowlevel.checkpoint()
            return False
        finally:
            if self._view is not None:
                self._view.resume()
        if answer == "a":
            self.always.add((server, tool))
        return answer != "n"

    async def ask_approval(self, server: str, tool: str, arguments: Mapping[str, Any]) -> Answer:
        call = f"{server}.{tool}({short_args(arguments, 200)})"
        question = f"allow {call}? [y]es / [n]o / [a]lways for {tool} in this session"
        if self.fancy:
            self.console.print(Text.assemble(("? ", "yellow bold"), ("allow ", ""), (call, "bold")))
            question = f"[y]es / [n]o / [a]lways for {tool}: "
        while True:
            try:
                reply = (await self.input.ask(question)).strip().lower()
            except EOFError:
                return "n"
            for answer, words in (("y", ("y", "yes")), ("n", ("n", "no")), ("a", ("a", "always"))):
                if reply in words:
                    return answer  # type: ignore[return-value]
            self.say("please answer y, n or a", "yellow")


def make_console() -> Console:
    """A console for stdout; plain (no colour, no cursor tricks) when stdout is not a terminal."""
    return Console(highlight=False, soft_wrap=False)


async def main(args: argparse.Namespace, config: Config) -> int:
    """``agent chat``: connect the servers, then chat until the user quits."""
    from agent.config import select_servers
    from agent.mcp.manager import ServerManager
    from agent.mcp.oauth import auth_factory_for
    from agent.providers.registry import make_provider
    from agent.tools import Toolbox

    console = make_console()
    fancy = console.is_terminal and not console.is_dumb_terminal and sys.stdin.isatty()
    history = load_transcript(args.resume) if getattr(args, "resume", None) else []
    servers = select_servers(config, getattr(args, "server", None), getattr(args, "url", None))
    provider = make_provider(config, getattr(args, "model", None) or config.model)
    status = ConnectStatus(console, servers, enabled=fancy)
    chat: Chat | None = None
    try:
        async with contextlib.AsyncExitStack() as stack:
            try:
                manager = ServerManager(
                    servers, auth_factory=auth_factory_for(config), on_state=status.update
                )
                await stack.enter_async_context(manager)
                toolbox = await Toolbox.load(manager, max_result_tokens=config.max_tool_result_tokens)
            finally:
                status.stop()
            chat = Chat(config, console, manager, toolbox, provider, servers, history=history, fancy=fancy)
            if fancy:
                chat.input = TerminalInput(chat)
            if history:
                chat.say(f"resumed {len(history)} messages from {args.resume}", "dim")
            return await chat.loop()
    finally:
        with anyio.CancelScope(shield=True):
            # /model may have replaced the provider; the replaced ones are closed already.
            await (chat.provider if chat is not None else provider).aclose()
