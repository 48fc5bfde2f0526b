"""``agent batch --via batch-api`` against loopback fakes of both providers' Batch APIs (Message
Batches; OpenAI files + batches) and the real MCP test server: rounds with tool calls, limits,
failed requests, ``--status`` / ``--cancel``, and a resume after SIGKILL of the real program.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import anyio
import pytest

from agent.batch import run_batch
from agent.batch.control import control_job
from agent.batch.state import load_state, state_path
from agent.cli import parse
from agent.config import Config
from agent.errors import EXIT_FAILURE, EXIT_OK, ModelNotFoundError, UsageError
from tests.support.fake_llm import FakeLLM, FakeLLMProcess, SeenRequest

REPO_ROOT = Path(__file__).resolve().parents[2]

ADD_THEN_ANSWER = [
    {"tool_calls": [{"name": "add", "arguments": {"a": 1, "b": 2}}]},
    {"echo": "tool_results"},
]
API_PATHS = {"anthropic": "/v1/messages", "openai": "/v1/responses", "openai-chat": "/v1/chat/completions"}


def _config(base_url: str, mcp_url: str, kind: str = "anthropic", **limits: int) -> Config:
    url = base_url if kind == "anthropic" else base_url + "/v1"
    provider = {"type": kind, "base_url": url, "api_key_env": "FAKE_KEY", "max_retries": 0, **limits}
    return Config(model="fake:fake-model", providers={"fake": provider}, servers={"test": {"url": mcp_url}})


@pytest.fixture
def config(fake_llm: FakeLLM, mcp_http_url: str, monkeypatch: pytest.MonkeyPatch) -> Config:
    monkeypatch.setenv("FAKE_KEY", "test-key")
    return _config(fake_llm.base_url, mcp_http_url)


def _args(*argv: str) -> Any:
    return parse(["batch", *argv]).options


def _remote(prompts: Path, out: Path, *more: str) -> Any:
    return _args(str(prompts), "-o", str(out), "--via", "batch-api", "--poll", "0.01", *more)


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _prompts(tmp_path: Path, count: int) -> Path:
    path = tmp_path / "p.txt"
    path.write_text("".join(f"prompt {i}\n" for i in range(1, count + 1)))
    return path


def _batched(requests: list[SeenRequest]) -> Counter[tuple[str, int]]:
    """(prompt, step) of every request a provider batch answered."""
    return Counter(
        (r.conversation.user_texts[0], r.conversation.assistant_turns + 1)
        for r in requests
        if r.path.startswith("batch:")
    )


@pytest.mark.parametrize("kind", ["anthropic", "openai", "openai-chat"])
async def test_a_two_round_job_runs_the_tool_calls_locally_between_rounds(
    kind: str, fake_llm: FakeLLM, mcp_http_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_KEY", "test-key")
    config = _config(fake_llm.base_url, mcp_http_url, kind)
    fake_llm.script({"turns": ADD_THEN_ANSWER, "batch": {"polls": 2}})
    prompts = _prompts(tmp_path, 3)
    out = tmp_path / "out.jsonl"
    assert await run_batch(_remote(prompts, out), config) == EXIT_OK
    records = {r["id"]: r for r in _lines(out)}
    batches = fake_llm.batches
    assert len(batches) == 2  # round 1: the prompts; round 2: the tool results
    assert [len(b["custom_ids"]) for b in batches] == [3, 3]
    assert all(b["reads"] >= 3 for b in batches)  # two polls "in progress", then ended
    for item_id, record in records.items():
        assert record["answer"] == "3"
        assert record["error"] is None
        assert [(c["server"], c["tool"], c["arguments"]) for c in record["tool_calls"]] == [
            ("test", "add", {"a": 1, "b": 2})
        ]
        assert record["steps"] == 2 and record["stop_reason"] == "end_turn"
        assert record["usage"]["input_tokens"] > 0
        assert record["model"] == "fake:fake-model"
        assert record["batch_id"] == batches[1]["id"]
        assert set(record) >= {"id", "line", "duration_ms"}
        assert sorted(records) == [1, 2, 3] and record["line"] == item_id
    # Each prompt's two steps were asked once each, both through a batch; nothing live.
    assert _batched(fake_llm.requests) == {(f"prompt {i}", s): 1 for i in (1, 2, 3) for s in (1, 2)}
    assert not [r for r in fake_llm.requests if r.path == API_PATHS[kind]]
    tool_results = [r for r in fake_llm.requests if r.conversation.assistant_turns == 1]
    assert all(r.conversation.last_tool_results[0].text == "3" for r in tool_results)
    job = load_state(state_path(out))
    assert job.items == {} and job.round == 2
    assert all(b.collected for b in job.batches)


async def test_expired_and_errored_requests_become_failed_items_with_the_providers_reason(
    config: Config, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    fake_llm.script({"turns": ADD_THEN_ANSWER, "batch": {"expire": ["prompt 2"], "error": ["prompt 3"]}})
    prompts = _prompts(tmp_path, 4)
    out = tmp_path / "out.jsonl"
    assert await run_batch(_remote(prompts, out), config) == EXIT_FAILURE
    records = {r["id"]: r for r in _lines(out)}
    assert sorted(records) == [1, 2, 3, 4]
    for ok in (1, 4):
        assert records[ok]["error"] is None and records[ok]["answer"] == "3"
    expired, errored = records[2], records[3]
    assert expired["error"]["type"] == "ProviderError"
    assert "expired" in expired["error"]["message"] and "24 hour" in expired["error"]["message"]
    assert errored["error"]["type"] == "ProviderError"
    assert "scripted batch error for 'prompt 3'" in errored["error"]["message"]
    assert expired["answer"] is None and expired["stop_reason"] == "error"
    assert expired["batch_id"] == fake_llm.batches[0]["id"]
    assert [len(b["custom_ids"]) for b in fake_llm.batches] == [4, 2]  # the failed ones stop there


async def test_an_openai_batch_that_expires_part_way_fails_only_the_unfinished_requests(
    fake_llm: FakeLLM, mcp_http_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_KEY", "test-key")
    config = _config(fake_llm.base_url, mcp_http_url, "openai")
    fake_llm.script({"turns": [{"echo": "user"}], "batch": {"expire": ["prompt 1"]}})
    prompts = _prompts(tmp_path, 2)
    out = tmp_path / "out.jsonl"
    assert await run_batch(_remote(prompts, out), config) == EXIT_FAILURE
    records = {r["id"]: r for r in _lines(out)}
    assert records[2]["answer"] == "prompt 2" and records[2]["error"] is None
    assert "batch_expired" in records[1]["error"]["message"]
    assert load_state(state_path(out)).batches[0].status == "expired"


async def test_limits_split_a_round_into_several_provider_batches(
    fake_llm: FakeLLM, mcp_http_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_KEY", "test-key")
    fake_llm.script({"turns": [{"echo": "user"}]})
    prompts = _prompts(tmp_path, 5)
    by_count = tmp_path / "count.jsonl"
    config = _config(fake_llm.base_url, mcp_http_url, batch_max_requests=2)
    assert await run_batch(_remote(prompts, by_count), config) == EXIT_OK
    assert [len(b["custom_ids"]) for b in fake_llm.batches] == [2, 2, 1]
    assert sorted(r["answer"] for r in _lines(by_count)) == [f"prompt {i}" for i in range(1, 6)]
    size = load_state(state_path(by_count)).batches[0].bytes // 2  # one request's line

    fake_llm.reset({"turns": [{"echo": "user"}]})
    by_bytes = tmp_path / "bytes.jsonl"
    config = _config(fake_llm.base_url, mcp_http_url, batch_max_bytes=size * 3 - 1)
    assert await run_batch(_remote(prompts, by_bytes), config) == EXIT_OK
    assert [len(b["custom_ids"]) for b in fake_llm.batches] == [2, 2, 1]
    assert all(b.bytes < size * 3 for b in load_state(state_path(by_bytes)).batches)

    fake_llm.reset({"turns": [{"echo": "user"}]})
    too_small = tmp_path / "small.jsonl"
    config = _config(fake_llm.base_url, mcp_http_url, batch_max_bytes=100)
    assert await run_batch(_remote(prompts, too_small), config) == EXIT_FAILURE
    assert fake_llm.batches == []
    errors = [r["error"]["message"] for r in _lines(too_small)]
    assert len(errors) == 5 and all("a provider batch takes at most 100" in e for e in errors)


async def test_status_shows_the_job_and_cancel_fails_what_had_not_run(
    config: Config, fake_llm: FakeLLM, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_llm.script({"turns": ADD_THEN_ANSWER, "batch": {"polls": None}})  # held until cancelled
    prompts = _prompts(tmp_path, 3)
    out = tmp_path / "out.jsonl"
    codes: list[int] = []

    async def job() -> None:
        codes.append(await run_batch(_remote(prompts, out), config))

    with anyio.fail_after(30):
        async with anyio.create_task_group() as tg:
            tg.start_soon(job)
            # The job saves its state before its first poll.
            assert await fake_llm.wait_for(lambda stats: stats["batch_reads"] >= 1)
            capsys.readouterr()
            assert await control_job(_args("--status", str(out)), config) == EXIT_OK
            status = capsys.readouterr().out
            batch_id = fake_llm.batches[0]["id"]
            assert f"job {out}: round 1, 3 item(s) unfinished (0 not yet submitted), 0 line(s)" in status
            row = next(line for line in status.splitlines() if batch_id in line).split()
            assert row[:6] == ["1", batch_id, "fake:fake-model", "3", "in_progress", "3"]
            assert "processing 3" in status
            assert await control_job(_args("--cancel", str(out)), config) == EXIT_OK
            assert (
                f"cancel requested: fake:fake-model batch {batch_id} (canceling)" in capsys.readouterr().out
            )
    assert codes == [EXIT_FAILURE]
    records = _lines(out)
    assert len(records) == 3
    assert all("canceled" in r["error"]["message"] for r in records)
    assert len(fake_llm.batches) == 1
    assert await control_job(_args("--status", str(out)), config) == EXIT_OK
    assert "canceled 3" in capsys.readouterr().out


async def test_usage_errors(config: Config, tmp_path: Path) -> None:
    prompts = _prompts(tmp_path, 1)
    with pytest.raises(UsageError, match="needs an output file"):
        await run_batch(_args(str(prompts), "-o", "-", "--via", "batch-api"), config)
    out = tmp_path / "out.jsonl"
    state_path(out).write_text("{}")
    with pytest.raises(UsageError, match="under way"):
        await run_batch(_remote(prompts, out), config)
    with pytest.raises(UsageError, match="cannot read the batch state"):
        await run_batch(_remote(prompts, out, "--resume"), config)
    with pytest.raises(UsageError, match="no batch-api job"):
        await control_job(_args("--status", str(tmp_path / "other.jsonl")), config)
    with pytest.raises(UsageError, match="needs an INPUT"):
        await run_batch(_args("--via", "batch-api"), config)


@pytest.mark.parametrize("kind", ["anthropic", "openai"])
async def test_an_unknown_model_stops_the_job_before_anything_is_submitted(
    kind: str, fake_llm: FakeLLM, mcp_http_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_KEY", "test-key")
    fake_llm.unknown_models = {"fake-model"}
    out = tmp_path / "out.jsonl"
    with pytest.raises(ModelNotFoundError) as exc:
        await run_batch(_remote(_prompts(tmp_path, 3), out), _config(fake_llm.base_url, mcp_http_url, kind))
    assert exc.value.exit_code == 2 and "fake-model" in str(exc.value)
    assert [r.path for r in fake_llm.requests if r.path.startswith("batch:")] == []
    assert not out.exists() or out.read_text() == ""  # no item written as failed: --resume runs them all


# --- the real program, killed mid-job -------------------------------------------------------------


def _kill_after_round_2_is_submitted(config_file: Path, argv: list[str]) -> None:
    """Run the real ``agent``; SIGKILL it once it logs round 2's submission (after saving the state)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "agent", "--config", str(config_file), "-v", *argv],
        cwd=REPO_ROOT,
        env={**os.environ, "FAKE_KEY": "test-key", "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if "round 2: submitted" in line:
                break
        else:
            raise AssertionError(f"agent batch ended before round 2 (exit {proc.wait()})")
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stderr is not None
        proc.stderr.close()


@pytest.mark.e2e
async def test_killed_mid_job_resume_submits_no_round_twice(
    fake_llm_process: FakeLLMProcess, mcp_http_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Round 1 ends at once; round 2 is held until the test ends it, after the kill.
    fake_llm_process.script({"turns": ADD_THEN_ANSWER, "batch": {"polls": [0, None]}})
    base = fake_llm_process.base_url
    config_file = tmp_path / "agent.toml"
    config_file.write_text(
        'model = "fake:fake-model"\n'
        f'[providers.fake]\ntype = "anthropic"\nbase_url = "{base}"\napi_key_env = "FAKE_KEY"\n'
        f'[servers.test]\nurl = "{mcp_http_url}"\n'
    )
    prompts = _prompts(tmp_path, 4)
    out = tmp_path / "out.jsonl"
    _kill_after_round_2_is_submitted(
        config_file, ["batch", str(prompts), "-o", str(out), "--via", "batch-api", "--poll", "0.05"]
    )
    assert out.read_text() == ""  # every item was waiting for round 2
    job = load_state(state_path(out))
    assert [b.round for b in job.batches] == [1, 2]
    assert {i.batch for i in job.items.values()} == {job.batches[1].id}

    fake_llm_process.end_batches()
    monkeypatch.setenv("FAKE_KEY", "test-key")
    config = _config(base, mcp_http_url)
    assert await run_batch(_remote(prompts, out, "--resume"), config) == EXIT_OK
    assert len(fake_llm_process.batches) == 2  # nothing submitted again
    assert _batched(fake_llm_process.requests) == {(f"prompt {i}", s): 1 for i in range(1, 5) for s in (1, 2)}
    records = {r["id"]: r for r in _lines(out)}
    assert sorted(records) == [1, 2, 3, 4]
    for record in records.values():
        assert record["answer"] == "3" and record["steps"] == 2
        assert [c["tool"] for c in record["tool_calls"]] == ["add"]  # run before the kill, kept
        assert record["usage"]["output_tokens"] > 0
        assert record["batch_id"] == job.batches[1].id
