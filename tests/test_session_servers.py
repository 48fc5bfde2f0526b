"""The Session's watch over its servers (agent/session_servers.py): a slow server does not hold
the others back, tools with a broken schema are left out with one line, and pinned tools that
break a provider's tool limit are a clear error."""

from __future__ import annotations

import os
from pathlib import Path

import anyio
import pytest

from agent.config import Config, ServerSettings, ToolFilter, ToolSearchSettings
from agent.errors import ConfigError, ServerError
from agent.mcp.manager import ServerState
from agent.session import Session, SessionOptions
from agent.session_servers import check_tool_limit
from agent.tool_search import ToolSearch
from tests.support.fixtures_mcp import stdio_settings
from tests.test_tool_search import server_tools, toolbox


async def release(fifo: Path) -> None:
    """Let a ``--hold FIFO`` server start (the write waits for the server to open its end)."""
    await anyio.to_thread.run_sync(fifo.write_text, "go", abandon_on_cancel=True)


async def test_a_slow_server_does_not_hold_back_the_others_and_its_tools_join_later(
    mcp_http_url: str, tmp_path: Path
) -> None:
    fifo = tmp_path / "hold"
    os.mkfifo(fifo)
    config = Config(
        servers={"fast": ServerSettings(url=mcp_http_url), "slow": stdio_settings("--hold", str(fifo))}
    )
    notices: list[str] = []
    slow_ready = anyio.Event()

    def on_state(state: ServerState) -> None:
        if state.name == "slow" and state.status == "connected":
            slow_ready.set()

    wanted = SessionOptions(
        needs_model=False, connect_grace=0.1, on_notice=notices.append, on_server_state=on_state
    )
    with anyio.fail_after(30):
        async with Session.open(config, wanted) as session:
            assert session.manager.connected == ["fast"]
            assert session.manager.states["slow"].status == "connecting"
            assert notices == ["server slow is still connecting; its tools are added when it is ready"]
            names = {e.name for e in session.toolbox.entries}
            assert "fast__echo" in names and not any(n.startswith("slow__") for n in names)
            # The slow server starts once the test lets it: its tools join under their fixed names.
            await release(fifo)
            await slow_ready.wait()
            await session.toolbox.refresh()
            after = {e.name for e in session.toolbox.entries}
            assert names < after and "slow__echo" in after and "fast__echo" in after
            assert any(n.startswith("tools changed (new: ") and "slow__echo" in n for n in notices)
            result = await session.toolbox.call("slow__echo", {"text": "late"})
            assert not result.is_error and "late" in result.text


async def test_without_a_grace_every_server_is_waited_for(mcp_http_url: str, tmp_path: Path) -> None:
    fifo = tmp_path / "hold"
    os.mkfifo(fifo)
    config = Config(
        servers={"fast": ServerSettings(url=mcp_http_url), "slow": stdio_settings("--hold", str(fifo))}
    )
    opened = anyio.Event()

    async def open_session() -> None:
        async with Session.open(config, SessionOptions(needs_model=False)) as session:
            assert sorted(session.manager.connected) == ["fast", "slow"]
            opened.set()

    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            tg.start_soon(open_session)
            # Let the fast server connect; the session must still be waiting for the slow one.
            with anyio.move_on_after(0.5):
                await opened.wait()
            assert not opened.is_set()
            await release(fifo)


async def test_a_late_server_that_fails_is_reported_like_one_that_failed_at_the_start(
    mcp_http_url: str, tmp_path: Path
) -> None:
    fifo = tmp_path / "hold"
    os.mkfifo(fifo)
    slow = stdio_settings("--hold", str(fifo), "--exit-at-once")
    config = Config(servers={"fast": ServerSettings(url=mcp_http_url), "slow": slow})
    failed: list[ServerError] = []
    reported = anyio.Event()

    def on_failed(error: ServerError) -> None:
        failed.append(error)
        reported.set()

    wanted = SessionOptions(needs_model=False, connect_grace=0.1, on_server_failed=on_failed)
    with anyio.fail_after(30):
        async with Session.open(config, wanted):
            assert failed == []
            await release(fifo)
            await reported.wait()
    assert [e.server for e in failed] == ["slow"]


async def test_a_tool_with_a_broken_schema_is_left_out_with_one_line(mcp_odd_url: str) -> None:
    config = Config(servers={"odd": ServerSettings(url=mcp_odd_url)})
    notices: list[str] = []
    async with Session.open(config, SessionOptions(needs_model=False, on_notice=notices.append)) as session:
        assert session.toolbox.resolve("bad_schema") is None
        assert session.toolbox.resolve("echo") is not None  # the server's other tools are offered
        skipped = dict((t.name, reason) for t, reason in session.manager.states["odd"].skipped)
        assert "'datetime' is not valid under any of the given schemas" in skipped["bad_schema"]
        await session.manager.list_tools("odd")  # listed again: not said again
    assert [n for n in notices if "bad_schema" in n] == [
        f"server 'odd': tool 'bad_schema' left out, the model cannot use it: {skipped['bad_schema']}"
    ]
    assert not any("needs_task" in n for n in notices)  # only marked in `agent tools`


def test_pinned_tools_beyond_the_providers_limit_name_the_limit_the_count_and_the_filters() -> None:
    tools = toolbox("github", "playwright")
    pins = {"github": [t.tool.name for t in server_tools("github")][:12]}
    search = ToolSearch(tools, ToolSearchSettings(), pins)
    servers = {
        "github": ServerSettings(url="http://127.0.0.1:1/mcp", tools=ToolFilter(exclude=["delete_file"])),
        "playwright": ServerSettings(command="x"),
    }
    check_tool_limit(search, servers, 13, "openai")  # 12 pinned + search_tools fit
    check_tool_limit(search, servers, None, "anthropic")  # no known limit
    with pytest.raises(ConfigError) as error:
        check_tool_limit(search, servers, 10, "openai")
    text = str(error.value)
    assert "12 pinned tools and search_tools make 13 tools" in text and "more than openai takes (10)" in text
    assert "github: include=all, exclude=['delete_file']" in text and "playwright: include=all" in text
    assert error.value.exit_code == 2
    # read_resource (a server with resources) is in every request too.
    with pytest.raises(ConfigError, match=r"search_tools and read_resource make 14 tools .* \(13\)"):
        check_tool_limit(search, servers, 13, "openai", also=("read_resource",))
    # So are load_skill and read_skill_file (a server with skills).
    with pytest.raises(ConfigError, match=r"search_tools, load_skill and read_skill_file make 15 tools"):
        check_tool_limit(search, servers, 14, "openai", also=("load_skill", "read_skill_file"))
