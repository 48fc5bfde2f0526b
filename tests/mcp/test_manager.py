"""agent/mcp/manager.py: many servers at once, isolated failures, timeouts, cancellation, close."""

from __future__ import annotations

import os
import re
import signal
import sys
from pathlib import Path

import anyio
import anyio.lowlevel
import httpx2
import pytest

from agent.config import Config, ServerSettings, ToolFilter
from agent.errors import (
    AuthError,
    AuthRequiredError,
    ServerError,
    ServerUnavailable,
    ToolCallFailed,
    UsageError,
)
from agent.mcp.connection import server_log_path
from agent.mcp.manager import ServerManager, ServerState
from agent.mcp.oauth import auth_factory_for
from tests.support.browser import Browser, follow
from tests.support.fixtures_mcp import REPO_ROOT, RestartableServer, stdio_settings
from tests.support.fixtures_oauth import OAuthStack
from tests.support.http_edge import refused_port, status_server


def _text(result: object) -> str:
    return result.content[0].text  # type: ignore[attr-defined,no-any-return]


async def _wait_for_line(path: Path, line: str) -> None:
    """Wait (bounded) until the server wrote ``line`` to its events file.

    The signal comes from another process through a file, so it is polled; fail_after bounds it.
    """
    with anyio.fail_after(20):
        while line not in (await anyio.Path(path).read_text()).splitlines():  # noqa: ASYNC110
            await anyio.sleep(0.02)


async def test_connects_all_concurrently_and_isolates_a_dead_server(
    mcp_http_url: str, mcp_sse_url: str, mcp_stdio_settings: ServerSettings
) -> None:
    events: list[tuple[str, str]] = []
    servers = {
        "web": ServerSettings(url=mcp_http_url),
        "legacy": ServerSettings(url=mcp_sse_url, transport="sse"),
        "local": mcp_stdio_settings,
        "dead": ServerSettings(url=f"http://127.0.0.1:{refused_port()}/mcp"),
        "off": ServerSettings(url=mcp_http_url, enabled=False),
    }

    def on_state(state: ServerState) -> None:
        events.append((state.name, state.status))

    async with ServerManager(servers, on_state=on_state) as manager:
        # Every server started connecting before any finished: the stdio server (slowest,
        # seconds of imports) did not hold up the start of the others, nor they it.
        first_done = min(i for i, (_, status) in enumerate(events) if status != "connecting")
        started = {name for name, status in events[:first_done] if status == "connecting"}
        assert started == {"web", "legacy", "local", "dead"}
        assert manager.connected == ["web", "legacy", "local"]
        assert manager.states["dead"].status == "failed"
        assert "connection refused" in str(manager.states["dead"].error)
        assert manager.states["off"].status == "disabled"
        assert manager.states["web"].connect_ms is not None
        for name in manager.connected:
            assert _text(await manager.call_tool(name, "echo", {"text": name})) == name
        tools = await manager.list_tools()
        assert {t.server for t in tools} == {"web", "legacy", "local"}
        with pytest.raises(ServerError, match="connection refused"):
            await manager.call_tool("dead", "echo", {"text": "x"})


async def test_list_tools_applies_include_and_exclude(mcp_http_url: str) -> None:
    servers = {
        "inc": ServerSettings(url=mcp_http_url, tools=ToolFilter(include=["echo", "add"])),
        "exc": ServerSettings(url=mcp_http_url, tools=ToolFilter(exclude=["fail", "slow"])),
    }
    async with ServerManager(servers) as manager:
        assert sorted(t.name for t in await manager.list_tools("inc")) == ["add", "echo"]
        excluded = {t.name for t in await manager.list_tools("exc")}
        assert "echo" in excluded
        assert not excluded & {"fail", "slow"}


async def test_call_tool_timeout(mcp_http_url: str) -> None:
    async with ServerManager({"web": ServerSettings(url=mcp_http_url)}) as manager:
        with pytest.raises(ToolCallFailed, match=r"web\.slow timed out after 0\.3 s"):
            await manager.call_tool("web", "slow", {"seconds": 30}, timeout=0.3)
        # The session is still usable afterwards.
        assert _text(await manager.call_tool("web", "echo", {"text": "after"})) == "after"


async def test_server_timeout_bounds_calls(mcp_http_url: str) -> None:
    # The timeout bounds connecting too: long enough for that on a busy machine.
    async with ServerManager({"web": ServerSettings(url=mcp_http_url, timeout=2)}) as manager:
        with pytest.raises(ToolCallFailed, match=r"timed out after 2 s"):
            await manager.call_tool("web", "slow", {"seconds": 30})


@pytest.mark.parametrize("kind", ["http", "stdio"])
async def test_results_over_one_mib(kind: str, mcp_http_url: str, mcp_stdio_settings: ServerSettings) -> None:
    settings = ServerSettings(url=mcp_http_url) if kind == "http" else mcp_stdio_settings
    size = 3 * 1024 * 1024 + 17
    async with ServerManager({"s": settings}) as manager:
        result = await manager.call_tool("s", "big", {"size": size})
        assert len(_text(result)) == size


@pytest.mark.parametrize("kind", ["http", "stdio"])
async def test_cancelled_call_is_cancelled_on_the_server(
    kind: str, mcp_http_url: str, mcp_stdio_settings: ServerSettings, mcp_events_file: Path
) -> None:
    settings = ServerSettings(url=mcp_http_url) if kind == "http" else mcp_stdio_settings
    tag = f"cancel-{kind}"
    async with ServerManager({"s": settings}) as manager, anyio.create_task_group() as tg:

        async def call() -> None:
            await manager.call_tool("s", "slow", {"seconds": 60, "tag": tag})
            pytest.fail("the slow call finished")

        tg.start_soon(call)
        await _wait_for_line(mcp_events_file, f"started {tag}")
        tg.cancel_scope.cancel()
    await _wait_for_line(mcp_events_file, f"cancelled {tag}")
    assert f"done {tag}" not in await anyio.Path(mcp_events_file).read_text()


async def test_tool_error_is_returned_not_raised(mcp_http_url: str) -> None:
    async with ServerManager({"web": ServerSettings(url=mcp_http_url)}) as manager:
        result = await manager.call_tool("web", "fail", {"message": "boom"})
        assert result.is_error
        assert "boom" in _text(result)


async def test_error_in_the_block_propagates_unchanged(mcp_http_url: str) -> None:
    with pytest.raises(UsageError, match="from the block"):
        async with ServerManager({"web": ServerSettings(url=mcp_http_url)}):
            raise UsageError("from the block")


async def test_unknown_server() -> None:
    async with ServerManager({}) as manager:
        with pytest.raises(ServerError, match="no such server"):
            await manager.call_tool("nope", "echo")
        assert await manager.list_tools() == []


async def test_401_without_factory_is_skipped_with_login_hint() -> None:
    async with (
        status_server(401, "Unauthorized") as url,
        ServerManager({"locked": ServerSettings(url=url)}) as m,
    ):
        error = m.states["locked"].error
        assert isinstance(error, AuthRequiredError)
        assert error.hint == "run `agent login locked`"


class _BearerAuth(httpx2.Auth):
    def auth_flow(self, request: httpx2.Request):  # type: ignore[no-untyped-def]
        request.headers["Authorization"] = "Bearer t0ken"
        yield request


async def test_factory_auth_is_attached_from_the_first_request(
    mcp_http_url: str, mcp_stdio_settings: ServerSettings
) -> None:
    calls: list[str] = []
    seen: list[bytes] = []

    def factory(name: str, settings: ServerSettings) -> httpx2.Auth:
        calls.append(name)
        return _BearerAuth()

    async with status_server(401, "Unauthorized", seen=seen) as url:
        servers = {
            "locked": ServerSettings(url=url),
            "web": ServerSettings(url=mcp_http_url),
            "local": mcp_stdio_settings,
        }
        async with ServerManager(servers, auth_factory=factory) as manager:
            # No first try without auth: every request, the first too, carried the handler's token.
            assert seen
            assert all(b"authorization: bearer t0ken" in request.lower() for request in seen)
            assert isinstance(manager.states["locked"].error, AuthError)
            # A server that needs no auth works with the handler attached; stdio gets none.
            assert manager.connected == ["web", "local"]
            assert sorted(calls) == ["locked", "web"]


async def test_needed_login_while_logins_are_off_says_run_agent_login(
    oauth_server: OAuthStack, browser: Browser
) -> None:
    factory = auth_factory_for(Config(), opener=browser, notify=lambda line: None, allow_login=False)
    async with ServerManager({"demo": ServerSettings(url=oauth_server.mcp_url)}, auth_factory=factory) as m:
        error = m.states["demo"].error
    assert isinstance(error, AuthRequiredError)
    assert "needs a login" in error.message
    assert error.hint == "run `agent login demo`"
    assert browser.opened == []


async def test_a_browser_login_is_not_cut_off_by_the_connect_deadline(oauth_server: OAuthStack) -> None:
    opened: list[str] = []

    async def slow_user(url: str) -> bool:
        """A user who takes longer to approve than the server's whole connect timeout."""
        opened.append(url)
        await anyio.sleep(4)
        await follow(url)
        return True

    factory = auth_factory_for(Config(), opener=slow_user, notify=lambda line: None)
    # The rest of connecting (discovery, registration, tokens, handshake) fits on a busy machine.
    settings = ServerSettings(url=oauth_server.mcp_url, timeout=3)
    async with ServerManager({"demo": settings}, auth_factory=factory) as manager:
        assert manager.states["demo"].error is None
        assert manager.connected == ["demo"]
        assert _text(await manager.call_tool("demo", "echo", {"text": "patient"})) == "patient"
    assert len(opened) == 1


async def test_authorization_server_down_at_first_login_is_named(
    oauth_server: OAuthStack, browser: Browser
) -> None:
    oauth_server.set(down=True)
    factory = auth_factory_for(Config(), opener=browser, notify=lambda line: None)
    async with ServerManager({"demo": ServerSettings(url=oauth_server.mcp_url)}, auth_factory=factory) as m:
        error = m.states["demo"].error
    assert isinstance(error, ServerError)
    assert f"connection refused at {oauth_server.issuer}/" in error.message
    assert oauth_server.mcp_url not in error.message
    assert browser.opened == []


async def test_auth_none_never_calls_the_factory() -> None:
    def factory(name: str, settings: ServerSettings) -> httpx2.Auth:
        pytest.fail("factory called for auth = 'none'")

    async with (
        status_server(401, "Unauthorized") as url,
        ServerManager({"open": ServerSettings(url=url, auth="none")}, auth_factory=factory) as manager,
    ):
        assert isinstance(manager.states["open"].error, AuthRequiredError)


async def test_stdio_failures_are_isolated(mcp_http_url: str) -> None:
    servers = {
        "dies": stdio_settings("--exit-at-once"),
        "missing": ServerSettings(command="no-such-mcp-server-xyz"),
        "web": ServerSettings(url=mcp_http_url),
    }
    async with ServerManager(servers) as manager:
        assert manager.connected == ["web"]
        assert "fatal: cannot start" in str(manager.states["dies"].error)
        assert "command not found" in str(manager.states["missing"].error)


async def test_stdio_lifecycle_reconnect_death_and_close(mcp_stdio_settings: ServerSettings) -> None:
    async with ServerManager({"local": mcp_stdio_settings}) as manager:
        first = int(_text(await manager.call_tool("local", "pid")))
        state = await manager.reconnect("local")
        assert state.status == "connected"
        second = int(_text(await manager.call_tool("local", "pid")))
        assert second != first
        with pytest.raises(ProcessLookupError):
            os.kill(first, 0)  # reconnecting ended the old process

        await manager.reconnect("local")
        third = int(_text(await manager.call_tool("local", "pid")))
        os.kill(third, 0)  # alive while the manager is open
    with pytest.raises(ProcessLookupError):
        os.kill(third, 0)  # closing the manager ended it
    assert manager.connected == []


async def test_crashed_stdio_server_is_restarted_and_only_the_call_in_flight_fails(
    mcp_stdio_settings: ServerSettings, mcp_events_file: Path
) -> None:
    """A stdio server killed during a call: that call is an error that says it may have run;
    the next call (another tool) restarts the server and works, and blames nothing on the old call."""
    seen: list[tuple[str, str]] = []
    lost = anyio.Event()

    def on_state(state: ServerState) -> None:
        seen.append((state.name, state.status))
        if state.status == "failed":
            lost.set()

    async with ServerManager({"local": mcp_stdio_settings}, on_state=on_state) as manager:
        pid = int(_text(await manager.call_tool("local", "pid")))
        tag = f"crash-{pid}"
        with anyio.fail_after(30):
            async with anyio.create_task_group() as tg:

                async def slow_call() -> None:
                    with pytest.raises(ServerUnavailable) as info:
                        await manager.call_tool("local", "slow", {"seconds": 30, "tag": tag})
                    message = str(info.value)
                    assert "server process exited while calling 'slow'" in message
                    assert "may or may not have run" in message

                tg.start_soon(slow_call)
                await _wait_for_line(mcp_events_file, f"started {tag}")
                os.kill(pid, signal.SIGKILL)
            await lost.wait()
        state = manager.states["local"]
        assert state.status == "failed" and state.last_error_at is not None
        assert "server process exited" in str(state.error)
        # The next call, of another tool, restarts the server at once and runs.
        assert _text(await manager.call_tool("local", "echo", {"text": "back"})) == "back"
        assert int(_text(await manager.call_tool("local", "pid"))) != pid
        assert manager.states["local"].status == "connected"
    assert seen[-2:] == [("local", "failed"), ("local", "connected")]


async def test_cancelled_while_connecting_closes_cleanly() -> None:
    """Cancelled after the process started, before its handshake: no hang, no process left."""
    log = server_log_path("local")
    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:

            async def run() -> None:
                async with ServerManager({"local": stdio_settings()}):
                    pytest.fail("the manager finished connecting")

            tg.start_soon(run)
            while not (log.exists() and "test server starting" in log.read_text()):  # noqa: ASYNC110
                await anyio.sleep(0.01)
            tg.cancel_scope.cancel()
    pid = int(re.findall(r"test server starting \(pid (\d+)\)", log.read_text())[-1])
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


async def test_auth_factory_failure_is_reported_for_that_server() -> None:
    def factory(name: str, settings: ServerSettings) -> httpx2.Auth:
        raise UsageError("token store unreadable", hint="check its permissions")

    async with (
        status_server(401, "Unauthorized") as url,
        ServerManager({"locked": ServerSettings(url=url)}, auth_factory=factory) as manager,
    ):
        error = manager.states["locked"].error
        assert isinstance(error, ServerError)
        assert str(error) == "server 'locked': token store unreadable\n  hint: check its permissions"


async def test_list_tools_reads_every_page() -> None:
    settings = stdio_settings("--page-size", "3", tools=ToolFilter(exclude=["fail"]))
    async with ServerManager({"paged": settings}) as manager:
        names = [t.name for t in await manager.list_tools("paged")]
    # 10 tools in pages of 3: a first page alone would give 3.
    assert len(names) == len(set(names)) == 9
    assert "echo" in names and "book" in names and "fail" not in names


async def test_listing_pauses_the_garbage_collector_and_restores_it(mcp_http_url: str) -> None:
    import gc

    servers = {"a": ServerSettings(url=mcp_http_url), "b": ServerSettings(url=mcp_http_url)}
    async with ServerManager(servers) as manager:
        seen: set[bool] = set()
        done = anyio.Event()

        async def watch() -> None:
            while not done.is_set():
                seen.add(gc.isenabled())
                await anyio.lowlevel.checkpoint()

        async def listing() -> None:
            tools.extend(await manager.list_tools())
            done.set()

        tools: list[object] = []
        assert gc.isenabled()
        async with anyio.create_task_group() as tg:
            tg.start_soon(watch)
            tg.start_soon(listing)
        # Both servers were listed (overlapping) with the collector paused, and it runs again after.
        assert len(tools) == 2 * len(await manager.list_tools("a")) > 0
        assert False in seen
        assert gc.isenabled()

        # A collector the application turned off stays off.
        gc.disable()
        try:
            await manager.list_tools()
            assert not gc.isenabled()
        finally:
            gc.enable()


async def test_http_server_restarted_on_the_same_port_comes_back_without_a_reconnect() -> None:
    # Set by the first "connected" after the server is seen down for the last time (the restart
    # between two calls may report failed / connected too: that one must not count).
    back = [anyio.Event()]

    def on_state(state: ServerState) -> None:
        if state.status == "connected":
            back[0].set()

    async with RestartableServer() as server:
        settings = ServerSettings(url=server.url, timeout=10)
        async with ServerManager({"web": settings}, on_state=on_state) as manager:
            first = int(_text(await manager.call_tool("web", "pid")))

            # Restarted between two calls: the next call just works.
            await server.kill()
            await server.start()
            second = int(_text(await manager.call_tool("web", "pid")))
            assert second != first

            # Down during a call: an error that names the reason, and the state says so.
            await server.kill()
            with pytest.raises(ServerUnavailable, match="connection refused"):
                await manager.call_tool("web", "echo", {"text": "anyone?"})
            state = manager.states["web"]
            assert state.status == "failed" and state.retry_at is not None
            assert state.last_error_at is not None and "connection refused" in str(state.last_error)
            back[0] = anyio.Event()  # from the failed state just asserted

            # Back on the same port: the retries in the background find it, with no call and
            # no reconnect asked for.
            await server.start()
            with anyio.fail_after(30):
                await back[0].wait()
            assert manager.connected == ["web"]
            assert int(_text(await manager.call_tool("web", "pid"))) not in (first, second)


async def test_a_stdio_server_writing_logs_on_stdout_fails_at_once_naming_a_line(mcp_http_url: str) -> None:
    """Three non-JSON-RPC lines fail the server (quoting one), well within its 120 s timeout;
    the good server is not held back."""
    servers = {"noisy": stdio_settings("--junk", "20"), "web": ServerSettings(url=mcp_http_url)}
    with anyio.fail_after(30):
        async with ServerManager(servers) as manager:
            assert manager.connected == ["web"]
            error = manager.states["noisy"].error
            assert error is not None
            assert "not JSON-RPC messages on stdout" in str(error)
            assert "INFO starting worker" in str(error)
            assert "logs belong on stderr" in str(error)
            assert manager.tools("web")


async def test_a_server_whose_listing_never_answers_is_a_failed_server(mcp_mute_url: str) -> None:
    settings = ServerSettings(url=mcp_mute_url, timeout=2)  # running already: 2 s is for the listing
    async with ServerManager({"mute": settings}) as manager:
        state = manager.states["mute"]
        assert state.status == "failed"
        assert "listing tools timed out after 2 s" in str(state.error)
        assert manager.connected == [] and manager.tools() == []


async def test_a_lost_http_session_is_initialized_again_and_the_call_sent_again() -> None:
    """A 2025-era server (HTTP sessions) restarted on the same port answers 404 to our old
    session id: the call never ran, so it is sent again on a new session, without any error."""
    async with (
        RestartableServer("--legacy") as server,
        ServerManager({"old": ServerSettings(url=server.url, timeout=10)}) as manager,
    ):
        first = int(_text(await manager.call_tool("old", "pid")))
        await server.kill()
        await server.start()
        assert int(_text(await manager.call_tool("old", "pid"))) != first
        assert _text(await manager.call_tool("old", "echo", {"text": "same session"})) == "same session"
        assert manager.states["old"].status == "connected"


async def test_a_method_not_found_answer_keeps_its_code() -> None:
    settings = ServerSettings(
        command=sys.executable, args=["-m", "tests.support.list_only_server"], cwd=str(REPO_ROOT)
    )
    async with ServerManager({"partial": settings}) as manager:
        assert [t.name for t in await manager.list_tools("partial")] == ["lookup"]
        with pytest.raises(ToolCallFailed) as caught:
            await manager.call_tool("partial", "lookup", {})
        assert caught.value.code == -32601
        with pytest.raises(ServerError, match="listing skills failed"):
            await manager.list_skills("partial")  # no skills extension: -32601 too
