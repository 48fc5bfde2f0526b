"""The loopback end of a browser login: a tiny HTTP listener on ``127.0.0.1`` for the redirect.

The port is bound before the client registers (it is part of the registered redirect URI) and
served only while the login waits for the browser. Each request to ``/callback`` is judged by
the caller (state, issuer, error) and answered with a short page that tells the user to return
to the terminal; anything else gets a 404 and the wait goes on.
"""

from __future__ import annotations

import contextlib
import html
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import parse_qs, urlsplit

import anyio
import anyio.abc

from agent.errors import AgentError

if TYPE_CHECKING:
    from anyio.abc import ObjectSendStream

__all__ = ["CallbackListener", "open_callback_listener"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

_HEAD_LIMIT = 64 * 1024
_READ_TIMEOUT = 10.0
_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>agent: {title}</title></head>
<body style="font-family: sans-serif; margin: 3em;">
<h1>{title}</h1><p>{body}</p><p>You can close this tab and return to the terminal.</p>
</body></html>
"""


class CallbackListener:
    """A bound loopback socket waiting to receive the authorization redirect."""

    def __init__(self, listener: anyio.abc.Listener[anyio.abc.SocketStream], port: int) -> None:
        self._listener = listener
        self.port = port
        self.redirect_uri = f"http://127.0.0.1:{port}/callback"

    async def serve(self, judge: Callable[[dict[str, str]], T], send: ObjectSendStream[T]) -> None:
        """Answer requests until cancelled; send ``judge(params)`` for each callback received."""

        async def handle(stream: anyio.abc.SocketStream) -> None:
            async with stream:
                try:
                    with anyio.fail_after(_READ_TIMEOUT):
                        head = await _read_head(stream)
                    target = head.split(b"\r\n", 1)[0].split(b" ")
                    if len(target) < 2 or target[0] not in (b"GET", b"POST"):
                        await stream.send(_response(400, "Bad request", "Not an HTTP GET."))
                        return
                    url = urlsplit(target[1].decode("latin-1"))
                    if url.path != "/callback":
                        await stream.send(_response(404, "Not found", "This is agent's login callback."))
                        return
                    params = {k: v[0] for k, v in parse_qs(url.query).items()}
                    outcome = judge(params)
                    if isinstance(outcome, AgentError):
                        page = _response(400, "Login failed", outcome.message)
                    else:
                        page = _response(200, "Login complete", "agent received the authorization.")
                    await stream.send(page)
                    with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):
                        await send.send(outcome)
                except (TimeoutError, OSError, anyio.BrokenResourceError, anyio.EndOfStream) as exc:
                    logger.debug("login callback connection dropped: %r", exc)

        async with send:
            await self._listener.serve(handle)

    async def aclose(self) -> None:
        await self._listener.aclose()


async def _read_head(stream: anyio.abc.SocketStream) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = await stream.receive(4096)
        data += chunk
        if len(data) > _HEAD_LIMIT:
            break
    return data


def _response(status: int, title: str, body: str) -> bytes:
    page = _PAGE.format(title=html.escape(title), body=html.escape(body)).encode()
    reason = {200: "OK", 400: "Bad Request", 404: "Not Found"}[status]
    head = (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: text/html; charset=utf-8\r\n"
        f"Content-Length: {len(page)}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + page


async def open_callback_listener(port: int = 0) -> CallbackListener | None:
    """Listen on 127.0.0.1:``port`` (0: any free port). None when that fixed port is taken."""
    try:
        listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=port)
    except OSError:
        if port == 0:
            raise
        return None
    bound = listener.extra(anyio.abc.SocketAttribute.local_port)
    return CallbackListener(listener, bound)
