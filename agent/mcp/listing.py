"""One server's tool listing: every page, the config's include/exclude, bounded by its timeout.

A listing that fails or times out is a :class:`~agent.errors.ServerError` naming the server: the
manager fails that server with it, so "connected, 0 tools" never hides a listing that did not
answer. Tools that cannot be called the way we call tools (``execution.taskSupport`` of
"required": the SDK has no task-augmented calls) and tools whose input schema is not a valid JSON
Schema (:mod:`agent.mcp.schema_check`: the provider would refuse every request that carries it)
are set aside with the reason, so the model is never offered a tool that always fails and
``agent tools`` can say why it is missing.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio

from agent.errors import ServerError
from agent.mcp.schema_check import schema_problem

if TYPE_CHECKING:
    import mcp_types

    from agent.mcp.connection import Connection

__all__ = ["DroppedTools", "Listing", "ServerTool", "list_server_tools", "watch_tool_changes"]

log = logging.getLogger(__name__)

_MAX_PAGES = 1000
TASK_REQUIRED = "needs task-augmented calls (execution.taskSupport = required), which this client cannot make"

# Listings in flight that hold the cyclic garbage collector paused (see _gc_paused).
_gc_pauses = 0
_gc_was_enabled = False


@dataclass(frozen=True, slots=True)
class ServerTool:
    """One tool of one server. ``tool`` is the SDK type; only agent/mcp and agent/tools.py look inside."""

    server: str
    tool: mcp_types.Tool

    @property
    def name(self) -> str:
        return self.tool.name

    @property
    def input_schema(self) -> dict[str, Any]:
        """The tool's input schema exactly as the server sent it."""
        return self.tool.input_schema


@dataclass(frozen=True, slots=True)
class Listing:
    """What one listing found: the usable tools, and the ones set aside with the reason."""

    tools: tuple[ServerTool, ...]
    skipped: tuple[tuple[ServerTool, str], ...] = ()


class DroppedTools:
    """Says once per program run that a server's tool was left out for a broken input schema:
    ``on_dropped(server, tool, reason)``. Tools that need task calls are only marked in
    ``agent tools``: they are not broken, just not callable by this client."""

    def __init__(self) -> None:
        self.on_dropped: Callable[[str, str, str], None] | None = None
        self._said: set[tuple[str, str]] = set()

    def __call__(self, server: str, listing: Listing) -> None:
        for server_tool, reason in listing.skipped:
            key = (server, server_tool.name)
            if reason != TASK_REQUIRED and key not in self._said and self.on_dropped is not None:
                self._said.add(key)
                self.on_dropped(server, server_tool.name, reason)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a tool listing is parsed.

    Parsing a big tools/list result (the SDK validates it three times) allocates hundreds of
    thousands of dicts; every few hundred allocations start a collection, and each full one walks
    the whole, growing heap: a third of the client's time for 5000 tools. The result is acyclic,
    so nothing is lost by collecting once afterwards instead. Overlapping listings share one
    pause (a counter; the event loop is single-threaded); a collector the host application
    disabled stays disabled.
    """
    global _gc_pauses, _gc_was_enabled
    if _gc_pauses == 0:
        _gc_was_enabled = gc.isenabled()
        gc.disable()
    _gc_pauses += 1
    try:
        yield
    finally:
        _gc_pauses -= 1
        if _gc_pauses == 0 and _gc_was_enabled:
            gc.enable()


def _skip_reason(tool: mcp_types.Tool) -> str | None:
    execution = tool.execution
    if execution is not None and execution.task_support == "required":
        return TASK_REQUIRED
    return schema_problem(tool.input_schema)


async def list_server_tools(conn: Connection) -> Listing:
    """All tools (every page) of one connected server, after its include/exclude filters."""
    from mcp.shared.exceptions import MCPError

    name, settings = conn.name, conn.settings
    tools: list[ServerTool] = []
    skipped: list[tuple[ServerTool, str]] = []
    cursor: str | None = None
    seen: set[str] = set()
    try:
        with anyio.fail_after(settings.timeout), _gc_paused():
            for _ in range(_MAX_PAGES):
                page = await conn.client.list_tools(cursor=cursor, cache_mode="refresh")
                for tool in page.tools:
                    if not settings.tools.allows(tool.name):
                        continue
                    reason = _skip_reason(tool)
                    if reason is None:
                        tools.append(ServerTool(name, tool))
                    else:
                        skipped.append((ServerTool(name, tool), reason))
                cursor = page.next_cursor
                if cursor is None or cursor in seen:
                    break
                seen.add(cursor)
    except TimeoutError:
        raise ServerError(name, f"listing tools timed out after {settings.timeout:g} s") from None
    except MCPError as exc:
        raise ServerError(name, f"listing tools failed: {exc}") from None
    return Listing(tuple(tools), tuple(skipped))


async def watch_tool_changes(conn: Connection, on_change: Callable[[], None]) -> None:
    """On a 2026-07-28 session, subscribe to tool changes when the server says it sends them
    (older sessions get ``notifications/tools/list_changed`` without asking: connect()'s
    ``on_tools_changed``). Returns when there is nothing to watch."""
    from mcp_types.version import MODERN_PROTOCOL_VERSIONS

    client = conn.client
    tools = client.server_capabilities.tools
    if client.protocol_version not in MODERN_PROTOCOL_VERSIONS or tools is None or not tools.list_changed:
        return
    try:
        async with client.listen(tools_list_changed=True) as events:
            async for _ in events:
                on_change()
    except Exception as exc:  # the subscription is a nicety: the session goes on without it
        log.info("server %s: no tool change events: %s", conn.name, exc)
