"""The refresh request and its answer, on a real provider and store (agent/mcp/oauth_refresh.py).

A refresh against a real authorization server is in tests/mcp/test_oauth.py; that server always
rotates the refresh token and repeats the scope, so the answers that leave them out are here.
"""

from __future__ import annotations

from urllib.parse import parse_qs

import httpx2
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken

from agent.config import Config, OAuthSettings, ServerSettings
from agent.mcp.oauth import AgentOAuth, auth_factory_for
from agent.mcp.oauth_refresh import adopt_refresh_response, refresh_request

_URL = "http://127.0.0.1:9/mcp"


def logged_in() -> AgentOAuth:
    """A provider holding a login (nothing is sent: the server URL is never asked)."""
    auth = auth_factory_for(Config(), notify=lambda line: None)(
        "demo", ServerSettings(url=_URL, oauth=OAuthSettings())
    )
    assert isinstance(auth, AgentOAuth)
    auth.context.client_info = OAuthClientInformationFull(client_id="c1", token_endpoint_auth_method="none")
    auth.context.current_tokens = OAuthToken(
        access_token="old", expires_in=60, refresh_token="r1", scope="mcp offline_access"
    )
    return auth


async def test_an_answer_without_refresh_token_or_scope_keeps_the_previous_ones() -> None:
    auth = logged_in()
    answer = httpx2.Response(200, json={"access_token": "new", "token_type": "Bearer", "expires_in": 60})
    assert await adopt_refresh_response(auth.context, answer)
    tokens = auth.context.current_tokens
    assert tokens is not None
    assert (tokens.access_token, tokens.refresh_token, tokens.scope) == ("new", "r1", "mcp offline_access")
    record = auth.store.load()
    assert record is not None and record.tokens is not None
    assert (record.tokens["refresh_token"], record.tokens["scope"]) == ("r1", "mcp offline_access")
    assert record.expires_at is not None and record.obtained_at is not None


async def test_an_invalid_answer_changes_nothing() -> None:
    auth = logged_in()
    before = auth.context.current_tokens
    assert not await adopt_refresh_response(auth.context, httpx2.Response(200, json={"token_type": "Bearer"}))
    assert auth.context.current_tokens is before
    assert auth.store.load() is None


def test_without_metadata_the_request_goes_to_token_at_the_servers_origin() -> None:
    request = refresh_request(logged_in().context)
    assert (request.method, str(request.url)) == ("POST", "http://127.0.0.1:9/token")
    form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
    assert form == {"grant_type": "refresh_token", "refresh_token": "r1", "client_id": "c1"}
