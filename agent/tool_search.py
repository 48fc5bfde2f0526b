"""Tool search: with many tools, the model gets a ``search_tools`` tool instead of all of them.

Every request used to carry every tool: 300 tools break OpenAI's limit of 128, thousands break
every provider's context. When the connected servers offer more than ``tools.search_threshold``
tools (or ``tools.search_threshold_tokens`` of tool definitions, or more than the provider
takes), each model request offers only

- the built-in ``search_tools`` tool (``{"query": string, "limit"?: integer}``),
- the tools the user pins (``[servers.NAME.tools] pin = [...]``),
- the tools called earlier in the conversation, and the tools earlier searches found,

most recent first, never more than the threshold (nor the provider's limit). ``search_tools``
answers with the best matches (name, server, description, parameters); from the next step on
those tools are offered with their full schemas, so the model calls them as usual. What is
offered is worked out from the history alone (:meth:`ToolOffer.specs_for`), so a resumed
conversation gets the same tools back. Below the threshold nothing changes.

Ranking: :mod:`agent.tool_index` (BM25 over names, descriptions, parameters and server names,
plus a semantic bonus from word vectors, :mod:`agent.tool_vectors`).
The index is built on the first search and updated per server when the tools are loaded again.

Layers: this module sits beside :mod:`agent.tools` (it wraps a :class:`~agent.tools.Toolbox`);
the Session makes one :class:`ToolSearch` per toolbox and one :class:`ToolOffer` per turn, and
the loop (:mod:`agent.core`) asks the offer what to send each step and how to run a call.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from agent.builtin_tools import BUILTIN_SERVER, builtin_name
from agent.messages import AssistantMessage, Message, TextPart, ToolResultPart, ToolSpec
from agent.tool_index import ToolIndex
from agent.tools import CHARS_PER_TOKEN, ToolEntry, error_result

if TYPE_CHECKING:
    from agent.config import ToolSearchSettings
    from agent.errors import AgentError
    from agent.tools import Toolbox

__all__ = [
    "PROVIDER_MAX_TOOLS",
    "SEARCH_TOOL",
    "ToolOffer",
    "ToolSearch",
]

log = logging.getLogger(__name__)

SEARCH_TOOL = "search_tools"
MAX_LIMIT = 20
# Most tools one request may carry, by provider type. OpenAI's APIs reject more than 128
# ("array too long ... maximum length 128"); Anthropic publishes no count limit (its context
# window is the limit, which the token threshold keeps requests far from).
PROVIDER_MAX_TOOLS: Mapping[str, int] = {"openai": 128, "openai-chat": 128}
_DESCRIPTION_CHARS = 400  # of each description in a search result


SEARCH_DESCRIPTION = (
    "Find tools by what they do. More tools are available than are listed: describe the task in "
    "a few words (e.g. 'create a GitHub issue', 'convert time zones', 'read a file'). Returns the "
    "best matches with their server, description and parameters; the tools found can be called "
    "from your next step on, like any other tool."
)
SEARCH_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "properties": {
        "query": {"type": "string", "description": "What you want to do, in a few words."},
        "limit": {
            "type": "integer",
            "minimum": 1,
            "maximum": MAX_LIMIT,
            "description": "How many tools to return (default 8).",
        },
    },
    "required": ["query"],
}


def _estimated_tokens(spec: ToolSpec) -> int:
    size = len(spec.name) + len(spec.description) + len(json.dumps(spec.input_schema, default=str))
    return size // CHARS_PER_TOKEN


def _parameters(schema: Mapping[str, Any]) -> dict[str, str]:
    """``{name: "type, required — description"}``, short: what a search result shows of the inputs."""
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        return {}
    required = set(schema.get("required") or ())
    out = {}
    for name, prop in properties.items():
        prop = prop if isinstance(prop, Mapping) else {}
        kind = prop.get("type") or ("enum" if "enum" in prop else "any")
        text = f"{kind if isinstance(kind, str) else '|'.join(map(str, kind))}{', required' if name in required else ''}"
        description = " ".join(str(prop.get("description") or "").split())
        out[str(name)] = f"{text}: {description[:120]}" if description else text
    return out


class ToolSearch:
    """Tool search over one toolbox: whether it is needed, the index, and the offers made from it."""

    def __init__(
        self,
        toolbox: Toolbox,
        settings: ToolSearchSettings,
        pins: Mapping[str, Sequence[str]] | None = None,
        server_names: Mapping[str, str] | None = None,
    ) -> None:
        self.settings = settings
        self._pins = {server: tuple(tools) for server, tools in (pins or {}).items()}
        self._server_names = dict(server_names or {})
        self._index: ToolIndex | None = None
        self.toolbox = toolbox
        self._load(toolbox)

    def _load(self, toolbox: Toolbox) -> None:
        self.toolbox = toolbox
        self._by_key = {(e.server, e.tool): e for e in toolbox.entries}
        self._found: dict[tuple[str, int], tuple[str, ...]] = {}
        self._tokens: int | None = None
        spec = ToolSpec(builtin_name(SEARCH_TOOL, toolbox.resolve), SEARCH_DESCRIPTION, SEARCH_SCHEMA)
        self.search_entry = ToolEntry(spec, BUILTIN_SERVER, SEARCH_TOOL, builtin=True)
        self.pinned = tuple(
            entry.name
            for server, tools in self._pins.items()
            for tool in tools
            if (entry := self._by_key.get((server, tool))) is not None
        )
        listed = {e.server for e in toolbox.entries}
        # Pins of a server whose tools are here but not that one (a typo, or filtered out).
        self.unknown_pins = tuple(
            (server, tool)
            for server, tools in self._pins.items()
            if server in listed
            for tool in tools
            if (server, tool) not in self._by_key
        )

    def reload(self, toolbox: Toolbox, server_names: Mapping[str, str] | None = None) -> None:
        """The tools were loaded again (reconnect, list changed): update the index where it exists."""
        if server_names is not None:
            self._server_names = dict(server_names)
        self._load(toolbox)
        if self._index is not None:
            changed = self._index.update(toolbox.entries, self._server_names)
            log.info("tool index updated: %d of %d tools re-indexed", changed, len(toolbox))

    @property
    def index(self) -> ToolIndex:
        """The index, built on first use."""
        if self._index is None:
            self._index = ToolIndex(self.toolbox.entries, self._server_names)
        return self._index

    # -- when --

    def tool_tokens(self, stop_at: int | None = None) -> int:
        """The estimated tokens of every tool definition (counting stops past ``stop_at``)."""
        if self._tokens is not None:
            return self._tokens
        total = 0
        for spec in self.toolbox.specs:
            total += _estimated_tokens(spec)
            if stop_at is not None and total > stop_at:
                return total
        self._tokens = total
        return total

    def needed(self, max_tools: int | None = None) -> bool:
        """Whether requests to a provider taking at most ``max_tools`` tools should use search."""
        count = len(self.toolbox)
        if count == 0:
            return False
        if max_tools is not None and count > max_tools:
            return True  # even with search = "never": the provider would refuse the request
        mode = self.settings.search
        if mode != "auto":
            return mode == "always"
        limit = self.settings.search_threshold_tokens
        return count > self.settings.search_threshold or self.tool_tokens(stop_at=limit) > limit

    def offer(self, max_tools: int | None = None) -> ToolOffer:
        """What one turn offers a provider that takes at most ``max_tools`` tools."""
        return ToolOffer(self, active=self.needed(max_tools), max_tools=max_tools)

    def system_note(self) -> str:
        """The paragraph the system prompt gets when search is on."""
        servers = sorted({e.server for e in self.toolbox.entries})
        shown = ", ".join(servers[:20]) + (f" and {len(servers) - 20} more" if len(servers) > 20 else "")
        return (
            f"\n\nTool search: {len(self.toolbox)} tools from {len(servers)} server"
            f"{'s' if len(servers) != 1 else ''} ({shown}) are available, more than can be listed. "
            f"Only some are offered at a time. When you need a tool that is not offered, call "
            f"{self.search_entry.name} with a few words saying what it should do; the tools it finds "
            "are offered from your next step on. Search again with other words if none fits.\n"
        )

    # -- searching --

    def search(self, query: str, limit: int | None = None) -> list[ToolEntry]:
        """The tools that best match ``query``, best first."""
        limit = self.settings.search_limit if limit is None else max(1, min(limit, MAX_LIMIT))
        return [self._by_key[key] for key in self.index.search(query, limit) if key in self._by_key]

    def found_names(self, query: str, limit: int | None) -> tuple[str, ...]:
        """The provider names a ``search_tools`` call with these arguments found (cached)."""
        key = (query, limit or 0)
        found = self._found.get(key)
        if found is None:
            found = self._found[key] = tuple(e.name for e in self.search(query, limit))
        return found

    def result_text(self, query: str, found: Sequence[ToolEntry]) -> str:
        if not found:
            return f"no tools match {query!r}; try other words (what the tool does, or the service's name)"
        return json.dumps(
            [
                {
                    "name": e.name,
                    "server": e.server,
                    "description": " ".join(e.spec.description.split())[:_DESCRIPTION_CHARS],
                    "parameters": _parameters(e.spec.input_schema),
                }
                for e in found
            ],
            ensure_ascii=False,
        )


def _search_arguments(arguments: Mapping[str, Any]) -> tuple[str, int | None] | str:
    """``(query, limit)`` of a ``search_tools`` call, or what is wrong with its arguments."""
    query = arguments.get("query")
    limit = arguments.get("limit")
    if not isinstance(query, str) or not query.strip():
        return "error: search_tools needs a 'query': a few words saying what the tool should do"
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)):
        return f"error: 'limit' must be an integer from 1 to {MAX_LIMIT}"
    return query, limit


class ToolOffer:
    """The tools of one turn: what each step offers the model, and how its calls run.

    Inactive, it is the toolbox unchanged. Active, see the module doc."""

    def __init__(self, search: ToolSearch, *, active: bool, max_tools: int | None = None) -> None:
        self._search = search
        self.toolbox = search.toolbox
        self.active = active
        cap = search.settings.search_threshold if search.settings.search != "never" else MAX_LIMIT
        self.max_offered = max(1 + MAX_LIMIT, cap)
        if max_tools is not None:
            self.max_offered = min(self.max_offered, max_tools)

    def specs_for(self, history: Sequence[Message]) -> Sequence[ToolSpec]:
        """The tools to offer the model for its next step, given the conversation so far."""
        if not self.active:
            return self.toolbox.specs
        search = self._search
        search_name = search.search_entry.name
        pinned = [name for name in search.pinned if name != search_name]
        # Tools used or found, in the order they last came up.
        recent: dict[str, bool] = {}  # name -> was it called; the most recently seen last
        for message in history:
            if not isinstance(message, AssistantMessage):
                continue
            for call in message.tool_calls:
                if call.name == search_name:
                    parsed = _search_arguments(call.arguments)
                    if not isinstance(parsed, str):
                        for name in search.found_names(*parsed):
                            recent[name] = recent.pop(name, False)
                elif self.toolbox.resolve(call.name) is not None:
                    recent.pop(call.name, None)
                    recent[call.name] = True
        room = self.max_offered - 1 - len(pinned)
        chosen = [name for name in recent if name not in pinned]
        if len(chosen) > room:
            # Drop the oldest found-but-unused tools first, then the oldest used ones.
            drop = len(chosen) - room
            unused = [n for n in chosen if not recent[n]][:drop]
            chosen = [n for n in chosen if n not in set(unused)]
            chosen = chosen[max(0, len(chosen) - room) :]
        specs = [search.search_entry.spec]
        for name in [*pinned[: max(0, self.max_offered - 1)], *chosen]:
            entry = self.toolbox.resolve(name)
            if entry is not None:
                specs.append(entry.spec)
        return specs

    def resolve(self, name: str) -> ToolEntry | None:
        if self.active and name == self._search.search_entry.name:
            return self._search.search_entry
        return self.toolbox.resolve(name)

    async def refresh(self) -> None:
        """The toolbox catches up with its servers; a changed toolbox is indexed again."""
        before = self.toolbox.specs
        await self.toolbox.refresh()
        if self.toolbox.specs is not before:
            self._search.reload(self.toolbox)

    async def run(
        self, name: str, arguments: object, *, call_id: str = ""
    ) -> tuple[ToolResultPart, AgentError | None]:
        if not (self.active and name == self._search.search_entry.name):
            return await self.toolbox.run(name, arguments, call_id=call_id)
        return await self.call(name, arguments, call_id=call_id), None

    async def call(self, name: str, arguments: object, *, call_id: str = "") -> ToolResultPart:
        if not (self.active and name == self._search.search_entry.name):
            return await self.toolbox.call(name, arguments, call_id=call_id)
        parsed = (
            _search_arguments(arguments)
            if isinstance(arguments, Mapping)
            else "error: arguments must be an object"
        )
        if isinstance(parsed, str):
            return error_result(call_id, name, parsed)
        query, limit = parsed
        names = self._search.found_names(query, limit)
        found = [entry for name in names if (entry := self.toolbox.resolve(name)) is not None]
        return ToolResultPart(call_id, name, (TextPart(self._search.result_text(query, found)),))
