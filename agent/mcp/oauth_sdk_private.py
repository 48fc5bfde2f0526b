"""The MCP SDK's private members that agent relies on, each named once, here.

Everything else agent does with the SDK's OAuth provider goes through public hooks: constructor
arguments, the ``TokenStorage`` protocol, ``OAuthContext``'s fields and methods, and the public
``httpx2.Auth.async_auth_flow``. What is left has no public hook, so it is listed in
:data:`PRIVATE_MEMBERS` (where we use it, and why) and touched only in this module.
``pyproject.toml`` pins ``mcp`` to the minor release these were checked against;
``tests/mcp/test_oauth_sdk_private.py`` checks every entry against the installed SDK and fails naming
the member when a new release removes or reshapes it, and fails when any other module of agent
names a private member of the SDK's OAuth classes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import httpx2
from mcp.client.auth import OAuthClientProvider

__all__ = ["PERFORM_AUTHORIZATION", "PRIVATE_MEMBERS", "OAuthProviderHooks", "PrivateMember"]


@dataclass(frozen=True, slots=True)
class PrivateMember:
    """One private member of the SDK that we use: on which class, in what shape, by whom, why.

    ``overridden``: we override it, so the SDK's own flow must still call it (else our override
    is silently skipped); ``parameters``: its parameter names as we call or override it.
    """

    owner: type
    name: str
    kind: Literal["method", "coroutine method"]
    parameters: tuple[str, ...]
    overridden: bool
    used_by: str
    why: str

    @property
    def qualname(self) -> str:
        return f"{self.owner.__module__}.{self.owner.__qualname__}.{self.name}"


PERFORM_AUTHORIZATION = PrivateMember(
    owner=OAuthClientProvider,
    name="_perform_authorization",
    kind="coroutine method",
    parameters=("self",),
    overridden=True,
    used_by="agent/mcp/oauth.py AgentOAuth.authorization_request, through OAuthProviderHooks",
    why=(
        "the one step of the SDK's login flow between its scope choice (from the server's challenge) "
        "and the authorization request: there a configured scope replaces the challenged one, and "
        "grant = 'client_credentials' sends its own token request instead of the browser leg. The "
        "SDK's own ClientCredentialsOAuthProvider overrides it for the same reason."
    ),
)

PRIVATE_MEMBERS: tuple[PrivateMember, ...] = (PERFORM_AUTHORIZATION,)


class OAuthProviderHooks(OAuthClientProvider):
    """The SDK's provider with a public name for the step we replace (:data:`PERFORM_AUTHORIZATION`)."""

    async def authorization_request(self) -> httpx2.Request:
        """The token request that ends a login, after discovery and client registration.

        By default the SDK's authorization-code leg: the redirect and callback handlers, then the
        code exchange. Called with the flow's scope already in ``context.client_metadata.scope``.
        """
        return await super()._perform_authorization()

    async def _perform_authorization(self) -> httpx2.Request:
        return await self.authorization_request()
