"""Many MCP servers at once: connect concurrently, isolate failures, come back, close cleanly.

Each server lives in its own task of one long-lived task group (the SDK's transports hold cancel
scopes, which must be entered and left in the same task). The task connects and lists the
server's tools, reports readiness through ``task_status.started()`` (after its first attempt,
whatever its outcome), then holds the session until it is told to stop or the session is lost.

A server that is lost (its stdio process exited, its HTTP transport failed, its HTTP session is
gone) or could not be reached is tried again while the program runs, after 1, 2, 4 … 30 s (or
at once when a call needs it); a server that needs a login is not (that is the user's move).
Leaving the manager stops every task and waits for it: sessions close, stdio processes end. A
server still connecting then (a slow start, a login in the browser) is not waited for: its
attempt is cancelled, its process ended, and nothing is reported as a failure (we are leaving).

The requests made of running servers are mixed in: tool listings and calls from
agent/mcp/manager_tools.py, skills from agent/mcp/manager_skills.py.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

import anyio
from anyio.abc import TaskGroup, TaskStatus

from agent.config import ServerSettings
from agent.errors import AgentError, ServerError, ServerUnavailable
from agent.mcp.listing import DroppedTools, ServerTool, list_server_tools, watch_tool_changes
from agent.mcp.manager_skills import SkillRequests
from agent.mcp.manager_tools import ToolRequests
from agent.mcp.server_state import (
    RETRY_FIRST,
    RETRY_MAX,
    Held,
    ServerState,
    exited_error,
    first_of,
    never_reached,
    retryable,
    start_all,
)

if TYPE_CHECKING:
    import httpx2

    from agent.mcp.connection import Connection
    from agent.mcp.elicitation import ElicitationHandler
    from agent.mcp.server_log import LogHandler

__all__ = ["AuthFactory", "ServerManager", "ServerState", "ServerTool"]

log = logging.getLogger(__name__)

# Given (server name, settings), an httpx2.Auth that logs in / refreshes (agent/mcp/oauth.py), or
# None when the server needs none.
AuthFactory = Callable[[str, ServerSettings], "httpx2.Auth | None"]


class ServerManager(SkillRequests, ToolRequests):
    """Holds one live MCP session per configured server for the program's lifetime.

    ``async with ServerManager(servers) as manager:`` connects every enabled server concurrently
    (startup costs the slowest, not the sum; with ``manager.grace`` set, only until the grace
    passed and one is connected: the rest join later), each bounded by its ``timeout``, and
    lists its tools. A server that fails (to start, to initialize, to list its tools) is recorded in
    ``manager.states[name]`` (status "failed", ``error`` a ServerError saying why) and skipped;
    the rest work. Lost and unreachable servers come back on their own (module doc). Leaving the
    block closes every session and stdio process.

    Every URL server gets ``auth_factory(name, settings)`` from its first request (unless
    ``auth = "none"``): the OAuth handler does nothing until the server answers 401 or 403, and
    then logs in or steps up its scope, at connect time or in the middle of the session. Without
    a factory a 401 fails the server with "needs a login".

    A server's elicitation requests (a form it wants filled in mid-call) go to ``elicitation``
    (an interactive UI can ask the user); without one, a form is accepted with its schema's
    defaults when they fill every required field, and declined otherwise.

    ``on_state`` is told when a server's status changes: connecting, connected (also when it is
    back), failed (also when it went away); not on every attempt while it stays down.
    """

    def __init__(
        self,
        servers: Mapping[str, ServerSettings],
        *,
        auth_factory: AuthFactory | None = None,
        on_state: Callable[[ServerState], Any] | None = None,
        elicitation: ElicitationHandler | None = None,
        on_log: LogHandler | None = None,
    ) -> None:
        from agent.mcp.elicitation import accept_defaults

        self._servers = dict(servers)
        self._auth_factory = auth_factory
        self._elicitation = elicitation or accept_defaults
        self._on_state = on_state
        self._on_log = on_log
        self._states = {
            name: ServerState(name, settings, status="connecting" if settings.enabled else "disabled")
            for name, settings in self._servers.items()
        }
        self._held: dict[str, Held] = {}
        self._stops: dict[str, anyio.Event] = {}
        self._done: dict[str, anyio.Event] = {}
        self._wakes: dict[str, anyio.Event] = {}
        self._attempts: dict[str, anyio.Event] = {}  # set when an attempt to connect ends
        self._connecting: dict[str, anyio.CancelScope] = {}  # an attempt not yet holding a session
        self._tg: TaskGroup | None = None
        self.generation = 0  # changes whenever a server's tools do (connected, relisted)
        self.grace: float | None = None  # seconds: enter with the servers ready by then (start_all)
        self.dropped = DroppedTools()  # set .on_dropped to hear of tools left out for a bad schema

    async def __aenter__(self) -> ServerManager:
        tg = anyio.create_task_group()
        await tg.__aenter__()
        self._tg = tg
        try:
            names = [name for name, settings in self._servers.items() if settings.enabled]
            await start_all(names, self._start, tg, grace=self.grace, usable=lambda: bool(self.connected))
        except BaseException:
            await self._close()
            raise
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._close()

    async def _close(self) -> None:
        """Stop every server task and wait for it: sessions close, stdio processes end.

        A server still connecting is cancelled, not waited for (its connect timeout may be
        minutes away). The caller's exception is not handed to the task group (anyio would wrap
        it in an exception group); it propagates unchanged once everything is closed.
        """
        for name in list(self._stops):
            self._stop(name)
        tg, self._tg = self._tg, None
        if tg is not None:
            await tg.__aexit__(None, None, None)

    def _stop(self, name: str) -> None:
        for events in (self._stops, self._wakes):
            if name in events:
                events[name].set()
        connecting = self._connecting.pop(name, None)
        if connecting is not None:
            connecting.cancel()
        held = self._held.get(name)
        if held is not None:
            held.release.set()

    @property
    def states(self) -> dict[str, ServerState]:
        return self._states

    @property
    def configured(self) -> list[str]:
        """Names of the servers this manager runs (enabled), in config order, whatever their state."""
        return [name for name, state in self._states.items() if state.status != "disabled"]

    @property
    def connected(self) -> list[str]:
        """Names of the servers with a live session, in config order."""
        return [name for name in self._servers if name in self._held and self._held[name].live]

    def tools(self, server: str | None = None) -> list[ServerTool]:
        """The tools of one or every server from their last listing (no request is sent)."""
        names = [server] if server is not None else list(self._servers)
        return [tool for name in names if name in self._states for tool in self._states[name].tools]

    async def _start(self, name: str) -> None:
        assert self._tg is not None
        await self._tg.start(self._serve, name)

    async def _notify(self, state: ServerState) -> None:
        if self._on_state is None:
            return
        outcome = self._on_state(state)
        if inspect.isawaitable(outcome):
            await outcome

    async def _serve(self, name: str, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        """One server's whole life: connect (logging in when asked to), hold the session, and
        when it is lost or cannot be reached, try again after a growing wait."""
        state = self._states[name]
        stop = self._stops[name] = anyio.Event()
        done = self._done[name] = anyio.Event()
        self._wakes[name] = anyio.Event()
        self._attempts.setdefault(name, anyio.Event())
        state.status, state.error, state.retry_at = "connecting", None, None
        await self._notify(state)
        started = False

        def ready() -> None:
            nonlocal started
            if not started:
                started = True
                task_status.started()

        delay = 0.0
        try:
            while not stop.is_set():
                up_since = time.monotonic()
                # Cancelled by _stop while connecting; a held session is released instead.
                connecting = self._connecting[name] = anyio.CancelScope()
                connected = False
                with connecting:
                    connected = await self._attempt(name, ready)
                self._connecting.pop(name, None)
                if connecting.cancelled_caught:
                    self._attempt_ended(name)  # a call waiting on this attempt hears it ended
                ready()
                if stop.is_set() or not retryable(state.error):
                    break
                if connected and time.monotonic() - up_since >= RETRY_MAX:
                    delay = 0.0  # it had been up a while: start the waits afresh
                delay = min(delay * 2, RETRY_MAX) if delay else RETRY_FIRST
                state.retry_at = time.time() + delay
                with anyio.move_on_after(delay):
                    await self._wakes[name].wait()
                self._wakes[name] = anyio.Event()
                state.retry_at = None
        finally:
            self._connecting.pop(name, None)
            state.retry_at = None
            done.set()
            ready()

    async def _attempt(self, name: str, ready: Callable[[], None]) -> bool:
        """Connect and list the tools, then hold the session until released or lost. Whether it
        connected; a failure is recorded in the server's state."""
        from agent.mcp.connection import connect, lost_connection_error

        settings, state = self._servers[name], self._states[name]
        held: Held | None = None
        try:
            auth = self._make_auth(name, settings)
            # A browser login pauses the connect deadline (connect() uses the handler's
            # `on_user_wait`); the login has `oauth.login_timeout` of its own.
            async with connect(
                name,
                settings,
                auth=auth,
                elicitation=self._elicitation,
                on_tools_changed=lambda: self._tools_changed(name),
                on_log=self._on_log,
            ) as conn:
                listing = await list_server_tools(conn)
                held = self._held[name] = Held(conn)
                self._connecting.pop(name, None)  # from now on, stopping releases it
                if self._stops[name].is_set():
                    held.release.set()
                back = state.ever_connected
                state.status, state.error, state.ever_connected = "connected", None, True
                state.server_name, state.connect_ms = conn.server_name, conn.connect_ms
                state.instructions = conn.instructions
                state.tools, state.skipped, state.tools_stale = listing.tools, listing.skipped, False
                self.dropped(name, listing)
                self.generation += 1
                self._attempt_ended(name)
                if back:
                    log.info("server %s is back", name)
                await self._notify(state)
                ready()
                async with anyio.create_task_group() as listeners:
                    listeners.start_soon(watch_tool_changes, conn, lambda: self._tools_changed(name))
                    await first_of(held.release, conn.closed)
                    listeners.cancel_scope.cancel()
                if not held.release.is_set():
                    raise exited_error(conn)
            if held.error is not None:  # released because its session was gone
                self._fail(state, held.error)
                await self._notify(state)
            return True
        except ServerError as exc:
            error = exc
        except AgentError as exc:  # e.g. the auth factory could not open its token store
            error = ServerError(name, exc.message, hint=exc.hint)
        except Exception as exc:
            # After connecting, the transport can still fail (the server went away).
            log.debug("server %s failed", name, exc_info=True)
            error = lost_connection_error(name, settings, exc)
            if held is not None:
                held.unsent = never_reached(exc)
        finally:
            if held is not None:
                if self._held.get(name) is held:
                    del self._held[name]
                held.ended.set()
        if held is not None:
            held.error = held.error or error
        else:
            self._attempt_ended(name)
        if self._stops[name].is_set():  # being stopped (leaving, reconnecting): no failure
            log.debug("server %s stopped: %s", name, error)
            return held is not None
        if held is not None or state.status != "failed":
            self._fail(state, error)
            await self._notify(state)
        else:
            self._fail(state, error)  # still down: no news
        return held is not None

    def _attempt_ended(self, name: str) -> None:
        event, self._attempts[name] = self._attempts[name], anyio.Event()
        event.set()

    def _tools_changed(self, name: str) -> None:
        log.info("server %s: its tools changed", name)
        self._states[name].tools_stale = True

    def _make_auth(self, name: str, settings: ServerSettings) -> httpx2.Auth | None:
        if self._auth_factory is None or settings.url is None or settings.auth == "none":
            return None
        return self._auth_factory(name, settings)

    @staticmethod
    def _fail(state: ServerState, error: ServerError) -> None:
        log.info("%s", error)
        state.status = "failed"
        state.error = state.last_error = error
        state.last_error_at = time.time()

    def _unknown(self, server: str) -> ServerError:
        known = ", ".join(self._servers) or "none"
        return ServerError(server, "no such server", hint=f"known servers: {known}")

    def connection(self, server: str) -> Connection:
        """The live session of one server; raises ServerError when it is not connected."""
        held = self._held.get(server)
        if held is not None and held.live:
            return held.conn
        state = self._states.get(server)
        if state is None:
            raise self._unknown(server)
        raise state.error or ServerError(server, f"not connected ({state.status})")

    async def _usable(self, server: str, deadline: float) -> Held:
        """The server's live session; when it is down, one attempt to connect now (bounded by
        ``deadline``), or a :class:`ServerUnavailable` saying why not."""
        held = self._held.get(server)
        if held is not None and held.live:
            return held
        state = self._states.get(server)
        if state is None:
            raise self._unknown(server)
        done = self._done.get(server)
        if done is None or done.is_set():  # not running: disabled, a login is needed, or stopped
            raise state.error or ServerError(server, f"not connected ({state.status})")
        attempt = self._attempts[server]
        self._wakes[server].set()
        with anyio.move_on_at(deadline):
            await attempt.wait()
        held = self._held.get(server)
        if held is not None and held.live:
            return held
        reason = state.error.reason if state.error is not None else f"not connected ({state.status})"
        again = f"; trying again in {max(state.retry_at - time.time(), 0):.0f} s" if state.retry_at else ""
        raise ServerUnavailable(server, f"unavailable: {reason}{again}")

    async def reconnect(self, server: str) -> ServerState:
        """Close the server's session (if any) and connect again."""
        if server not in self._servers:
            raise self._unknown(server)
        if self._tg is None:
            raise ServerError(server, "the manager is not running")
        done = self._done.get(server)
        if done is not None:
            self._stop(server)
            await done.wait()
        await self._tg.start(self._serve, server)
        return self._states[server]
