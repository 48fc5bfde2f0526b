"""``agent tools`` and ``agent call``: the plain MCP client commands, no model involved.

``agent tools`` lists each server's tools with their parameters; ``agent call TOOL '{json}'``
checks the arguments (JSON syntax, then the tool's input schema) before it calls, and prints the
result: text as is, images / audio / resources as a one-line note, structured content as JSON.
Servers that fail are reported on stderr, one line each, and skipped.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import json
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from agent.config import Config, ServerSettings
from agent.errors import (
    EXIT_FAILURE,
    EXIT_OK,
    ServerError,
    ToolArgumentsError,
    ToolCallFailed,
    UnknownToolError,
    UsageError,
)
from agent.options import AdhocServer, CallOptions, ToolsOptions
from agent.redact import redact_url
from agent.terminal import for_stream, say, terminal_console, visible

if TYPE_CHECKING:
    import mcp_types

    from agent.mcp.manager import ServerState, ServerTool
    from agent.session import SessionOptions

__all__ = ["call_main", "describe_content", "tools_main"]


def _warn(error: ServerError) -> None:
    line = error.message.replace("\n", " ")
    if error.hint:
        line += f" ({error.hint})"
    say(f"agent: {line}")


def _session_options(servers: tuple[str, ...] | None, adhoc: tuple[AdhocServer, ...]) -> SessionOptions:
    """A Session with no model: only the servers (a browser login may start, as with ``agent login``)."""
    from agent.session import SessionOptions

    return SessionOptions(
        servers=servers, adhoc=adhoc, needs_model=False, allow_login=True, on_server_failed=_warn
    )


# --- agent tools -------------------------------------------------------------------------------


async def tools_main(options: ToolsOptions, config: Config) -> int:
    """List each server's tools with descriptions and parameters."""
    from agent.session import Session

    if options.search is not None:
        return await _search_main(options, config)
    if options.limit is not None:
        raise UsageError("--limit works only with --search", hint="agent tools --search QUERY --limit N")
    async with Session.open(config, _session_options(options.servers, options.adhoc)) as session:
        tools = session.manager.tools()
        states = dict(session.manager.states)
        servers = session.servers
    by_server: dict[str, list[ServerTool]] = {name: [] for name in servers}
    for tool in tools:
        by_server[tool.server].append(tool)
    if options.json:
        doc = {"servers": [_server_json(name, states[name], by_server[name]) for name in servers]}
        print(json.dumps(doc, indent=2, ensure_ascii=False))
        return EXIT_OK
    _print_tools(servers, states, by_server)
    return EXIT_OK


async def _search_main(options: ToolsOptions, config: Config) -> int:
    """``agent tools --search QUERY``: what the model's search_tools would find, best first."""
    from agent.session import Session
    from agent.tool_search import MAX_LIMIT

    if options.limit is not None and options.limit < 1:
        raise UsageError(f"--limit must be at least 1, not {options.limit}")
    async with Session.open(config, _session_options(options.servers, options.adhoc)) as session:
        search = session.tool_search
        found = search.search(options.search or "", options.limit)
        limit = search.settings.search_limit if options.limit is None else min(options.limit, MAX_LIMIT)
        total = len(session.toolbox)
        active = search.needed()
    if options.json:
        doc = {
            "query": options.search,
            "tools": total,
            "search_active": active,
            "found": [
                {"name": e.name, "server": e.server, "tool": e.tool, "description": e.spec.description}
                for e in found
            ],
        }
        print(json.dumps(doc, indent=2, ensure_ascii=False))
        return EXIT_OK
    console = _console()
    escape = _shown
    state = "on" if active else "off: the model gets every tool"
    query = escape(repr(options.search))
    if found:  # the index ranks; it does not count every match: say what is shown, no more
        what = f"{len(found)} best match" + ("" if len(found) == 1 else "es")
        console.print(
            f"[dim]{what} among {total} tools for {query}, up to {limit} shown (tool search {state})[/dim]"
        )
    else:
        console.print(f"[dim]no tools match {query} among {total} tools (tool search {state})[/dim]")
    for rank, entry in enumerate(found, 1):
        description = " ".join(visible(entry.spec.description).split())  # before split(): \r, \x1c
        short = description if len(description) <= 100 else description[:99] + "…"
        console.print(
            f"{rank:>3}. [bold cyan]{escape(entry.server)}.{escape(entry.tool)}[/bold cyan]  {escape(short)}".rstrip()
        )
    return EXIT_OK  # nothing found is an answer, not an error (as with --json)


def _server_json(name: str, state: ServerState, tools: list[ServerTool]) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "status": state.status}
    if state.settings.url is not None:
        out["url"] = state.settings.url
    if state.server_name:
        out["server_name"] = state.server_name
    if state.error is not None:
        out["error"] = str(state.error)
    if state.last_error is not None and state.last_error_at is not None:
        out["last_error"] = {"message": str(state.last_error), "at": _iso(state.last_error_at)}
    if state.status == "connected":
        out["tools"] = [
            t.tool.model_dump(mode="json", by_alias=True, exclude_none=True, exclude={"meta"}) for t in tools
        ]
        if state.skipped:
            out["not_offered"] = [{"name": t.name, "reason": reason} for t, reason in state.skipped]
    return out


def _iso(seconds: float) -> str:
    """A wall-clock time as local ISO 8601, to the second."""
    import datetime

    return datetime.datetime.fromtimestamp(seconds).astimezone().isoformat(timespec="seconds")


def _console() -> Any:
    tty = sys.stdout.isatty()
    return terminal_console(
        file=sys.stdout,
        no_color=not tty,
        highlight=False,
        soft_wrap=not tty,
        emoji=False,
    )


def _shown(text: str) -> str:
    """Untrusted text for a rich markup string: every control character made visible, always (a
    pipe may end in a terminal: ``| less -R``), then markup-escaped."""
    from rich.markup import escape

    return escape(visible(text))


def _print_tools(
    servers: Mapping[str, ServerSettings],
    states: Mapping[str, ServerState],
    by_server: Mapping[str, list[ServerTool]],
) -> None:
    from agent.tools import tool_hints

    escape = _shown
    console = _console()
    for name, settings in servers.items():
        state = states[name]
        if state.status != "connected":
            continue
        where = (
            redact_url(settings.url) if settings.url else " ".join([settings.command or "", *settings.args])
        )
        tools = by_server[name]
        count = f"{len(tools)} tool" + ("" if len(tools) == 1 else "s")
        console.print(f"[bold]{escape(name)}[/bold] [dim]({escape(where)})[/dim] — {count}")
        for server_tool in tools:
            tool = server_tool.tool
            description = " ".join(visible(tool.description or "").split())  # before split(): \r, \x1c
            if hints := tool_hints(tool):
                description = f"[{', '.join(hints)}] {description}"
            console.print(f"  [bold cyan]{escape(tool.name)}[/bold cyan]  {escape(description)}".rstrip())
            for param in parameters(tool.input_schema):
                flag = "required" if param["required"] else "optional"
                line = f"      {escape(param['name'])}: [green]{escape(param['type'])}[/green] ({flag})"
                if param["description"]:
                    line += f"  {escape(param['description'])}"
                console.print(line)
        for server_tool, reason in state.skipped:
            console.print(f"  [dim]{escape(server_tool.name)}  not offered: {escape(reason)}[/dim]")
        console.print()


def parameters(schema: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """Name, type, required and description of each top-level parameter of an input schema."""
    if not isinstance(schema, Mapping):
        return []
    props = schema.get("properties")
    if not isinstance(props, Mapping):
        return []
    required = set(schema.get("required") or [])
    defs = schema.get("$defs") or schema.get("definitions") or {}
    out = []
    for name, prop in props.items():
        prop = prop if isinstance(prop, Mapping) else {}
        description = prop.get("description") or _resolve(prop, defs).get("description") or ""
        out.append(
            {
                "name": str(name),
                "type": _type_name(prop, defs),
                "required": name in required,
                "description": " ".join(visible(str(description)).split()),  # before split(): \r
            }
        )
    return out


def _resolve(prop: Mapping[str, Any], defs: Mapping[str, Any]) -> Mapping[str, Any]:
    ref = prop.get("$ref")
    if isinstance(ref, str):
        target = defs.get(ref.rsplit("/", 1)[-1])
        if isinstance(target, Mapping):
            return target
    return prop


def _type_name(prop: Mapping[str, Any], defs: Mapping[str, Any], depth: int = 0) -> str:
    if depth > 5:
        return "any"
    ref = prop.get("$ref")
    target = _resolve(prop, defs)
    if target is not prop:
        inner = _type_name(target, defs, depth + 1)
        title = str(ref).rsplit("/", 1)[-1]
        return inner if inner.startswith("one of") else f"{inner} ({title})"
    if "enum" in prop:
        return "one of " + "|".join(json.dumps(v) for v in prop["enum"])
    if "const" in prop:
        return f"const {json.dumps(prop['const'])}"
    for key in ("anyOf", "oneOf"):
        branches = prop.get(key)
        if isinstance(branches, list):
            names = [_type_name(b, defs, depth + 1) for b in branches if isinstance(b, Mapping)]
            return " | ".join(dict.fromkeys(names)) or "any"
    kind = prop.get("type")
    if isinstance(kind, list):
        return " | ".join(str(k) for k in kind)
    if kind == "array":
        items = prop.get("items")
        return f"array of {_type_name(items, defs, depth + 1)}" if isinstance(items, Mapping) else "array"
    return str(kind) if kind else "any"


# --- agent call --------------------------------------------------------------------------------


_JSON_TYPES = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean"}
_JSON_TYPES[type(None)] = "null"


def parse_arguments(text: str) -> dict[str, Any]:
    """The JSON object of arguments, or ToolArgumentsError naming where the JSON breaks."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ToolArgumentsError(
            f"invalid JSON arguments: {exc.msg} at line {exc.lineno} column {exc.colno} (char {exc.pos})",
            hint='pass one JSON object, e.g. \'{"text": "hi"}\'',
        ) from None
    if not isinstance(value, dict):
        raise ToolArgumentsError(
            f"the arguments must be a JSON object, not {_JSON_TYPES.get(type(value), 'a value')}",
            hint='pass one JSON object, e.g. \'{"text": "hi"}\'',
        )
    return value


def check_arguments(tool: mcp_types.Tool, arguments: dict[str, Any], qualified: str) -> None:
    """Refuse arguments that break the tool's input schema, naming the path and the rule."""
    from agent.tools import schema_violation

    violation = schema_violation(tool.input_schema, arguments)
    if violation is None:
        return
    steps, message = violation
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in steps).lstrip(".")
    raise ToolArgumentsError(
        f"arguments for {qualified} break its input schema at {path or '(top level)'}: {message}",
        hint=f"see `agent tools` for {qualified}'s parameters",
    )


def _split_tool(name: str, servers: Mapping[str, ServerSettings]) -> tuple[str | None, str]:
    server, dot, rest = name.partition(".")
    if dot and rest and server in servers:
        return server, rest
    return None, name


def _find_tool(
    name: str, server: str | None, tools: list[ServerTool], states: Mapping[str, ServerState] | None = None
) -> ServerTool:
    matches = [t for t in tools if t.name == name and (server is None or t.server == server)]
    if len(matches) == 1:
        return matches[0]
    qualified = f"{server}.{name}" if server else name
    if len(matches) > 1:
        where = ", ".join(f"{t.server}.{t.name}" for t in matches)
        raise UsageError(
            f"tool '{visible(name)}' is offered by several servers: {visible(where)}",
            hint="call it as SERVER.TOOL",
        )
    for state_name, state in (states or {}).items():  # listed by the server, but not offered: why
        for skipped, reason in state.skipped:
            if skipped.name == name and (server is None or state_name == server):
                raise UnknownToolError(
                    f"tool '{visible(f'{state_name}.{name}')}' is not offered: {visible(reason)}",
                    hint="the server must fix the tool; `agent tools` lists what is offered",
                )
    candidates = [t.name for t in tools] + [f"{t.server}.{t.name}" for t in tools]
    close = difflib.get_close_matches(qualified, candidates, n=5, cutoff=0.5)
    if close:  # the real names, control characters shown (so what is shown is what to type)
        hint = "did you mean: " + ", ".join(dict.fromkeys(visible(c) for c in close)) + "?"
    elif tools:
        hint = "see `agent tools` for the tools offered"
    else:
        hint = "the connected servers offer no tools"
    raise UnknownToolError(f"unknown tool '{visible(qualified)}'", hint=hint)


async def call_main(options: CallOptions, config: Config) -> int:
    """Call one tool and print its result."""
    from agent.session import Session, select_servers

    arguments = parse_arguments(options.arguments)
    selected = select_servers(config, options.servers, options.adhoc)
    server, name = _split_tool(options.tool, selected)
    off = config.servers.get(options.tool.partition(".")[0])
    if server is None and "." in options.tool and off is not None and not off.enabled:
        from agent.session_options import disabled_server

        raise disabled_server(config, options.tool.partition(".")[0])
    names, adhoc = options.servers, options.adhoc
    if server is not None:  # SERVER.TOOL: connect that server alone
        from agent.adhoc import adhoc_servers

        specs = tuple(spec for spec in adhoc if server in adhoc_servers(config, [spec]))
        names, adhoc = (None, specs) if specs else ((server,), ())
    async with Session.open(config, _session_options(names, adhoc)) as session:
        tool = _find_tool(name, server, session.manager.tools(), session.manager.states)
        qualified = f"{tool.server}.{tool.name}"
        check_arguments(tool.tool, arguments, qualified)
        result = await session.manager.call_tool(tool.server, tool.name, arguments)
    if options.json:
        print(json.dumps(result.model_dump(mode="json", by_alias=True, exclude_none=True), indent=2))
        return EXIT_FAILURE if result.is_error else EXIT_OK
    if result.is_error:
        message = "\n".join(describe_content(result)) or "(no message)"
        raise ToolCallFailed(f"tool {qualified} failed: {message}")
    for piece in describe_content(result):
        sys.stdout.write(for_stream(piece if piece.endswith("\n") else piece + "\n", sys.stdout))
    return EXIT_OK


def describe_content(result: mcp_types.CallToolResult) -> list[str]:
    """The result as printable pieces: text as is, notes for media, structured content as JSON."""
    pieces: list[str] = []
    has_text = False
    for block in result.content:
        kind = getattr(block, "type", None)
        if kind == "text":
            has_text = True
            pieces.append(block.text)  # type: ignore[union-attr]
        elif kind in ("image", "audio"):
            mime = getattr(block, "mime_type", None) or "?"
            pieces.append(f"[{kind}: {mime}, {_size(_b64_len(getattr(block, 'data', '')))}]")
        elif kind == "resource_link":
            uri = getattr(block, "uri", "")
            mime = getattr(block, "mime_type", None)
            pieces.append(f"[resource link: {uri}" + (f", {mime}" if mime else "") + "]")
        elif kind == "resource":
            resource = getattr(block, "resource", None)
            uri = getattr(resource, "uri", "")
            mime = getattr(resource, "mime_type", None)
            text = getattr(resource, "text", None)
            if isinstance(text, str):
                size = len(text.encode())
                pieces.append(f"[resource: {uri}" + (f", {mime}" if mime else "") + f", {_size(size)}]")
                pieces.append(text)
                has_text = True
            else:
                size = _b64_len(getattr(resource, "blob", "") or "")
                pieces.append(f"[resource: {uri}" + (f", {mime}" if mime else "") + f", {_size(size)}]")
        else:
            pieces.append(f"[{kind or 'unknown'} content]")
    if result.structured_content is not None and not has_text:
        pieces.append(json.dumps(result.structured_content, indent=2, ensure_ascii=False))
    return pieces


def _b64_len(data: str) -> int:
    try:
        return len(base64.b64decode(data, validate=False))
    except (binascii.Error, ValueError):
        return len(data) * 3 // 4


def _size(n: int) -> str:
    if n < 1024:
        return f"{n} B"
    if n < 1024 * 1024:
        return f"{n / 1024:.0f} KB"
    return f"{n / (1024 * 1024):.1f} MB"
