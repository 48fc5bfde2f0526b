"""Token revocation (RFC 7009): ``agent logout``, and the refresh token a new login replaces.

One request per token, authenticated as the client registered (public clients send only their
``client_id``). What came of it is an :data:`Outcome`, never an exception: a login or a logout
goes on whatever the authorization server says. ``unsupported`` is the server's
``unsupported_token_type`` (RFC 7009 §2.2.1), which servers with self-contained (JWT) access
tokens answer for those: the access token then simply runs out at its expiry.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Literal

import httpx2

if TYPE_CHECKING:
    from mcp.client.auth.oauth2 import OAuthContext

__all__ = ["Outcome", "revocation_endpoint", "revoke_token"]

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
    error = _error(response)
    if response.status_code == 400 and error == "unsupported_token_type":
        return "unsupported", f"{endpoint} does not revoke {kind.replace('_', ' ')}s"
    logger.info("revoking a %s at %s: HTTP %s %s", kind, endpoint, response.status_code, error or "")
    return "failed", f"{endpoint} answered HTTP {response.status_code}" + (f" ({error})" if error else "")


def _error(response: httpx2.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, str) else None
