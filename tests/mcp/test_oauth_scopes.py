"""Scope step-up against the real test authorization server (agent/mcp/oauth_scopes.py): new
requirements are read from fresh resource metadata and asked for with the scopes held; a denied
step-up fails the one call that needed it, and the server stays usable."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import anyio
import pytest

from agent.config import Config, ServerSettings
from agent.errors import ToolCallFailed
from agent.mcp.manager import ServerManager
from agent.mcp.oauth import auth_factory_for
from tests.mcp.test_oauth import make_auth, stored
from tests.support.browser import Browser
from tests.support.fixtures_oauth import OAuthStack
from tests.support.oauth_client import echo


def requested_scope(url: str) -> set[str]:
    return set(parse_qs(urlsplit(url).query)["scope"][0].split())


async def test_raised_scopes_are_read_from_fresh_metadata_and_asked_for_once_with_the_old(
    oauth_server: OAuthStack, browser: Browser
) -> None:
    assert await echo(oauth_server.mcp_url, make_auth(oauth_server.mcp_url, browser), "first") == "first"
    granted = set(stored()["tokens"]["scope"].split())
    assert "admin" not in granted
    # The server now requires "admin" for everything, and says so only in its resource metadata
    # (which the stored login holds an older copy of).
    oauth_server.set(extra_scope="admin")
    again = Browser()
    assert await echo(oauth_server.mcp_url, make_auth(oauth_server.mcp_url, again), "more") == "more"
    assert len(again.opened) == 1  # one consent, to the new scopes
    assert requested_scope(again.opened[0]) == granted | {"admin"}
    assert set(stored()["tokens"]["scope"].split()) == granted | {"admin"}
    assert "admin" in stored()["protected_resource_metadata"]["scopes_supported"]
    third = Browser()  # a later run: no consent at all
    assert await echo(oauth_server.mcp_url, make_auth(oauth_server.mcp_url, third), "later") == "later"
    assert third.opened == []


async def test_a_denied_step_up_fails_that_call_only_and_the_server_stays_usable(
    oauth_server: OAuthStack, browser: Browser
) -> None:
    assert await echo(oauth_server.mcp_url, make_auth(oauth_server.mcp_url, browser)) == "hello"
    before = stored()["tokens"]["access_token"]
    oauth_server.set(tool_scope="admin", deny_scope="admin")
    notices: list[str] = []
    asked = Browser()
    factory = auth_factory_for(Config(), opener=asked, notify=notices.append)
    servers = {"demo": ServerSettings(url=oauth_server.mcp_url)}
    with anyio.fail_after(60):
        async with ServerManager(servers, auth_factory=factory) as manager:
            assert manager.connected == ["demo"]
            with pytest.raises(ToolCallFailed) as failed:
                await manager.call_tool("demo", "admin_echo", {"text": "x"})
            assert "HTTP 403: the server wants more access than this login has" in str(failed.value)
            assert len(asked.opened) == 1 and "admin" in requested_scope(asked.opened[0])
            assert any("denied" in line and "the login stays" in line for line in notices)
            # The server is still connected, with the scopes it had.
            assert manager.states["demo"].status == "connected"
            done = await manager.call_tool("demo", "echo", {"text": "still here"})
            assert not done.is_error and done.content[0].text == "still here"  # type: ignore[union-attr]
    assert stored()["tokens"]["access_token"] == before


async def test_a_401_naming_new_scopes_steps_up_with_the_old_ones_and_spends_no_refresh(
    oauth_server: OAuthStack, browser: Browser
) -> None:
    assert await echo(oauth_server.mcp_url, make_auth(oauth_server.mcp_url, browser)) == "hello"
    granted = set(stored()["tokens"]["scope"].split())
    oauth_server.set(tool_scope="admin", tool_scope_status=401)
    asked = Browser()
    servers = {"demo": ServerSettings(url=oauth_server.mcp_url)}
    factory = auth_factory_for(Config(), opener=asked)
    with anyio.fail_after(60):
        async with ServerManager(servers, auth_factory=factory) as manager:
            done = await manager.call_tool("demo", "admin_echo", {"text": "admin"})
            assert not done.is_error and done.content[0].text == "admin"  # type: ignore[union-attr]
    assert len(asked.opened) == 1 and requested_scope(asked.opened[0]) == granted | {"admin"}
    assert oauth_server.stats()["refreshes"] == 0  # a refresh would bring the same scopes back
