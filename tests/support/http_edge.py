"""Tiny loopback HTTP peers for failure cases: a server that always answers one status, one that
accepts and never answers, and a port that refuses connections. For the MCP transports' edge."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress

import anyio
from anyio.abc import SocketStream

_HELD: list[socket.socket] = []


def refused_port() -> int:
    """A loopback port nobody listens on: bound, never listening, and held until the process
    ends, so connecting to it is refused and no other process (another test worker) can take it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    _HELD.append(sock)
    port: int = sock.getsockname()[1]
    return port


async def _read_request(stream: SocketStream) -> bytes:
    data = b""
    with anyio.move_on_after(5):
        while b"\r\n\r\n" not in data:
            chunk = await stream.receive()
            if not chunk:
                break
            data += chunk
    return data


@asynccontextmanager
async def _serve(handle: Callable[[SocketStream], Awaitable[None]]) -> AsyncIterator[str]:
    """Serve ``handle`` on an ephemeral loopback port; yields the URL."""
    async with (
        await anyio.create_tcp_listener(local_host="127.0.0.1") as listener,
        anyio.create_task_group() as tg,
    ):
        port = listener.extra(anyio.abc.SocketAttribute.local_port)
        tg.start_soon(listener.serve, handle)
        yield f"http://127.0.0.1:{port}/mcp"
        tg.cancel_scope.cancel()


@asynccontextmanager
async def status_server(
    status: int,
    reason: str,
    headers: dict[str, str] | None = None,
    *,
    seen: list[bytes] | None = None,
    body: bytes = b"",
) -> AsyncIterator[str]:
    """Answer every request with ``status`` and ``body``; yields the URL. Requests go to ``seen``."""
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    head = f"HTTP/1.1 {status} {reason}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n{extra}\r\n"
    response = head.encode() + body

    async def handle(stream: SocketStream) -> None:
        async with stream:
            request = await _read_request(stream)
            if seen is not None:
                seen.append(request)
            with suppress(anyio.BrokenResourceError, anyio.ClosedResourceError):
                await stream.send(response)

    async with _serve(handle) as url:
        yield url


@asynccontextmanager
async def silent_server() -> AsyncIterator[str]:
    """Accept connections and never answer; yields the URL."""

    async def handle(stream: SocketStream) -> None:
        async with stream:
            await anyio.sleep_forever()

    async with _serve(handle) as url:
        yield url
