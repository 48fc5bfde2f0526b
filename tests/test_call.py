"""agent/direct.py: `agent tools` and `agent call`, in-process, plus a few runs of the real program."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest
from mcp_types import (
    AudioContent,
    BlobResourceContents,
    CallToolResult,
    EmbeddedResource,
    ResourceLink,
    TextContent,
    TextResourceContents,
)

from agent.call import call_main, describe_content, parameters, tools_main
from agent.cli import parse
from agent.config import ServerSettings, load_config
from agent.errors import (
    AuthError,
    AuthRequiredError,
    ConfigError,
    ServerConnectError,
    ToolArgumentsError,
    ToolCallFailed,
    UnknownToolError,
    UsageError,
)
from tests.support.fixtures_mcp import RestartableServer, stdio_settings
from tests.support.http_edge import refused_port, status_server
from tests.support.inproc import run_agent


async def _run(argv: list[str], config_path: Path | None = None) -> int:
    invocation = parse(argv)
    config = load_config(config_path)
    main = tools_main if invocation.command == "tools" else call_main
    return await main(invocation.options, config)


# --- agent tools -------------------------------------------------------------------------------


async def test_tools_lists_tools_with_parameters(
    mcp_http_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await _run(["tools", "--url", mcp_http_url]) == 0
    out = capsys.readouterr().out
    assert f"localhost-{mcp_http_url.split(':')[2].split('/')[0]}-mcp ({mcp_http_url}) — 10 tools" in out
    assert "echo  Echo the text back." in out
    assert "text: string (required)" in out
    assert "tag: string (optional)" in out
    assert "trip: object (Trip) (required)" in out
    assert "note: string | null (optional)" in out
    assert "\x1b[" not in out  # plain when not a terminal


async def test_tools_json(mcp_http_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert await _run(["tools", "--url", mcp_http_url, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    (server,) = doc["servers"]
    assert server["status"] == "connected"
    echo = next(t for t in server["tools"] if t["name"] == "echo")
    assert echo["inputSchema"]["required"] == ["text"]
    assert echo["description"] == "Echo the text back."


async def test_tools_reports_a_dead_server_in_one_line_and_lists_the_rest(
    mcp_http_url: str, write_config: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    dead = f"http://127.0.0.1:{refused_port()}/mcp"
    path = write_config({"web": ServerSettings(url=mcp_http_url), "dead": ServerSettings(url=dead)})
    assert await _run(["tools"], path) == 0
    captured = capsys.readouterr()
    hint = "is the server running, at this host and port?"
    assert captured.err == f"agent: server 'dead': connection refused at {dead} ({hint})\n"
    assert "web (" in captured.out
    assert "echo" in captured.out


async def test_tools_over_stdio_and_server_filter(
    mcp_http_url: str, write_config: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config({"web": ServerSettings(url=mcp_http_url), "local": stdio_settings()})
    assert await _run(["tools", "--server", "local"], path) == 0
    out = capsys.readouterr().out
    assert out.startswith("local (")
    assert "web (" not in out


async def test_tools_every_server_down_exits_3(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{refused_port()}/mcp"
    with pytest.raises(ServerConnectError) as info:
        await _run(["tools", "--url", url])
    assert info.value.exit_code == 3
    assert capsys.readouterr().err == ""  # the one error is raised, not printed twice


async def test_no_server_configured_uses_the_bundled_demo(capsys: pytest.CaptureFixture[str]) -> None:
    assert await _run(["tools"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("demo (")
    assert "calculate" in out
    # ... and it answers to its name, as `agent tools` shows it.
    assert await _run(["call", "demo.calculate", '{"expression": "6 * 7"}']) == 0
    assert capsys.readouterr().out.strip() == "42"
    with pytest.raises(ConfigError, match="unknown server 'nope'") as info:
        await _run(["tools", "--server", "nope"])
    assert info.value.hint == "known servers: demo"


async def test_unknown_server(mcp_http_url: str, write_config: Callable[..., Path]) -> None:
    path = write_config({"web": ServerSettings(url=mcp_http_url)})
    with pytest.raises(ConfigError, match="unknown server 'nope'") as info:
        await _run(["tools", "--server", "nope"], path)
    assert "known servers: web" in str(info.value)


async def test_login_needed_is_said(
    write_config: Callable[..., Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    async with status_server(401, "Unauthorized") as url:
        path = write_config({"locked": {"url": url, "auth": "none"}})
        with pytest.raises(AuthRequiredError, match="server 'locked': needs a login") as info:
            await _run(["tools"], path)
        assert info.value.exit_code == 3
        # Discovery (the default) tries the OAuth login; this fake has no OAuth, so that fails plainly.
        path.unlink()  # else --url would use the configured server at that URL, auth = "none" and all
        monkeypatch.delenv("AGENT_CONFIG")  # write_config named it
        with pytest.raises(AuthError, match="server 'localhost-") as failed:
            await _run(["tools", "--url", url])
        assert failed.value.exit_code == 3


def test_parameters_of_an_empty_schema() -> None:
    assert parameters({"type": "object"}) == []
    assert parameters(None) == []


# --- agent call --------------------------------------------------------------------------------


async def test_call_prints_text(mcp_http_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert await _run(["call", "--url", mcp_http_url, "echo", '{"text": "hi"}']) == 0
    assert capsys.readouterr().out == "hi\n"


async def test_call_server_dot_tool_over_stdio(
    mcp_http_url: str, write_config: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config({"web": ServerSettings(url=mcp_http_url), "local": stdio_settings()})
    assert await _run(["call", "local.add", '{"a": 2, "b": 40}'], path) == 0
    assert capsys.readouterr().out == "42\n"


async def test_call_over_sse(mcp_sse_url: str, write_config: Callable[..., Path], capsys) -> None:  # type: ignore[no-untyped-def]
    path = write_config({"legacy": {"url": mcp_sse_url, "transport": "sse"}})
    assert await _run(["call", "echo", '{"text": "sse"}'], path) == 0
    assert capsys.readouterr().out == "sse\n"


async def test_call_url_ending_in_sse_is_reached_over_sse(
    mcp_sse_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert mcp_sse_url.rstrip("/").endswith("/sse")  # the legacy transport's usual endpoint
    assert await _run(["call", "--url", mcp_sse_url, "echo", '{"text": "sse"}']) == 0
    assert capsys.readouterr().out == "sse\n"


async def test_call_unknown_tool_suggests_close_matches(mcp_http_url: str) -> None:
    with pytest.raises(UnknownToolError) as info:
        await _run(["call", "--url", mcp_http_url, "ecoh", '{"text": "hi"}'])
    assert "unknown tool 'ecoh'" in str(info.value)
    assert "did you mean: echo" in str(info.value)
    assert info.value.exit_code == 1


async def test_call_invalid_json_names_the_position() -> None:
    # Refused before any server is contacted: the URL would refuse connections anyway.
    url = f"http://127.0.0.1:{refused_port()}/mcp"
    with pytest.raises(ToolArgumentsError) as info:
        await _run(["call", "--url", url, "echo", '{"text": hi}'])
    assert "invalid JSON arguments" in str(info.value)
    assert "line 1 column 10" in str(info.value)
    assert info.value.exit_code == 2


async def test_call_arguments_must_be_an_object() -> None:
    with pytest.raises(ToolArgumentsError, match="must be a JSON object, not an array"):
        await _run(["call", "--url", "http://127.0.0.1:1/mcp", "echo", "[1]"])


async def test_call_schema_breaking_arguments_are_refused(mcp_http_url: str, mcp_events_file: Path) -> None:
    with pytest.raises(ToolArgumentsError) as info:
        await _run(
            ["call", "--url", mcp_http_url, "book", '{"trip": {"city": "Oslo", "seat_class": "first"}}']
        )
    assert "break its input schema at trip.seat_class" in str(info.value)
    assert "'first' is not one of ['economy', 'business']" in str(info.value)
    assert info.value.exit_code == 2
    with pytest.raises(ToolArgumentsError, match=r"at \(top level\): 'seconds' is a required property"):
        await _run(["call", "--url", mcp_http_url, "slow", '{"tag": "never-called"}'])
    assert "never-called" not in await anyio.Path(mcp_events_file).read_text()


async def test_call_nested_arguments_pass(mcp_http_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    args = '{"trip": {"city": "Oslo", "seat_class": "business"}, "seats": 2}'
    assert await _run(["call", "--url", mcp_http_url, "book", args]) == 0
    assert capsys.readouterr().out == "2 business seat(s) to Oslo\n"


async def test_call_tool_error_exits_1_with_the_message(mcp_http_url: str) -> None:
    with pytest.raises(ToolCallFailed) as info:
        await _run(["call", "--url", mcp_http_url, "fail", '{"message": "boom"}'])
    assert "boom" in str(info.value)
    assert info.value.exit_code == 1


async def test_call_image_is_a_note(mcp_http_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert await _run(["call", "--url", mcp_http_url, "image"]) == 0
    assert capsys.readouterr().out == "[image: image/png, 68 B]\n"


async def test_call_structured_content_as_json(mcp_http_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert await _run(["call", "--url", mcp_http_url, "structured"]) == 0
    assert json.loads(capsys.readouterr().out) == {"answer": 42, "items": ["a", "b"]}


async def test_call_json_prints_the_raw_result(mcp_http_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert await _run(["call", "--url", mcp_http_url, "--json", "add", '{"a": 1, "b": 2}']) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["content"] == [{"type": "text", "text": "3"}]
    assert doc["structuredContent"] == {"result": 3}
    assert doc["isError"] is False


async def test_call_result_over_one_mib(mcp_http_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    size = 2 * 1024 * 1024
    assert await _run(["call", "--url", mcp_http_url, "big", json.dumps({"size": size})]) == 0
    assert capsys.readouterr().out == "x" * size + "\n"


async def test_call_ambiguous_tool_asks_for_server(
    mcp_http_url: str, write_config: Callable[..., Path]
) -> None:
    path = write_config({"a": ServerSettings(url=mcp_http_url), "b": ServerSettings(url=mcp_http_url)})
    with pytest.raises(UsageError, match=r"offered by several servers: a\.echo, b\.echo"):
        await _run(["call", "echo", '{"text": "x"}'], path)


def test_describe_content_notes_for_audio_and_resources() -> None:
    result = CallToolResult(
        content=[
            AudioContent(type="audio", data="AAAA" * 1024, mime_type="audio/wav"),
            ResourceLink(type="resource_link", uri="file:///a.txt", name="a", mime_type="text/plain"),
            EmbeddedResource(
                type="resource",
                resource=BlobResourceContents(uri="file:///b.bin", blob="AAAA", mime_type="application/x"),
            ),
            EmbeddedResource(
                type="resource", resource=TextResourceContents(uri="file:///c.txt", text="hello")
            ),
            TextContent(type="text", text="done"),
        ],
        structured_content={"hidden": True},
    )
    assert describe_content(result) == [
        "[audio: audio/wav, 3 KB]",
        "[resource link: file:///a.txt, text/plain]",
        "[resource: file:///b.bin, application/x, 3 B]",
        "[resource: file:///c.txt, 5 B]",
        "hello",
        "done",
    ]


# --- the real program ----------------------------------------------------------------------------


def _agent(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
        cwd=os.getcwd(),
    )


def test_tools_and_call_by_url_from_the_command_line(mcp_http_url: str) -> None:
    listed = run_agent("tools", "--url", mcp_http_url)
    assert listed.returncode == 0, listed.stderr
    assert "echo  Echo the text back." in listed.stdout
    assert "add  [read-only] Add two integers." in listed.stdout  # the server's annotations, in words
    called = run_agent("call", "--url", mcp_http_url, "echo", '{"text":"hi"}')
    assert (called.returncode, called.stdout, called.stderr) == (0, "hi\n", "")


@pytest.mark.e2e
def test_e2e_exit_codes_and_no_tracebacks(mcp_http_url: str) -> None:
    refused = _agent("call", "--url", f"http://127.0.0.1:{refused_port()}/mcp", "echo", "{}")
    assert refused.returncode == 3
    assert "connection refused" in refused.stderr
    bad_json = _agent("call", "--url", mcp_http_url, "echo", "{oops")
    assert bad_json.returncode == 2
    assert "invalid JSON arguments" in bad_json.stderr
    failed = _agent("call", "--url", mcp_http_url, "fail", '{"message": "kaput"}')
    assert failed.returncode == 1
    assert "kaput" in failed.stderr
    for run in (refused, bad_json, failed):
        assert "Traceback" not in run.stderr


@pytest.mark.e2e
def test_e2e_library_tracebacks_go_to_the_log_not_the_terminal(
    write_config: Callable[..., Path], isolated_home: Path
) -> None:
    """A stray stdout line makes the SDK log a traceback: it lands in agent.log, shown only with -v."""
    settings = stdio_settings("--stray")
    path = write_config({"stray": settings, "dies": stdio_settings("--exit-at-once")})
    run = _agent("--config", str(path), "call", "echo", '{"text": "ok"}')
    assert run.returncode == 0, run.stderr
    assert run.stdout == "ok\n"
    assert "Traceback" not in run.stderr
    assert run.stderr.startswith("agent: server 'dies': the server process exited before it answered")
    assert len(run.stderr.strip().splitlines()) == 1
    log = (isolated_home / "state" / "agent" / "log" / "agent.log").read_text()
    assert "Failed to parse JSONRPC message from server" in log
    verbose = _agent("-v", "--config", str(path), "call", "stray.echo", '{"text": "ok"}')
    assert "Failed to parse JSONRPC message" in verbose.stderr


async def test_a_result_that_breaks_its_output_schema_is_one_clear_line(
    write_config: Callable[..., Path], capsys: pytest.CaptureFixture[str], mcp_odd_url: str
) -> None:
    path = write_config({"odd": ServerSettings(url=mcp_odd_url)})
    with pytest.raises(ToolCallFailed, match="the result breaks the tool's own output schema"):
        await _run(["call", "structured"], path)


async def test_tools_that_need_task_calls_or_have_a_broken_schema_are_not_offered_and_marked(
    write_config: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # A 2025-11-25 session: tasks (and so taskSupport) were removed from the protocol after it.
    async with RestartableServer("--odd-tools", "--legacy") as server:
        path = write_config({"odd": ServerSettings(url=server.url)})
        assert await _run(["tools"], path) == 0
        out = capsys.readouterr().out
        assert "needs_task  not offered: needs task-augmented calls" in out
        assert "bad_schema  not offered: invalid input schema at properties/when/type: 'datetime'" in out
        assert await _run(["tools", "--json"], path) == 0
    (listed,) = json.loads(capsys.readouterr().out)["servers"]
    assert not {"needs_task", "bad_schema"} & {t["name"] for t in listed["tools"]}
    assert [t["name"] for t in listed["not_offered"]] == ["needs_task", "bad_schema"]
    assert listed["not_offered"][1]["reason"].startswith("invalid input schema at properties/when/type")


async def test_tools_json_shows_a_failed_listing_and_the_last_error_with_its_time(
    mcp_http_url: str,
    mcp_mute_url: str,
    write_config: Callable[..., Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write_config(
        {"web": ServerSettings(url=mcp_http_url), "mute": ServerSettings(url=mcp_mute_url, timeout=2)}
    )
    assert await _run(["tools", "--json"], path) == 0
    captured = capsys.readouterr()
    assert "server 'mute': listing tools timed out after 2 s" in captured.err
    servers = {s["name"]: s for s in json.loads(captured.out)["servers"]}
    assert servers["web"]["status"] == "connected"
    mute = servers["mute"]
    assert mute["status"] == "failed"
    assert "listing tools timed out" in mute["error"]
    assert "listing tools timed out" in mute["last_error"]["message"]
    assert mute["last_error"]["at"][:4].isdigit()


async def test_tools_search_with_nothing_found_exits_0_in_text_and_json(
    mcp_http_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await _run(["tools", "--url", mcp_http_url, "--search", "zzzzqqq"]) == 0
    assert "no tools match 'zzzzqqq' among 10 tools" in capsys.readouterr().out
    assert await _run(["tools", "--url", mcp_http_url, "--search", "zzzzqqq", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["found"] == []


async def test_tools_search_says_how_many_are_shown_not_how_many_match(
    mcp_http_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await _run(["tools", "--url", mcp_http_url, "--search", "the text note", "--limit", "2"]) == 0
    first, *rest = capsys.readouterr().out.splitlines()
    assert first.startswith(f"{len(rest)} best match") and "among 10 tools" in first
    assert "up to 2 shown" in first and 1 <= len(rest) <= 2


async def test_tools_limit_without_search_is_a_usage_error(mcp_http_url: str) -> None:
    with pytest.raises(UsageError, match="--limit works only with --search") as info:
        await _run(["tools", "--url", mcp_http_url, "--limit", "2"])
    assert info.value.exit_code == 2


async def test_calling_a_tool_that_is_not_offered_gives_the_reason(write_config: Callable[..., Path]) -> None:
    async with RestartableServer("--odd-tools", "--legacy") as server:
        path = write_config({"odd": ServerSettings(url=server.url)})
        with pytest.raises(UnknownToolError) as info:
            await _run(["call", "bad_schema", "{}"], path)
    assert "tool 'odd.bad_schema' is not offered: invalid input schema at properties/when/type" in str(
        info.value
    )
    assert "unknown tool" not in str(info.value)


async def test_did_you_mean_shows_a_hostile_name_as_its_visible_form(mcp_hostile_url: str) -> None:
    with pytest.raises(UnknownToolError) as info:
        await _run(["call", "--url", mcp_hostile_url, "sneaky", "{}"])
    assert "did you mean: sneaky\\x1b]0;title\\x07" in str(info.value)
    assert "\x1b" not in str(info.value)


async def test_a_disabled_server_is_named_as_disabled_with_how_to_enable_it(
    mcp_http_url: str, write_config: Callable[..., Path]
) -> None:
    path = write_config({"hidden": ServerSettings(url=mcp_http_url, enabled=False)})
    for argv in (["call", "hidden.echo", '{"text": "hi"}'], ["tools", "-s", "hidden"]):
        with pytest.raises(ConfigError) as info:
            await _run(argv, path)
        assert "server 'hidden' is disabled" in str(info.value) and str(path) in str(info.value)
        assert "servers.hidden.enabled" in str(info.value) and "enabled = true" in str(info.value)


async def test_call_server_dot_tool_among_several_urls_does_not_say_only_one_was_selected(
    mcp_http_url: str,
) -> None:
    dead = f"http://127.0.0.1:{refused_port()}/mcp"
    name = f"localhost-{dead.split(':')[2].split('/')[0]}-mcp"
    with pytest.raises(ServerConnectError) as info:
        await _run(["call", "--url", dead, "--url", mcp_http_url, f"{name}.echo", '{"text": "hi"}'])
    assert "only server selected" not in str(info.value) and "the one server in use could not be used" in str(
        info.value
    )
