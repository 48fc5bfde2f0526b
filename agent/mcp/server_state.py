"""What the manager knows of each server, and how it judges a failure.

:class:`ServerState` is what ``/servers`` and ``agent tools --json`` show; :class:`Held` is one
live session and how it ended. A failure is judged three ways: can trying again later help
(:func:`retryable`: not when a login is needed), did a request never leave (:func:`never_reached`:
it may be sent again), is the HTTP session gone while the server is up (:func:`session_gone`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import anyio

from agent.config import ServerSettings
from agent.errors import AuthError, ServerConnectError, ServerError
from agent.mcp.listing import ServerTool

if TYPE_CHECKING:
    from anyio.abc import TaskGroup

    from agent.mcp.connection import Connection

__all__ = [
    "RETRY_FIRST",
    "RETRY_MAX",
    "Held",
    "ServerState",
    "Status",
    "exited_error",
    "first_of",
    "http_detail",
    "never_reached",
    "retryable",
    "session_gone",
    "start_all",
]

log = logging.getLogger(__name__)

# Waits before trying a lost or unreachable server again: 1, 2, 4 … 30 s.
RETRY_FIRST = 1.0
RETRY_MAX = 30.0


Status = Literal["connecting", "connected", "failed", "disabled"]


@dataclass(slots=True)
class ServerState:
    """What is known of one server now (``/servers``, ``agent tools --json``).

    ``error`` is why it is not connected (None while it is); ``last_error`` and ``last_error_at``
    (seconds since the epoch) keep the last failure after it came back. ``retry_at`` is when the
    next attempt is due while it is down. ``tools`` are the tools of its last listing: kept while
    it is briefly away, so what the model is offered does not flicker.
    """

    name: str
    settings: ServerSettings
    status: Status = "connecting"
    error: ServerError | None = None
    server_name: str | None = None  # what the server calls itself
    connect_ms: float | None = None
    instructions: str | None = None  # the server's initialize instructions
    last_error: ServerError | None = None
    last_error_at: float | None = None
    retry_at: float | None = None
    tools: tuple[ServerTool, ...] = ()
    skipped: tuple[tuple[ServerTool, str], ...] = ()  # tools set aside, with the reason
    tools_stale: bool = False  # the server said its tools changed (notifications/tools/list_changed)
    ever_connected: bool = False


@dataclass(slots=True)
class Held:
    """One live session, and how it ended: ``unsent`` when its transport failed to reach the
    server at all (a request then never arrived and may be sent again)."""

    conn: Connection
    release: anyio.Event = field(default_factory=anyio.Event)
    ended: anyio.Event = field(default_factory=anyio.Event)
    error: ServerError | None = None
    unsent: bool = False

    @property
    def live(self) -> bool:
        return not (self.ended.is_set() or self.release.is_set() or self.conn.closed.is_set())


def retryable(error: ServerError | None) -> bool:
    """Whether trying again later can help: not when a login is needed or was refused."""
    from agent.errors import AuthRequiredError

    return error is not None and not isinstance(error, AuthError | AuthRequiredError)


def never_reached(exc: BaseException) -> bool:
    """The transport failed before a request could leave (refused, no route, DNS)."""
    import httpx2

    from agent.mcp.failures import leaves

    return any(isinstance(item, httpx2.ConnectError | ConnectionRefusedError) for item in leaves(exc))


def session_gone(exc: Exception, conn: Connection) -> bool:
    """An HTTP server no longer knows our session (it restarted): 404, or 400 naming the session."""
    return conn.last_http_status in (400, 404) and "session" in str(exc).lower()


async def first_of(*events: anyio.Event) -> None:
    """Wait until any of ``events`` is set."""
    async with anyio.create_task_group() as tg:

        async def wait(event: anyio.Event) -> None:
            await event.wait()
            tg.cancel_scope.cancel()

        for event in events:
            tg.start_soon(wait, event)


def exited_error(conn: Connection) -> ServerError:
    """Why a session whose stream ended on its own is over."""
    kind = conn.settings.kind
    what = "the server process exited" if kind == "stdio" else "the server closed the session"
    return ServerConnectError(conn.name, f"connection lost: {what}")


async def start_all(
    names: list[str],
    start: Callable[[str], Awaitable[None]],
    tg: TaskGroup,
    *,
    grace: float | None,
    usable: Callable[[], bool],
) -> None:
    """Start every server in ``tg`` (``start`` returns after its first attempt) and wait: for
    all of them, or, with ``grace`` (seconds), only until the grace has passed and one server
    is ``usable``; the rest go on connecting. A start that fails while we wait raises here."""
    pending = set(names)
    progress = anyio.Event()
    failure: list[Exception] = []

    async def one(name: str) -> None:
        try:
            await start(name)
        except Exception as exc:  # a bug, not a server failure (those are in the server's state)
            log.error("server %s could not be started: %r", name, exc)
            failure.append(exc)
        finally:
            pending.discard(name)
            progress.set()

    for name in names:
        tg.start_soon(one, name)
    deadline = None if grace is None else anyio.current_time() + grace
    while pending and not failure:
        now = anyio.current_time()
        if deadline is not None and now >= deadline and usable():
            return
        progress = anyio.Event()
        with anyio.move_on_after(deadline - now if deadline is not None and now < deadline else math.inf):
            await progress.wait()
    if failure:
        raise failure[0]


def http_detail(message: str, conn: Connection) -> str:
    """What the SDK leaves out of its "Server returned an error response" (an HTTP error with no
    JSON-RPC error in it): the status, and for a 403 that more access was wanted (a step-up
    that was denied or failed: agent/mcp/oauth_scopes.py)."""
    status = conn.last_http_status
    if status is None or message != "Server returned an error response":
        return ""
    return f" (HTTP {status}{': the server wants more access than this login has' if status == 403 else ''})"
