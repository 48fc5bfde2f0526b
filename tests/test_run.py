"""``agent run``: the real SDKs against the loopback fake provider, tools from the real MCP server."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from agent.cli import main
from agent.config import ServerSettings
from tests.support.fake_llm import FakeLLM
from tests.support.http_edge import refused_port
from tests.support.inproc import Ran, run_agent

PROVIDERS = {
    "anthropic": "anthropic:claude-test",
    "openai": "openai:gpt-test",
    "openai-chat": "openai-chat:gpt-test",
}

TEN_CALLS = [
    {"text": "Adding in parallel.", "tool_calls": [["add", {"a": i, "b": 1}] for i in range(4)]},
    {"tool_calls": [["echo", {"text": f"e{i}"}] for i in range(3)]},
    {"tool_calls": [["add", {"a": 10, "b": 10}], ["echo", {"text": "last"}], ["add", {"a": 0, "b": 0}]]},
    {"echo": "tool_results"},
]


@pytest.fixture
def llm(fake_llm: FakeLLM, monkeypatch: pytest.MonkeyPatch) -> FakeLLM:
    """The fake provider, with this process's environment pointing the SDKs at it."""
    for key, value in fake_llm.env().items():
        monkeypatch.setenv(key, value)
    return fake_llm


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["run", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def run_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any], str]:
    code, out, err = run([*argv, "--json"], capsys)
    return code, json.loads(out), err


# --- in process -------------------------------------------------------------------------------


def test_answer_on_stdout_tool_activity_on_stderr(
    llm: FakeLLM, mcp_http_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    llm.script([{"tool_calls": [["add", {"a": 2, "b": 3}]]}, {"echo": "tool_results"}])
    code, out, err = run(["what is 2+3?", "--url", mcp_http_url, "-m", PROVIDERS["anthropic"]], capsys)
    assert code == 0
    assert out == "5\n"
    (line,) = [line for line in err.splitlines() if "tool" in line]
    assert "add" in line and '{"a": 2, "b": 3}' in line and line.endswith("ok") and " ms " in line
    assert llm.requests[0].conversation.last_user_text == "what is 2+3?"


def test_prompt_from_stdin(
    llm: FakeLLM, mcp_http_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"piped question\n")))
    llm.script([{"echo": "user"}])
    code, out, _ = run(["-", "--url", mcp_http_url, "-m", PROVIDERS["openai-chat"]], capsys)
    assert (code, out) == (0, "piped question\n\n")


def test_a_prompt_that_is_not_utf8_is_an_input_error_naming_the_byte(
    llm: FakeLLM, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO("héllo \xff".encode("latin-1"))))
    code, _, err = run(["-", "-m", PROVIDERS["anthropic"]], capsys)
    assert code == 2
    assert "stdin is not UTF-8 text: invalid byte 0xe9 at byte offset 1" in err
    assert "anthropic" not in err and llm.requests == []
    code, _, err = run([os.fsdecode(b"caf\xe9"), "-m", PROVIDERS["anthropic"]], capsys)
    assert code == 2 and "the prompt is not UTF-8 text: invalid byte 0xe9 at byte offset 3" in err


def test_an_unknown_model_is_a_usage_error(
    llm: FakeLLM, mcp_http_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    llm.script({"faults": [{"status": 404, "message": "model: claude-test"}], "turns": ["never"]})
    code, _, err = run(["hi", "--url", mcp_http_url, "-m", PROVIDERS["anthropic"]], capsys)
    assert code == 2
    assert "model 'claude-test' not found (HTTP 404: model: claude-test)" in err and "agent models" in err


def test_json_report_fields(llm: FakeLLM, mcp_http_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    llm.script(
        [
            {"tool_calls": [["echo", {"text": "hi"}], ["fail", {"message": "nope"}], ["ghost", {}]]},
            {"text": "done", "usage": {"input_tokens": 7, "output_tokens": 3}},
        ]
    )
    code, report, _ = run_json(["go", "--url", mcp_http_url, "-m", PROVIDERS["openai"]], capsys)
    assert code == 0
    assert report["answer"] == "done" and report["steps"] == 2 and report["stop_reason"] == "end_turn"
    assert report["error"] is None and report["model"] == "openai:gpt-test"
    assert [(c["name"], c["is_error"]) for c in report["tool_calls"]] == [
        ("echo", False),
        ("fail", True),
        ("ghost", True),
    ]
    assert report["tool_calls"][0]["arguments"] == {"text": "hi"}
    assert all(isinstance(c["duration_ms"], float) for c in report["tool_calls"])
    assert report["usage"]["input_tokens"] >= 7 and report["usage"]["output_tokens"] >= 3


def test_max_steps_reached_exits_1(
    llm: FakeLLM, mcp_http_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    llm.script({"turns": [{"tool_calls": [["echo", {"text": "again"}]]}], "repeat_last": True})
    code, report, err = run_json(
        ["loop", "--url", mcp_http_url, "-m", PROVIDERS["anthropic"], "--max-steps", "2"], capsys
    )
    assert code == 1
    assert report["stop_reason"] == "max_steps" and report["steps"] == 2
    assert "stopped after 2 steps" in err and "max_steps" in err
    assert len(llm.requests) == 2


def test_429_then_success(llm: FakeLLM, mcp_http_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    llm.script({"turns": ["fine"], "faults": [{"status": 429, "retry_after": 0.001}]})
    code, out, _ = run(["hi", "--url", mcp_http_url, "-m", PROVIDERS["anthropic"]], capsys)
    assert (code, out) == (0, "fine\n")
    assert [r.status for r in llm.requests] == [429, 200]


def test_500_exhaustion_is_a_clear_error(
    llm: FakeLLM, mcp_http_url: str, capsys: pytest.CaptureFixture[str], write_config: Callable[..., Path]
) -> None:
    config = write_config({"test": ServerSettings(url=mcp_http_url)})
    config.write_text(config.read_text() + '\n[providers.fake]\ntype = "openai-chat"\nmax_retries = 2\n')
    llm.script({"turns": ["never"], "faults": [{"status": 500, "retry_after": 0.001}] * 3})
    code, report, err = run_json(["hi", "--config", str(config), "-m", "fake:gpt-test"], capsys)
    assert code == 1
    assert report["stop_reason"] == "error"
    assert report["error"]["type"] == "ProviderUnavailableError" and "500" in report["error"]["message"]
    assert len(llm.requests) == 3
    assert "Traceback" not in err


def test_invalid_api_key(llm: FakeLLM, mcp_http_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    llm.script({"turns": ["never"], "faults": [{"status": 401, "message": "invalid x-api-key"}]})
    code, out, err = run(["hi", "--url", mcp_http_url, "-m", PROVIDERS["anthropic"]], capsys)
    assert code == 1 and out == ""
    assert "invalid x-api-key" in err or "401" in err
    assert "Traceback" not in err
    assert len(llm.requests) == 1  # not retried


def test_denied_by_config(
    llm: FakeLLM, mcp_http_url: str, capsys: pytest.CaptureFixture[str], write_config: Callable[..., Path]
) -> None:
    config = write_config({"test": ServerSettings(url=mcp_http_url, approval={"add": "never"})})
    llm.script(
        [{"tool_calls": [["add", {"a": 1, "b": 1}], ["echo", {"text": "ok"}]]}, {"echo": "tool_results"}]
    )
    code, report, err = run_json(["go", "--config", str(config), "-m", PROVIDERS["anthropic"]], capsys)
    assert code == 0
    assert [c["denied"] for c in report["tool_calls"]] == [True, False]
    assert "denied by the user" in report["answer"]
    assert "denied" in err


def test_ask_without_a_terminal_tells_the_model_no_one_could_approve(
    llm: FakeLLM, mcp_http_url: str, capsys: pytest.CaptureFixture[str], write_config: Callable[..., Path]
) -> None:
    config = write_config({"test": ServerSettings(url=mcp_http_url, approval="ask")})
    llm.script([{"tool_calls": [["add", {"a": 1, "b": 1}]]}, {"echo": "tool_results"}])
    code, report, err = run_json(["go", "--config", str(config), "-m", PROVIDERS["anthropic"]], capsys)
    assert code == 0
    assert [c["denied"] for c in report["tool_calls"]] == [True]
    assert "no one was there to give it" in report["answer"]  # what the model was told
    assert "the user did not refuse it" in report["answer"]
    assert "denied by the user" not in report["answer"]
    assert "needs approval and there is no one to ask; denied" in err


def test_a_failed_server_is_reported_and_the_run_goes_on(
    llm: FakeLLM, mcp_http_url: str, capsys: pytest.CaptureFixture[str], write_config: Callable[..., Path]
) -> None:
    dead = f"http://127.0.0.1:{refused_port()}/mcp"
    config = write_config(
        {"up": ServerSettings(url=mcp_http_url), "down": ServerSettings(url=dead, timeout=5)}
    )
    # Two servers are configured, so the names are namespaced, whichever of them connected.
    llm.script([{"tool_calls": [["up__echo", {"text": "still here"}]]}, {"echo": "tool_results"}])
    code, out, err = run(["go", "--config", str(config), "-m", PROVIDERS["anthropic"]], capsys)
    assert (code, out) == (0, "still here\n")
    assert len([line for line in err.splitlines() if "'down'" in line]) == 1


def test_a_server_still_connecting_does_not_hold_back_the_exit(
    llm: FakeLLM,
    mcp_http_url: str,
    capsys: pytest.CaptureFixture[str],
    write_config: Callable[..., Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A server that accepts connections and never answers (timeout 30 s) is still connecting
    when the answer is out: the run ends then, with no failure of it reported on the way out
    (before the fix: a wait for the timeout, then "server 'hang': timed out after 30 s")."""
    monkeypatch.setattr("agent.session_servers.RUN_GRACE", 0.1)  # the run opens without it sooner
    with socket.create_server(("127.0.0.1", 0)) as mute:  # listens, never accepts: the kernel connects
        hang = ServerSettings(url=f"http://127.0.0.1:{mute.getsockname()[1]}/mcp", timeout=30)
        config = write_config({"up": ServerSettings(url=mcp_http_url), "hang": hang})
        llm.script([{"echo": "user"}])
        code, out, err = run(["hi", "--config", str(config), "-m", PROVIDERS["anthropic"]], capsys)
    assert (code, out) == (0, "hi\n")
    assert [line for line in err.splitlines() if "hang" in line] == [
        "agent: server hang is still connecting; its tools are added when it is ready"
    ]


def test_json_with_no_usable_server_still_prints_the_record_with_the_error(
    llm: FakeLLM, capsys: pytest.CaptureFixture[str]
) -> None:
    dead = f"http://127.0.0.1:{refused_port()}/mcp"
    code, report, err = run_json(["go", "--url", dead, "-m", PROVIDERS["anthropic"]], capsys)
    assert code == 3
    assert report["answer"] is None and report["steps"] == 0 and report["tool_calls"] == []
    assert report["stop_reason"] == "error" and report["model"] == PROVIDERS["anthropic"]
    assert (
        report["error"]["type"] == "ServerConnectError" and "connection refused" in report["error"]["message"]
    )
    assert "could not be used" in err  # stderr says it too
    assert llm.requests == []


def test_no_usable_server_exits_3_without_asking_the_model(
    llm: FakeLLM, capsys: pytest.CaptureFixture[str]
) -> None:
    dead = f"http://127.0.0.1:{refused_port()}/mcp"
    code, out, err = run(["go", "--url", dead, "-m", PROVIDERS["anthropic"]], capsys)
    assert code == 3 and out == ""
    assert "could not be used" in err
    assert llm.requests == []


@pytest.mark.parametrize("argv", [[""], ["hi", "--max-steps", "0"]])
def test_usage_errors_exit_2(argv: list[str], llm: FakeLLM, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(argv, capsys)
    assert code == 2 and out == "" and err.startswith("agent: ")
    assert llm.requests == []


def test_missing_api_key_exits_2(capsys: pytest.CaptureFixture[str], mcp_http_url: str) -> None:
    code, _, err = run(["hi", "--url", mcp_http_url, "-m", PROVIDERS["anthropic"]], capsys)
    assert code == 2 and "ANTHROPIC_API_KEY" in err


# --- the real program -------------------------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.parametrize("provider", sorted(PROVIDERS))
def test_run_json_completes_a_ten_tool_call_task(
    provider: str, fake_llm: FakeLLM, mcp_http_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_llm.script(TEN_CALLS)
    argv = ["run", "add and echo", "--json", "--url", mcp_http_url, "-m", PROVIDERS[provider]]
    proc: subprocess.CompletedProcess[str] | Ran
    if provider == "anthropic":  # the real program once; the other APIs in-process (the same code)
        env = {**os.environ, **fake_llm.env()}
        proc = subprocess.run(
            [sys.executable, "-m", "agent", *argv],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
    else:
        monkeypatch.chdir(tmp_path)
        proc = run_agent(*argv, env=fake_llm.env())
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["stop_reason"] == "end_turn" and report["steps"] == 4
    assert len(report["tool_calls"]) == 10
    assert not any(c["is_error"] for c in report["tool_calls"])
    assert report["answer"].splitlines() == ["20", "last", "0"]
    seen = [[r.text for r in req.conversation.last_tool_results] for req in fake_llm.requests[1:]]
    assert seen == [["1", "2", "3", "4"], ["e0", "e1", "e2"], ["20", "last", "0"]]
    assert len([line for line in proc.stderr.splitlines() if line.strip().startswith("tool ")]) == 10
    assert {r.api for r in fake_llm.requests} == {_API[provider]}


_API = {"anthropic": "anthropic", "openai": "responses", "openai-chat": "chat"}


@pytest.mark.e2e
def test_ctrl_c_mid_tool_cancels_the_call_and_exits_130(
    fake_llm: FakeLLM, mcp_http_url: str, mcp_events_file: Path, tmp_path: Path
) -> None:
    tag = f"sigint-{os.getpid()}-{time.monotonic_ns()}"
    fake_llm.script([{"tool_calls": [["slow", {"seconds": 60, "tag": tag}]]}, "never"])
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent", "run", "wait", "--url", mcp_http_url, "-m", PROVIDERS["anthropic"]],
        env={**os.environ, **fake_llm.env()},
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        # The signal: the server has started the tool call (it writes a line to the events file).
        while f"started {tag}" not in mcp_events_file.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, "the tool call never started"
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert out == "" and "interrupted" in err and "Traceback" not in err
    assert f"cancelled {tag}" in mcp_events_file.read_text().splitlines()
    assert len(fake_llm.requests) == 1


def test_no_answer_on_stdout_when_the_turn_fails(
    llm: FakeLLM, mcp_http_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    llm.script(
        {"turns": [{"text": "still working", "tool_calls": [["echo", {"text": "x"}]]}], "repeat_last": True}
    )
    code, out, err = run(
        ["loop", "--url", mcp_http_url, "-m", PROVIDERS["anthropic"], "--max-steps", "1"], capsys
    )
    assert (code, out) == (1, "")
    assert "stopped after 1 step without a final answer" in err


@pytest.mark.parametrize("kind", ["anthropic", "openai"])
def test_a_stream_cut_midway_is_asked_again(
    kind: str, llm: FakeLLM, mcp_http_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    answer = "the whole answer, streamed in small pieces"
    llm.script({"faults": [{"cut_after": 3}], "turns": [{"text": answer, "chunk": 4}]})
    code, out, err = run(["hi", "--url", mcp_http_url, "-m", PROVIDERS[kind]], capsys)
    assert (code, out) == (0, answer + "\n"), err
    assert "agent: the answer broke off; asking again in 0.5 s" in err
    assert len(llm.requests) == 2


# --- a server's progress, logs and questions ----------------------------------------------------


async def test_progress_and_warnings_on_stderr_and_questions_declined_without_a_terminal(
    llm: FakeLLM, capsys: pytest.CaptureFixture[str]
) -> None:
    from agent.config import Config
    from agent.options import AdhocServer, RunOptions
    from agent.run import main as run_main
    from tests.support.features_server import features_server

    llm.script([{"tool_calls": [["work", {"steps": 2}], ["form", {}]]}, {"echo": "tool_results"}])
    async with features_server() as url:
        config = Config(model=PROVIDERS["anthropic"], approval="always")
        code = await run_main(RunOptions("go", adhoc=(AdhocServer(url=url),)), config)
    out, err = capsys.readouterr()
    assert code == 0
    name = f"localhost-{urlsplit(url).port}-mcp"  # a server added by URL is named from it
    assert f"  progress {name}.work: step 1 (1/2)\n  progress {name}.work: step 2 (2/2)\n" in err
    assert f"agent: {name} warning: disk almost full" in err
    assert "decline null" in out  # nobody at a terminal: the form was declined, not filled in


def test_a_tool_with_a_broken_schema_is_left_out_with_one_line_on_stderr(
    llm: FakeLLM, capsys: pytest.CaptureFixture[str], write_config: Callable[..., Path], mcp_odd_url: str
) -> None:
    config = write_config({"odd": ServerSettings(url=mcp_odd_url)})
    llm.script([{"tool_calls": [["echo", {"text": "fine"}]]}, {"echo": "tool_results"}])
    code, out, err = run(["go", "--config", str(config), "-m", PROVIDERS["openai"]], capsys)
    assert (code, out) == (0, "fine\n")
    (line,) = [line for line in err.splitlines() if "bad_schema" in line]
    assert line.startswith("agent: server 'odd': tool 'bad_schema' left out, the model cannot use it:")
    assert "properties/when/type" in line
    offered = {tool["name"] for tool in llm.requests[0].body["tools"]}
    assert "echo" in offered and "bad_schema" not in offered


@pytest.mark.parametrize("value", ["@", "@ "])
def test_system_at_without_a_file_name_says_so(value: str) -> None:
    from agent.errors import UsageError
    from agent.session_prompt import system_prompt_option

    with pytest.raises(UsageError, match="--system: no file name after @") as info:
        system_prompt_option(value)
    assert "Is a directory" not in str(info.value)
    assert system_prompt_option("@@") == "@"  # @@ is an escaped @, text
