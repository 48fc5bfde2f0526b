"""The browser leg of an OAuth login: open the URL, receive the redirect, check it.

:class:`CallbackListener` is a tiny HTTP listener on ``127.0.0.1``. Its port is bound before the
client registers (it is part of the registered redirect URI) and served only while the login
waits. Each request to ``/callback`` is judged (state, issuer, error) and answered with a short
page that tells the user to return to the terminal; anything else gets a 404.

:class:`BrowserLeg` runs one wait: it opens the authorization URL (default: :func:`webbrowser.open`,
so ``BROWSER`` is honoured), and when no browser opens it asks for the final redirect URL to be
pasted; the first good or bad answer ends the wait, and so does ``login_timeout``. An answer
whose ``state`` is not this login's (a late redirect of an earlier login on the same port) is
refused with a 400 and does not end it.
"""

from __future__ import annotations

import contextlib
import html
import logging
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

import anyio
import anyio.abc
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull
from pydantic import AnyUrl

from agent.errors import AgentError, AuthDenied, AuthError

if TYPE_CHECKING:
    from anyio.abc import ObjectSendStream
    from mcp.client.auth.oauth2 import OAuthContext

    from agent.config import OAuthSettings

__all__ = [
    "BrowserLeg",
    "CallbackListener",
    "Opener",
    "bind_callback",
    "default_opener",
    "open_callback_listener",
    "read_stdin_line",
    "stdin_is_terminal",
]

# Opens a URL for the user; False when no browser could be opened.
Opener = Callable[[str], Awaitable[bool]]
Outcome = AuthorizationCodeResult | AuthError

logger = logging.getLogger(__name__)


_HEAD_LIMIT = 64 * 1024
_READ_TIMEOUT = 10.0
_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><title>agent: {title}</title></head>
<body style="font-family: sans-serif; margin: 3em;">
<h1>{title}</h1><p>{body}</p><p>You can close this tab and return to the terminal.</p>
</body></html>
"""


_UNKNOWN_LOGIN = (
    "This answer belongs to no login agent is waiting for (an earlier one?). "
    "Finish the login in the tab agent opened last."
)


class CallbackListener:
    """A bound loopback socket waiting to receive the authorization redirect."""

    def __init__(self, listener: anyio.abc.Listener[anyio.abc.SocketStream], port: int) -> None:
        self._listener = listener
        self.port = port
        self.redirect_uri = f"http://127.0.0.1:{port}/callback"

    async def serve(
        self, judge: Callable[[dict[str, str]], Outcome | None], send: ObjectSendStream[Outcome]
    ) -> None:
        """Answer requests until cancelled; send ``judge(params)`` for each callback received.
        A callback judged None belongs to no login waiting here (a late one from an earlier
        login on the same port): it gets a 400 and the wait goes on."""

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
                    if outcome is None:
                        await stream.send(_response(400, "Unknown login", _UNKNOWN_LOGIN))
                        return
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


async def default_opener(url: str) -> bool:
    """:func:`webbrowser.open` in a worker thread (a ``BROWSER`` command may wait for its exit)."""
    import webbrowser

    return await anyio.to_thread.run_sync(webbrowser.open, url, abandon_on_cancel=True)


def stdin_is_terminal() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


async def read_stdin_line() -> str | None:
    """One line from stdin (meant for a terminal: see :func:`stdin_is_terminal`)."""
    stdin = sys.stdin
    if sys.platform == "win32":  # pragma: no cover - no wait_readable for console handles
        line = await anyio.to_thread.run_sync(stdin.readline, abandon_on_cancel=True)
        return line or None
    fd = stdin.fileno()
    await anyio.wait_readable(fd)  # no thread left blocked on stdin when the callback wins
    data = os.read(fd, 65536)
    return data.decode(errors="replace") if data else None


@dataclass
class BrowserLeg:
    """One wait for the user's authorization of server ``server`` at ``issuer``."""

    server: str
    issuer: str
    expected_iss: str | None
    iss_required: bool
    opener: Opener
    read_paste: Callable[[], Awaitable[str | None]] | None
    notify: Callable[[str], None]
    timeout: float

    async def run(self, url: str, listener: CallbackListener) -> AuthorizationCodeResult:
        """Open ``url`` and wait for the redirect (or a pasted one); raise AuthError on failure."""
        state = parse_qs(urlsplit(url).query).get("state", [None])[0]
        send, receive = anyio.create_memory_object_stream[Outcome](4)

        refused: list[bool] = []

        def judge(params: dict[str, str]) -> Outcome | None:
            if params.get("state") != state:
                logger.info("login callback of %r with an unknown state ignored", self.server)
                if not refused:  # say so once: else the wait looks stuck until login_timeout
                    refused.append(True)
                    self.notify(
                        "a login answer that is not this login's (its state does not match: an older "
                        "login, or a forged one) was refused; still waiting for this one"
                    )
                return None  # another login's answer: it does not end this one
            return self.judge(params, state)

        with anyio.move_on_after(self.timeout) as scope:
            async with anyio.create_task_group() as tg, send, receive:
                tg.start_soon(listener.serve, judge, send.clone())
                self.notify(f"log in to {self.server!r} in your browser: {url}")
                if not await self._open(url):
                    if self.read_paste is None:
                        self.notify(
                            "no browser could be opened: open the URL above in a browser on this machine "
                            f"(waiting up to {self.timeout:.0f} s)"
                        )
                    else:
                        self.notify(
                            "no browser could be opened: open the URL above on any machine, then paste the "
                            f"address the browser ends on (it starts with {listener.redirect_uri}):"
                        )
                        tg.start_soon(self._pasted, self.read_paste, judge, send.clone())
                outcome = await receive.receive()
                tg.cancel_scope.cancel()
        if scope.cancelled_caught:
            raise AuthError(
                self.server,
                f"the login was not completed within {self.timeout:.0f} s",
                hint=f"run `agent login {self.server}` and finish it in the browser",
            )
        if isinstance(outcome, AuthError):
            raise outcome
        return outcome

    async def _open(self, url: str) -> bool:
        try:
            return await self.opener(url)
        except Exception as exc:  # a broken BROWSER setting is the same as no browser
            logger.info("opening a browser failed: %r", exc)
            return False

    def judge(self, params: dict[str, str], state: str | None) -> Outcome:
        """Check one callback's parameters; the page the browser shows follows from the result."""
        name, where, expected = self.server, self.issuer, self.expected_iss
        if params.get("state") != state:
            return AuthError(name, f"login rejected: the callback's state does not match (from {where})")
        iss = params.get("iss")
        if iss is not None and iss != expected:
            return AuthError(name, f"login rejected: the callback's issuer {iss!r} is not {expected!r}")
        if "error" in params:  # an error answer without `iss` can only fail the login, so it is believed
            description = params.get("error_description")
            detail = params["error"] + (f": {description}" if description else "")
            if params["error"] == "access_denied":
                return AuthDenied(name, f"login denied at {where} ({detail})")
            return AuthError(name, f"login failed at {where} ({detail})")
        if iss is None and self.iss_required:
            return AuthError(name, f"login rejected: the callback carries no issuer (expected {expected!r})")
        if not params.get("code"):
            return AuthError(name, "login failed: the callback carries no authorization code")
        return AuthorizationCodeResult(code=params["code"], state=params.get("state"), iss=iss)

    async def _pasted(
        self,
        read_paste: Callable[[], Awaitable[str | None]],
        judge: Callable[[dict[str, str]], Outcome | None],
        send: ObjectSendStream[Outcome],
    ) -> None:
        async with send:
            while True:
                line = await read_paste()
                if line is None:
                    return
                params = {k: v[0] for k, v in parse_qs(urlsplit(line.strip()).query).items()}
                if not params:
                    self.notify("that is not the redirect address; paste the whole URL from the address bar:")
                    continue
                outcome = judge(params)
                if outcome is None:
                    self.notify("that address is from another login; paste the one this login ends on:")
                    continue
                await send.send(outcome)
                return


async def bind_callback(server: str, oauth: OAuthSettings, ctx: OAuthContext) -> CallbackListener:
    """Listen for the redirect; reuse the registered port if possible, else register again."""
    wanted = oauth.callback_port
    if wanted is None and ctx.client_info is not None:
        wanted = _registered_port(ctx.client_info)
    listener = await open_callback_listener(wanted or 0)
    if listener is None:
        if oauth.callback_port is not None or oauth.client_id is not None:
            raise AuthError(
                server,
                f"cannot listen on 127.0.0.1:{wanted} for the login callback (port in use)",
                hint="free that port, or change oauth.callback_port for this server",
            )
        listener = await open_callback_listener(0)
        assert listener is not None
    redirect = AnyUrl(listener.redirect_uri)
    ctx.client_metadata.redirect_uris = [redirect]
    info = ctx.client_info
    if info is not None and oauth.client_id is None and ctx.client_metadata_url is None:
        registered = [str(u) for u in info.redirect_uris or []]
        if listener.redirect_uri not in registered:
            logger.info("callback port changed; registering the client again")
            ctx.client_info = None
    return listener


def _registered_port(info: OAuthClientInformationFull) -> int | None:
    for uri in info.redirect_uris or []:
        parts = urlsplit(str(uri))
        if parts.hostname == "127.0.0.1" and parts.port:
            return parts.port
    return None
