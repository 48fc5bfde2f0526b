"""MCP tools as the model sees them: names, input schemas, results.

A :class:`Toolbox` is built from the servers' tools (``await Toolbox.load(manager)``), caught up
with them before each model request (``refresh``), and offers three things to the loop:

- ``specs``: one :class:`~agent.messages.ToolSpec` per tool. Names fit every provider
  (``^[a-zA-Z0-9_-]{1,64}$``), are prefixed ``server__`` when more than one server is configured,
  never change during a conversation, and never collide (a clashing name gets ``_2``, ``_3``…);
  ``resolve`` maps a name back exactly.
- schema conversion (:mod:`agent.tool_schema`): the server's JSON Schema is passed on as is;
  only the top level is repaired, because both APIs insist on ``{"type": "object", ...}`` there.
- ``call``: runs one tool and turns the MCP result into a :class:`~agent.messages.ToolResultPart`.
  It never raises for a tool problem (unknown tool, tool error, timeout, server down): the model
  gets an error result it can read and act on. Long results are cut to ``max_result_tokens``
  (estimated at 4 characters a token) with a visible marker.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agent.errors import AgentError
from agent.messages import ImagePart, Message, TextPart, ToolResultPart, ToolSpec
from agent.tool_schema import convert_schema, schema_violation

if TYPE_CHECKING:
    import mcp_types

    from agent.mcp.manager import ServerManager, ServerTool

__all__ = [
    "CHARS_PER_TOKEN",
    "ToolEntry",
    "ToolProgress",
    "Toolbox",
    "convert_result",
    "convert_schema",
    "error_result",
    "provider_names",
    "schema_violation",
    "tool_hints",
    "truncate_text",
    "unknown_tool",
]

log = logging.getLogger(__name__)

CHARS_PER_TOKEN = 4
MAX_NAME = 64
_BAD_CHARS = re.compile(r"[^a-zA-Z0-9_-]+")


@dataclass(frozen=True, slots=True)
class ToolEntry:
    """One tool offered to the model: its provider-facing spec and where it lives. A ``builtin``
    tool is the agent's own (``search_tools``): no server runs it and it needs no approval."""

    spec: ToolSpec
    server: str
    tool: str
    builtin: bool = False
    hints: tuple[str, ...] = ()  # the server's annotations: "read-only", "destructive", "open-world"

    @property
    def name(self) -> str:
        return self.spec.name


@dataclass(frozen=True, slots=True)
class ToolProgress:
    """A server's progress report on a running call (``notifications/progress``)."""

    call_id: str
    server: str
    tool: str
    progress: float
    total: float | None = None
    message: str | None = None

    @property
    def text(self) -> str:
        """``step 3 (3/10)``: the message, then n/total (or n), in words for a status line."""
        count = f"{self.progress:g}/{self.total:g}" if self.total else f"{self.progress:g}"
        return f"{self.message} ({count})" if self.message else count


def _sanitise(raw: str) -> str:
    name = _BAD_CHARS.sub("_", raw)[:MAX_NAME]
    return name or "tool"


def provider_names(
    pairs: Sequence[tuple[str, str]],
    *,
    namespaced: bool,
    given: Mapping[tuple[str, str], str] | None = None,
) -> list[str]:
    """Provider-safe, unique names for ``(server, tool)`` pairs, in the same order.

    Names that are already valid and unique keep their exact spelling; only the ones that had to
    be changed (bad characters, too long, or a clash) get a ``_N`` suffix, so renaming one odd tool
    never renames a well-behaved one. ``given`` are names handed out before (earlier in the
    conversation): those pairs keep them, and no other pair gets one of them.
    """
    given = given or {}
    wanted = [_sanitise(f"{server}__{tool}" if namespaced else tool) for server, tool in pairs]
    untouched = [
        want == (f"{server}__{tool}" if namespaced else tool)
        for want, (server, tool) in zip(wanted, pairs, strict=True)
    ]
    taken: set[str] = set(given.values())
    out: list[str | None] = [given.get(pair) for pair in pairs]
    # First pass: exact names claim their spelling; second pass: everything else, suffixed on clash.
    for first_pass in (True, False):
        for i, want in enumerate(wanted):
            if out[i] is not None or untouched[i] != first_pass:
                continue
            name = want
            n = 2
            while name in taken:
                suffix = f"_{n}"
                name = want[: MAX_NAME - len(suffix)] + suffix
                n += 1
            taken.add(name)
            out[i] = name
    return [name for name in out if name is not None]


def truncate_text(text: str, limit: int) -> str:
    """``text`` cut to about ``limit`` characters: the head and the tail, with a marker between."""
    if len(text) <= limit:
        return text
    tail = limit // 4
    head = limit - tail
    cut = len(text) - head - tail
    return f"{text[:head]}\n[… truncated {cut} characters …]\n{text[len(text) - tail :] if tail else ''}"


def _resource_note(uri: str, mime: str | None, what: str) -> str:
    return f"[{what}: {uri}{f' ({mime})' if mime else ''}]"


def _convert_block(block: Any, server: str | None = None) -> TextPart | ImagePart:
    kind = getattr(block, "type", None)
    if kind == "text":
        return TextPart(block.text)
    if kind == "image":
        return ImagePart(block.data, block.mime_type)
    if kind == "audio":
        size = len(block.data) * 3 // 4
        return TextPart(
            f"[audio ({block.mime_type}, about {size} bytes) returned; audio is not shown to the model]"
        )
    if kind == "resource_link":
        note = _resource_note(block.uri, block.mime_type, f"resource link {block.name!r}")
        if block.description:
            note += f" {block.description}"
        if server is not None:
            # Named here, not imported: agent.resource_tool sits above this module.
            note += f' (read it with read_resource(server="{server}", uri="{block.uri}"))'
        return TextPart(note)
    if kind == "resource":
        res = block.resource
        text = getattr(res, "text", None)
        if text is not None:
            return TextPart(f"{_resource_note(res.uri, res.mime_type, 'resource')}\n{text}")
        if res.mime_type and res.mime_type.startswith("image/"):
            return ImagePart(res.blob, res.mime_type)
        size = len(res.blob) * 3 // 4
        return TextPart(
            _resource_note(res.uri, res.mime_type, f"binary resource, about {size} bytes, not shown")
        )
    return TextPart(f"[unsupported content block {kind!r} omitted]")


def tool_hints(tool: mcp_types.Tool) -> tuple[str, ...]:
    """What a tool's annotations claim, in words: ``read-only``, ``destructive``, ``open-world``.

    Hints from the server, shown to the user; never a reason to run what the user said not to."""
    notes = tool.annotations
    if notes is None:
        return ()
    hints = []
    if notes.read_only_hint is True:
        hints.append("read-only")
    elif notes.destructive_hint is True:
        hints.append("destructive")
    if notes.open_world_hint is True:
        hints.append("open-world")
    return tuple(hints)


def _holds_any(value: object, needles: set[str]) -> bool:
    """Whether ``value`` (JSON data) holds one of ``needles`` as a string anywhere."""
    if isinstance(value, str):
        return value in needles
    if isinstance(value, Mapping):
        return any(_holds_any(v, needles) for v in value.values())
    if isinstance(value, list):
        return any(_holds_any(v, needles) for v in value)
    return False


def convert_result(
    result: mcp_types.CallToolResult, *, call_id: str, name: str, max_chars: int, server: str | None = None
) -> ToolResultPart:
    """An MCP tool result as the model sees it; text beyond ``max_chars`` in total is truncated.

    Structured content is added as JSON only when there is no text: and not when it repeats an
    image of the result (its base64 would be sent a second time, as text). A resource link names
    ``read_resource`` with ``server`` so that the model can follow it."""
    parts = [_convert_block(block, server) for block in result.content]
    structured = result.structured_content
    if structured is not None and not any(isinstance(p, TextPart) for p in parts):
        shown = {p.data for p in parts if isinstance(p, ImagePart)}
        if not (shown and _holds_any(structured, shown)):
            parts.append(TextPart(json.dumps(structured, ensure_ascii=False, default=str)))
    if not parts:
        parts.append(TextPart("(no output)"))
    total = sum(len(p.text) for p in parts if isinstance(p, TextPart))
    if total > max_chars:
        # Join the text into one part (keeping images) so one marker says how much was cut.
        joined = "\n".join(p.text for p in parts if isinstance(p, TextPart))
        images = [p for p in parts if isinstance(p, ImagePart)]
        parts = [TextPart(truncate_text(joined, max_chars)), *images]
    return ToolResultPart(call_id, name, tuple(parts), bool(result.is_error))


def error_result(call_id: str, name: str, text: str) -> ToolResultPart:
    """A tool error result of one text."""
    return ToolResultPart(call_id, name, (TextPart(text),), is_error=True)


def unknown_tool(name: str, names: Sequence[str]) -> str:
    """What the model is told of a call of a tool not among ``names`` (what it was offered)."""
    import difflib  # only here: not a cost of every start

    text = f"error: there is no tool named {name!r}."
    close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
    if close:
        return text + f" Did you mean {', '.join(repr(c) for c in close)}?"
    if 0 < len(names) <= 30:
        return text + f" Available tools: {', '.join(names)}."
    return text


class Toolbox:
    """The tools of the connected servers, as offered to a model, and the way to call them."""

    def __init__(
        self,
        manager: ServerManager | None,
        tools: Iterable[ServerTool] = (),
        *,
        namespaced: bool = False,
        max_result_tokens: int = 25_000,
    ) -> None:
        self._manager = manager
        # Told of each progress report of a running call (the Session sets it from its options).
        self.on_progress: Callable[[ToolProgress], None] | None = None
        self.max_result_chars = max_result_tokens * CHARS_PER_TOKEN
        self._namespaced = namespaced
        self._given: dict[tuple[str, str], str] = {}  # every name handed out, kept for good
        self._generation = manager.generation if manager is not None else 0
        self.on_change: Callable[[str], None] | None = None  # told which tools came or went
        self._build(tools)

    def _build(self, tools: Iterable[ServerTool]) -> None:
        tools = list(tools)
        pairs = [(t.server, t.tool.name) for t in tools]
        names = provider_names(pairs, namespaced=self._namespaced, given=self._given)
        self._given.update(zip(pairs, names, strict=True))
        self._entries: dict[str, ToolEntry] = {}
        for name, item in zip(names, tools, strict=True):
            tool = item.tool
            description = tool.description or tool.title or ""
            spec = ToolSpec(name, description, convert_schema(tool.input_schema, tool.name))
            self._entries[name] = ToolEntry(spec, item.server, tool.name, hints=tool_hints(tool))
        self.specs: tuple[ToolSpec, ...] = tuple(e.spec for e in self._entries.values())

    @classmethod
    async def load(cls, manager: ServerManager, *, max_result_tokens: int = 25_000) -> Toolbox:
        """Every known tool of the manager's servers. Names are namespaced (``server__tool``) when
        more than one server is configured, connected or not, so they stay the same for the whole
        conversation, and in a transcript resumed later, whatever connects or fails."""
        return cls(
            manager,
            manager.tools(),
            namespaced=len(manager.configured) > 1,
            max_result_tokens=max_result_tokens,
        )

    async def refresh(self) -> None:
        """Catch up with the servers before a model request: a server that came back, connected
        late, or said its tools changed. Names handed out before keep their spelling."""
        manager = self._manager
        if manager is None:
            return
        await manager.refresh_tools()
        if manager.generation == self._generation:
            return
        self._generation = manager.generation
        before = set(self._entries)
        self._build(manager.tools())
        came, went = sorted(set(self._entries) - before), sorted(before - set(self._entries))
        if (came or went) and self.on_change is not None:
            parts = ([f"new: {', '.join(came)}"] if came else []) + (
                [f"gone: {', '.join(went)}"] if went else []
            )
            self.on_change(f"tools changed ({'; '.join(parts)})")

    @classmethod
    def empty(cls) -> Toolbox:
        """No tools at all: the model just talks."""
        return cls(None)

    @property
    def entries(self) -> tuple[ToolEntry, ...]:
        return tuple(self._entries.values())

    def specs_for(self, history: Sequence[Message]) -> Sequence[ToolSpec]:
        """Every tool, whatever the conversation (:class:`agent.core.Tools`)."""
        return self.specs

    def __len__(self) -> int:
        return len(self._entries)

    def resolve(self, name: str) -> ToolEntry | None:
        """The tool a provider-facing name stands for, or ``None``."""
        return self._entries.get(name)

    def find(self, server: str, tool: str) -> ToolEntry | None:
        """A server's tool by its own name, or ``None``."""
        return next((e for e in self._entries.values() if e.server == server and e.tool == tool), None)

    async def call(self, name: str, arguments: object, *, call_id: str = "") -> ToolResultPart:
        """Run one tool call; every failure becomes an error result for the model, never an exception."""
        result, _ = await self.run(name, arguments, call_id=call_id)
        return result

    async def run(
        self, name: str, arguments: object, *, call_id: str = ""
    ) -> tuple[ToolResultPart, AgentError | None]:
        """:meth:`call`, and the error behind an error result when it was ours or the server's
        (a server that was unreachable or lost is a ``ServerUnavailable``), not the tool's own."""
        entry = self._entries.get(name)
        if entry is None or self._manager is None:
            return error_result(call_id, name, self._unknown(name)), None
        if not isinstance(arguments, Mapping):
            problem = f"arguments must be a JSON object, got {type(arguments).__name__}"
            return error_result(call_id, name, problem), None

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            report = ToolProgress(call_id, entry.server, entry.tool, progress, total, message)
            log.debug("progress of %s.%s: %s", entry.server, entry.tool, report.text)
            if self.on_progress is not None:
                self.on_progress(report)

        try:
            # Every call carries a progress token, so a server can say how far it is.
            result = await self._manager.call_tool(entry.server, entry.tool, arguments, progress=on_progress)
        except AgentError as exc:
            log.info("tool %s (%s.%s) failed: %s", name, entry.server, entry.tool, exc)
            return error_result(call_id, name, f"error: {exc.message}"), exc
        except Exception as exc:
            # Protocol errors (e.g. invalid params), broken connections: the model should see them.
            log.warning("tool %s (%s.%s) raised %s", name, entry.server, entry.tool, exc, exc_info=True)
            return error_result(call_id, name, f"error: {type(exc).__name__}: {exc}".rstrip(": ")), None
        converted = convert_result(
            result, call_id=call_id, name=name, max_chars=self.max_result_chars, server=entry.server
        )
        return converted, None

    def _unknown(self, name: str) -> str:
        return unknown_tool(name, list(self._entries))
