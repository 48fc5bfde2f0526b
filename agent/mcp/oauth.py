"""OAuth 2.1 for remote MCP servers: log in once, then refresh quietly, across processes.

Built on the SDK's :class:`~mcp.client.auth.OAuthClientProvider` (an ``httpx2.Auth``), which does
discovery, dynamic client registration, PKCE and the token exchange. What this module adds:

* a loopback callback server on ``127.0.0.1`` (ephemeral port, reused on the next login when it
  is free, else the client registers again with the new redirect URI), the browser opened with
  :func:`webbrowser.open` (so ``BROWSER`` is honoured), and, when no browser opens, the URL
  printed for the user, who may paste the final redirect URL back;
* ``state`` and ``iss`` checked at the callback, a login timeout, a denied consent as one line;
* a persistent store (:mod:`agent.mcp.token_store`) with the absolute expiry and the discovered
  metadata, so a restarted process refreshes an expired token without a browser;
* refresh before login: an expired token, or a 401 on a stored one, first spends the refresh
  token, under a cross-process lock, after re-reading the store (another process may already
  have refreshed, and a rotated refresh token used twice gets the grant revoked); only a
  rejected refresh token leads to a new login, exactly one;
* a transient failure of the authorization server (timeout, connection error, 5xx) keeps the
  stored tokens and raises :class:`~agent.errors.AuthError` naming that server; it never opens
  a browser by itself.

:func:`auth_factory_for` is what the connection code calls per server. Around this module:
:mod:`agent.mcp.oauth_browser` (the callback listener and the browser leg),
:mod:`agent.mcp.oauth_records` (the stored login as the SDK's models), :mod:`agent.mcp.token_store`
(files or keyring, locking), :mod:`agent.mcp.oauth_tokens` (the login held in memory, kept in step
with the store: re-read, freshness, refresh), :mod:`agent.mcp.oauth_refresh` (the refresh request
and its answer),
:mod:`agent.mcp.oauth_unattended` (``client_credentials``), :mod:`agent.mcp.oauth_jwt_bearer`
(``jwt_bearer``, workload identity), :mod:`agent.mcp.oauth_dpop` (RFC 9449: tokens bound to a key),
:mod:`agent.mcp.oauth_revoke` (RFC 7009: logout, and the refresh token a new login replaces) and
:mod:`agent.mcp.oauth_sdk_private`
(the one step of the SDK's flow we replace with no public hook for it).
"""

from __future__ import annotations

import dataclasses
import logging
import sys
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import TYPE_CHECKING, Literal

import anyio
import httpx2
from mcp.client.auth import OAuthFlowError
from mcp.shared.auth import (
    AuthorizationCodeResult,
    OAuthClientInformationFull,
    OAuthClientMetadata,
)
from mcp.shared.inbound import MCP_PROTOCOL_VERSION_HEADER
from pydantic import AnyUrl

from agent.config import Config, ServerSettings
from agent.errors import AgentError, AuthError, AuthRequiredError, ServerError
from agent.mcp.oauth_browser import (
    BrowserLeg,
    CallbackListener,
    Opener,
    bind_callback,
    default_opener,
    read_stdin_line,
    stdin_is_terminal,
)
from agent.mcp.oauth_dpop import DPoPState
from agent.mcp.oauth_jwt_bearer import jwt_bearer_client, jwt_bearer_request
from agent.mcp.oauth_records import StorageAdapter, preregistered_client, registration_auth_method
from agent.mcp.oauth_refresh import token_endpoint
from agent.mcp.oauth_revoke import revoke_replaced
from agent.mcp.oauth_scopes import keep_login, needs_more_scope, union
from agent.mcp.oauth_tokens import StoredLoginAuth
from agent.mcp.oauth_unattended import client_credentials_client, client_credentials_request
from agent.mcp.token_store import StoredLogin, TokenStore, open_token_store, server_key

if TYPE_CHECKING:
    from mcp.client.auth.oauth2 import OAuthContext

__all__ = [
    "AgentOAuth",
    "Opener",
    "auth_factory_for",
    "default_opener",
    "server_key",
]


class _ExpectedFailures(logging.Filter):
    """The SDK logs every failure of its flow with a traceback; ours are expected and told plainly."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and isinstance(record.exc_info[1], AgentError):
            record.msg = f"{record.msg}: {record.exc_info[1]}"
            record.exc_info = None
        return True


logging.getLogger("mcp.client.auth.oauth2").addFilter(_ExpectedFailures())

Notify = Callable[[str], None]


def _stderr(line: str) -> None:
    print(f"agent: {line}", file=sys.stderr, flush=True)


class AgentOAuth(StoredLoginAuth):
    """The SDK provider with persistent expiry, refresh-before-login and cross-process safety.

    ``opener`` opens the authorization URL (default: the system browser); ``read_paste`` waits
    for a pasted redirect URL when no browser opened (default: a line from stdin when it is a
    terminal); ``notify`` shows a line to the user (default: stderr). ``allow_login=False`` turns
    a needed browser login into :class:`~agent.errors.AuthRequiredError` (unattended runs).
    """

    def __init__(
        self,
        name: str,
        settings: ServerSettings,
        store: TokenStore,
        *,
        opener: Opener | None = None,
        read_paste: Callable[[], Awaitable[str | None]] | None = None,
        notify: Notify | None = None,
        allow_login: bool = True,
    ) -> None:
        if settings.url is None:
            raise ValueError("OAuth needs a server URL")
        oauth = settings.oauth
        self.unattended = oauth.grant in ("client_credentials", "jwt_bearer")
        self._fixed_client: OAuthClientInformationFull | None
        if oauth.grant == "jwt_bearer":
            self._fixed_client = jwt_bearer_client(name, oauth)
        elif self.unattended:
            self._fixed_client = client_credentials_client(name, oauth)
        else:
            self._fixed_client = preregistered_client(oauth)
        metadata = OAuthClientMetadata(
            client_name="agent",
            redirect_uris=None if self.unattended else [AnyUrl("http://127.0.0.1/callback")],
            grant_types=[oauth.grant] if self.unattended else ["authorization_code", "refresh_token"],
            scope=oauth.scope,
            token_endpoint_auth_method=registration_auth_method(oauth, unattended=self.unattended),
        )
        super().__init__(
            server_url=settings.url,
            client_metadata=metadata,
            storage=StorageAdapter(self),
            redirect_handler=self._on_redirect,
            callback_handler=self._on_callback,
            client_metadata_url=oauth.client_metadata_url,
        )
        self.name = name
        self.settings = settings
        self.store = store
        self.opener = opener or default_opener
        self.read_paste = read_paste or (read_stdin_line if stdin_is_terminal() else None)
        self.notify = notify or _stderr
        self.allow_login = allow_login
        self.logins = 0  # browser logins started by this object (for reports and tests)
        # Called with True when a login starts waiting on the user, False when it stops, so a
        # caller can pause its own connect deadline (the login has `login_timeout` of its own).
        self.on_user_wait: Callable[[bool], None] | None = None
        self._flow_lock = anyio.Lock()
        self._listener: CallbackListener | None = None
        self._auth_url: str | None = None
        self._dead_refresh: set[str] = set()
        self.force_login = False  # agent login: a login at the first 401, whatever is stored
        self._granted: str | None = None  # during a step-up: the scopes the login already has
        self._started = False
        self.obtained_at: float | None = None  # when the current tokens were issued
        self.dpop = DPoPState(name, settings.url, oauth.dpop)  # RFC 9449: the login's key, proofs

    # -- the flow ------------------------------------------------------------------------------

    async def async_auth_flow(
        self, request: httpx2.Request
    ) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        async with self._flow_lock:
            if not self._started:
                self._start()
            self.context.protocol_version = request.headers.get(MCP_PROTOCOL_VERSION_HEADER)
            if not self.force_login and self.context.current_tokens is not None and not self._fresh():
                async with self.store.locked(wait=self._lock_timeout()):
                    self._reread()
                    if not self._fresh() and self._can_refresh():
                        await self._refresh()
            sent = self.context.current_tokens if not self.force_login else None
            if sent is not None:
                self._add_bearer(request)

        response = yield request
        if await self.dpop.nonce_retry(request, response):  # a DPoP nonce asked for: once more with it
            response = yield request

        step_up = needs_more_scope(response, sent)  # oauth_scopes: more scope, not a new login
        if response.status_code != 401 and not step_up:
            return

        async with self._flow_lock, self.store.locked(wait=self._lock_timeout()):
            if response.status_code == 401 and not self.force_login and not step_up:
                self._reread()
                current = self.context.current_tokens
                changed = current is not None and (sent is None or current.access_token != sent.access_token)
                if changed and self._fresh():  # another process logged in or refreshed meanwhile
                    self._add_bearer(request)
                    if await self.dpop.nonce_retry(request, (yield request)):
                        yield request
                    return
                if self._can_refresh() and await self._refresh():
                    self._add_bearer(request)
                    if await self.dpop.nonce_retry(request, (yield request)):
                        yield request
                    return
            refused: ServerError | None = None  # a step-up that does not happen
            if not self.allow_login and not self.unattended:
                refused = AuthRequiredError(self.name, f"needs a login at {self.issuer}")
                refused.hint = f"run `agent login {self.name}`"
                if not step_up:
                    raise refused
            replaced = dataclasses.replace(self.context)  # its refresh token is revoked after the login
            self._granted = sent.scope if step_up and sent is not None else None
            if step_up:  # its metadata again: the stored copy may predate the new requirements
                self.context.oauth_metadata = None
            else:
                self.context.clear_tokens()
            # The SDK's own flow does discovery, registration and authorization (redirects kept
            # within their origin); it starts by sending `request`, whose answer we hold: skipped.
            self.logins += refused is None
            if not self.unattended and refused is None:
                self._listener = await bind_callback(self.name, self.settings.oauth, self.context)
            flow = super().async_auth_flow(request)
            try:
                outgoing = await flow.__anext__() if refused is None else None
                if outgoing is request:
                    outgoing = await flow.asend(response)
                while outgoing is not None:
                    reply = yield outgoing
                    if await self.dpop.nonce_retry(outgoing, reply):
                        reply = yield outgoing
                    outgoing = await flow.asend(await self.dpop.token_reply(reply))
                    if outgoing is request:  # the SDK's retry with the new token
                        self._add_bearer(request)
            except StopAsyncIteration:
                self.obtained_at = time.time()
                await self._revoke_replaced(replaced)
            except OAuthFlowError as exc:
                refused = AuthError(self.name, f"login at {self.issuer} failed: {exc}")
            except AuthError as exc:
                refused = exc
            finally:
                await flow.aclose()
                listener, self._listener, self._granted = self._listener, None, None
                if listener is not None:
                    await listener.aclose()
            if refused is not None and not step_up:
                raise refused
            if refused is not None:  # the call that needed more fails (its 403); the login stays
                keep_login(self.context, sent, replaced)
                self.notify(f"{refused.message}; the call that needed more access fails, the login stays")
                self._add_bearer(request)
                yield request

    async def authorization_request(self) -> httpx2.Request:
        # The SDK picks the scope from the server's challenge; a configured one wins, and a
        # step-up asks for the union of it, what was granted and what the server now names.
        scope = self.context.client_metadata
        if self._granted is not None:
            scope.scope = union(self._granted, self.settings.oauth.scope, scope.scope)
        elif self.settings.oauth.scope:
            self.context.client_metadata.scope = self.settings.oauth.scope
        oauth, endpoint = self.settings.oauth, token_endpoint(self.context)
        self.dpop.start_login(self.context)
        if oauth.grant == "jwt_bearer":
            token_request = jwt_bearer_request(self.name, self.context, oauth, endpoint)
        elif self.unattended:
            token_request = client_credentials_request(self.context, oauth, endpoint)
        else:
            token_request = await super().authorization_request()
        return self.dpop.login_token_request(token_request)

    async def _revoke_replaced(self, before: OAuthContext) -> None:
        """After a new login, revoke the refresh token it replaced (:func:`revoke_replaced`)."""
        await revoke_replaced(self.name, before, self.context, self._dead_refresh)

    async def login(self, http: httpx2.AsyncClient) -> StoredLogin:
        """A fresh browser login now, whatever is stored (``agent login``): see
        :func:`agent.mcp.oauth_login.login_now`."""
        from agent.mcp.oauth_login import login_now

        return await login_now(self, http)

    # -- the browser leg -----------------------------------------------------------------------

    async def _on_redirect(self, url: str) -> None:
        self._auth_url = url

    async def _on_callback(self) -> AuthorizationCodeResult:
        url, listener = self._auth_url, self._listener
        assert url is not None and listener is not None
        metadata = self.context.oauth_metadata
        leg = BrowserLeg(
            server=self.name,
            issuer=self.issuer,
            expected_iss=str(metadata.issuer) if metadata is not None else None,
            iss_required=bool(
                metadata is not None and metadata.authorization_response_iss_parameter_supported
            ),
            opener=self.opener,
            read_paste=self.read_paste,
            notify=self.notify,
            timeout=self.settings.oauth.login_timeout,
        )
        if self.on_user_wait is not None:
            self.on_user_wait(True)
        try:
            return await leg.run(url, listener)
        finally:
            if self.on_user_wait is not None:
                self.on_user_wait(False)


def auth_factory_for(
    config: Config,
    *,
    opener: Opener | None = None,
    read_paste: Callable[[], Awaitable[str | None]] | None = None,
    notify: Notify | None = None,
    allow_login: bool = True,
) -> Callable[[str, ServerSettings], httpx2.Auth | None]:
    """Given the config, a factory of ``httpx2.Auth`` per (server name, settings).

    Servers with ``auth = "none"`` or their own ``Authorization`` header get None (no OAuth);
    every other URL server gets an :class:`AgentOAuth`, which sends a stored token if it has
    one and otherwise does nothing until the server answers 401 (or 403 ``insufficient_scope``).
    The keyword arguments replace the terminal and browser (for tests and batch).
    """
    kind: Literal["file", "keyring"] = config.token_store

    def factory(name: str, settings: ServerSettings) -> httpx2.Auth | None:
        if settings.url is None or settings.auth == "none" or _has_authorization(settings):
            return None
        if settings.oauth.grant == "cross_app_access":
            from agent.mcp.oauth_xaa import CrossAppAccessAuth

            return CrossAppAccessAuth(name, settings.url, settings.oauth)
        store = open_token_store(server_key(settings.url), kind, notify=notify or _stderr)
        return AgentOAuth(
            name,
            settings,
            store,
            opener=opener,
            read_paste=read_paste,
            notify=notify,
            allow_login=allow_login,
        )

    return factory


def _has_authorization(settings: ServerSettings) -> bool:
    return any(key.lower() == "authorization" for key in settings.headers)
