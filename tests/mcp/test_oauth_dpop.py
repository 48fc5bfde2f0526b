"""DPoP (RFC 9449, agent/mcp/oauth_dpop.py) against the real loopback authorization server and MCP
server, which check every proof (tests/support/oauth_dpop.py)."""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path
from typing import Any

import httpx2
import pytest

from agent.config import Config, OAuthSettings, ServerSettings
from agent.errors import AuthError
from agent.login import auth_main
from agent.mcp.oauth import AgentOAuth, auth_factory_for
from agent.mcp.token_store import token_dir
from agent.options import LoginOptions
from tests.support.browser import Browser
from tests.support.fixtures_oauth import OAuthStack
from tests.support.oauth_client import echo, find


def _auth(url: str, browser: Browser | None = None, **oauth: Any) -> AgentOAuth:
    settings = ServerSettings(url=url, oauth=OAuthSettings(**oauth))
    auth = auth_factory_for(Config(), opener=browser or Browser(), notify=lambda _: None)("demo", settings)
    assert isinstance(auth, AgentOAuth)
    return auth


def _stored() -> tuple[Path, dict[str, Any]]:
    (path,) = sorted(token_dir().glob("*.json"))
    return path, json.loads(path.read_text())


def _dpop(oauth_server: OAuthStack) -> dict[str, Any]:
    stats: dict[str, Any] = oauth_server.stats()["dpop"]
    return stats


@pytest.mark.parametrize("asks", ["challenge", "metadata"])
async def test_automatic_when_the_authorization_server_offers_it_and_the_resource_asks(
    oauth_server: OAuthStack, asks: str
) -> None:
    oauth_server.set(dpop=True, dpop_resource=asks)
    browser = Browser()
    auth = _auth(oauth_server.mcp_url, browser)
    assert await echo(oauth_server.mcp_url, auth, "bound") == "bound"
    assert await echo(oauth_server.mcp_url, auth, "again") == "again"
    dpop = _dpop(oauth_server)
    assert dpop["errors"] == [] and dpop["bearer_refused"] == 0
    assert dpop["token_proofs"] == {"authorization_code": 1}
    assert dpop["resource_proofs"] >= 4  # every MCP request, each with a fresh jti (replays are refused)
    assert len(browser.opened) == 1
    path, record = _stored()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert record["dpop"]["token_type"] == "DPoP"
    assert record["dpop"]["jwk"]["crv"] == "P-256" and record["dpop"]["jwk"]["d"]


async def test_not_used_when_the_resource_does_not_ask(oauth_server: OAuthStack) -> None:
    oauth_server.set(dpop=True)  # the authorization server offers it; the MCP server takes Bearer
    assert await echo(oauth_server.mcp_url, _auth(oauth_server.mcp_url), "plain") == "plain"
    dpop = _dpop(oauth_server)
    assert (dpop["token_proofs"], dpop["resource_proofs"]) == ({}, 0)
    assert "dpop" not in _stored()[1]


async def test_dpop_true_binds_even_when_nobody_asks(oauth_server: OAuthStack) -> None:
    oauth_server.set(dpop=True)
    assert await echo(oauth_server.mcp_url, _auth(oauth_server.mcp_url, dpop=True), "forced") == "forced"
    dpop = _dpop(oauth_server)
    assert dpop["token_proofs"] == {"authorization_code": 1} and dpop["resource_proofs"] >= 2


async def test_dpop_false_never_sends_a_proof(oauth_server: OAuthStack) -> None:
    oauth_server.set(dpop=True, dpop_resource="challenge")  # the resource refuses Bearer tokens
    auth = _auth(oauth_server.mcp_url, dpop=False)
    with pytest.raises(BaseException):  # noqa: B017 - the server refuses us, as it should
        await echo(oauth_server.mcp_url, auth, "never")
    dpop = _dpop(oauth_server)
    assert (dpop["token_proofs"], dpop["resource_proofs"]) == ({}, 0)
    assert dpop["bearer_refused"] >= 1


async def test_dpop_true_fails_the_login_when_the_server_issues_a_bearer_token(
    oauth_server: OAuthStack,
) -> None:
    # the authorization server does not do DPoP: it ignores the proof and issues a Bearer token
    with pytest.raises(BaseException) as caught:
        await echo(oauth_server.mcp_url, _auth(oauth_server.mcp_url, dpop=True), "x")
    error = find(caught.value, AuthError)
    assert error is not None and "issued a Bearer token" in str(error)
    assert "dpop = false" in (error.hint or "")


async def test_nonces_are_retried_once_remembered_and_renewed(oauth_server: OAuthStack) -> None:
    oauth_server.set(dpop=True, dpop_resource="challenge", dpop_nonce=True)
    auth = _auth(oauth_server.mcp_url)
    assert await echo(oauth_server.mcp_url, auth, "nonce") == "nonce"
    dpop = _dpop(oauth_server)
    assert dpop["errors"] == []
    assert dpop["nonce_challenges"] == {"as": 1, "rs": 1}  # once each, then the nonce is remembered
    assert dpop["token_proofs"] == {"authorization_code": 1}

    oauth_server.dpop_rotate_nonce()  # a stale nonce gets one more challenge, then works
    assert await echo(oauth_server.mcp_url, auth, "rotated") == "rotated"
    assert _dpop(oauth_server)["nonce_challenges"] == {"as": 1, "rs": 2}


async def test_a_restarted_process_refreshes_with_the_stored_key(oauth_server: OAuthStack) -> None:
    """The refresh token is bound to the login's key: only the key kept in the store can spend it
    (the server refuses a refresh without a proof by that key), and a new nonce is learnt."""
    oauth_server.set(dpop=True, dpop_resource="challenge", dpop_nonce=True)
    assert await echo(oauth_server.mcp_url, _auth(oauth_server.mcp_url), "login") == "login"
    oauth_server.expire_access()
    restarted = Browser()
    assert await echo(oauth_server.mcp_url, _auth(oauth_server.mcp_url, restarted), "later") == "later"
    assert restarted.opened == []
    stats = oauth_server.stats()
    assert (stats["authorize"], stats["refreshes"]) == (1, 1)
    dpop = stats["dpop"]
    assert dpop["errors"] == []
    assert dpop["token_proofs"] == {"authorization_code": 1, "refresh_token": 1}
    assert dpop["nonce_challenges"]["as"] == 2  # the new process learnt the nonce at the refresh
    assert _stored()[1]["dpop"]["token_type"] == "DPoP"


async def test_each_login_has_a_new_key(oauth_server: OAuthStack) -> None:
    oauth_server.set(dpop=True, dpop_resource="challenge")
    async with httpx2.AsyncClient(timeout=30) as http:
        first = (await _auth(oauth_server.mcp_url).login(http)).dpop
        second = (await _auth(oauth_server.mcp_url).login(http)).dpop
    assert first is not None and second is not None
    assert first["jwk"]["x"] != second["jwk"]["x"]
    keys = _dpop(oauth_server)["login_keys"]
    assert len(keys) == 2 and keys[0] != keys[1]


async def test_unattended_grant_gets_a_bound_token(oauth_server: OAuthStack) -> None:
    oauth_server.set(dpop=True, dpop_resource="challenge")
    oauth_server.preregister("robot", client_secret="s3cret")
    auth = _auth(oauth_server.mcp_url, grant="client_credentials", client_id="robot", client_secret="s3cret")
    assert await echo(oauth_server.mcp_url, auth, "robot") == "robot"
    dpop = _dpop(oauth_server)
    assert dpop["errors"] == [] and dpop["token_proofs"] == {"client_credentials": 1}
    assert dpop["resource_proofs"] >= 2


async def test_the_proof_names_the_url_without_its_query(oauth_server: OAuthStack) -> None:
    oauth_server.set(dpop=True, dpop_resource="challenge")
    url = oauth_server.mcp_url + "?tenant=a#frag"
    assert await echo(url, _auth(url), "query") == "query"
    dpop = _dpop(oauth_server)
    assert dpop["errors"] == [] and dpop["resource_proofs"] >= 2
    assert oauth_server.mcp_url in dpop["htus"] and not any("?" in str(h) for h in dpop["htus"])


async def test_agent_auth_says_dpop_and_never_shows_the_key(
    oauth_server: OAuthStack, capsys: pytest.CaptureFixture[str]
) -> None:
    oauth_server.set(dpop=True, dpop_resource="challenge")
    assert await echo(oauth_server.mcp_url, _auth(oauth_server.mcp_url), "hi") == "hi"
    config = Config(servers={"demo": ServerSettings(url=oauth_server.mcp_url)})
    assert await auth_main(LoginOptions(), config) == 0
    shown = capsys.readouterr().out
    assert re.search(r"^demo\s+logged in \(DPoP\)", shown, re.M)
    private = _stored()[1]["dpop"]["jwk"]["d"]
    assert private not in shown


async def test_a_new_login_without_dpop_drops_the_old_key(oauth_server: OAuthStack) -> None:
    oauth_server.set(dpop=True, dpop_resource="challenge")
    assert await echo(oauth_server.mcp_url, _auth(oauth_server.mcp_url), "bound") == "bound"
    assert _stored()[1]["dpop"]["token_type"] == "DPoP"
    oauth_server.set(dpop_resource="none")  # the MCP server stops asking; the user turns DPoP off
    auth = _auth(oauth_server.mcp_url, dpop=False)
    assert await echo(oauth_server.mcp_url, auth, "stored") == "stored"  # the stored token is bound
    async with httpx2.AsyncClient(timeout=30) as http:
        record = await auth.login(http)
    assert record.dpop is None and "dpop" not in _stored()[1]
    assert await echo(oauth_server.mcp_url, auth, "plain") == "plain"  # as Bearer, without a proof
    assert _dpop(oauth_server)["errors"] == []


async def test_workload_identity_grant_gets_a_bound_token(oauth_server: OAuthStack, tmp_path: Path) -> None:
    from tests.mcp.test_oauth_jwt_bearer import _jwt, _workload

    oauth_server.set(dpop=True, dpop_resource="metadata")
    token_file = tmp_path / "workload.jwt"
    token_file.write_text(_jwt(_workload(oauth_server, "workload"), oauth_server.issuer))
    auth = _auth(
        oauth_server.mcp_url, grant="jwt_bearer", client_id="workload", assertion_file=str(token_file)
    )
    assert await echo(oauth_server.mcp_url, auth, "workload") == "workload"
    dpop = _dpop(oauth_server)
    assert dpop["errors"] == [] and dpop["resource_proofs"] >= 2
    assert dpop["token_proofs"] == {"urn:ietf:params:oauth:grant-type:jwt-bearer": 1}


async def test_dpop_true_refuses_a_server_that_takes_no_es256_proofs(oauth_server: OAuthStack) -> None:
    oauth_server.set(dpop=True, dpop_algs=["RS256"])
    with pytest.raises(BaseException) as caught:
        await echo(oauth_server.mcp_url, _auth(oauth_server.mcp_url, dpop=True), "x")
    error = find(caught.value, AuthError)
    assert error is not None and "does not take DPoP proofs signed with ES256" in str(error)
    assert oauth_server.stats()["authorize"] == 0  # refused before the browser
