"""Cross-app access (``grant = "cross_app_access"``): enterprise-managed authorization (SEP-990).

The user already signed in to the enterprise identity provider (IdP) and holds an OpenID Connect
ID token (from ``id_token_env`` or ``id_token_command``, e.g. an SSO tool). Two token requests,
no browser:

1. at the IdP's token endpoint, an RFC 8693 token exchange of that ID token for an Identity
   Assertion JWT Authorization Grant (ID-JAG) for the MCP authorization server (``audience``, its
   issuer) and the MCP server (``resource``) — built here;
2. at the MCP authorization server, the RFC 7523 jwt-bearer grant with the ID-JAG — the SDK's
   :class:`~mcp.client.auth.extensions.identity_assertion.IdentityAssertionOAuthProvider`.

The authorization server is ``oauth.issuer`` when set (pinned: the MCP server is never asked);
otherwise it is the first one the server's protected resource metadata (RFC 9728) names, after
checking that the metadata is about this server. Tokens are kept for the process only: a new
process exchanges again (no person is involved, so that costs two requests).
"""

from __future__ import annotations

import os
from collections.abc import AsyncGenerator
from urllib.parse import quote

import httpx2
from mcp.client.auth import OAuthFlowError, OAuthTokenError
from mcp.client.auth.extensions.identity_assertion import IdentityAssertionOAuthProvider
from mcp.client.auth.utils import (
    build_protected_resource_metadata_discovery_urls,
    create_oauth_metadata_request,
    extract_resource_metadata_from_www_auth,
    handle_protected_resource_response,
)
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken
from mcp.shared.auth_utils import check_resource_allowed, resource_url_from_server_url

from agent.config import OAuthSettings
from agent.errors import AuthError, ConfigError
from agent.mcp.oauth_command import command_output

__all__ = [
    "ID_JAG_TOKEN_TYPE",
    "ID_TOKEN_TYPE",
    "TOKEN_EXCHANGE_GRANT",
    "CrossAppAccessAuth",
    "exchange_id_token",
    "read_id_token",
]

TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
ID_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id_token"
ID_JAG_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:id-jag"

_TIMEOUT = httpx2.Timeout(30.0)


class _MemoryStorage:
    """The SDK's TokenStorage for one process."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return None

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        return None


def _check_settings(server: str, oauth: OAuthSettings) -> None:
    key = f"servers.{server}.oauth"
    missing = [
        name
        for name, value in (
            ("client_id", oauth.client_id),
            ("client_secret", oauth.client_secret),
            ("idp_token_endpoint", oauth.idp_token_endpoint),
            ("idp_client_id", oauth.idp_client_id),
        )
        if not value
    ]
    if missing:
        raise ConfigError(
            f"grant = 'cross_app_access' needs {', '.join(missing)}",
            key=key,
            hint="set them in the server's [oauth] table (see config.example.toml)",
        )
    if (oauth.id_token_env is None) == (oauth.id_token_command is None):
        raise ConfigError(
            "grant = 'cross_app_access' needs exactly one of id_token_env or id_token_command",
            key=key,
        )
    if oauth.token_endpoint_auth_method == "none":
        raise ConfigError(
            "grant = 'cross_app_access' needs a confidential client, not token_endpoint_auth_method = 'none'",
            key=f"{key}.token_endpoint_auth_method",
        )


def read_id_token(server: str, oauth: OAuthSettings) -> str:
    """The user's ID token: from the named environment variable, or printed by the command."""
    if oauth.id_token_env is not None:
        value = os.environ.get(oauth.id_token_env, "").strip()
        if not value:
            raise AuthError(
                server,
                f"no ID token: the environment variable {oauth.id_token_env} is unset or empty",
                hint="sign in with your enterprise SSO tool and export the ID token",
            )
        return value
    command = oauth.id_token_command
    assert command
    return command_output(
        server,
        command,
        "id_token_command",
        "ID token",
        hint="sign in with your enterprise SSO tool, then try again",
    )


async def exchange_id_token(server: str, oauth: OAuthSettings, audience: str, resource: str) -> str:
    """Step 1: the RFC 8693 token exchange at the IdP; returns the ID-JAG."""
    endpoint = oauth.idp_token_endpoint
    assert endpoint is not None and oauth.idp_client_id is not None
    data = {
        "grant_type": TOKEN_EXCHANGE_GRANT,
        "requested_token_type": ID_JAG_TOKEN_TYPE,
        "subject_token": read_id_token(server, oauth),
        "subject_token_type": ID_TOKEN_TYPE,
        "audience": audience,
        "resource": resource,
        "client_id": oauth.idp_client_id,
    }
    if oauth.scope:
        data["scope"] = oauth.scope
    auth = None
    if oauth.idp_client_secret:  # RFC 6749 §2.3.1: form-encode each part, then HTTP Basic
        auth = httpx2.BasicAuth(quote(oauth.idp_client_id, safe=""), quote(oauth.idp_client_secret, safe=""))
    where = f"the identity provider {endpoint}"
    try:
        async with httpx2.AsyncClient(timeout=_TIMEOUT, auth=auth) as client:
            response = await client.post(endpoint, data=data)
    except httpx2.TransportError as exc:
        raise AuthError(server, f"cannot reach {where}: {exc or type(exc).__name__}") from None
    if response.status_code != 200:
        raise AuthError(
            server,
            f"{where} refused the token exchange (HTTP {response.status_code}): {response.text[:200]}",
            hint="your ID token may have expired: sign in again",
        )
    try:
        body = response.json()
        assertion = body["access_token"]
        issued = body.get("issued_token_type")
    except (ValueError, KeyError, TypeError):
        raise AuthError(server, f"{where} sent an invalid token-exchange response") from None
    if not isinstance(assertion, str) or (issued is not None and issued != ID_JAG_TOKEN_TYPE):
        raise AuthError(server, f"{where} did not issue an ID-JAG (issued_token_type {issued!r})")
    return assertion


class CrossAppAccessAuth(httpx2.Auth):
    """``httpx2.Auth`` for one server with ``grant = "cross_app_access"``."""

    requires_response_body = True

    def __init__(self, name: str, server_url: str, oauth: OAuthSettings) -> None:
        _check_settings(name, oauth)
        self.name = name
        self.server_url = server_url
        self.oauth = oauth
        self._storage = _MemoryStorage()
        self._inner: IdentityAssertionOAuthProvider | None = None
        if oauth.issuer is not None:
            self._inner = self._provider(oauth.issuer)

    def _provider(self, issuer: str) -> IdentityAssertionOAuthProvider:
        oauth = self.oauth
        assert oauth.client_id is not None and oauth.client_secret is not None

        async def assertion(audience: str, resource: str) -> str:
            return await exchange_id_token(self.name, oauth, audience, resource)

        return IdentityAssertionOAuthProvider(
            server_url=self.server_url,
            storage=self._storage,
            client_id=oauth.client_id,
            client_secret=oauth.client_secret,
            issuer=issuer,
            assertion_provider=assertion,
            scope=oauth.scope,
            token_endpoint_auth_method="client_secret_post"
            if oauth.token_endpoint_auth_method == "client_secret_post"
            else "client_secret_basic",
        )

    async def async_auth_flow(
        self, request: httpx2.Request
    ) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        first: httpx2.Response | None = None
        if self._inner is None:
            first = yield request
            if first.status_code != 401:
                return
            issuer = None
            hint = extract_resource_metadata_from_www_auth(first)
            for url in build_protected_resource_metadata_discovery_urls(hint, self.server_url):
                metadata = await handle_protected_resource_response(
                    (yield create_oauth_metadata_request(url))
                )
                if metadata is None:
                    continue
                expected = resource_url_from_server_url(self.server_url)
                if not check_resource_allowed(expected, str(metadata.resource)):
                    raise AuthError(
                        self.name,
                        f"the protected resource metadata is for {metadata.resource}, not {expected}",
                        hint="set oauth.issuer to pin the authorization server",
                    )
                if metadata.authorization_servers:
                    issuer = str(metadata.authorization_servers[0]).rstrip("/")
                break
            if issuer is None:
                raise AuthError(
                    self.name,
                    "the server names no authorization server (protected resource metadata)",
                    hint="set oauth.issuer",
                )
            self._inner = self._provider(issuer)
        flow = self._inner.async_auth_flow(request)
        try:
            outgoing = await flow.__anext__()
            if first is not None and outgoing is request:
                outgoing = await flow.asend(first)
            while True:
                reply = yield outgoing
                outgoing = await flow.asend(reply)
        except StopAsyncIteration:
            return
        except (OAuthFlowError, OAuthTokenError) as exc:
            raise AuthError(self.name, f"cross-app access failed: {exc}") from None
        finally:
            await flow.aclose()
