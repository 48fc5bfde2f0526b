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
:mod:`agent.chat_render`.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import signal
import sys
import time
from collections.abc import AsyncGenerator, Iterator, Mapping
from contextlib import aclosing
from typing import TYPE_CHECKING, Any, cast

import anyio
from rich.console import Console
from rich.text import Text

from agent import __version__
from agent.chat_input import Input, PlainInput, TerminalInput
from agent.chat_render import CallRecord, ConnectStatus, TurnView, error_line, short_args, tool_count
from agent.chat_resume import SECOND_CTRL_C, pick_chat, show_recent
from agent.config import Config
from agent.errors import AgentError, UsageError
from agent.messages import Message
from agent.options import ChatOptions
from agent.terminal import terminal_console

if TYPE_CHECKING:
    from agent.core import Event
    from agent.history import SavedChat
    from agent.mcp.elicitation import ElicitationAnswer, ElicitationRequest
    from agent.mcp.manager import ServerState
    from agent.mcp.server_log import ServerLog
    from agent.providers.base import Provider
    from agent.session import Answer, Session, SessionOptions
    from agent.tools import Toolbox, ToolProgress

__all__ = ["Chat", "Input", "PlainInput", "TerminalInput", "main"]


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


class Chat:
    """One chat: the conversation, the screen and the commands, over a :class:`Session`."""

    def __init__(
        self,
        console: Console,
        *,
        history: list[Message] | None = None,
        fancy: bool = True,
        saved: SavedChat | None = None,
    ) -> None:
        self.console = console
        self.fancy = fancy
        self.history: list[Message] = history if history is not None else []
        self.last_call: CallRecord | None = None
        self.input: Input = PlainInput()
        self.saved = saved  # where the chat is kept as it goes (agent/history.py); None: nowhere
        self._session: Session | None = None
        self._view: TurnView | None = None
        self._turn_scope: anyio.CancelScope | None = None
        self._away: set[str] = set()  # servers that went away mid-chat, not back yet
        self._cancelled_at = -math.inf  # when a turn was last cancelled (monotonic)

    @property
    def session(self) -> Session:
        assert self._session is not None, "the chat runs inside a Session"
        return self._session

    @property
    def config(self) -> Config:
        return self.session.config

    @property
    def provider(self) -> Provider:
        return self.session.provider

    @property
    def toolbox(self) -> Toolbox:
        return self.session.toolbox

    @property
    def always(self) -> set[tuple[str, str]]:
        return self.session.always

    @property
    def model(self) -> str:
        return self.session.model

    @property
    def view(self) -> TurnView | None:
        """The turn being shown, if one is running."""
        return self._view

    def session_options(self, options: ChatOptions | None = None, **more: Any) -> SessionOptions:
        """The Session a chat needs: browser logins and approval questions go to this terminal."""
        from agent.session import SessionOptions
        from agent.session_servers import CHAT_GRACE

        options = options or ChatOptions()
        wired: dict[str, Any] = {
            "elicitation": self.elicit,
            "on_progress": self.progress,
            "on_server_log": self.server_log,
        }
        return SessionOptions(
            servers=options.servers,
            adhoc=options.adhoc,
            model=options.model,
            allow_login=True,
            ask=self.ask_approval,
            system=options.system,
            on_notice=self.notice,
            connect_grace=CHAT_GRACE,
            **(wired | more),
        )

    async def run(
        self, config: Config, options: SessionOptions, *, provider: Provider | None = None, resumed: str = ""
    ) -> int:
        """Connect (showing progress on a terminal), then chat until the user quits."""
        from dataclasses import replace

        from agent.session import Session, select_servers

        status = ConnectStatus(
            self.console, select_servers(config, options.servers, options.adhoc), enabled=self.fancy
        )
        failed: list[AgentError] = []
        opened = False

        def on_state(state: ServerState) -> None:
            if opened:
                self.server_changed(state)
            else:
                status.update(state)

        options = replace(
            options, on_server_state=on_state, on_server_failed=failed.append, on_notice=self.notice
        )
        try:
            async with Session.open(config, options, provider=provider) as session:
                opened = True
                status.stop()
                self._session = session
                self.banner(failed)
                if resumed:
                    self.say(f"resumed {resumed}: {len(self.history)} messages", "dim")
                    show_recent(self.console, self.history)
                return await self.loop()
        finally:
            status.stop()

    # -- output --------------------------------------------------------------------------------

    def say(self, text: str, style: str = "") -> None:
        self.console.print(Text(text, style=style), soft_wrap=True)

    def notice(self, text: str) -> None:
        """A one-line note from the Session (context made smaller, a call denied)."""
        self.notice_line(text, "dim")

    def server_changed(self, state: ServerState) -> None:
        """One line when a server goes away mid-chat, and one when it is back."""
        if state.status == "failed" and state.error is not None:
            self._away.add(state.name)
            reason = state.error.reason.splitlines()[0]
            what = "went away" if state.ever_connected else "could not be used"
            self.notice_line(
                f"server {state.name} {what}: {reason} (trying again in the background)", "yellow"
            )
        elif state.status == "connected" and state.name in self._away:
            self._away.discard(state.name)
            self.notice_line(f"server {state.name} is back", "green")

    def notice_line(self, text: str, style: str) -> None:
        """One line between a turn's output (its live view paused meanwhile)."""
        if self._view is not None:
            self._view.pause()
        self.say(text, style)
        if self._view is not None:
            self._view.resume()

    def autosave(self) -> None:
        """Keep the conversation in its saved-chat file; a failure is said once, not fatal."""
        if self.saved is None:
            return
        try:
            self.saved.save(self.history, model=self.model)
        except OSError as exc:
            self.say(f"could not save the chat to {self.saved.path}: {exc.strerror or exc}", "yellow")
            self.saved = None

    def error(self, exc: AgentError) -> None:
        self.console.print(Text(error_line(exc), style="red"), soft_wrap=True)

    def banner(self, failed: list[AgentError]) -> None:
        connected = self.session.manager.connected
        tools = f"{tool_count(len(self.toolbox))} from {', '.join(connected)}" if connected else "no tools"
        self.say(f"agent {__version__} · {self.model} · {tools}", "bold")
        for error in failed:
            self.error(error)
        if self.fancy:
            self.say("/help for commands · Esc+Enter for a new line · Ctrl-C cancels · Ctrl-D quits", "dim")

    # -- the loop ------------------------------------------------------------------------------

    async def loop(self) -> int:
        """Read and answer messages until /quit, Ctrl-D, or Ctrl-C at an empty prompt."""
        from agent import chat_mcp, slash

        while True:
            try:
                line = await self._read()
            except (EOFError, KeyboardInterrupt):
                return 0
            line = line.strip()
            if not line:
                continue
            outcome: object = None
            if line.startswith("/") and not line.startswith("//"):
                with anyio.CancelScope() as scope, _cancel_on_sigint(scope), _no_echo(self.fancy):
                    try:
                        outcome = await slash.dispatch(self, line)
                        if outcome is slash.QUIT:
                            return 0
                    except AgentError as exc:
                        self.error(exc)
                if scope.cancelled_caught:
                    self.say("cancelled", "yellow")
                self.autosave()
                if outcome is chat_mcp.TURN:  # /prompt left a user message for the model
                    await self.turn(None)
                continue
            line = line.removeprefix("/")
            if "@" in line:  # @SERVER:URI attaches a resource
                try:
                    attached = await chat_mcp.attach(self, line)
                except AgentError as exc:
                    self.error(exc)
                    continue
                if attached is not None:
                    self.history.append(attached)
                    await self.turn(None)
                    continue
            await self.turn(line)

    async def _read(self) -> str:
        """The next message. A Ctrl-C within a second of cancelling a turn (the user pressed it
        twice) does not end the chat; later, at an empty prompt, it does."""
        while True:
            with anyio.CancelScope() as scope, _cancel_on_sigint(scope):
                try:
                    return await self.input.read()
                except KeyboardInterrupt:
                    pass
            if time.monotonic() - self._cancelled_at >= SECOND_CTRL_C:
                raise KeyboardInterrupt

    async def turn(self, prompt: str | None) -> None:
        """One turn of the conversation; Ctrl-C cancels it and keeps the history valid. ``None``:
        the model answers the user message the history ends with (an attachment, a /prompt)."""
        view = self._view = TurnView(self.console, model=self.provider.model, fancy=self.fancy)
        scope = self._turn_scope = anyio.CancelScope()
        # The Ctrl-C handler stays until the prompt's own takes over: a second press is no exit.
        with _cancel_on_sigint(scope):
            try:
                with scope, _no_echo(self.fancy):
                    async with anyio.create_task_group() as tg:
                        if self.fancy:
                            tg.start_soon(view.animate)
                        events = cast("AsyncGenerator[Event, None]", self.session.turn(prompt, self.history))
                        async with aclosing(events):
                            async for event in events:
                                view.handle(event)
                        tg.cancel_scope.cancel()
            finally:
                if scope.cancelled_caught:
                    self._cancelled_at = time.monotonic()
                    view.cancelled()  # names the calls still running, then closes the view
                view.close()
                self._view = self._turn_scope = None
                if view.last_call is not None:
                    self.last_call = view.last_call
                self.autosave()

    # -- what servers send during a turn ---------------------------------------------------------

    async def elicit(self, request: ElicitationRequest) -> ElicitationAnswer:
        """A server's form or URL request, asked here (:mod:`agent.elicit_ui`)."""
        from agent.chat_mcp import elicit

        return await elicit(self, request)

    def progress(self, report: ToolProgress) -> None:
        if self._view is not None:
            self._view.progress(report)

    def server_log(self, entry: ServerLog) -> None:
        """A server's warning (or worse): one dim line."""
        text = " ".join(entry.text.split())
        width = max(20, self.console.width - len(entry.server) - len(entry.level) - 6)
        self.say(
            f"{entry.server} {entry.level}: {text if len(text) <= width else text[: width - 1] + '…'}", "dim"
        )

    # -- approval ------------------------------------------------------------------------------

    async def ask_approval(
        self, server: str, tool: str, arguments: Mapping[str, Any], hints: tuple[str, ...] = ()
    ) -> Answer:
        """The Session's question when a tool's approval is "ask"."""
        if self._view is not None:
            self._view.pause()
        try:
            return await self._ask(server, tool, arguments, hints)
        except KeyboardInterrupt:
            # Ctrl-C at the question: cancel the whole turn, as Ctrl-C does elsewhere.
            if self._turn_scope is not None:
                self._turn_scope.cancel()
            await anyio.lowlevel.checkpoint()
            return "n"
        finally:
            if self._view is not None:
                self._view.resume()

    async def _ask(
        self, server: str, tool: str, arguments: Mapping[str, Any], hints: tuple[str, ...]
    ) -> Answer:
        call = f"{server}.{tool}({short_args(arguments, 200)})" + (f" [{', '.join(hints)}]" if hints else "")
        question = f"allow {call}? [y]es / [n]o / [a]lways for {tool} in this session"
        if self.fancy:
            self.console.print(Text.assemble(("? ", "yellow bold"), ("allow ", ""), (call, "bold")))
            question = f"[y]es / [n]o / [a]lways for {tool}: "
        while True:
            try:
                if isinstance(self.input, TerminalInput):  # one key: y, n or a, no Enter
                    reply = await self.input.choose(question, "yna")
                else:
                    reply = (await self.input.ask(question)).strip().lower()
            except EOFError:
                return "n"
            for answer, words in (("y", ("y", "yes")), ("n", ("n", "no")), ("a", ("a", "always"))):
                if reply in words:
                    return answer  # type: ignore[return-value]
            self.say("please answer y, n or a", "yellow")


def make_console() -> Console:
    """A console for stdout; plain (no colour, no cursor tricks) when stdout is not a terminal.
    On a terminal, control characters in what it prints are made visible (agent/terminal.py)."""
    return terminal_console(highlight=False, soft_wrap=False)


async def main(options: ChatOptions, config: Config) -> int:
    """``agent chat``: connect the servers, then chat until the user quits; the chat is saved as
    it goes (agent/history.py), and ``--continue`` / ``--resume`` go on with a saved one."""
    from agent.history import SavedChat, find_chat, latest_chat

    console = make_console()
    fancy = console.is_terminal and not console.is_dumb_terminal and sys.stdin.isatty()
    chat = Chat(console, fancy=fancy, saved=SavedChat.new())
    if fancy:
        chat.input = TerminalInput(chat)
    ref = options.resume
    if options.continue_last:
        if ref is not None:
            raise UsageError("--continue and --resume both name a chat", hint="give one of them")
        newest = latest_chat()
        if newest is None:
            raise UsageError("there is no saved chat to continue yet", hint="start one with: agent chat")
        ref = newest.id
    elif ref == "":
        ref = await pick_chat(chat)
    if ref is not None:
        chat.history, chat.saved = find_chat(ref)
    return await chat.run(config, chat.session_options(options), resumed=ref or "")
