"""Scope step-up for :class:`agent.mcp.oauth.AgentOAuth`: when a server wants more than the
stored login holds, and what a step-up asks for.

A step-up is a 403 ``insufficient_scope``, or a 401 whose challenge names a scope the current
token lacks (a refresh would only bring the same scopes back). It fetches the protected resource
metadata again (the stored copy may predate the server's new requirements) and asks for the
union of what was granted, what is configured and what the server now names, so that gaining
one scope never drops another. A step-up the user denies (or that fails) is an error for the
call that needed it; the login and the server stay as they were.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcp.client.auth.utils import extract_field_from_www_auth

if TYPE_CHECKING:
    import httpx2
    from mcp.client.auth.oauth2 import OAuthContext
    from mcp.shared.auth import OAuthToken

__all__ = ["keep_login", "needs_more_scope", "union", "www_auth_error"]


def www_auth_error(response: httpx2.Response) -> str | None:
    """The ``error`` of a ``WWW-Authenticate`` challenge (RFC 6750), if any."""
    return extract_field_from_www_auth(response, "error")


def needs_more_scope(response: httpx2.Response, tokens: OAuthToken | None) -> bool:
    """Whether this 401/403 asks for more than ``tokens`` were granted (see the module doc)."""
    if response.status_code == 403:
        return www_auth_error(response) == "insufficient_scope"
    named = (extract_field_from_www_auth(response, "scope") or "").split()
    if response.status_code != 401 or tokens is None or not named or tokens.scope is None:
        return False
    return not set(named) <= set(tokens.scope.split())


def union(*scopes: str | None) -> str | None:
    """Space-separated scopes merged in order, without repeats; None when there are none."""
    merged: list[str] = []
    for scope in scopes:
        merged.extend(s for s in (scope or "").split() if s not in merged)
    return " ".join(merged) or None


def keep_login(context: OAuthContext, sent: OAuthToken | None, before: OAuthContext) -> None:
    """After a step-up that did not happen: the tokens and metadata as they were before it."""
    context.current_tokens, context.token_expiry_time = sent, before.token_expiry_time
    context.oauth_metadata = before.oauth_metadata
