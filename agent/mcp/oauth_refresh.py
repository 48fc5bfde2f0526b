"""The refresh-token grant (RFC 6749 §6), built and read over the SDK's public ``OAuthContext``.

:mod:`agent.mcp.oauth` refreshes before the SDK's flow would, and sends the request with a client
of its own (so that a network failure is told apart from a rejection); it decides what a rejection
means. Here: where the token endpoint is (:func:`token_endpoint`), the refresh request
(:func:`refresh_request`) and a good answer taken into the context and its storage
(:func:`adopt_refresh_response`), each from the context's public fields and methods, as the
SDK's own flow does with its private ones.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urljoin

import httpx2
from mcp.shared.auth import OAuthToken
from pydantic import ValidationError

if TYPE_CHECKING:
    from mcp.client.auth.oauth2 import OAuthContext

__all__ = ["adopt_refresh_response", "refresh_request", "token_endpoint", "token_error"]


def token_endpoint(context: OAuthContext) -> str:
    """The discovered token endpoint; without metadata, ``/token`` at the server's origin (the
    fallback of MCP 2025-03-26)."""
    metadata = context.oauth_metadata
    if metadata is not None and metadata.token_endpoint:
        return str(metadata.token_endpoint)
    return urljoin(context.get_authorization_base_url(context.server_url), "/token")


def refresh_request(context: OAuthContext) -> httpx2.Request:
    """The refresh request for the context's tokens and client, with RFC 8707 ``resource`` when due."""
    tokens, client = context.current_tokens, context.client_info
    assert tokens is not None and tokens.refresh_token and client is not None
    data = {
        "grant_type": "refresh_token",
        "refresh_token": tokens.refresh_token,
        "client_id": client.client_id,
    }
    if context.should_include_resource_param(context.protocol_version):
        data["resource"] = context.get_resource_url()
    data, headers = context.prepare_token_auth(data, {"Content-Type": "application/x-www-form-urlencoded"})
    return httpx2.Request("POST", token_endpoint(context), data=data, headers=headers)


async def adopt_refresh_response(context: OAuthContext, response: httpx2.Response) -> bool:
    """Take a 200 answer's tokens into the context, then its storage; False (context unchanged)
    when the body is not a token response.

    An answer may leave out ``scope`` (unchanged) and ``refresh_token`` (not rotated): both are
    carried over from the tokens it replaces, so the record stays complete for the next refresh.
    """
    try:
        tokens = OAuthToken.model_validate_json(await response.aread())
    except ValidationError:
        return False
    prior = context.current_tokens
    if prior is not None:
        if tokens.scope is None:
            tokens.scope = prior.scope
        if tokens.refresh_token is None:
            tokens.refresh_token = prior.refresh_token
    context.current_tokens = tokens
    context.update_token_expiry(tokens)
    await context.storage.set_tokens(tokens)
    return True


def token_error(response: httpx2.Response) -> str | None:
    """The ``error`` code of an OAuth error response (RFC 6749 section 5.2), if any."""
    try:
        body = response.json()
    except ValueError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, str) else None
