"""Token revocation (RFC 7009): ``agent logout``, and the refresh token a new login replaces.

One request per token, authenticated as the client registered (public clients send only their
``client_id``). What came of it is an :data:`Outcome`, never an exception: a login or a logout
goes on whatever the authorization server says. ``unsupported`` is the server's
``unsupported_token_type`` (RFC 7009 §2.2.1), which servers with self-contained (JWT) access
tokens answer for those: the access token then simply runs out at its expiry.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import TYPE_CHECKING, Literal

import httpx2

from agent.mcp.oauth_refresh import token_error
from agent.tls import tls_context

if TYPE_CHECKING:
    from mcp.client.auth.oauth2 import OAuthContext

__all__ = ["Outcome", "revocation_endpoint", "revoke_replaced", "revoke_token"]

logger = logging.getLogger(__name__)

Outcome = Literal["revoked", "unsupported", "failed", "unreachable"]
TokenKind = Literal["refresh_token", "access_token"]


def revocation_endpoint(context: OAuthContext) -> str | None:
    """The authorization server's revocation endpoint, if its metadata names one."""
    metadata = context.oauth_metadata
    endpoint = metadata.revocation_endpoint if metadata is not None else None
    return str(endpoint) if endpoint else None


async def revoke_token(
    http: httpx2.AsyncClient, context: OAuthContext, endpoint: str, token: str, kind: TokenKind
) -> tuple[Outcome, str]:
    """Revoke one token as the context's client; the outcome and, unless revoked, why (no token text)."""
    data = {"token": token, "token_type_hint": kind}
    if context.client_info is not None and context.client_info.client_id:
        data["client_id"] = context.client_info.client_id
    data, headers = context.prepare_token_auth(data, {})
    try:
        response = await http.post(endpoint, data=data, headers=headers)
    except httpx2.TransportError as exc:
        return "unreachable", f"cannot reach {endpoint} ({exc or type(exc).__name__})"
    if response.status_code == 200:
        return "revoked", ""
    error = token_error(response)
    if response.status_code == 400 and error == "unsupported_token_type":
        return "unsupported", f"{endpoint} does not revoke {kind.replace('_', ' ')}s"
    logger.info("revoking a %s at %s: HTTP %s %s", kind, endpoint, response.status_code, error or "")
    return "failed", f"{endpoint} answered HTTP {response.status_code}" + (f" ({error})" if error else "")


async def revoke_replaced(name: str, before: OAuthContext, now: OAuthContext, dead: Collection[str]) -> None:
    """After a new login, revoke the refresh token it replaced (RFC 7009), as the client that
    got it, best effort: a superseded grant should not stay usable from an old copy of the
    token file. A token the server already rejected (in ``dead``) is left alone."""
    old = before.current_tokens.refresh_token if before.current_tokens is not None else None
    new = now.current_tokens.refresh_token if now.current_tokens is not None else None
    endpoint = revocation_endpoint(before)
    if not old or old == new or old in dead or endpoint is None:
        return
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(30.0), verify=tls_context()) as http:
        outcome, why = await revoke_token(http, before, endpoint, old, "refresh_token")
    if outcome != "revoked":
        logger.info("%s: the refresh token the new login replaced is not revoked: %s", name, why)
