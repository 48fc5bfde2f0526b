"""``agent login``: make the server ask for a login now, through :class:`AgentOAuth`."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

import httpx2
from mcp.shared.inbound import MCP_PROTOCOL_VERSION_HEADER

from agent.errors import AuthError

if TYPE_CHECKING:
    from agent.mcp.oauth import AgentOAuth
    from agent.mcp.token_store import StoredLogin

__all__ = ["login_now"]

_VERSION = "2025-06-18"


async def login_now(auth: AgentOAuth, http: httpx2.AsyncClient) -> StoredLogin:
    """POST an MCP ``initialize`` to trigger the server's challenge (with ``auth.force_login``: a
    browser login whatever is stored), end the session it opened, and return the stored record."""
    body = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": _VERSION,
            "capabilities": {},
            "clientInfo": {"name": "agent", "version": "login"},
        },
    }
    headers = {"Accept": "application/json, text/event-stream", MCP_PROTOCOL_VERSION_HEADER: _VERSION}
    url = auth.settings.url
    assert url is not None
    auth.force_login = True
    try:
        response = await http.post(url, json=body, headers=headers, auth=auth)
    except httpx2.TransportError as exc:
        # The failed request's own URL: the MCP server, or the authorization server.
        raise AuthError(auth.name, f"cannot reach {exc.request.url}: {exc or type(exc).__name__}") from None
    finally:
        auth.force_login = False  # not for the DELETE below: that one uses the new tokens
    session = response.headers.get("mcp-session-id")
    if session:
        with contextlib.suppress(httpx2.TransportError):
            await http.delete(url, headers={**headers, "mcp-session-id": session}, auth=auth)
    record = auth.store.load()
    if auth.logins == 0 or record is None or record.tokens is None:
        raise AuthError(
            auth.name,
            f"the server at {url} did not ask for a login (HTTP {response.status_code})",
            hint="it may not need OAuth",
        )
    if response.status_code in (401, 403):
        raise AuthError(auth.name, f"the server still answers HTTP {response.status_code} after login")
    return record
