"""Open one MCP server: Streamable HTTP, legacy SSE or stdio, with failures told plainly.

:func:`connect` is an async context manager that yields a live :class:`Connection` (an
``mcp.Client`` after its handshake). Enter and leave it in the same task: the SDK's transports
hold task groups and cancel scopes. Connecting is bounded by the server's ``timeout``.

Every failure to connect becomes a :class:`~agent.errors.ServerConnectError` (or
:class:`~agent.errors.AuthRequiredError` for a 401 without an auth handler) that says why:
refused, DNS, TLS, timeout, HTTP status, the process exited, the command was not found. The SDK
wraps causes in exception groups and generic protocol errors, so agent/mcp/failures.py digs
through ``__cause__`` / ``__context__`` and groups, and an httpx2 response hook remembers the last
HTTP error status the server sent.

A stdio server gets only the SDK's safe default environment plus its configured ``env`` (never
our API keys); its stderr goes to ``<user log dir>/servers/<name>.log``.

Every transport's read stream goes through :mod:`agent.mcp.result_type` (a result without
``resultType`` is complete, SEP-2322).

Streamable HTTP lifts the SDK's 1 MiB limit on one SSE event (big tool results); the legacy SSE
transport keeps it (the SDK offers no setting), so a bigger result there loses the connection.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, cast

import anyio
import anyio.lowlevel

from agent import __version__
from agent.config import ServerSettings, user_log_dir
from agent.errors import AuthError, AuthRequiredError, ServerConnectError, ServerError
from agent.mcp.failures import describe_failure, first_message, hint, leaves, not_an_mcp_answer, request_url
from agent.mcp.stream_watch import watched
from agent.private_files import open_private
from agent.tls import tls_context

if TYPE_CHECKING:
    import httpx2
    from mcp import Client
    from mcp.client.session import MessageHandlerFnT

    from agent.mcp.elicitation import ElicitationHandler
    from agent.mcp.server_log import LogHandler

log = logging.getLogger(__name__)

__all__ = [
    "MAX_SSE_EVENT_SIZE",
    "Connection",
    "connect",
    "lost_connection_error",
    "server_log_path",
]

# Results larger than the SDK's 1 MiB default SSE event limit must still arrive.
MAX_SSE_EVENT_SIZE = 256 * 1024 * 1024
_STDERR_TAIL_LINES = 5


@dataclass(slots=True)
class Connection:
    """A live session with one server."""

    name: str
    settings: ServerSettings
    client: Client
    server_name: str | None
    connect_ms: float
    closed: anyio.Event = field(default_factory=anyio.Event)  # the transport's stream ended
    trace: _HttpTrace | None = None

    @property
    def last_http_status(self) -> int | None:
        """The last HTTP error status the server answered (None for stdio or none yet)."""
        return self.trace.status if self.trace is not None else None

    instructions: str | None = None  # what the server's initialize result says to do with it


@dataclass(slots=True)
class _HttpTrace:
    """What the HTTP layer saw: the last error status, for messages the SDK reduces to a code."""

    status: int | None = None
    reason: str = ""
    url: str = ""
    sniff: bool = True  # until connected: look at what a 200 answer holds
    not_mcp: str | None = None  # a 200 answer that is no MCP message: what came back

    async def on_response(self, response: httpx2.Response) -> None:
        if response.status_code >= 400:
            self.status = response.status_code
            self.reason = response.reason_phrase
            self.url = str(response.request.url)
        elif self.sniff and response.status_code == 200 and self.not_mcp is None:
            self.not_mcp = await not_an_mcp_answer(response)


@dataclass(slots=True)
class _Context:
    name: str
    settings: ServerSettings
    auth: httpx2.Auth | None
    trace: _HttpTrace = field(default_factory=_HttpTrace)
    log_path: Path | None = None
    log_offset: int = 0
    closed: anyio.Event = field(default_factory=anyio.Event)


def server_log_path(name: str) -> Path:
    """Where a stdio server's stderr goes."""
    return user_log_dir() / "servers" / f"{name}.log"


def _http_client(ctx: _Context, headers: dict[str, Any] | None = None) -> httpx2.AsyncClient:
    import httpx2

    merged = {**ctx.settings.headers, **(headers or {})}
    return httpx2.AsyncClient(
        headers=merged,
        auth=ctx.auth,
        verify=tls_context(),
        # Connect/write/pool bounded by the server's timeout; reads are bounded per call by anyio
        # (a tool may run long, an event stream may idle).
        timeout=httpx2.Timeout(ctx.settings.timeout, read=None),
        event_hooks={"response": [ctx.trace.on_response]},
    )


@asynccontextmanager
async def _transport(ctx: _Context, stack: AsyncExitStack) -> AsyncIterator[Any]:
    settings = ctx.settings
    if settings.kind == "http":
        from mcp.client.streamable_http import streamable_http_client

        assert settings.url is not None
        client = await stack.enter_async_context(_http_client(ctx))
        async with (
            streamable_http_client(
                settings.url, http_client=client, max_sse_event_size=MAX_SSE_EVENT_SIZE
            ) as streams,
            watched(ctx.name, streams, ctx.closed) as watched_streams,
        ):
            yield _complete_by_default(watched_streams)
    elif settings.kind == "sse":
        from mcp.client.sse import sse_client

        assert settings.url is not None

        def factory(
            headers: dict[str, str] | None = None,
            timeout: httpx2.Timeout | None = None,
            auth: httpx2.Auth | None = None,
        ) -> httpx2.AsyncClient:
            return _http_client(ctx, headers)

        async with (
            sse_client(settings.url, httpx_client_factory=factory, auth=ctx.auth) as streams,
            watched(ctx.name, streams, ctx.closed) as watched_streams,
        ):
            yield _complete_by_default(watched_streams)
    else:
        from mcp.client.stdio import StdioServerParameters, get_default_environment, stdio_client

        assert settings.command is not None
        env = get_default_environment() | settings.env
        if os.sep not in settings.command and shutil.which(settings.command, path=env.get("PATH")) is None:
            raise ServerConnectError(
                ctx.name,
                f"command not found: {settings.command}",
                hint="install it, or give its full path in the server's 'command'",
            )
        params = StdioServerParameters(
            command=settings.command, args=settings.args, env=env, cwd=settings.cwd
        )
        errlog = stack.enter_context(_server_log(ctx))
        async with (
            stdio_client(params, errlog=errlog) as streams,
            watched(ctx.name, streams, ctx.closed) as watched_streams,
        ):
            yield _complete_by_default(watched_streams)


def _complete_by_default(streams: Any) -> Any:
    """The transport's streams, its read side wrapped by :class:`~agent.mcp.result_type.CompleteByDefault`."""
    from agent.mcp.result_type import CompleteByDefault

    read, write = streams
    return CompleteByDefault(read), write


@contextmanager
def _server_log(ctx: _Context) -> Iterator[TextIO]:
    """The per-server stderr log, opened for appending; remembers where this run's output starts."""
    path = server_log_path(ctx.name)
    try:
        fh = cast("TextIO", open_private(path, "a", encoding="utf-8"))
    except OSError as exc:
        log.warning("cannot write %s (%s); the server's stderr is discarded", path, exc.strerror)
        fh = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - closed below
    else:
        fh.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting {_where(ctx.settings)}\n")
        fh.flush()
        ctx.log_path, ctx.log_offset = path, fh.tell()
    with fh:
        yield fh


def _stderr_tail(ctx: _Context) -> str:
    if ctx.log_path is None:
        return ""
    try:
        with ctx.log_path.open("r", encoding="utf-8", errors="replace") as fh:
            fh.seek(ctx.log_offset)
            lines = [line.rstrip() for line in fh.read().splitlines() if line.strip()]
    except OSError:
        return ""
    return "\n".join(lines[-_STDERR_TAIL_LINES:])


@asynccontextmanager
async def connect(
    name: str,
    settings: ServerSettings,
    *,
    auth: httpx2.Auth | None = None,
    connect_timeout: float | None = None,
    elicitation: ElicitationHandler | None = None,
    on_tools_changed: Callable[[], None] | None = None,
    on_log: LogHandler | None = None,
) -> AsyncIterator[Connection]:
    """Connect to one server and keep the session open for the block.

    Connecting is bounded by ``connect_timeout`` (default: the server's ``timeout``), with the
    clock stopped while a browser login waits on the user. With ``elicitation`` the client
    declares the elicitation capability and the server's requests go to that handler. The
    server's log messages go to the log file, and to ``on_log`` (:mod:`agent.mcp.server_log`).
    ``on_tools_changed`` is called on each ``notifications/tools/list_changed``.

    Raises ServerConnectError / AuthRequiredError / AuthError when connecting fails; errors
    raised inside the block pass through untouched.
    """
    from mcp import Client
    from mcp_types import Implementation

    from agent.mcp.elicitation import sdk_callback
    from agent.mcp.server_log import logging_callback, requested_level, set_level

    ctx = _Context(name, settings, auth)
    started = time.monotonic()
    connected = False
    limit = settings.timeout if connect_timeout is None else connect_timeout
    with anyio.CancelScope() as scope, _deadline_paused_for_user(auth, scope, lambda: connected):
        scope.deadline = anyio.current_time() + limit
        try:
            async with AsyncExitStack() as stack:
                client = await stack.enter_async_context(
                    Client(
                        _transport(ctx, stack),
                        client_info=Implementation(name="agent", version=__version__),
                        elicitation_callback=sdk_callback(name, elicitation) if elicitation else None,
                        message_handler=_notification_handler(on_tools_changed),
                        logging_callback=logging_callback(name, on_log),
                        log_level=requested_level(),
                    )
                )
                await set_level(client)
                scope.deadline = math.inf
                connected = True
                ctx.trace.sniff = False
                info = client.server_info
                yield Connection(
                    name=name,
                    settings=settings,
                    client=client,
                    server_name=info.name if info is not None else None,
                    connect_ms=(time.monotonic() - started) * 1000,
                    closed=ctx.closed,
                    trace=ctx.trace if settings.url is not None else None,
                    instructions=client.instructions,
                )
        except ServerError:
            raise
        except Exception as exc:
            if connected:
                raise
            if scope.cancel_called:
                # The deadline struck and a transport reported it as its own failure.
                raise _timeout_error(name, settings, limit) from None
            raise _translate(ctx, exc) from None
    if scope.cancelled_caught and not connected:
        raise _timeout_error(name, settings, limit)


def _notification_handler(on_tools_changed: Callable[[], None] | None) -> MessageHandlerFnT:
    import mcp_types

    async def handle(message: object) -> None:
        if isinstance(message, mcp_types.ToolListChangedNotification) and on_tools_changed is not None:
            on_tools_changed()
        await anyio.lowlevel.checkpoint()

    return handle


@contextmanager
def _deadline_paused_for_user(
    auth: httpx2.Auth | None, scope: anyio.CancelScope, connected: Callable[[], bool]
) -> Iterator[None]:
    """Stop the connect deadline's clock while a login waits on the user (a browser login has
    ``oauth.login_timeout`` of its own), for an auth handler with an ``on_user_wait`` hook."""
    if auth is None or not hasattr(auth, "on_user_wait"):
        yield
        return
    left: list[float] = []

    def on_user_wait(waiting: bool) -> None:
        if connected():
            return
        if waiting:
            left.append(max(scope.deadline - anyio.current_time(), 0.0))
            scope.deadline = math.inf
        elif left:
            scope.deadline = anyio.current_time() + left.pop()

    previous = auth.on_user_wait
    auth.on_user_wait = on_user_wait
    try:
        yield
    finally:
        auth.on_user_wait = previous


def _timeout_error(name: str, settings: ServerSettings, limit: float) -> ServerConnectError:
    return ServerConnectError(
        name,
        f"timed out after {limit:g} s while connecting to {_where(settings)}",
        hint="raise the server's 'timeout' if it is just slow to start",
    )


def _where(settings: ServerSettings) -> str:
    if settings.url is not None:
        return settings.url
    return " ".join([settings.command or "", *settings.args]).strip()


def lost_connection_error(name: str, settings: ServerSettings, exc: BaseException) -> ServerError:
    """The error for a session that failed after it was connected (the server went away)."""
    for item in leaves(exc):
        if isinstance(item, ServerError):
            return item
    reason = describe_failure(exc, url=settings.url) or first_message(exc)
    return ServerConnectError(name, f"connection lost: {reason}")


def _translate(ctx: _Context, exc: BaseException) -> ServerError:
    from mcp.shared.exceptions import MCPError

    name, settings = ctx.name, ctx.settings
    for item in leaves(exc):
        if isinstance(item, ServerError):
            return item
    if settings.url is not None:
        trace = ctx.trace
        # A network failure comes first: after a 401, the login's own requests (to the
        # authorization server) may be what failed, and their URL says where.
        if any(request_url(item) is not None for item in leaves(exc)):
            reason = describe_failure(exc, url=settings.url)
            if reason is not None:
                return ServerConnectError(name, reason, hint=hint(reason))
        if trace.status == 401:
            if any(key.lower() == "authorization" for key in settings.headers):
                return AuthError(
                    name,
                    f"HTTP 401 at {settings.url}: the configured Authorization header was refused",
                    hint="check the server's 'headers'",
                )
            if ctx.auth is None:
                return AuthRequiredError(
                    name, f"needs a login (HTTP 401 at {settings.url})", hint=f"run `agent login {name}`"
                )
            return AuthError(name, f"the server still answers HTTP 401 after login at {settings.url}")
        if trace.not_mcp is not None:
            return ServerConnectError(name, trace.not_mcp, hint=hint("not an MCP server"))
        if trace.status is not None:
            reason = f"HTTP {trace.status} {trace.reason} at {trace.url}".replace("  ", " ")
            return ServerConnectError(name, reason, hint=hint(reason))
        reason = describe_failure(exc, url=settings.url)
        if reason is not None:
            return ServerConnectError(name, reason, hint=hint(reason))
    else:
        for item in leaves(exc):
            if isinstance(item, FileNotFoundError | PermissionError | NotADirectoryError):
                target = item.filename or settings.command
                return ServerConnectError(name, f"cannot start {target}: {item.strerror}")
        for item in leaves(exc):
            if isinstance(item, MCPError) and "closed" in str(item).lower():
                tail = _stderr_tail(ctx)
                message = f"the server process exited before it answered ({_where(settings)})"
                if tail:
                    message += "; its last stderr lines:\n" + _indent(tail)
                return ServerConnectError(name, message, hint=f"full stderr in {ctx.log_path}")
    for item in leaves(exc):
        if isinstance(item, MCPError):
            return ServerConnectError(name, f"the server refused the connection: {item}")
    return ServerConnectError(name, f"cannot connect to {_where(settings)}: {first_message(exc)}")


def _indent(text: str) -> str:
    return "\n".join(f"    {line}" for line in text.splitlines())
