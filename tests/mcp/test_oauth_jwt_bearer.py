"""agent/mcp/oauth_jwt_bearer.py: workload identity, the RFC 7523 jwt-bearer grant, against the
real loopback authorization server (tests/support/oauth_server.py)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import httpx2
import pytest

from agent.config import Config, OAuthSettings, ServerSettings
from agent.errors import AuthError, ConfigError
from agent.mcp.failures import leaves
from agent.mcp.oauth import AgentOAuth, auth_factory_for
from tests.support.browser import Browser
from tests.support.fixtures_oauth import OAuthStack
from tests.support.oauth_client import echo


def _workload(oauth_server: OAuthStack, client_id: str) -> Any:
    """A workload key pair; the authorization server trusts JWTs its private half signs."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    oauth_server.preregister(client_id, workload_key=public.decode())
    return key


def _jwt(key: Any, audience: str, subject: str = "workload-1") -> str:
    import jwt

    now = int(time.time())
    claims = {
        "iss": "https://platform.example",
        "sub": subject,
        "aud": audience,
        "iat": now,
        "exp": now + 300,
    }
    return jwt.encode(claims, key, algorithm="ES256")


def _auth(url: str, browser: Browser, **oauth: Any) -> AgentOAuth:
    settings = ServerSettings(url=url, oauth=OAuthSettings(grant="jwt_bearer", **oauth))
    auth = auth_factory_for(Config(), opener=browser, notify=lambda _: None)("demo", settings)
    assert isinstance(auth, AgentOAuth)
    return auth


async def test_assertion_file_is_the_grant_and_is_read_again_for_a_new_token(
    oauth_server: OAuthStack, browser: Browser, tmp_path: Path
) -> None:
    key = _workload(oauth_server, "workload")
    token_file = tmp_path / "token.jwt"
    token_file.write_text(_jwt(key, oauth_server.issuer) + "\n")
    auth = _auth(oauth_server.mcp_url, browser, client_id="workload", assertion_file=str(token_file))
    assert await echo(oauth_server.mcp_url, auth, "workload") == "workload"

    oauth_server.expire_access()
    token_file.write_text(_jwt(key, oauth_server.issuer, subject="rotated"))  # the platform rotated it
    assert await echo(oauth_server.mcp_url, auth, "again") == "again"
    assert browser.opened == []
    stats = oauth_server.stats()
    assert (stats["jwt_bearer"], stats["authorize"], stats["registrations"]) == (2, 0, 0)


async def test_assertion_command_prints_the_jwt(oauth_server: OAuthStack, browser: Browser) -> None:
    key = _workload(oauth_server, "workload-cmd")
    command = [sys.executable, "-c", f"print({_jwt(key, oauth_server.issuer)!r})"]
    auth = _auth(oauth_server.mcp_url, browser, client_id="workload-cmd", assertion_command=command)
    assert await echo(oauth_server.mcp_url, auth, "cmd") == "cmd"
    assert oauth_server.stats()["jwt_bearer"] == 1


async def test_a_rejected_assertion_ends_the_login_without_retry_or_another_grant(
    oauth_server: OAuthStack, browser: Browser, tmp_path: Path
) -> None:
    key = _workload(oauth_server, "workload-bad")
    token_file = tmp_path / "token.jwt"
    token_file.write_text(_jwt(key, "https://wrong.example"))
    auth = _auth(oauth_server.mcp_url, browser, client_id="workload-bad", assertion_file=str(token_file))
    with pytest.raises(BaseException) as caught:
        await echo(oauth_server.mcp_url, auth, "never")
    assert "invalid_grant" in _all_text(caught.value)
    stats = oauth_server.stats()
    assert stats["jwt_bearer_errors"] == ["invalid_grant"]  # one request, not retried
    assert (stats["authorize"], stats["code_exchanges"], stats["registrations"]) == (0, 0, 0)
    assert browser.opened == []


async def test_a_missing_assertion_file_is_an_auth_error_naming_it(
    oauth_server: OAuthStack, browser: Browser, tmp_path: Path
) -> None:
    _workload(oauth_server, "workload-none")
    missing = tmp_path / "nope.jwt"
    auth = _auth(oauth_server.mcp_url, browser, client_id="workload-none", assertion_file=str(missing))
    async with httpx2.AsyncClient(auth=auth, timeout=30) as client:
        with pytest.raises(AuthError, match="cannot read the assertion file"):
            await client.post(oauth_server.mcp_url, json={"jsonrpc": "2.0", "id": 1, "method": "ping"})


@pytest.mark.parametrize(
    ("oauth", "message"),
    [
        ({"assertion_file": "/x"}, "client_id"),
        ({"client_id": "w"}, "exactly one of assertion_file or assertion_command"),
        ({"client_id": "w", "assertion_file": "/x", "assertion_command": ["x"]}, "exactly one"),
    ],
)
def test_jwt_bearer_settings_are_checked(oauth: dict[str, Any], message: str) -> None:
    settings = ServerSettings(url="http://127.0.0.1:9/mcp", oauth=OAuthSettings(grant="jwt_bearer", **oauth))
    with pytest.raises(ConfigError, match=message):
        auth_factory_for(Config())("demo", settings)


def _all_text(exc: BaseException) -> str:
    return " ".join(map(str, leaves(exc)))
