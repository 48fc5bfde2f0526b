"""The manager's tool requests of running servers: list their tools again (``list_tools``,
``refresh_tools``) and call one (``call_tool``, with its one resend and its error mapping). A part
of :class:`~agent.mcp.manager.ServerManager`, which keeps the servers' lives (connect, hold, come
back, close) and gives these requests a live session through ``_usable``."""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import anyio

from agent.errors import ServerError, ServerUnavailable, ToolCallFailed
from agent.mcp.listing import ServerTool, list_server_tools
from agent.mcp.server_state import http_detail, session_gone

if TYPE_CHECKING:
    import mcp_types
    from mcp.shared.dispatcher import ProgressFnT

    from agent.config import ServerSettings
    from agent.mcp.listing import DroppedTools
    from agent.mcp.server_state import Held, ServerState

__all__ = ["ToolRequests"]

log = logging.getLogger(__name__)


class ToolRequests:
    """Tool listings and tool calls; the manager provides its servers, their states and sessions."""

    _servers: dict[str, ServerSettings]
    _states: dict[str, ServerState]
    _wakes: dict[str, anyio.Event]
    generation: int
    dropped: DroppedTools

    @property
    def connected(self) -> list[str]:
        raise NotImplementedError

    def _unknown(self, server: str) -> ServerError:
        raise NotImplementedError

    async def _usable(self, server: str, deadline: float) -> Held:
        raise NotImplementedError

    async def list_tools(self, server: str | None = None) -> list[ServerTool]:
        """List the tools of one or every connected server again (every page, after include /
        exclude); each listing replaces the server's known tools."""
        names = [server] if server is not None else self.connected
        results: dict[str, list[ServerTool]] = {}

        async def one(name: str) -> None:
            try:
                results[name] = await self._relist(name)
            except ServerError as exc:
                if server is not None:
                    raise
                log.info("%s", exc)

        if server is not None:
            await one(server)
        else:
            async with anyio.create_task_group() as tg:
                for name in names:
                    tg.start_soon(one, name)
        return [tool for name in names for tool in results.get(name, [])]

    async def _relist(self, name: str) -> list[ServerTool]:
        if name not in self._servers:
            raise self._unknown(name)
        held = await self._usable(name, anyio.current_time() + self._servers[name].timeout)
        listing = await list_server_tools(held.conn)
        state = self._states[name]
        if listing.tools != state.tools:
            self.generation += 1
        state.tools, state.skipped, state.tools_stale = listing.tools, listing.skipped, False
        self.dropped(name, listing)
        return list(listing.tools)

    async def refresh_tools(self) -> list[str]:
        """List again the tools of every connected server that said they changed; the names of
        the servers relisted. A listing that fails keeps the tools known before (and is logged)."""
        stale = [name for name in self.connected if self._states[name].tools_stale]
        if stale:
            async with anyio.create_task_group() as tg:
                for name in stale:
                    tg.start_soon(self._relist_quietly, name)
        return stale

    async def _relist_quietly(self, name: str) -> None:
        try:
            await self._relist(name)
        except ServerError as exc:
            log.info("%s", exc)

    async def call_tool(
        self,
        server: str,
        tool: str,
        arguments: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
        progress: ProgressFnT | None = None,
    ) -> mcp_types.CallToolResult:
        """Call one tool. Bounded by ``timeout`` or the server's; cancelling the caller cancels the
        call on the server too (MCP cancellation). A result with ``is_error`` is returned, not raised.

        A server that is down is tried once at once. A call that never reached the server (the
        connection was refused, the HTTP session was gone) is sent again after reconnecting;
        one lost in flight is not (it may have run): :class:`ServerUnavailable` says so. Raises
        ServerError when the server is unknown or needs a login, ToolCallFailed on timeout, a
        protocol error, or a result that breaks the tool's own output schema. With ``progress`` the
        call carries a progress token and the server's progress goes there."""
        from mcp.shared.exceptions import MCPError
        from mcp_types import CONNECTION_CLOSED
        from pydantic import ValidationError

        if server not in self._servers:
            raise self._unknown(server)
        limit = timeout if timeout is not None else self._servers[server].timeout
        deadline = anyio.current_time() + (limit if limit > 0 else math.inf)
        held = await self._usable(server, deadline)
        for may_resend in (True, False):
            result: mcp_types.CallToolResult | None = None
            try:
                with anyio.move_on_at(deadline) as scope:
                    result = await held.conn.client.call_tool(
                        tool, dict(arguments or {}), progress_callback=progress
                    )
            except MCPError as exc:
                if exc.code == CONNECTION_CLOSED:
                    with anyio.move_on_at(deadline):
                        await held.ended.wait()
                    reason = held.error.reason if held.error is not None else str(exc)
                    if may_resend and held.unsent:
                        held = await self._usable(server, deadline)
                        continue
                    raise ServerUnavailable(
                        server,
                        f"{reason} while calling {tool!r}: the call may or may not have run; "
                        "the server is tried again",
                    ) from None
                if session_gone(exc, held.conn):
                    if held.live:
                        from agent.errors import ServerConnectError

                        held.error = ServerConnectError(
                            server, f"the server no longer knows our session ({exc})"
                        )
                        self._wakes[server].set()
                        held.release.set()
                    if may_resend:
                        held = await self._usable(server, deadline)
                        continue
                    raise ServerUnavailable(server, f"its session was lost while calling {tool!r}") from None
                detail = http_detail(str(exc), held.conn)
                raise ToolCallFailed(f"{server}.{tool}: {exc}{detail}", code=exc.code) from None
            except ValidationError as exc:
                raise ToolCallFailed(f"{server}.{tool}: the server sent an invalid result: {exc}") from None
            except RuntimeError as exc:  # the SDK's check of structuredContent against outputSchema
                raise ToolCallFailed(
                    f"{server}.{tool}: the result breaks the tool's own output schema: {exc}"
                ) from None
            if result is None or scope.cancelled_caught:
                raise ToolCallFailed(
                    f"{server}.{tool} timed out after {limit:g} s",
                    hint="raise the server's 'timeout' for slow tools",
                )
            return result
        raise AssertionError("unreachable")
