"""Many MCP servers at once: connect concurrently, isolate failures, close cleanly.

Each server lives in its own task of one long-lived task group (the SDK's transports hold cancel
scopes, which must be entered and left in the same task). The task connects, reports readiness
through ``task_status.started()``, then waits for its stop event; leaving the manager sets every
stop event and waits for the tasks, which close their sessions and stdio processes.
"""

from __future__ import annotations

import gc
import inspect
import logging
import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal

import anyio
from anyio.abc import TaskGroup, TaskStatus

from agent.config import ServerSettings
from agent.errors import AgentError, ServerError, ToolCallFailed

if TYPE_CHECKING:
    import httpx2
    import mcp_types
    from mcp.shared.dispatcher import ProgressFnT

    from agent.mcp.connection import Connection
    from agent.mcp.elicitation import ElicitationHandler
    from agent.mcp.server_log import LogHandler
    from agent.mcp.skills import LoadedSkill, Skill

__all__ = ["AuthFactory", "ServerManager", "ServerState", "ServerTool"]

log = logging.getLogger(__name__)

# Given (server name, settings), an httpx2.Auth that logs in / refreshes (agent/mcp/oauth.py), or
# None when the server needs none.
AuthFactory = Callable[[str, ServerSettings], "httpx2.Auth | None"]

_MAX_PAGES = 1000

# Listings in flight that hold the cyclic garbage collector paused (see _gc_paused).
_gc_pauses = 0
_gc_was_enabled = False


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


@dataclass(slots=True)
class ServerState:
    name: str
    settings: ServerSettings
    status: Literal["connecting", "connected", "failed", "disabled"] = "connecting"
    error: ServerError | None = None
    server_name: str | None = None  # what the server calls itself
    connect_ms: float | None = None
    instructions: str | None = None  # the server's initialize instructions


class ServerManager:
    """Holds one live MCP session per configured server for the program's lifetime.

    ``async with ServerManager(servers) as manager:`` connects every enabled server concurrently
    (startup costs the slowest, not the sum), each bounded by its ``timeout``. A server that fails
    is recorded in ``manager.states[name]`` (status "failed", ``error`` a ServerError saying why)
    and skipped; the rest work. Leaving the block closes every session and stdio process.

    Every URL server gets ``auth_factory(name, settings)`` from its first request (unless
    ``auth = "none"``): the OAuth handler does nothing until the server answers 401 or 403, and
    then logs in or steps up its scope, at connect time or in the middle of the session. Without
    a factory a 401 fails the server with "needs a login".

    A server's elicitation requests (a form it wants filled in mid-call) go to ``elicitation``
    (an interactive UI can ask the user); without one, a form is accepted with its schema's
    defaults when they fill every required field, and declined otherwise.
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
        self._connections: dict[str, Connection] = {}
        self._stops: dict[str, anyio.Event] = {}
        self._done: dict[str, anyio.Event] = {}
        self._tg: TaskGroup | None = None

    async def __aenter__(self) -> ServerManager:
        tg = anyio.create_task_group()
        await tg.__aenter__()
        self._tg = tg
        try:
            async with anyio.create_task_group() as starters:
                for name, settings in self._servers.items():
                    if settings.enabled:
                        starters.start_soon(self._start, name)
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

        The caller's exception is not handed to the task group (anyio would wrap it in an
        exception group); it propagates unchanged once everything is closed.
        """
        for stop in self._stops.values():
            stop.set()
        tg, self._tg = self._tg, None
        if tg is not None:
            await tg.__aexit__(None, None, None)

    @property
    def states(self) -> dict[str, ServerState]:
        return self._states

    @property
    def connected(self) -> list[str]:
        """Names of the servers with a live session, in config order."""
        return [name for name in self._servers if name in self._connections]

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
        """One server's whole life: connect (logging in when asked to), then hold the session."""
        from agent.mcp.connection import connect

        settings = self._servers[name]
        state = self._states[name]
        stop = self._stops[name] = anyio.Event()
        done = self._done[name] = anyio.Event()
        state.status, state.error = "connecting", None
        await self._notify(state)
        started = False
        try:
            auth = self._make_auth(name, settings)
            # A browser login pauses the connect deadline (connect() uses the handler's
            # `on_user_wait`); the login has `oauth.login_timeout` of its own.
            async with connect(
                name, settings, auth=auth, elicitation=self._elicitation, on_log=self._on_log
            ) as conn:
                self._connections[name] = conn
                state.status = "connected"
                state.server_name = conn.server_name
                state.connect_ms = conn.connect_ms
                state.instructions = conn.instructions
                await self._notify(state)
                started = True
                task_status.started()
                await stop.wait()
            return
        except ServerError as exc:
            self._fail(state, exc)
        except AgentError as exc:  # e.g. the auth factory could not open its token store
            self._fail(state, ServerError(name, exc.message, hint=exc.hint))
        except Exception as exc:
            # After connecting, the transport can still fail (the server went away).
            from agent.mcp.connection import lost_connection_error

            log.debug("server %s failed", name, exc_info=True)
            self._fail(state, lost_connection_error(name, settings, exc))
        finally:
            self._connections.pop(name, None)
            done.set()
            if not started:
                task_status.started()
        await self._notify(state)

    def _make_auth(self, name: str, settings: ServerSettings) -> httpx2.Auth | None:
        if self._auth_factory is None or settings.url is None or settings.auth == "none":
            return None
        return self._auth_factory(name, settings)

    @staticmethod
    def _fail(state: ServerState, error: ServerError) -> None:
        log.info("%s", error)
        state.status = "failed"
        state.error = error

    def connection(self, server: str) -> Connection:
        """The live session of one server; raises ServerError when it is not connected."""
        return self._connection(server)

    def _connection(self, server: str) -> Connection:
        conn = self._connections.get(server)
        if conn is not None:
            return conn
        state = self._states.get(server)
        if state is None:
            known = ", ".join(self._servers) or "none"
            raise ServerError(server, "no such server", hint=f"known servers: {known}")
        if state.error is not None:
            raise state.error
        raise ServerError(server, f"not connected ({state.status})")

    async def list_tools(self, server: str | None = None) -> list[ServerTool]:
        """All tools (every page) of one or every connected server, after include/exclude filters."""
        names = [server] if server is not None else self.connected
        results: dict[str, list[ServerTool]] = {}

        async def one(name: str) -> None:
            try:
                results[name] = await self._list_one(name)
            except ServerError as exc:
                if server is not None:
                    raise
                log.info("%s", exc)
                results[name] = []

        if server is not None:
            await one(server)
        else:
            async with anyio.create_task_group() as tg:
                for name in names:
                    tg.start_soon(one, name)
        return [tool for name in names for tool in results.get(name, [])]

    async def _list_one(self, name: str) -> list[ServerTool]:
        from mcp.shared.exceptions import MCPError

        conn = self._connection(name)
        settings = conn.settings
        tools: list[ServerTool] = []
        cursor: str | None = None
        seen: set[str] = set()
        try:
            with anyio.fail_after(settings.timeout), _gc_paused():
                for _ in range(_MAX_PAGES):
                    page = await conn.client.list_tools(cursor=cursor)
                    tools.extend(ServerTool(name, t) for t in page.tools if settings.tools.allows(t.name))
                    cursor = page.next_cursor
                    if cursor is None or cursor in seen:
                        break
                    seen.add(cursor)
        except TimeoutError:
            raise ServerError(name, f"listing tools timed out after {settings.timeout:g} s") from None
        except MCPError as exc:
            raise ServerError(name, f"listing tools failed: {exc}") from None
        return tools

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
        call on the server too (MCP cancellation). Raises ServerError when the server is not
        connected, ToolCallFailed on timeout. A result with ``is_error`` is returned, not raised.
        With ``progress`` the call carries a progress token and the server's progress goes there."""
        from mcp.shared.exceptions import MCPError
        from mcp_types import CONNECTION_CLOSED
        from pydantic import ValidationError

        conn = self._connection(server)
        limit = timeout if timeout is not None else conn.settings.timeout
        result: mcp_types.CallToolResult | None = None
        try:
            with anyio.move_on_after(limit if limit > 0 else math.inf) as scope:
                result = await conn.client.call_tool(tool, dict(arguments or {}), progress_callback=progress)
        except MCPError as exc:
            if exc.code == CONNECTION_CLOSED:
                error = ServerError(server, f"connection lost while calling {tool!r}: {exc}")
                if self._connections.get(server) is conn:
                    del self._connections[server]
                    self._fail(self._states[server], error)
                    await self._notify(self._states[server])
                raise error from None
            raise ToolCallFailed(f"{server}.{tool}: {exc}", code=exc.code) from None
        except ValidationError as exc:
            raise ToolCallFailed(f"{server}.{tool}: the server sent an invalid result: {exc}") from None
        if result is None or scope.cancelled_caught:
            raise ToolCallFailed(
                f"{server}.{tool} timed out after {limit:g} s",
                hint="raise the server's 'timeout' for slow tools",
            )
        return result

    # -- skills (SEP-2640, agent/mcp/skills.py) -------------------------------------------------

    def offers_skills(self, server: str) -> bool:
        """Whether the connected server declared the skills extension."""
        from agent.mcp.skills import server_offers_skills

        return server_offers_skills(self._connection(server).client)

    async def list_skills(self, server: str) -> list[Skill]:
        """The server's skills (``skills/list``); reads none of their files."""
        from agent.mcp.skills import list_skills

        conn = self._connection(server)
        with self._skills_errors(server, "listing skills", conn.settings.timeout):
            return await list_skills(server, conn.client)
        raise AssertionError("unreachable")  # the context manager re-raises every failure

    async def load_skill(self, server: str, skill: Skill) -> LoadedSkill:
        """Read and verify the skill's ``SKILL.md``; SkillRejected when it fails verification."""
        from agent.mcp.skills import load_skill

        conn = self._connection(server)
        with self._skills_errors(server, f"reading {skill.uri}", conn.settings.timeout):
            return await load_skill(server, conn.client, skill)
        raise AssertionError("unreachable")

    async def read_skill_file(self, server: str, loaded: LoadedSkill, uri: str) -> bytes:
        """A supporting file of a loaded skill, verified; SkillRejected when it fails."""
        from agent.mcp.skills import read_skill_file

        conn = self._connection(server)
        with self._skills_errors(server, f"reading {uri}", conn.settings.timeout):
            return await read_skill_file(server, conn.client, loaded, uri)
        raise AssertionError("unreachable")

    @contextmanager
    def _skills_errors(self, server: str, doing: str, timeout: float) -> Iterator[None]:
        """Bound a skills request by the server's timeout; its failures as ServerError."""
        from mcp.shared.exceptions import MCPError
        from pydantic import ValidationError

        try:
            with anyio.fail_after(timeout if timeout > 0 else math.inf):
                yield
        except TimeoutError:
            raise ServerError(server, f"{doing} timed out after {timeout:g} s") from None
        except MCPError as exc:
            raise ServerError(server, f"{doing} failed: {exc}") from None
        except ValidationError as exc:
            raise ServerError(server, f"{doing}: the server sent an invalid result: {exc}") from None

    async def reconnect(self, server: str) -> ServerState:
        """Close the server's session (if any) and connect again."""
        if server not in self._servers:
            self._connection(server)  # raises "no such server"
        if self._tg is None:
            raise ServerError(server, "the manager is not running")
        stop, done = self._stops.get(server), self._done.get(server)
        if stop is not None and done is not None:
            stop.set()
            await done.wait()
        await self._tg.start(self._serve, server)
        return self._states[server]
