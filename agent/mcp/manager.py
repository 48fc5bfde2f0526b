"""Many MCP servers at once: connect concurrently, isolate failures, close cleanly.

INTERFACE STUB written by the lead: the bodies are to be filled in; keep the names and
signatures (other modules code against them). Remove this paragraph when done.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

from agent.config import ServerSettings
from agent.errors import ServerError

if TYPE_CHECKING:
    import httpx2
    import mcp_types

__all__ = ["AuthFactory", "ServerManager", "ServerState", "ServerTool"]

# Given (server name, settings), an httpx2.Auth that logs in / refreshes (agent/mcp/oauth.py).
AuthFactory = Callable[[str, ServerSettings], "httpx2.Auth"]


@dataclass(frozen=True, slots=True)
class ServerTool:
    """One tool of one server. ``tool`` is the SDK type; only agent/mcp and agent/tools.py look inside."""

    server: str
    tool: mcp_types.Tool

    @property
    def name(self) -> str:
        return self.tool.name


@dataclass(slots=True)
class ServerState:
    name: str
    settings: ServerSettings
    status: Literal["connecting", "connected", "failed", "disabled"] = "connecting"
    error: ServerError | None = None
    server_name: str | None = None  # what the server calls itself
    connect_ms: float | None = None


class ServerManager:
    """Holds one live MCP session per configured server for the program's lifetime.

    ``async with ServerManager(servers) as manager:`` connects every enabled server concurrently
    (startup costs the slowest, not the sum), each bounded by its ``timeout``. A server that fails
    is recorded in ``manager.states[name]`` (status "failed", ``error`` a ServerError saying why)
    and skipped; the rest work. Leaving the block closes every session and stdio process.
    """

    def __init__(
        self,
        servers: Mapping[str, ServerSettings],
        *,
        auth_factory: AuthFactory | None = None,
        on_state: Callable[[ServerState], Any] | None = None,
    ) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> ServerManager:
        raise NotImplementedError

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        raise NotImplementedError

    @property
    def states(self) -> dict[str, ServerState]:
        raise NotImplementedError

    @property
    def connected(self) -> list[str]:
        """Names of the servers with a live session, in config order."""
        raise NotImplementedError

    async def list_tools(self, server: str | None = None) -> list[ServerTool]:
        """All tools (every page) of one or every connected server, after include/exclude filters."""
        raise NotImplementedError

    async def call_tool(
        self, server: str, tool: str, arguments: Mapping[str, Any] | None = None, *, timeout: float | None = None
    ) -> mcp_types.CallToolResult:
        """Call one tool. Bounded by ``timeout`` or the server's; cancelling the caller cancels the
        call on the server too (MCP cancellation). Raises ServerError when the server is not
        connected, ToolCallFailed on timeout. A result with ``is_error`` is returned, not raised."""
        raise NotImplementedError

    async def reconnect(self, server: str) -> ServerState:
        raise NotImplementedError
