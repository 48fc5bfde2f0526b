"""The login an :class:`~agent.mcp.oauth.AgentOAuth` holds, kept in step with the token store.

:class:`StoredLoginAuth` sits between the SDK's provider
(:class:`~agent.mcp.oauth_sdk_private.OAuthProviderHooks`) and :class:`~agent.mcp.oauth.AgentOAuth`,
which drives the flow. Here: taking in the stored login once before the first request, re-reading
what another process stored, judging the access token fresh by its absolute expiry, and spending
the refresh token (:mod:`agent.mcp.oauth_refresh` builds the request and reads the answer; here is
what a rejection or a failure means). The attributes it uses are set by ``AgentOAuth.__init__``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import httpx2
from mcp.shared.auth import OAuthClientInformationFull
from pydantic import ValidationError

from agent.config import ServerSettings
from agent.errors import AuthError
from agent.mcp.oauth_dpop import DPoPState
from agent.mcp.oauth_records import ParsedLogin, adopt_login, login_record, parse_login
from agent.mcp.oauth_refresh import adopt_refresh_response, refresh_request, token_error
from agent.mcp.oauth_sdk_private import OAuthProviderHooks
from agent.mcp.token_store import StoredLogin, TokenStore
from agent.tls import tls_context

__all__ = ["StoredLoginAuth"]

logger = logging.getLogger(__name__)

_AS_TIMEOUT = httpx2.Timeout(30.0)
_MAX_SKEW = 30.0  # refresh this long before the stated expiry (a tenth of short lifetimes)


class StoredLoginAuth(OAuthProviderHooks):
    """The SDK provider's login taken from, checked against and refreshed into the token store."""

    name: str
    settings: ServerSettings
    store: TokenStore
    notify: Callable[[str], None]
    dpop: DPoPState
    obtained_at: float | None
    _fixed_client: OAuthClientInformationFull | None
    _dead_refresh: set[str]
    _started: bool

    # -- the stored login ----------------------------------------------------------------------

    @property
    def issuer(self) -> str:
        ctx = self.context
        if ctx.oauth_metadata is not None:
            return str(ctx.oauth_metadata.issuer)
        return ctx.auth_server_url or ctx.get_authorization_base_url(ctx.server_url)

    def record(self) -> StoredLogin:
        """The current in-memory login as a storable record."""
        return login_record(self.context, self.store.server_url, self.obtained_at, self.dpop.stored())

    def _load(self) -> ParsedLogin | None:
        """The stored login parsed into SDK models; None (reported) when it does not parse."""
        record = self.store.load()
        if record is None:
            return None
        try:
            return parse_login(record)
        except ValidationError as exc:
            self.notify(
                f"the stored login for {self.store.server_url} ({self.store.location}) is unreadable "
                f"({exc.errors()[0].get('msg', 'invalid')}); it will be replaced by a new login"
            )
            return None

    def _adopt(self, loaded: ParsedLogin) -> None:
        adopt_login(self.context, loaded, keep_client=self._fixed_client is not None)
        self.dpop.adopt(loaded.record.dpop)
        self.obtained_at = loaded.record.obtained_at

    def _start(self) -> None:
        """Take in the stored login, once, before the first request.

        The SDK's flow later reads tokens and client through :class:`StorageAdapter`, which hands
        back what this put in the context.
        """
        loaded = self._load()
        if loaded is not None:
            self._adopt(loaded)
        if self._fixed_client is not None:
            self.context.client_info = self._fixed_client
        self._started = True

    def _fresh(self) -> bool:
        """Whether the access token is usable for a while yet (by its stored absolute expiry)."""
        ctx = self.context
        if ctx.current_tokens is None:
            return False
        expiry = ctx.token_expiry_time
        if expiry is None:
            return True
        lifetime = ctx.current_tokens.expires_in or 0
        skew = min(_MAX_SKEW, lifetime / 10)
        return time.time() < expiry - skew

    def _can_refresh(self) -> bool:
        tokens = self.context.current_tokens
        return bool(
            tokens is not None
            and tokens.refresh_token
            and tokens.refresh_token not in self._dead_refresh
            and self.context.client_info is not None
        )

    def _lock_timeout(self) -> float:
        return self.settings.oauth.login_timeout + 60.0

    def _add_bearer(self, request: httpx2.Request) -> None:
        tokens = self.context.current_tokens
        if tokens is not None and tokens.access_token:
            self.dpop.authorize(request, tokens.access_token)  # Bearer, or DPoP with a proof

    def _reread(self) -> None:
        """Pick up what another process stored (tokens it refreshed, a login it completed)."""
        loaded = self._load()
        if loaded is not None and loaded.tokens is not None:
            self._adopt(loaded)

    async def _refresh(self) -> bool:
        """Spend the refresh token. True: new tokens stored. False: the server rejected it.

        Sent with a client of our own so that a network failure can be told apart from a
        rejection: the first keeps the stored tokens and raises AuthError naming the server.
        """
        tokens = self.context.current_tokens
        assert tokens is not None and tokens.refresh_token
        token_request = self.dpop.refresh_request(refresh_request(self.context))
        where = f"the authorization server {token_request.url.copy_with(query=None)}"
        keep = "your login is kept; try again later"
        try:
            async with httpx2.AsyncClient(timeout=_AS_TIMEOUT, verify=tls_context()) as client:
                response = await self.dpop.send(client, token_request)  # once more for a DPoP nonce
        except httpx2.TimeoutException:
            raise AuthError(
                self.name, f"{where} did not answer in time to refresh the login", hint=keep
            ) from None
        except httpx2.TransportError as exc:
            raise AuthError(
                self.name,
                f"cannot reach {where} to refresh the login ({exc or type(exc).__name__})",
                hint=keep,
            ) from None
        if response.status_code in (400, 401):
            logger.info("refresh token rejected by %s: %s", where, response.text[:200])
            self._dead_refresh.add(tokens.refresh_token)
            if token_error(response) == "invalid_client" and self._fixed_client is None:
                # The server no longer knows our registration (restarted, expired, deleted):
                # the login that follows must register again, not reuse a dead client_id.
                self.context.client_info = None
                self.store.save(self.record())  # under the store lock; a re-read must not revive it
            return False
        if response.status_code != 200:
            raise AuthError(
                self.name, f"{where} answered HTTP {response.status_code} to a token refresh", hint=keep
            )
        if not await adopt_refresh_response(self.context, await self.dpop.token_reply(response)):
            raise AuthError(self.name, f"{where} sent an invalid token response", hint=keep)
        return True
