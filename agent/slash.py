"""Slash commands of the terminal chat, and the completion of them.

Each command is ``async def _cmd(chat, arg) -> None | QUIT``; ``arg`` is the text after the command
word. A user mistake raises an :class:`~agent.errors.AgentError`, which the chat prints as one line
and goes on.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prompt_toolkit.completion import CompleteEvent, Completer, Completion, PathCompleter
from prompt_toolkit.document import Document
from rich.cells import cell_len
from rich.table import Table
from rich.text import Text

from agent.chat_mcp import prompt_cmd, prompts_cmd, resources_cmd, server_completions
from agent.chat_render import CallRecord, call_line, render_call_detail, tool_count
from agent.errors import AgentError, ToolArgumentsError, UnknownToolError, UsageError
from agent.providers.registry import known_providers

if TYPE_CHECKING:
    from agent.chat import Chat
    from agent.tools import ToolEntry

__all__ = ["COMMANDS", "QUIT", "ChatCompleter", "dispatch"]

QUIT = object()
Handler = Callable[["Chat", str], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    usage: str
    help: str
    handler: Handler


async def _help(chat: Chat, arg: str) -> None:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    for command in COMMANDS.values():
        table.add_row(command.usage, command.help)
    chat.console.print(table)
    chat.console.print(
        Text(
            "keys: Enter sends · Esc+Enter, Alt+Enter or a trailing \\ make a new line · "
            "Up/Down recall · Tab completes · Ctrl-C cancels a turn (at an empty prompt: quits) · "
            "Ctrl-D quits. Start a message with // to send a literal /.",
            style="dim",
        )
    )


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def _params(entry: ToolEntry) -> str:
    schema = entry.spec.input_schema
    required = set(schema.get("required") or ())
    names = [f"{n}{'' if n in required else '?'}" for n in schema.get("properties") or {}]
    return ", ".join(names)


_NARROW = 24  # below this many columns left for /tools' descriptions, they wrap
_WRAPPED = 120  # characters of a wrapped description


def _hints(entry: ToolEntry) -> str:
    return f"[{', '.join(entry.hints)}] " if entry.hints else ""


async def _tools(chat: Chat, arg: str) -> None:
    entries = chat.toolbox.entries
    if not entries:
        chat.say("no tools: no server is connected (see /servers)", "yellow")
        return
    if arg.strip():
        # What the model's search_tools would find for these words, best first.
        entries = tuple(chat.session.tool_search.search(arg.strip()))
        if not entries:
            chat.say(f"no tools match {arg.strip()!r}", "yellow")
            return
    rows = [
        # Text, not markup: a server's names and descriptions are shown as they are, never styled by it.
        (entry.name, entry.server, _params(entry), _hints(entry) + " ".join(entry.spec.description.split()))
        for entry in entries
    ]
    columns = (("tool", "bold"), ("server", "cyan"), ("parameters", "dim"))
    widths = [min(max(len(h), *(cell_len(row[i]) for row in rows)), 40) for i, (h, _) in enumerate(columns)]
    # One line per tool: the description is cut, with "…", where the screen ends (each column is
    # padded by 2 on either side). On a narrow screen it wraps instead, cut at _WRAPPED characters.
    room = chat.console.width - sum(widths) - 4 * (len(widths) + 1)
    one_line = room >= _NARROW
    table = Table(box=None, padding=(0, 2), show_edge=False)
    for i, ((header, style), width) in enumerate(zip(columns, widths, strict=True)):
        table.add_column(header, style=style, no_wrap=i < 2, width=width if one_line else None)
    table.add_column("description", no_wrap=one_line)
    for *cells, description in rows:
        shown = Text(description)
        shown.truncate(room if one_line else _WRAPPED, overflow="ellipsis")
        table.add_row(*(Text(cell) for cell in cells), shown)
    chat.console.print(table)


def _find_tool(chat: Chat, name: str) -> ToolEntry:
    """A tool by its model-facing name, ``server.tool``, or the server's own name when unique."""
    entry = chat.toolbox.resolve(name)
    if entry is not None:
        return entry
    server, dot, tool = name.partition(".")
    matches = [
        e
        for e in chat.toolbox.entries
        if (dot and e.server == server and e.tool == tool) or (not dot and e.tool == name)
    ]
    if len(matches) == 1:
        return matches[0]
    if matches:
        options = ", ".join(f"{e.server}.{e.tool}" for e in matches)
        raise UsageError(f"tool {name!r} is offered by several servers", hint=f"say which: {options}")
    raise UnknownToolError(f"no tool named {name!r}", hint="/tools lists the tools")


async def _call(chat: Chat, arg: str) -> None:
    name, _, raw = arg.strip().partition(" ")
    if not name:
        raise UsageError("/call needs a tool name", hint='e.g. /call calculate {"expression": "6*7"}')
    entry = _find_tool(chat, name)
    try:
        arguments = json.loads(raw) if raw.strip() else {}
    except json.JSONDecodeError as exc:
        raise ToolArgumentsError(
            f"the arguments are not valid JSON: {exc.msg} at column {exc.colno}",
            hint='give a JSON object, e.g. {"text": "hi"}',
        ) from None
    if not isinstance(arguments, dict):
        raise ToolArgumentsError("the arguments must be a JSON object", hint='e.g. {"text": "hi"}')
    _check_arguments(entry, arguments)
    started = time.perf_counter()
    result = await chat.toolbox.call(entry.name, arguments)
    record = CallRecord(
        f"{entry.server}.{entry.tool}",
        arguments,
        result.text,
        result.is_error,
        (time.perf_counter() - started) * 1000,
    )
    chat.last_call = record
    chat.console.print(call_line(record))
    if "\n" in result.text.strip() or len(result.text) > 60:
        chat.console.print(Text(result.text, style="red" if result.is_error else ""))


def _check_arguments(entry: ToolEntry, arguments: dict[str, Any]) -> None:
    """Check arguments against the tool's input schema, for a clear message before the call."""
    from agent.tools import schema_violation

    violation = schema_violation(entry.spec.input_schema, arguments)
    if violation is None:
        return
    steps, message = violation
    where = ".".join(str(p) for p in steps)
    raise ToolArgumentsError(
        f"bad arguments for {entry.name}: {f'{where}: ' if where else ''}{message}",
        hint=f"{entry.name} takes: {_params(entry) or 'no arguments'} (? = optional)",
    )


async def _last(chat: Chat, arg: str) -> None:
    if chat.last_call is None:
        chat.say("no tool call yet", "dim")
        return
    chat.console.print(render_call_detail(chat.last_call))


async def _servers(chat: Chat, arg: str) -> None:
    words = arg.split()
    if words and words[0] == "reconnect":
        if len(words) != 2:
            raise UsageError("/servers reconnect needs one server name", hint="/servers lists them")
        await _reconnect(chat, words[1])
        return
    if words:
        raise UsageError(
            f"unknown /servers option {words[0]!r}", hint="use /servers or /servers reconnect NAME"
        )
    table = Table(box=None, padding=(0, 2), show_edge=False)
    for column in ("server", "status", "transport", "tools", "detail"):
        table.add_column(column)
    counts: dict[str, int] = {}
    for entry in chat.toolbox.entries:
        counts[entry.server] = counts.get(entry.server, 0) + 1
    for name, state in chat.session.manager.states.items():
        style = {"connected": "green", "failed": "red"}.get(state.status, "yellow")
        detail = state.error.reason if state.error is not None else ""
        if state.error is not None and state.error.hint:
            detail += f" — {state.error.hint}"
        if state.status == "connected" and state.connect_ms is not None:
            detail = f"{state.server_name or ''} {state.connect_ms:.0f} ms".strip()
            if state.last_error is not None and state.last_error_at is not None:
                detail += f" · last error {_clock(state.last_error_at)}: {state.last_error.reason}"
        elif state.status == "failed" and state.last_error_at is not None:
            detail = f"since {_clock(state.last_error_at)}: {detail}"
            if state.retry_at is not None:
                detail += f" (next try in {max(state.retry_at - time.time(), 0):.0f} s)"
        table.add_row(
            Text(name),
            Text(state.status, style=style),
            state.settings.kind,
            str(counts.get(name, 0)),
            Text(detail),
        )
    chat.console.print(table)


def _clock(seconds: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(seconds))


async def _reconnect(chat: Chat, name: str) -> None:
    known = chat.session.manager.states
    if name not in known:  # before saying "reconnecting": there is nothing to reconnect
        raise UsageError(f"no server named {name!r}", hint=f"known servers: {', '.join(known) or 'none'}")
    chat.say(f"reconnecting {name}…", "dim")
    state = await chat.session.reconnect(name)
    if state.status == "connected":
        count = sum(1 for e in chat.toolbox.entries if e.server == name)
        chat.say(f"{name}: connected, {tool_count(count)}", "green")
    elif state.error is not None:
        chat.error(state.error)


async def _model(chat: Chat, arg: str) -> None:
    spec = arg.strip()
    if not spec:
        chat.say(f"model: {chat.model}")
        known = known_providers(chat.config)
        chat.say(f"switch with /model PROVIDER:MODEL (providers: {', '.join(known)})", "dim")
        return
    await chat.session.switch_model(spec)
    chat.say(f"model: {chat.model} (conversation kept: {len(chat.history)} messages)", "green")


async def _clear(chat: Chat, arg: str) -> None:
    from agent.history import SavedChat

    chat.history.clear()
    chat.last_call = None
    if chat.saved is not None:  # the old chat stays saved; the new one gets its own file
        chat.saved = SavedChat.new()
    chat.say("conversation cleared", "green")


async def _compact(chat: Chat, arg: str) -> None:
    before = chat.session.context_budget(chat.history).history
    replaced = await chat.session.context_for().compact(chat.history)
    if not replaced:
        chat.say(f"nothing to compact: the history is as it was (≈{before:,} tokens)", "dim")
        return
    after = chat.session.context_budget(chat.history).history
    chat.say(f"compacted: the history went from ≈{before:,} to ≈{after:,} tokens", "green")


async def _context(chat: Chat, arg: str) -> None:
    budget = chat.session.context_budget(chat.history)
    table = Table(box=None, padding=(0, 2), show_edge=False)
    table.add_column("context")
    table.add_column("tokens (≈)", justify="right")
    table.add_column("share", justify="right")
    for name, tokens in (
        ("system prompt", budget.system),
        ("tools", budget.tools),
        (f"history ({budget.messages} messages)", budget.history),
        ("kept for the answer", budget.reserve),
        ("free", budget.free),
    ):
        table.add_row(name, f"{tokens:,}", f"{tokens / budget.window:.0%}")
    chat.console.print(table)
    chat.say(
        f"{chat.model}: a {budget.window:,}-token window; old tool results are dropped, then older turns "
        "summarized, when a request would not fit (/compact: now)",
        "dim",
    )


async def _save(chat: Chat, arg: str) -> None:
    from agent.transcript import save_transcript

    if not arg.strip():
        raise UsageError(
            "/save needs a file name", hint="e.g. /save chat.json; resume with agent chat --resume FILE"
        )
    path = save_transcript(arg.strip(), chat.history, model=chat.model)
    chat.say(f"saved {len(chat.history)} messages to {path} (resume: agent chat --resume {path})", "green")


async def _quit(chat: Chat, arg: str) -> object:
    return QUIT


COMMANDS: dict[str, Command] = {
    c.name: c
    for c in (
        Command("/help", "/help", "this help", _help),
        Command(
            "/tools",
            "/tools [QUERY]",
            "list the tools, or search them as the model would (alias /list)",
            _tools,
        ),
        Command("/call", "/call TOOL {json}", "call a tool yourself and show its result", _call),
        Command("/last", "/last", "show the last tool call in full", _last),
        Command(
            "/resources", "/resources", "the servers' resources (attach one with @SERVER:URI)", resources_cmd
        ),
        Command("/prompts", "/prompts", "the servers' prompts", prompts_cmd),
        Command(
            "/prompt", "/prompt NAME key=value…", "add a server's prompt to the conversation", prompt_cmd
        ),
        Command("/servers", "/servers [reconnect NAME]", "server status, or reconnect one", _servers),
        Command(
            "/model", "/model [PROVIDER:MODEL]", "show or switch the model, keeping the conversation", _model
        ),
        Command("/clear", "/clear", "start a new conversation", _clear),
        Command("/compact", "/compact", "summarize the conversation so far to free context", _compact),
        Command("/context", "/context", "the context window's budget: system, tools, history", _context),
        Command("/save", "/save FILE", "save the conversation as JSON (agent chat --resume FILE)", _save),
        Command("/quit", "/quit", "leave (also Ctrl-D)", _quit),
    )
}
_ALIASES = {"/list": "/tools", "/exit": "/quit", "/q": "/quit", "/?": "/help"}


async def dispatch(chat: Chat, line: str) -> object:
    """Run one slash command line; returns :data:`QUIT` to end the chat."""
    word, _, arg = line.partition(" ")
    name = _ALIASES.get(word.lower(), word.lower())
    command = COMMANDS.get(name)
    if command is None:
        raise UsageError(
            f"unknown command {word!r}", hint="/help lists the commands; start with // to send a /"
        )
    try:
        return await command.handler(chat, arg)
    except AgentError:
        raise
    except OSError as exc:
        raise UsageError(f"{name}: {exc.strerror or exc}") from None


class ChatCompleter(Completer):
    """Completes slash commands, tool names after /call, models after /model, servers, and paths."""

    def __init__(self, chat: Chat) -> None:
        self.chat = chat
        self._paths = PathCompleter(expanduser=True)

    async def get_completions_async(
        self, document: Document, complete_event: CompleteEvent
    ) -> AsyncGenerator[Completion, None]:
        """The completions below, then the ones the servers give (``@`` mentions, ``/prompt``)."""
        for completion in self.get_completions(document, complete_event):
            yield completion
        for completion in await server_completions(self.chat, document.text_before_cursor):
            yield completion

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterable[Completion]:
        text = document.text_before_cursor
        if not text.startswith("/") or "\n" in text:
            return
        word, space, rest = text.partition(" ")
        if not space:
            for name, command in {**COMMANDS, **{a: COMMANDS[t] for a, t in _ALIASES.items()}}.items():
                if name.startswith(word.lower()):
                    yield Completion(name, -len(word), display_meta=command.help)
            return
        name = _ALIASES.get(word.lower(), word.lower())
        if name == "/call" and " " not in rest:
            for entry in self.chat.toolbox.entries:
                if entry.name.startswith(rest):
                    yield Completion(
                        entry.name, -len(rest), display_meta=_first_line(entry.spec.description)[:60]
                    )
        elif name == "/model" and " " not in rest:
            current = self.chat.model
            options = [
                current,
                *(f"{p}:" for p in known_providers(self.chat.config)),
            ]
            for option in dict.fromkeys(options):
                if option.startswith(rest):
                    yield Completion(option, -len(rest))
        elif name == "/servers":
            if " " not in rest:
                if "reconnect".startswith(rest):
                    yield Completion("reconnect", -len(rest))
            elif rest.startswith("reconnect "):
                partial = rest.removeprefix("reconnect ")
                for server in self.chat.session.manager.states:
                    if server.startswith(partial):
                        yield Completion(server, -len(partial))
        elif name == "/save":
            yield from self._paths.get_completions(Document(rest, len(rest)), complete_event)
