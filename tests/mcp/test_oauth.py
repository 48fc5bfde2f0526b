"""OAuth against a real authorization server: login, reuse, refresh, failures (agent/mcp/oauth.py)."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import stat
import subprocess
import sys
import time
import types
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest

from agent.config import Config, OAuthSettings, ServerSettings
from agent.errors import EXIT_SERVER, AuthDenied, AuthError, ConfigError
from agent.mcp.oauth import AgentOAuth, auth_factory_for
from agent.mcp.token_store import stored_urls, token_dir
from tests.support.browser import Browser, command, follow
from tests.support.fixtures_oauth import OAuthStack
from tests.support.oauth_client import echo, find


def make_auth(
    url: str,
    opener: Callable[[str], Awaitable[bool]],
    notices: list[str] | None = None,
    **oauth: Any,
) -> AgentOAuth:
    settings = ServerSettings(url=url, oauth=OAuthSettings(**oauth))
    sink = notices if notices is not None else []
    auth = auth_factory_for(Config(), opener=opener, notify=sink.append)("demo", settings)
    assert isinstance(auth, AgentOAuth)
    return auth


async def echo_fails(url: str, auth: httpx2.Auth, kind: type[BaseException] = AuthError) -> BaseException:
    with pytest.raises(BaseException) as info:
        await echo(url, auth)
    found = find(info.value, kind)
    assert found is not None, f"expected {kind.__name__}, got {info.value!r}"
    return found


def stored_files() -> list[Path]:
    return sorted(token_dir().glob("*.json"))


def stored() -> dict[str, Any]:
    (path,) = stored_files()
    data: dict[str, Any] = json.loads(path.read_text())
    return data


async def test_first_login_opens_browser_once_and_stores_0600(
    oauth_server: OAuthStack, browser: Browser
) -> None:
    notices: list[str] = []
    auth = make_auth(oauth_server.mcp_url, browser, notices)
    assert await echo(oauth_server.mcp_url, auth, "first") == "first"
    assert len(browser.opened) == 1
    assert "return to the terminal" in browser.pages[0].text
    assert any(browser.opened[0] in line for line in notices)
    (path,) = stored_files()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    record = stored()
    assert record["server_url"] == oauth_server.mcp_url
    assert record["tokens"]["refresh_token"]
    assert record["expires_at"] > record["obtained_at"]
    assert record["oauth_metadata"]["issuer"].rstrip("/") == oauth_server.issuer
    assert record["client_info"]["redirect_uris"][0].startswith("http://127.0.0.1:")
    assert oauth_server.stats()["authorize"] == 1


_ROOT = Path(__file__).resolve().parents[2]


def client_process(url: str, text: str, browser_log: Path, *, go: bool = False) -> subprocess.Popen[str]:
    """tests/support/oauth_client.py in its own process, sharing this test's user folders."""
    env = {**os.environ, "BROWSER": command(), "BROWSER_LOG": str(browser_log)}
    argv = [sys.executable, "-m", "tests.support.oauth_client", url, text, *(["--go"] if go else [])]
    return subprocess.Popen(
        argv,
        cwd=_ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


async def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = await anyio.to_thread.run_sync(proc.communicate)
    return proc.returncode, out, err


async def login(oauth_server: OAuthStack) -> AgentOAuth:
    """A first login through the browser stand-in, checked."""
    first = Browser()
    auth = make_auth(oauth_server.mcp_url, first)
    assert await echo(oauth_server.mcp_url, auth, "login") == "login"
    assert len(first.opened) == 1
    return auth


@pytest.mark.e2e
async def test_second_process_reuses_the_login_without_a_browser(
    oauth_server: OAuthStack, tmp_path: Path
) -> None:
    await login(oauth_server)
    log = tmp_path / "browser.log"
    code, out, err = await finish(client_process(oauth_server.mcp_url, "again", log))
    assert (code, out.strip()) == (0, "ECHO again"), err
    assert not log.exists()
    stats = oauth_server.stats()
    assert (stats["authorize"], stats["refreshes"]) == (1, 0)


async def test_restart_refreshes_an_expired_token_without_a_browser(oauth_server: OAuthStack) -> None:
    oauth_server.set(lifetime=2)
    await login(oauth_server)
    before = stored()
    await anyio.sleep(max(0.0, before["expires_at"] - time.time()))  # let the access token expire
    restarted = Browser()
    auth = make_auth(oauth_server.mcp_url, restarted)  # a new provider reads only the store
    assert await echo(oauth_server.mcp_url, auth, "later") == "later"
    assert restarted.opened == []
    stats = oauth_server.stats()
    assert (stats["authorize"], stats["refreshes"]) == (1, 1)
    after = stored()
    assert after["tokens"]["access_token"] != before["tokens"]["access_token"]
    assert after["expires_at"] > before["expires_at"]


async def test_401_on_a_stored_token_spends_the_refresh_token_first(oauth_server: OAuthStack) -> None:
    auth = await login(oauth_server)
    oauth_server.expire_access()  # the server stops accepting it; our stored expiry says it is fine
    assert await echo(oauth_server.mcp_url, auth, "still") == "still"
    restarted = Browser()
    oauth_server.expire_access()
    assert await echo(oauth_server.mcp_url, make_auth(oauth_server.mcp_url, restarted), "new") == "new"
    assert restarted.opened == []
    stats = oauth_server.stats()
    assert (stats["authorize"], stats["refreshes"], stats["reuse_detected"]) == (1, 2, 0)


async def test_rejected_refresh_token_leads_to_exactly_one_new_login(oauth_server: OAuthStack) -> None:
    await login(oauth_server)
    oauth_server.expire_access()
    oauth_server.revoke_refresh()
    again = Browser()
    assert await echo(oauth_server.mcp_url, make_auth(oauth_server.mcp_url, again), "back") == "back"
    assert len(again.opened) == 1
    stats = oauth_server.stats()
    assert (stats["authorize"], stats["code_exchanges"], stats["refreshes"]) == (2, 2, 0)
    assert sum(stats["refresh_uses"].values()) == 1


async def test_forgotten_client_registers_again_and_logs_in_once(oauth_server: OAuthStack) -> None:
    """The authorization server no longer knows our registration (restarted, pruned): the
    refresh gets invalid_client, and the one login that follows registers a new client."""
    await login(oauth_server)
    oauth_server.expire_access()
    oauth_server.forget_clients()
    again = Browser()
    assert await echo(oauth_server.mcp_url, make_auth(oauth_server.mcp_url, again), "back") == "back"
    assert len(again.opened) == 1
    stats = oauth_server.stats()
    assert (stats["registrations"], stats["authorize"], stats["code_exchanges"]) == (2, 2, 2)
    assert stored()["client_info"]["client_id"] in again.opened[0]


@pytest.mark.e2e
async def test_two_processes_refreshing_at_once_spend_the_refresh_token_once(
    oauth_server: OAuthStack, tmp_path: Path
) -> None:
    await login(oauth_server)
    oauth_server.expire_access()
    log = tmp_path / "browser.log"
    procs = [client_process(oauth_server.mcp_url, f"p{i}", log, go=True) for i in range(2)]
    for proc in procs:
        assert proc.stdout is not None and proc.stdin is not None
        assert await anyio.to_thread.run_sync(proc.stdout.readline) == "READY\n"
    for proc in procs:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
    results = [await finish(proc) for proc in procs]
    for i, (code, out, err) in enumerate(results):
        assert (code, out.strip()) == (0, f"ECHO p{i}"), err
    assert not log.exists()
    stats = oauth_server.stats()
    assert stats["refreshes"] == 1
    assert stats["reuse_detected"] == 0
    assert set(stats["refresh_uses"].values()) == {1}


async def test_tampered_callback_is_rejected_and_nothing_is_stored(
    oauth_server: OAuthStack, browser: Browser
) -> None:
    oauth_server.set(tamper_iss=True)
    error = await echo_fails(oauth_server.mcp_url, make_auth(oauth_server.mcp_url, browser))
    assert "issuer" in str(error) and "rejected" in str(error)
    assert "Login failed" in browser.pages[0].text
    assert "tokens" not in stored()
    assert oauth_server.stats()["code_exchanges"] == 0


async def test_a_callback_of_no_pending_login_gets_400_and_the_login_goes_on(
    oauth_server: OAuthStack,
) -> None:
    """A late redirect of an earlier login (its state, same port) must not end this one."""
    stale: list[httpx2.Response] = []

    async def late_callback_first(url: str) -> bool:
        redirect = await follow(url, stop_before_callback=True)
        callback = redirect.headers["location"]
        async with httpx2.AsyncClient() as client:  # an earlier login's answer, at the same port
            stale.append(await client.get(callback.split("?")[0], params={"state": "old", "code": "x"}))
        await follow(url)  # then this login's own answer
        return True

    assert (
        await echo(oauth_server.mcp_url, make_auth(oauth_server.mcp_url, late_callback_first), "hi") == "hi"
    )
    assert stale[0].status_code == 400 and "no login agent is waiting for" in stale[0].text
    assert oauth_server.stats()["code_exchanges"] == 1
    oauth_server.set(tamper_state=True)  # only a wrong state ever comes: the login times out
    for path in stored_files():
        path.unlink()
    notices: list[str] = []
    error = await echo_fails(
        oauth_server.mcp_url, make_auth(oauth_server.mcp_url, Browser(), notices, login_timeout=1)
    )
    assert "not completed within" in str(error)
    # the user hears at once that an answer was refused, not only when the wait runs out
    assert [n for n in notices if "state does not match" in n and "still waiting" in n]


async def test_denied_consent_is_one_line_exit_3_and_no_retry(
    oauth_server: OAuthStack, browser: Browser
) -> None:
    oauth_server.set(deny=True)
    error = await echo_fails(oauth_server.mcp_url, make_auth(oauth_server.mcp_url, browser), AuthDenied)
    assert isinstance(error, AuthDenied)
    assert error.exit_code == EXIT_SERVER  # a failed login, as the exit-code table says
    assert "\n" not in str(error) and "denied" in str(error)
    assert len(browser.opened) == 1
    assert oauth_server.stats()["authorize"] == 1


async def test_authorization_server_down_keeps_tokens_and_names_it(oauth_server: OAuthStack) -> None:
    await login(oauth_server)
    before = stored()
    oauth_server.expire_access()
    oauth_server.set(down=True)
    quiet = Browser()
    error = await echo_fails(oauth_server.mcp_url, make_auth(oauth_server.mcp_url, quiet))
    assert oauth_server.issuer.removeprefix("http://") in str(error)
    assert "cannot reach" in str(error) and "kept" in str(error)
    assert quiet.opened == []
    assert stored() == before
    oauth_server.set(down=False)
    assert await echo(oauth_server.mcp_url, make_auth(oauth_server.mcp_url, quiet), "up") == "up"
    assert quiet.opened == []


async def test_login_with_the_authorization_server_down_names_it(oauth_server: OAuthStack) -> None:
    oauth_server.set(down=True)
    quiet = Browser()
    auth = make_auth(oauth_server.mcp_url, quiet)
    async with httpx2.AsyncClient(timeout=30) as http:
        with pytest.raises(AuthError) as info:
            await auth.login(http)
    assert f"cannot reach {oauth_server.issuer}/" in str(info.value)
    assert oauth_server.mcp_url not in str(info.value)
    assert quiet.opened == []


async def test_503_at_the_token_endpoint_keeps_tokens_then_recovers(oauth_server: OAuthStack) -> None:
    await login(oauth_server)
    before = stored()
    oauth_server.expire_access()
    oauth_server.set(token_503=True)
    quiet = Browser()
    auth = make_auth(oauth_server.mcp_url, quiet)
    error = await echo_fails(oauth_server.mcp_url, auth)
    assert "HTTP 503" in str(error) and oauth_server.issuer.removeprefix("http://") in str(error)
    assert stored() == before
    oauth_server.set(token_503=False)
    assert await echo(oauth_server.mcp_url, auth, "ok") == "ok"
    assert quiet.opened == []
    assert oauth_server.stats()["authorize"] == 1


async def test_corrupted_token_file_is_reported_and_replaced_by_a_login(
    oauth_server: OAuthStack, browser: Browser
) -> None:
    await login(oauth_server)
    (path,) = stored_files()
    path.write_text("{not json")
    notices: list[str] = []
    assert await echo(oauth_server.mcp_url, make_auth(oauth_server.mcp_url, browser, notices), "x") == "x"
    assert any("unreadable" in line and str(path) in line for line in notices)
    assert len(browser.opened) == 1
    assert stored()["tokens"]["access_token"]


async def test_pasted_redirect_url_completes_the_login_when_no_browser_opens(
    oauth_server: OAuthStack,
) -> None:
    notices: list[str] = []
    tried: list[str] = []

    async def no_browser(url: str) -> bool:
        tried.append(url)
        return False

    async def paste() -> str:
        redirect = await follow(tried[0], stop_before_callback=True)  # the user's browser elsewhere
        return redirect.headers["location"] + "\n"

    settings = ServerSettings(url=oauth_server.mcp_url)
    factory = auth_factory_for(Config(), opener=no_browser, read_paste=paste, notify=notices.append)
    assert await echo(oauth_server.mcp_url, factory("demo", settings), "pasted") == "pasted"
    assert len(tried) == 1
    assert any("paste" in line for line in notices)
    assert oauth_server.stats()["code_exchanges"] == 1


async def test_unfinished_login_times_out_with_a_clear_message(oauth_server: OAuthStack) -> None:
    opened: list[str] = []

    async def ignored(url: str) -> bool:  # a browser that opens and is then left alone
        opened.append(url)
        return True

    error = await echo_fails(
        oauth_server.mcp_url, make_auth(oauth_server.mcp_url, ignored, login_timeout=0.5)
    )
    assert "not completed within" in str(error)
    assert len(opened) == 1


async def test_taken_callback_port_means_a_new_registration(oauth_server: OAuthStack) -> None:
    await login(oauth_server)
    port = int(stored()["client_info"]["redirect_uris"][0].rsplit(":", 1)[1].split("/")[0])
    oauth_server.expire_access()
    oauth_server.revoke_refresh()
    with socket.socket() as squatter:
        squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # the old port may be in TIME_WAIT
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        again = Browser()
        assert await echo(oauth_server.mcp_url, make_auth(oauth_server.mcp_url, again), "moved") == "moved"
    assert len(again.opened) == 1
    assert f":{port}/" not in stored()["client_info"]["redirect_uris"][0]
    assert oauth_server.stats()["registrations"] == 2


def test_keyring_store_without_the_package_is_a_clear_error() -> None:
    if importlib.util.find_spec("keyring") is not None:
        pytest.skip("keyring is installed")
    factory = auth_factory_for(Config(token_store="keyring"))
    with pytest.raises(ConfigError, match="keyring"):
        factory("demo", ServerSettings(url="http://127.0.0.1:9/mcp"))


async def test_no_browser_and_no_terminal_says_where_to_open_the_url(oauth_server: OAuthStack) -> None:
    notices: list[str] = []

    async def no_browser(url: str) -> bool:
        return False

    auth = make_auth(oauth_server.mcp_url, no_browser, notices, login_timeout=0.5)
    assert auth.read_paste is None  # pytest's stdin is no terminal: nobody could paste
    error = await echo_fails(oauth_server.mcp_url, auth)
    assert "not completed within" in str(error)
    assert any("on this machine" in line for line in notices)
    assert not any("paste" in line for line in notices)


async def test_configured_scope_is_the_one_requested(oauth_server: OAuthStack, browser: Browser) -> None:
    default = make_auth(oauth_server.mcp_url, browser)
    assert await echo(oauth_server.mcp_url, default) == "hello"
    assert "offline_access" in stored()["tokens"]["scope"].split()  # discovered: PRM scopes + offline_access
    for path in stored_files():
        path.unlink()
    assert await echo(oauth_server.mcp_url, make_auth(oauth_server.mcp_url, browser, scope="mcp")) == "hello"
    assert stored()["tokens"]["scope"] == "mcp"
    assert "scope=mcp&" in browser.opened[-1] or browser.opened[-1].endswith("scope=mcp")


async def test_client_credentials_with_a_secret_needs_no_browser(
    oauth_server: OAuthStack, browser: Browser
) -> None:
    oauth_server.preregister("batch-job", client_secret="s3cret")
    auth = make_auth(
        oauth_server.mcp_url,
        browser,
        grant="client_credentials",
        client_id="batch-job",
        client_secret="s3cret",
    )
    assert await echo(oauth_server.mcp_url, auth, "unattended") == "unattended"
    oauth_server.expire_access()
    assert await echo(oauth_server.mcp_url, auth, "again") == "again"  # a new grant, no refresh token needed
    assert browser.opened == []
    stats = oauth_server.stats()
    assert (stats["client_credentials"], stats["authorize"], stats["registrations"]) == (2, 0, 0)


async def test_client_credentials_with_a_private_key_jwt(
    oauth_server: OAuthStack, browser: Browser, tmp_path: Path
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    key_file = tmp_path / "key.pem"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    oauth_server.preregister("signed-job", public_key=public.decode())
    auth = make_auth(
        oauth_server.mcp_url,
        browser,
        grant="client_credentials",
        client_id="signed-job",
        private_key_file=str(key_file),
    )
    assert await echo(oauth_server.mcp_url, auth, "signed") == "signed"
    assert browser.opened == []
    assert oauth_server.stats()["client_credentials"] == 1


def test_client_credentials_without_credentials_is_a_config_error() -> None:
    factory = auth_factory_for(Config())
    with pytest.raises(ConfigError, match="client_credentials"):
        factory(
            "demo",
            ServerSettings(url="http://127.0.0.1:9/mcp", oauth=OAuthSettings(grant="client_credentials")),
        )


class _MemoryKeyring(types.ModuleType):
    """The OS keyring's API (``keyring`` package) over a dict: the OS edge, faked."""

    def __init__(self) -> None:
        super().__init__("keyring")
        self.secrets: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, user: str) -> str | None:
        return self.secrets.get((service, user))

    def set_password(self, service: str, user: str, secret: str) -> None:
        self.secrets[(service, user)] = secret

    def delete_password(self, service: str, user: str) -> None:
        del self.secrets[(service, user)]


async def test_keyring_store_keeps_the_login_out_of_files(
    oauth_server: OAuthStack, browser: Browser, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = _MemoryKeyring()
    errors = types.ModuleType("keyring.errors")
    errors.KeyringError = type("KeyringError", (Exception,), {})  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "keyring", fake)
    monkeypatch.setitem(sys.modules, "keyring.errors", errors)
    settings = ServerSettings(url=oauth_server.mcp_url)
    factory = auth_factory_for(Config(token_store="keyring"), opener=browser, notify=lambda line: None)
    assert await echo(oauth_server.mcp_url, factory("demo", settings), "kept") == "kept"
    assert stored_files() == []
    ((service, user),) = fake.secrets
    assert (service, user) == ("agent-mcp-oauth", oauth_server.mcp_url)
    assert stored_urls("keyring") == [oauth_server.mcp_url]  # `agent auth` lists it
    assert json.loads(fake.secrets[(service, user)])["tokens"]["refresh_token"]
    again = Browser()
    factory = auth_factory_for(Config(token_store="keyring"), opener=again)
    assert await echo(oauth_server.mcp_url, factory("demo", settings), "reused") == "reused"
    assert again.opened == []


def refresh_with(
    oauth_server: OAuthStack, refresh_token: str, client_info: dict[str, Any]
) -> httpx2.Response:
    """Present ``refresh_token`` at the token endpoint as the stored client would."""
    form = {
        "grant_type": "refresh_token",
        "refresh_token": refresh_token,
        "client_id": client_info["client_id"],
    }
    if client_info.get("client_secret"):
        form["client_secret"] = client_info["client_secret"]
    return httpx2.post(f"{oauth_server.issuer}/token", data=form, timeout=30)


def pieces(secret: str, size: int = 6) -> list[str]:
    """Every run of ``size`` characters of ``secret``: none may appear where the secret must not."""
    return [secret[i : i + size] for i in range(len(secret) - size + 1)]


async def test_dynamic_registration_is_a_public_client_unless_the_config_names_a_method(
    oauth_server: OAuthStack,
) -> None:
    await login(oauth_server)
    client = stored()["client_info"]
    assert client["token_endpoint_auth_method"] == "none" and "client_secret" not in client
    assert oauth_server.stats()["registered_auth_methods"] == ["none"]
    for path in stored_files():
        path.unlink()
    configured = make_auth(oauth_server.mcp_url, Browser(), token_endpoint_auth_method="client_secret_post")
    assert await echo(oauth_server.mcp_url, configured, "again") == "again"
    assert oauth_server.stats()["registered_auth_methods"] == ["none", "client_secret_post"]
    assert stored()["client_info"]["client_secret"]


async def test_a_relogin_revokes_the_refresh_token_it_replaces(oauth_server: OAuthStack) -> None:
    await login(oauth_server)
    old = stored()
    again = make_auth(oauth_server.mcp_url, Browser())
    async with httpx2.AsyncClient(timeout=30) as http:
        record = await again.login(http)  # what `agent login` does
    assert record.tokens is not None and record.tokens["refresh_token"] != old["tokens"]["refresh_token"]
    assert oauth_server.stats()["revoked_refresh_tokens"] == [old["tokens"]["refresh_token"]]
    refused = refresh_with(oauth_server, old["tokens"]["refresh_token"], old["client_info"])
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    assert await echo(oauth_server.mcp_url, make_auth(oauth_server.mcp_url, Browser()), "new") == "new"


async def test_a_token_record_that_fails_validation_is_reported_without_token_text(
    oauth_server: OAuthStack, browser: Browser, caplog: pytest.LogCaptureFixture
) -> None:
    await login(oauth_server)
    (path,) = stored_files()
    record = stored()
    refresh_token = record["tokens"]["refresh_token"]
    record["tokens"] = {"refresh_token": refresh_token, "token_type": "Bearer"}  # no access_token
    path.write_text(json.dumps(record))
    caplog.set_level("DEBUG")
    notices: list[str] = []
    assert await echo(oauth_server.mcp_url, make_auth(oauth_server.mcp_url, browser, notices), "x") == "x"
    assert any("unreadable" in line and "access_token" in line for line in notices)
    assert any("unreadable token record" in r.getMessage() for r in caplog.records)
    said = caplog.text + "\n".join(notices)
    assert [piece for piece in pieces(refresh_token) if piece in said] == []
