"""`agent login`, `agent logout`, `agent auth` against the real test authorization server."""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import httpx2
import pexpect
import pytest

from agent.config import Config, ServerSettings
from agent.errors import UsageError
from agent.login import auth_main, logout_main
from agent.mcp.token_store import token_dir
from agent.options import LoginOptions
from tests.mcp.test_oauth import make_auth
from tests.support.browser import Browser, command
from tests.support.fixtures_oauth import OAuthStack
from tests.support.oauth_client import echo

_AGENT = str(Path(sys.executable).parent / "agent")


def agent(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_AGENT, *argv], capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})}
    )


def config_for(url: str) -> Config:
    return Config(servers={"demo": ServerSettings(url=url), "local": ServerSettings(command="true")})


def write_config(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """./agent.toml, named by $AGENT_CONFIG (explicit: no trust question)."""
    path = Path("agent.toml").resolve()
    path.write_text(f'[servers.demo]\nurl = "{url}"\n\n[servers.local]\ncommand = "true"\n')
    monkeypatch.setenv("AGENT_CONFIG", str(path))


def secrets_on_disk() -> list[str]:
    found: list[str] = []
    for path in token_dir().glob("*.json"):
        data = json.loads(path.read_text())
        found += [v for k, v in data.get("tokens", {}).items() if k in ("access_token", "refresh_token")]
        if data.get("client_info", {}).get("client_secret"):
            found.append(data["client_info"]["client_secret"])
        if data.get("dpop", {}).get("jwk", {}).get("d"):
            found.append(data["dpop"]["jwk"]["d"])  # the DPoP private key
    return found


@pytest.mark.e2e
def test_login_through_browser_then_auth_shows_status_without_tokens(
    oauth_server: OAuthStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(oauth_server.mcp_url, monkeypatch)
    log = tmp_path / "browser.log"
    done = agent("login", "demo", env={"BROWSER": command(), "BROWSER_LOG": str(log)})
    assert done.returncode == 0, done.stderr
    assert "Logged in to demo" in done.stdout
    assert "scopes:" in done.stdout and "mcp" in done.stdout
    assert "access token expires: in " in done.stdout
    assert len(log.read_text().splitlines()) == 1
    (path,) = token_dir().glob("*.json")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    shown = agent("auth")
    assert shown.returncode == 0, shown.stderr
    (line,) = [row for row in shown.stdout.splitlines() if row.startswith("demo")]
    assert "logged in" in line and oauth_server.issuer.removeprefix("http://") in line
    assert "local" not in shown.stdout  # stdio servers have no login
    secrets = secrets_on_disk()
    assert len(secrets) >= 2
    for secret in secrets:
        assert secret not in shown.stdout + shown.stderr
        assert secret not in done.stdout + done.stderr


@pytest.mark.e2e
def test_login_by_url_with_no_browser_takes_the_pasted_redirect(oauth_server: OAuthStack) -> None:
    env = {**os.environ, "BROWSER": "false"}
    child = pexpect.spawn(_AGENT, ["login", oauth_server.mcp_url], env=env, encoding="utf-8", timeout=60)
    try:
        child.expect(r"(http://127\.0\.0\.1:\d+/authorize\?\S+)")
        url = child.match.group(1)
        child.expect("paste")
        redirect = httpx2.get(url, timeout=30)  # the user's browser, somewhere else
        assert redirect.is_redirect
        child.sendline(redirect.headers["location"])
        child.expect("Logged in to ")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0
    assert oauth_server.stats()["code_exchanges"] == 1


@pytest.mark.e2e
def test_denied_consent_is_one_line_and_exit_code_3_like_every_failed_login(oauth_server: OAuthStack) -> None:
    oauth_server.set(deny=True)
    done = agent("login", oauth_server.mcp_url, env={"BROWSER": command()})
    assert done.returncode == 3
    errors = [line for line in done.stderr.splitlines() if "denied" in line]
    assert len(errors) == 1 and errors[0].startswith("agent: ")
    assert "Traceback" not in done.stderr
    assert oauth_server.stats()["authorize"] == 1


async def test_auth_lists_each_remote_server(
    oauth_server: OAuthStack, browser: Browser, capsys: pytest.CaptureFixture[str]
) -> None:
    config = config_for(oauth_server.mcp_url)
    assert await auth_main(LoginOptions(), config) == 0
    before = capsys.readouterr().out
    assert re.search(r"^demo\s+not logged in", before, re.M)
    assert await echo(oauth_server.mcp_url, make_auth(oauth_server.mcp_url, browser)) == "hello"
    assert await auth_main(LoginOptions(), config) == 0
    after = capsys.readouterr().out
    assert re.search(r"^demo\s+logged in\s+in \d+", after, re.M)
    assert "mcp" in after
    for secret in secrets_on_disk():
        assert secret not in after


async def test_auth_lists_logins_made_with_a_url_that_no_config_names(
    oauth_server: OAuthStack, browser: Browser, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await echo(oauth_server.mcp_url, make_auth(oauth_server.mcp_url, browser)) == "hello"
    assert await auth_main(LoginOptions(), Config()) == 0  # no server configured at all
    shown = capsys.readouterr().out
    assert re.search(rf"^{re.escape(oauth_server.mcp_url)}\s+logged in\s+in \d+", shown, re.M), shown
    assert await auth_main(LoginOptions(), config_for(oauth_server.mcp_url)) == 0
    rows = capsys.readouterr().out.splitlines()[1:]
    assert len(rows) == 1 and rows[0].startswith("demo ")  # configured: listed once, by its name


async def test_logout_revokes_at_the_server_then_deletes(
    oauth_server: OAuthStack, browser: Browser, capsys: pytest.CaptureFixture[str]
) -> None:
    config = config_for(oauth_server.mcp_url)
    auth = make_auth(oauth_server.mcp_url, browser)
    assert await echo(oauth_server.mcp_url, auth) == "hello"
    assert await logout_main(LoginOptions(target="demo"), config) == 0
    out = capsys.readouterr().out
    assert "revoked at" in out and "deleted" in out
    assert list(token_dir().glob("*.json")) == []
    assert oauth_server.stats()["revocations"] >= 1
    again = Browser()
    assert await echo(oauth_server.mcp_url, make_auth(oauth_server.mcp_url, again)) == "hello"
    assert len(again.opened) == 1  # the old grant is gone: a new login was needed
    assert await logout_main(LoginOptions(target=oauth_server.mcp_url), config) == 0
    assert await logout_main(LoginOptions(target="demo"), config) == 0
    assert "Not logged in to demo" in capsys.readouterr().out


async def test_logout_succeeds_when_the_server_refuses_to_revoke_a_jwt_access_token(
    oauth_server: OAuthStack, browser: Browser, capsys: pytest.CaptureFixture[str]
) -> None:
    oauth_server.set(jwt_access=True)  # RFC 7009 2.2.1: unsupported_token_type for access tokens
    assert await echo(oauth_server.mcp_url, make_auth(oauth_server.mcp_url, browser)) == "hello"
    (path,) = token_dir().glob("*.json")
    refresh_token = json.loads(path.read_text())["tokens"]["refresh_token"]
    assert await logout_main(LoginOptions(target="demo"), config_for(oauth_server.mcp_url)) == 0
    captured = capsys.readouterr()
    assert "refresh token revoked at" in captured.out and "deleted" in captured.out
    assert "access token" in captured.out and "expires" in captured.out
    assert "failed" not in captured.out + captured.err
    assert oauth_server.stats()["revoked_refresh_tokens"] == [refresh_token]
    assert list(token_dir().glob("*.json")) == []


async def test_targets_must_be_known_remote_servers(oauth_server: OAuthStack) -> None:
    config = config_for(oauth_server.mcp_url)
    with pytest.raises(UsageError, match="unknown server 'nope'") as info:
        await logout_main(LoginOptions(target="nope"), config)
    assert info.value.exit_code == 2 and "config" not in str(info.value)  # the word typed is wrong
    with pytest.raises(UsageError, match="local command"):
        await logout_main(LoginOptions(target="local"), config)


async def test_auth_reports_a_corrupted_login_and_goes_on(
    oauth_server: OAuthStack, browser: Browser, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await echo(oauth_server.mcp_url, make_auth(oauth_server.mcp_url, browser)) == "hello"
    (path,) = token_dir().glob("*.json")
    path.write_text('{"version": 1, "server_url": 42}')
    assert await auth_main(LoginOptions(), config_for(oauth_server.mcp_url)) == 0
    captured = capsys.readouterr()
    assert re.search(r"^demo\s+not logged in", captured.out, re.M)
    assert "unreadable" in captured.err and str(path) in captured.err


def test_auth_does_not_import_the_mcp_sdk(oauth_server: OAuthStack, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(oauth_server.mcp_url, monkeypatch)
    code = "import sys\nfrom agent.cli import main\nmain(['auth'])\nprint(sorted({m.split('.')[0] for m in sys.modules}))"
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    modules = done.stdout.strip().splitlines()[-1]
    assert "'mcp'" not in modules and "'httpx2'" not in modules
    assert "not logged in" in done.stdout


async def test_login_for_an_unattended_grant_needs_no_browser(capsys: pytest.CaptureFixture[str]) -> None:
    from agent.config import OAuthSettings
    from agent.login import login_main

    server = ServerSettings(url="http://127.0.0.1:9/mcp", oauth=OAuthSettings(grant="client_credentials"))
    config = Config(servers={"svc": server})
    assert await login_main(LoginOptions(target="svc"), config) == 0
    out = capsys.readouterr().out
    assert "no browser login is needed" in out and "client_credentials" in out
