"""agent/mcp/manager.py: leaving the manager while a server is still connecting.

A server whose connect hangs (accepts and never answers, a stdio process that never answers
``initialize``, a browser login nobody finishes) must not hold the program back until its connect
timeout: leaving cancels the attempt at once, ends its process, closes a login's callback
listener, and reports no failure (we are leaving, not trying again). ``fail_after`` guards the
whole block (the manager's task group must nest inside it); the hanging server's connect timeout
is well beyond it, so a close that waits for the timeout fails the test.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import anyio
import pytest

from agent.config import Config, ServerSettings
from agent.mcp.connection import server_log_path
from agent.mcp.manager import AuthFactory, ServerManager, ServerState
from agent.mcp.oauth import auth_factory_for
from tests.support.fixtures_mcp import stdio_settings
from tests.support.fixtures_oauth import OAuthStack
from tests.support.http_edge import silent_server

HANG = 30.0  # the hanging server's connect timeout: the close must not wait for it
GUARD = 10.0  # the hang guard: connect "up", then leave


def _new(log: Path, before: str) -> str:
    """What a server's stderr log gained since ``before``."""
    return log.read_text().removeprefix(before) if log.exists() else ""


def _manager(
    up_url: str, hang: ServerSettings, seen: list[tuple[str, str]], auth_factory: AuthFactory | None = None
) -> ServerManager:
    def on_state(state: ServerState) -> None:
        seen.append((state.name, state.status))

    servers = {"up": ServerSettings(url=up_url), "hang": hang}
    manager = ServerManager(servers, on_state=on_state, auth_factory=auth_factory)
    manager.grace = 0  # open once "up" is usable; "hang" goes on connecting
    return manager


async def test_leaving_cancels_an_http_server_that_never_answers(mcp_http_url: str) -> None:
    seen: list[tuple[str, str]] = []
    async with silent_server() as url:
        manager = _manager(mcp_http_url, ServerSettings(url=url, timeout=HANG), seen)
        with anyio.fail_after(GUARD):
            async with manager:
                assert manager.connected == ["up"]
                assert manager.states["hang"].status == "connecting"
    assert ("hang", "failed") not in seen  # no failure, no "trying again", while leaving
    assert manager.states["hang"].error is None


async def test_leaving_ends_a_stdio_server_that_never_answers_initialize(
    mcp_http_url: str, tmp_path: Path
) -> None:
    fifo = tmp_path / "hold"
    os.mkfifo(fifo)  # never written to: the server answers nothing
    log = server_log_path("hang")
    before = log.read_text() if log.exists() else ""
    seen: list[tuple[str, str]] = []
    # Its timeout is longer, and so is the guard: a Python process starting on a busy machine,
    # then the SDK's grace (2 s) for a process that does not end when its stdin closes.
    manager = _manager(mcp_http_url, stdio_settings("--hold", str(fifo), timeout=3 * HANG), seen)
    with anyio.fail_after(HANG):
        async with manager:
            # The process's first stderr line says it is up (another process: its log is polled).
            while "test server starting" not in _new(log, before):  # noqa: ASYNC110
                await anyio.sleep(0.02)
            assert manager.states["hang"].status == "connecting"
    pid = int(re.findall(r"test server starting \(pid (\d+)\)", _new(log, before))[-1])
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # ended and reaped: no orphan
    assert ("hang", "failed") not in seen


async def test_leaving_cancels_a_browser_login_in_progress(
    mcp_http_url: str, oauth_server: OAuthStack
) -> None:
    opened: list[str] = []
    waiting = anyio.Event()

    async def absent_user(url: str) -> bool:
        """The browser opens; nobody logs in."""
        opened.append(url)
        waiting.set()
        return True

    factory = auth_factory_for(Config(), opener=absent_user, notify=lambda line: None)
    seen: list[tuple[str, str]] = []
    hang = ServerSettings(url=oauth_server.mcp_url, timeout=HANG)
    manager = _manager(mcp_http_url, hang, seen, auth_factory=factory)
    with anyio.fail_after(GUARD):
        async with manager:
            await waiting.wait()
            assert manager.states["hang"].status == "connecting"
    callback = urlsplit(parse_qs(urlsplit(opened[0]).query)["redirect_uri"][0])
    assert callback.hostname == "127.0.0.1" and callback.port is not None
    with pytest.raises(OSError):  # the login's callback listener is closed
        await anyio.connect_tcp("127.0.0.1", callback.port)
    assert ("hang", "failed") not in seen
