"""The Session: one composition root for every command (servers, tools, providers, approval)."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from agent.config import Config, ServerSettings, ToolFilter, ToolSearchSettings
from agent.core import Final, ToolCallFinished
from agent.errors import ConfigError, ServerConnectError, ServerError, UsageError
from agent.mcp.manager import ServerState
from agent.messages import ModelRequest, ModelResponse
from agent.options import AdhocServer
from agent.session import DEFAULT_SYSTEM_PROMPT, Session, SessionOptions, load_system_prompt
from tests.support.fixtures_mcp import RestartableServer
from tests.support.function_provider import FunctionProvider, call, reply, script
from tests.support.http_edge import refused_port


def test_system_prompt_from_config_text_and_file(tmp_path: Path) -> None:
    assert load_system_prompt(Config(system_prompt="be brief")) == "be brief"
    (tmp_path / "p.md").write_text("from file", encoding="utf-8")
    config = Config(system_prompt_file="p.md", source=str(tmp_path / "agent.toml"))
    assert load_system_prompt(config) == "from file"


def test_missing_system_prompt_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="system_prompt_file"):
        load_system_prompt(Config(system_prompt_file=str(tmp_path / "nope.md")))


def test_default_system_prompt_is_the_shipped_file() -> None:
    shipped = Path(__file__).resolve().parents[1] / "prompts" / "system.md"
    assert load_system_prompt(Config()) == shipped.read_text(encoding="utf-8") == DEFAULT_SYSTEM_PROMPT


async def test_one_failed_server_of_two_is_reported_once_and_the_rest_work(mcp_http_url: str) -> None:
    dead = f"http://127.0.0.1:{refused_port()}/mcp"
    config = Config(servers={"good": ServerSettings(url=mcp_http_url), "dead": ServerSettings(url=dead)})
    reported: list[ServerError] = []
    wanted = SessionOptions(needs_model=False, on_server_failed=reported.append)
    async with Session.open(config, wanted) as session:
        assert session.manager.connected == ["good"]
        assert any(e.server == "good" for e in session.toolbox.entries)
    assert [(type(e), e.server) for e in reported] == [(ServerConnectError, "dead")]


async def test_a_pin_of_a_tool_the_server_does_not_offer_is_said_once(mcp_http_url: str) -> None:
    tools = ToolFilter(pin=["echo", "no_such_tool", "add"], exclude=["add"])
    config = Config(servers={"test": ServerSettings(url=mcp_http_url, tools=tools)})
    notices: list[str] = []
    async with Session.open(config, SessionOptions(needs_model=False, on_notice=notices.append)) as session:
        session._set_toolbox(session.toolbox)  # loaded again (a reconnect): not said twice
    pins = [n for n in notices if "tools.pin" in n]
    assert len(pins) == 2, notices
    assert "servers.test.tools.pin: server 'test' offers no tool 'no_such_tool'" in pins[0]
    assert "'add'" in pins[1] and "include / exclude" in pins[1]


async def test_no_usable_server_stops_the_session_with_one_error() -> None:
    dead = {n: ServerSettings(url=f"http://127.0.0.1:{refused_port()}/mcp") for n in ("a", "b")}
    reported: list[ServerError] = []
    wanted = SessionOptions(needs_model=False, on_server_failed=reported.append)
    with pytest.raises(ServerError, match="none of these servers could be used") as both:
        async with Session.open(Config(servers=dead), wanted):
            pytest.fail("opened with no usable server")
    assert both.value.exit_code == 3 and sorted(e.server for e in reported) == ["a", "b"]
    reported.clear()
    with pytest.raises(ServerConnectError, match="server 'a'") as one:
        async with Session.open(Config(servers={"a": dead["a"]}), wanted):
            pytest.fail("opened with no usable server")
    assert "(the one server in use could not be used)" in str(one.value)
    assert reported == []  # the one error is raised, not reported twice


async def test_bad_max_steps_and_model_are_usage_errors_before_connecting() -> None:
    with pytest.raises(UsageError, match="--max-steps must be at least 1"):
        async with Session.open(Config(), SessionOptions(max_steps=0)):
            pytest.fail("opened")
    with pytest.raises(UsageError, match="unknown provider 'nope'"):
        async with Session.open(Config(), SessionOptions(model="nope:x")):
            pytest.fail("opened")


async def test_approval_policy_asks_remembers_always_and_denies_without_anyone_to_ask(
    mcp_http_url: str,
) -> None:
    config = Config(approval="ask", servers={"test": ServerSettings(url=mcp_http_url)})
    asked: list[str] = []

    async def ask(server: str, tool: str, arguments: object, hints: tuple[str, ...]) -> str:
        asked.append(tool)
        return "a"

    model = FunctionProvider(script(*[reply(call("echo", {"text": "x"})), reply("done")] * 2))
    async with Session.open(config, SessionOptions(ask=ask), provider=model) as session:  # type: ignore[arg-type]
        for _ in range(2):
            finished = [e async for e in session.turn("go", []) if isinstance(e, ToolCallFinished)]
            assert [(f.label, f.denied) for f in finished] == [("test.echo", False)]
        assert asked == ["echo"] and session.always == {("test", "echo")}

    notes: list[str] = []
    model = FunctionProvider(script(reply(call("echo", {"text": "x"})), reply("done")))
    async with Session.open(config, SessionOptions(on_notice=notes.append), provider=model) as session:
        events = [e async for e in session.turn("go", [])]
    finished = [e for e in events if isinstance(e, ToolCallFinished)]
    assert [(f.label, f.denied) for f in finished] == [("test.echo", True)]
    assert notes == ["test.echo needs approval and there is no one to ask; denied"]
    assert isinstance(events[-1], Final)


async def test_a_call_of_no_offered_tool_is_told_what_this_step_offered_built_ins_too(
    mcp_http_url: str,
) -> None:
    config = Config(
        servers={"test": ServerSettings(url=mcp_http_url)}, tools=ToolSearchSettings(search="always")
    )
    seen: list[ModelRequest] = []
    replies = script(reply(call("search_tool", {"query": "echo"})), reply("done"))

    def model(request: ModelRequest) -> ModelResponse:
        seen.append(request)
        return replies(request)

    async with Session.open(config, SessionOptions(), provider=FunctionProvider(model)) as session:  # type: ignore[arg-type]
        events = [e async for e in session.turn("go", [])]
    assert isinstance(events[-1], Final)
    told = seen[1].messages[-1].parts[0].text  # type: ignore[union-attr]
    assert told == "error: there is no tool named 'search_tool'. Did you mean 'search_tools'?"


async def test_tool_names_stay_fixed_whatever_connects_or_fails_later(mcp_http_url: str) -> None:
    """p2 is down at the start: p1's tools are namespaced all the same (two are configured), a
    reconnect of p1 keeps them, p2's tools join under their own prefix when it comes up, and a
    later session (a resumed transcript) with p2 down again gets the same names."""
    async with RestartableServer() as p2:
        await p2.kill()  # its port is known, nobody listens yet
        config = Config(
            servers={"p1": ServerSettings(url=mcp_http_url), "p2": ServerSettings(url=p2.url, timeout=10)}
        )
        notices: list[str] = []
        up = anyio.Event()

        def on_state(state: ServerState) -> None:
            if state.name == "p2" and state.status == "connected":
                up.set()

        wanted = SessionOptions(needs_model=False, on_notice=notices.append, on_server_state=on_state)
        async with Session.open(config, wanted) as session:
            names = [e.name for e in session.toolbox.entries]
            assert "p1__echo" in names and not any(n.startswith("p2__") for n in names)
            await session.reconnect("p1")
            assert [e.name for e in session.toolbox.entries] == names

            await p2.start()
            with anyio.fail_after(30):
                await up.wait()  # found by the retries in the background
            await session.toolbox.refresh()
            after = [e.name for e in session.toolbox.entries]
            assert after[: len(names)] == names and "p2__echo" in after
            assert notices and "new: p2__" in notices[-1]
            await p2.kill()

        async with Session.open(config, SessionOptions(needs_model=False)) as again:
            assert [e.name for e in again.toolbox.entries] == names


async def test_tools_list_changed_is_seen_before_the_next_model_request() -> None:
    """On a 2025-era session (the SDK's test server sends no subscription events on 2026-07-28)."""
    offered: list[list[str]] = []

    def model(request: ModelRequest) -> ModelResponse:
        offered.append([tool.name for tool in request.tools])
        if len(offered) == 1:
            return reply(call("grow", {"name": "fresh"}))
        if len(offered) == 2:
            return reply(call("fresh", {"text": "new tool"}))
        return reply("done")

    notices: list[str] = []
    async with RestartableServer("--growing", "--legacy") as server:
        config = Config(servers={"g": ServerSettings(url=server.url)})
        wanted = SessionOptions(on_notice=notices.append)
        async with Session.open(config, wanted, provider=FunctionProvider(model)) as session:
            events = [e async for e in session.turn("go", [])]
    finished = [e for e in events if isinstance(e, ToolCallFinished)]
    assert [(f.name, f.is_error) for f in finished] == [("grow", False), ("fresh", False)]
    assert "fresh" not in offered[0] and "fresh" in offered[1]
    assert notices == ["tools changed (new: fresh)"]


async def test_url_of_a_configured_server_keeps_its_approval_and_tool_filter(mcp_http_url: str) -> None:
    guarded = ServerSettings(
        url=mcp_http_url, approval="never", tools={"include": ["echo", "add"]}, timeout=7
    )
    config = Config(approval="always", servers={"guarded": guarded})
    model = FunctionProvider(script(reply(call("echo", {"text": "x"})), reply("done")))
    same_url = mcp_http_url.replace("http://", "HTTP://") + "/"  # spelled differently, the same server
    async with Session.open(
        config, SessionOptions(adhoc=[AdhocServer(url=same_url)]), provider=model
    ) as session:
        assert session.servers == {"guarded": guarded}
        assert sorted(e.tool for e in session.toolbox.entries) == ["add", "echo"]
        finished = [e async for e in session.turn("go", []) if isinstance(e, ToolCallFinished)]
    assert [(f.label, f.denied) for f in finished] == [("guarded.echo", True)]


async def test_ask_unless_read_only_runs_annotated_tools_of_configured_servers_and_asks_the_rest(
    mcp_http_url: str,
) -> None:
    asked: list[tuple[str, tuple[str, ...]]] = []

    async def ask(server: str, tool: str, arguments: object, hints: tuple[str, ...]) -> str:
        asked.append((tool, hints))
        return "y"

    def calls() -> FunctionProvider:
        return FunctionProvider(
            script(reply(call("add", {"a": 1, "b": 2}), call("fail", {"message": "m"})), reply("done"))
        )

    # "add" says it is read-only: it runs unasked; "fail" is asked about, its hints shown.
    config = Config(approval="ask-unless-read-only", servers={"test": ServerSettings(url=mcp_http_url)})
    async with Session.open(config, SessionOptions(ask=ask), provider=calls()) as session:
        finished = [e async for e in session.turn("go", []) if isinstance(e, ToolCallFinished)]
    assert sorted((f.tool, f.denied) for f in finished) == [("add", False), ("fail", False)]
    assert asked == [("fail", ("destructive", "open-world"))]

    # A hint never gets past "never".
    asked.clear()
    never = Config(
        approval="ask-unless-read-only", servers={"test": ServerSettings(url=mcp_http_url, approval="never")}
    )
    async with Session.open(never, SessionOptions(ask=ask), provider=calls()) as session:
        finished = [e async for e in session.turn("go", []) if isinstance(e, ToolCallFinished)]
    assert all(f.denied for f in finished) and asked == []

    # A server the user did not configure (--url) is not believed: "add" is asked about too.
    unconfigured = Config(approval="ask-unless-read-only")
    async with Session.open(
        unconfigured, SessionOptions(ask=ask, adhoc=[AdhocServer(url=mcp_http_url)]), provider=calls()
    ) as session:
        [e async for e in session.turn("go", [])]
    assert [tool for tool, _ in asked] == ["add", "fail"]
    assert asked[0] == ("add", ("read-only",))


async def test_a_stdio_server_given_on_the_command_line_is_started() -> None:
    import sys

    stdio = AdhocServer(command=(sys.executable, "-m", "agent.demo_server"))
    options = SessionOptions(
        adhoc=[stdio, AdhocServer(command=stdio.command, name="again")], needs_model=False
    )
    async with Session.open(Config(), options) as session:
        assert list(session.servers) == ["agent-demo_server", "again"]
        assert {t.server for t in session.manager.tools()} == {"agent-demo_server", "again"}
