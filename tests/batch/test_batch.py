"""``agent batch`` against the loopback fake model API and the real MCP test server.

In process (``run_batch(args, config)`` under the test's event loop) wherever a subprocess is not
needed; the kill / signal tests run the real ``agent batch`` program (marked e2e).

Output ordering (documented in the README): lines are written in completion order, so with
``--concurrency 1`` they follow the input; with more workers, join on ``id``.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest

from agent.batch import SharedBackoff, run_batch
from agent.cli import main as cli_main
from agent.cli import parse
from agent.config import Config, ServerSettings
from agent.errors import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, ServerError, UsageError
from tests.support.fake_llm import FakeLLM, FakeLLMProcess, SeenRequest
from tests.support.fixtures_mcp import RestartableServer
from tests.support.http_edge import refused_port
from tests.support.inproc import run_agent

REPO_ROOT = Path(__file__).resolve().parents[2]

# Every conversation: call `add`, then answer with the tool's result.
ADD_THEN_ANSWER = [
    {"tool_calls": [{"name": "add", "arguments": {"a": 1, "b": 2}}]},
    {"echo": "tool_results"},
]


@pytest.fixture
def config(fake_llm: FakeLLM, mcp_http_url: str, monkeypatch: pytest.MonkeyPatch) -> Config:
    monkeypatch.setenv("FAKE_KEY", "test-key")
    return _config(fake_llm.base_url, mcp_http_url)


def _config(base_url: str, mcp_url: str) -> Config:
    return Config(
        model="fake:fake-model",
        providers={
            "fake": {"type": "anthropic", "base_url": base_url, "api_key_env": "FAKE_KEY", "max_retries": 0}
        },
        servers={"test": {"url": mcp_url}},
    )


def _args(*argv: str) -> Any:
    return parse(["batch", *argv]).options


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _prompt_texts(requests: list[SeenRequest]) -> Counter[str]:
    """How many first requests (no assistant turn yet) each prompt got."""
    return Counter(r.conversation.last_user_text for r in requests if r.conversation.assistant_turns == 0)


async def test_text_file_every_line_runs_once_with_tools(
    config: Config, fake_llm: FakeLLM, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_llm.script(ADD_THEN_ANSWER)
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("one\n\ntwo\nthree\n")
    assert await run_batch(_args(str(prompts)), config) == EXIT_OK
    out = _lines(tmp_path / "prompts.results.jsonl")  # the default output sits next to the input
    assert sorted(r["id"] for r in out) == [1, 3, 4]  # ids are line numbers; blank lines skipped
    for record in out:
        assert record["answer"] == "3"
        assert record["error"] is None
        assert [(c["server"], c["tool"], c["arguments"], c["is_error"]) for c in record["tool_calls"]] == [
            ("test", "add", {"a": 1, "b": 2}, False)
        ]
        assert record["usage"]["input_tokens"] > 0 and record["usage"]["output_tokens"] > 0
        assert record["steps"] == 2
        assert record["model"] == "fake:fake-model"
        assert isinstance(record["duration_ms"], int)
    assert _prompt_texts(fake_llm.requests) == {"one": 1, "two": 1, "three": 1}
    err = capsys.readouterr().err
    assert "3 done, 0 failed, 0 skipped" in err
    assert "tokens" in err


async def test_jsonl_items_carry_fields_and_use_their_own_system_and_model(
    config: Config, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    fake_llm.script({"turns": [{"echo": "user"}]})
    items = [
        {"id": "a", "prompt": "alpha", "topic": "greek", "answer": "kept"},
        {"id": "b", "prompt": "beta", "system": "Answer in French.", "model": "fake:other-model"},
    ]
    source = tmp_path / "items.jsonl"
    source.write_text("".join(json.dumps(i) + "\n" for i in items))
    out = tmp_path / "out.jsonl"
    assert await run_batch(_args(str(source), "-o", str(out)), config) == EXIT_OK
    records = {r["id"]: r for r in _lines(out)}
    assert records["a"]["answer"] == "alpha"
    assert records["a"]["topic"] == "greek"
    assert records["a"]["input_answer"] == "kept"
    assert records["b"]["model"] == "fake:other-model"
    by_prompt = {r.conversation.last_user_text: r for r in fake_llm.requests}
    # the item's system prompt, then (as for every turn) the servers' instructions
    beta_system = by_prompt["beta"].conversation.system
    assert beta_system.startswith("Answer in French.\n\n# Instructions from the connected MCP servers")
    assert by_prompt["beta"].model == "other-model"
    assert by_prompt["alpha"].model == "fake-model"
    assert "Answer in French." not in (by_prompt["alpha"].conversation.system or "")


async def test_stdin_in_results_on_stdout(
    config: Config, fake_llm: FakeLLM, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_llm.script([{"echo": "user"}])
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"first\nsecond\n")))
    assert await run_batch(_args("-"), config) == EXIT_OK
    captured = capsys.readouterr()
    records = [json.loads(line) for line in captured.out.splitlines()]
    assert sorted((r["id"], r["answer"]) for r in records) == [(1, "first"), (2, "second")]
    assert "results: stdout" in captured.err


async def test_bad_lines_are_failed_items_and_the_rest_still_run(
    config: Config, fake_llm: FakeLLM, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_llm.script([{"echo": "user"}])
    source = tmp_path / "items.jsonl"
    source.write_text(
        '{"id": "ok1", "prompt": "fine"}\n{broken\n{"id": "np", "note": 1}\n{"id": "ok2", "prompt": "x"}\n'
    )
    out = tmp_path / "out.jsonl"
    assert await run_batch(_args(str(source), "-o", str(out)), config) == EXIT_FAILURE
    records = {r["id"]: r for r in _lines(out)}
    assert records["ok1"]["answer"] == "fine" and records["ok2"]["answer"] == "x"
    assert records[2]["error"]["type"] == "BadInput"
    assert records[2]["error"]["message"].startswith("line 2: not valid JSON")
    assert records["np"]["error"] == {
        "type": "BadInput",
        "message": "line 3: 'prompt' must be a non-empty string",
    }
    assert records["np"]["note"] == 1 and records["np"]["line"] == 3
    err = capsys.readouterr().err
    assert "line 2: not valid JSON" in err
    assert "2 done, 2 failed" in err


async def test_workers_overlap_up_to_the_concurrency(
    config: Config, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    # Long model requests and nothing else, so the 4 workers' requests surely meet in the fake.
    fake_llm.script({"turns": [{"echo": "user"}], "latency": 0.5})
    prompts = tmp_path / "p.txt"
    prompts.write_text("".join(f"prompt {i}\n" for i in range(8)))
    out = tmp_path / "out.jsonl"
    assert await run_batch(_args(str(prompts), "-o", str(out), "--concurrency", "4"), config) == EXIT_OK
    assert fake_llm.stats["max_in_flight"] == 4  # 4 at once, never more
    assert len(_lines(out)) == 8


async def test_one_worker_keeps_the_input_order(config: Config, fake_llm: FakeLLM, tmp_path: Path) -> None:
    fake_llm.script([{"echo": "user"}])
    prompts = tmp_path / "p.txt"
    prompts.write_text("".join(f"prompt {i}\n" for i in range(6)))
    out = tmp_path / "out.jsonl"
    assert await run_batch(_args(str(prompts), "-o", str(out), "-c", "1"), config) == EXIT_OK
    assert [r["id"] for r in _lines(out)] == [1, 2, 3, 4, 5, 6]
    assert fake_llm.stats["max_in_flight"] == 1


async def test_one_worker_keeps_the_input_order_with_bad_lines_too(
    config: Config, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    # A bad line's record waits for the good items before it: it is written by the worker too.
    fake_llm.script({"turns": [{"echo": "user"}], "latency": 0.2})
    source = tmp_path / "items.jsonl"
    good = '{{"id": "{0}", "prompt": "{0}"}}\n'
    source.write_text(
        good.format("a")
        + good.format("b")
        + "{broken\n"
        + good.format("c")
        + "{bad\n"
        + '{"id": "np"}\n'
        + good.format("d")
        + "[1]\n"
    )
    out = tmp_path / "out.jsonl"
    assert await run_batch(_args(str(source), "-o", str(out), "-c", "1"), config) == EXIT_FAILURE
    assert [r["line"] for r in _lines(out)] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert [r["id"] for r in _lines(out)] == ["a", "b", 3, "c", 5, "np", "d", 8]


async def test_lines_come_in_completion_order(config: Config, fake_llm: FakeLLM, tmp_path: Path) -> None:
    def respond(request: SeenRequest) -> dict[str, Any]:
        text = request.conversation.last_user_text
        return {"text": text, "delay": 1.5 if text == "slow" else 0.0}

    fake_llm.script(respond)
    prompts = tmp_path / "p.txt"
    prompts.write_text("slow\nfast\n")
    out = tmp_path / "out.jsonl"
    assert await run_batch(_args(str(prompts), "-o", str(out), "-c", "2"), config) == EXIT_OK
    assert [r["answer"] for r in _lines(out)] == ["fast", "slow"]


async def test_a_failing_tool_or_model_affects_only_its_own_item(
    config: Config, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    def respond(request: SeenRequest) -> dict[str, Any]:
        conv = request.conversation
        if conv.assistant_turns:
            return {"echo": "tool_results"}
        tool = "fail" if conv.last_user_text == "break" else "echo"
        return {"tool_calls": [{"name": tool, "arguments": {"message": "boom", "text": conv.last_user_text}}]}

    fake_llm.script(respond)
    source = tmp_path / "items.jsonl"
    lines = [
        {"id": "a", "prompt": "hello"},
        {"id": "b", "prompt": "break"},
        {"id": "c", "prompt": "world"},
        {"id": "d", "prompt": "other model", "model": "nope:x"},
    ]
    source.write_text("".join(json.dumps(line) + "\n" for line in lines))
    out = tmp_path / "out.jsonl"
    assert await run_batch(_args(str(source), "-o", str(out), "-c", "4"), config) == EXIT_FAILURE
    records = {r["id"]: r for r in _lines(out)}
    assert records["a"]["answer"] == "hello" and records["c"]["answer"] == "world"
    assert records["a"]["tool_calls"][0]["is_error"] is False
    # The tool's failure went back to the model, which answered: the item itself succeeded.
    assert records["b"]["tool_calls"][0]["is_error"] is True
    assert records["b"]["error"] is None and "boom" in records["b"]["answer"]
    assert records["d"]["error"]["type"] == "ProviderConfigError"
    assert "nope" in records["d"]["error"]["message"]


async def test_a_429_storm_pauses_everyone_and_fails_nothing(
    config: Config, fake_llm: FakeLLM, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    storm = [{"status": 429, "retry_after": 0.001}] * 12
    fake_llm.script({"turns": ADD_THEN_ANSWER, "faults": storm})
    prompts = tmp_path / "p.txt"
    prompts.write_text("".join(f"prompt {i}\n" for i in range(8)))
    out = tmp_path / "out.jsonl"
    backoff = SharedBackoff(start=0.05, limit=0.2)
    args = _args(str(prompts), "-o", str(out), "-c", "4")
    assert await run_batch(args, config, backoff=backoff) == EXIT_OK
    records = _lines(out)
    assert sorted(r["id"] for r in records) == list(range(1, 9))
    assert all(r["error"] is None and r["answer"] == "3" for r in records)
    assert backoff.pauses >= 1
    statuses = Counter(r.status for r in fake_llm.requests)
    assert statuses == {429: 12, 200: 16}  # every 429 was sent again; 2 requests per item
    assert "rate limited" in capsys.readouterr().err


async def test_a_429_with_retry_after_pauses_every_worker_at_least_that_long(
    config: Config, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    # The first request gets the 429 at once; the other three workers' first answers take 0.3 s,
    # so they finish during the pause and must wait for its end before their next requests.
    fault = {"status": 429, "headers": {"retry-after": "3"}}
    fake_llm.script({"turns": [{"echo": "user", "delay": 0.3}], "faults": [fault]})
    prompts = tmp_path / "p.txt"
    prompts.write_text("".join(f"prompt {i}\n" for i in range(8)))
    out = tmp_path / "out.jsonl"
    backoff = SharedBackoff(start=0.05, limit=0.2)  # alone, this would pause 0.05 s
    args = _args(str(prompts), "-o", str(out), "-c", "4")
    assert await run_batch(args, config, backoff=backoff) == EXIT_OK
    assert all(r["error"] is None for r in _lines(out))
    limited, *rest = fake_llm.requests
    assert limited.status == 429
    sent_before = [r for r in rest if r.received_at - limited.received_at < 1.0]
    sent_after = [r for r in rest if r not in sent_before]
    assert len(sent_before) == 3  # the other workers' first items, on their way before the 429
    assert len(sent_after) == 5  # the limited item again, and the four items left
    pause = min(r.received_at for r in sent_after) - limited.received_at
    assert pause >= 3.0


async def test_rate_limits_that_never_end_fail_the_item_in_the_end(
    config: Config, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    fake_llm.script({"turns": [{"echo": "user"}], "faults": [{"status": 429, "retry_after": 0.001}] * 3})
    prompts = tmp_path / "p.txt"
    prompts.write_text("only\n")
    out = tmp_path / "out.jsonl"
    backoff = SharedBackoff(start=0.01, limit=0.01, attempts=3)
    assert await run_batch(_args(str(prompts), "-o", str(out)), config, backoff=backoff) == EXIT_FAILURE
    assert _lines(out)[0]["error"]["type"] == "ProviderRateLimitError"


async def test_max_errors_stops_starting_items(config: Config, fake_llm: FakeLLM, tmp_path: Path) -> None:
    fake_llm.script({"turns": [{"echo": "user"}], "faults": [{"status": 400}] * 50})
    prompts = tmp_path / "p.txt"
    prompts.write_text("".join(f"prompt {i}\n" for i in range(20)))
    out = tmp_path / "out.jsonl"
    args = _args(str(prompts), "-o", str(out), "-c", "1", "--max-errors", "3")
    assert await run_batch(args, config) == EXIT_FAILURE
    records = _lines(out)
    assert [r["id"] for r in records] == [1, 2, 3]
    assert all(r["error"]["type"] == "ProviderError" for r in records)


async def test_an_unknown_model_stops_the_batch_at_once_with_exit_2(
    config: Config, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    from agent.errors import ModelNotFoundError

    not_found = {"status": 404, "message": "model: fake-model"}
    fake_llm.script({"turns": [{"echo": "user"}], "faults": [not_found] * 50})
    prompts = tmp_path / "p.txt"
    prompts.write_text("".join(f"prompt {i}\n" for i in range(20)))
    out = tmp_path / "out.jsonl"
    with pytest.raises(ModelNotFoundError) as exc:
        await run_batch(_args(str(prompts), "-o", str(out), "-c", "2"), config)
    assert exc.value.exit_code == 2
    assert "model 'fake-model' not found (HTTP 404: model: fake-model)" in str(exc.value)
    assert "--resume" in str(exc.value)
    assert len(fake_llm.requests) <= 2  # the items in flight at most, not one request per item
    assert _lines(out) == []  # no item written as failed: --resume runs them all
    fake_llm.reset([{"echo": "user"}])
    assert await run_batch(_args(str(prompts), "-o", str(out), "--resume"), config) == EXIT_OK
    assert len(_lines(out)) == 20


async def test_resume_runs_exactly_the_missing_items(
    config: Config, fake_llm: FakeLLM, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_llm.script([{"echo": "user"}])
    prompts = tmp_path / "p.txt"
    prompts.write_text("".join(f"prompt {i}\n" for i in range(1, 7)))
    out = tmp_path / "out.jsonl"
    done = [{"id": 1, "answer": "old", "error": None}, {"id": 4, "answer": "old", "error": {"type": "X"}}]
    out.write_text("".join(json.dumps(d) + "\n" for d in done) + '{"id": 2, "answer": "half-wri')
    assert await run_batch(_args(str(prompts), "-o", str(out), "--resume"), config) == EXIT_OK
    ids = Counter(r["id"] for r in _lines(out))
    assert ids == dict.fromkeys(range(1, 7), 1)
    assert _prompt_texts(fake_llm.requests) == {f"prompt {i}": 1 for i in (2, 3, 5, 6)}
    assert "4 done, 0 failed, 2 skipped" in capsys.readouterr().err
    # Nothing is left: a second resume runs nothing.
    fake_llm.reset([{"echo": "user"}])
    assert await run_batch(_args(str(prompts), "-o", str(out), "--resume"), config) == EXIT_OK
    assert fake_llm.requests == []
    assert len(_lines(out)) == 6


async def test_without_resume_an_output_with_results_is_refused(config: Config, tmp_path: Path) -> None:
    prompts = tmp_path / "p.txt"
    prompts.write_text("x\n")
    (tmp_path / "p.results.jsonl").write_text('{"id": 1}\n')
    with pytest.raises(UsageError, match="already holds results"):
        await run_batch(_args(str(prompts)), config)
    assert (tmp_path / "p.results.jsonl").read_text() == '{"id": 1}\n'


async def test_duplicate_ids_run_once(config: Config, fake_llm: FakeLLM, tmp_path: Path) -> None:
    fake_llm.script([{"echo": "user"}])
    source = tmp_path / "items.jsonl"
    source.write_text('{"id": "x", "prompt": "first"}\n{"id": "x", "prompt": "second"}\n')
    out = tmp_path / "out.jsonl"
    assert await run_batch(_args(str(source), "-o", str(out)), config) == EXIT_FAILURE
    assert [(r["id"], r["answer"]) for r in _lines(out)] == [("x", "first")]


async def test_shards_together_cover_every_id_exactly_once(
    config: Config, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    fake_llm.script([{"echo": "user"}])
    prompts = tmp_path / "p.txt"
    prompts.write_text("".join(f"prompt {i}\n" for i in range(1, 31)))
    seen: Counter[int] = Counter()
    for shard in range(3):
        out = tmp_path / f"shard{shard}.jsonl"
        assert (
            await run_batch(_args(str(prompts), "-o", str(out), "--shard", f"{shard}/3"), config) == EXIT_OK
        )
        ids = [r["id"] for r in _lines(out)]
        assert 0 < len(ids) < 30
        seen.update(ids)
    assert seen == dict.fromkeys(range(1, 31), 1)


def test_usage_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["batch", str(tmp_path / "missing.txt")]) == EXIT_USAGE
    assert "input file" in capsys.readouterr().err
    prompts = tmp_path / "p.txt"
    prompts.write_text("x\n")
    assert cli_main(["batch", str(prompts), "--shard", "5/2"]) == EXIT_USAGE
    assert cli_main(["batch", str(prompts), "--model", "unknown-provider:x"]) == EXIT_USAGE


# --- signals and kills ------------------------------------------------------------------------------


async def _signal_after(fake: FakeLLM, requests: int, *signals: signal.Signals) -> None:
    """Send signals to this process once the fake has seen ``requests`` requests."""
    assert await fake.wait_for(lambda stats: stats["requests"] >= requests)
    for signum in signals:
        # The batch's own handler must be in place, or this would stop the test run itself.
        assert signal.getsignal(signum) not in (signal.SIG_DFL, signal.SIG_IGN, signal.default_int_handler)
        os.kill(os.getpid(), signum)


async def test_sigint_finishes_the_items_in_flight_then_exits_130(
    config: Config, fake_llm: FakeLLM, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_llm.script({"turns": [{"echo": "user"}], "latency": 0.2})
    prompts = tmp_path / "p.txt"
    prompts.write_text("".join(f"prompt {i}\n" for i in range(1, 41)))
    out = tmp_path / "out.jsonl"
    async with anyio.create_task_group() as tg:
        tg.start_soon(_signal_after, fake_llm, 6, signal.SIGINT)
        code = await run_batch(_args(str(prompts), "-o", str(out), "-c", "4"), config)
    assert code == EXIT_INTERRUPTED
    written = [r["id"] for r in _lines(out)]
    # Every item that was started got its line; none was started after the signal.
    started = _prompt_texts(fake_llm.requests)
    assert sorted(written) == sorted(int(p.split()[1]) for p in started)
    assert 6 <= len(written) < 40
    assert "--resume" in capsys.readouterr().err


async def test_sigterm_abandons_the_items_in_flight_and_resume_finishes(
    config: Config, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    fake_llm.script({"turns": ADD_THEN_ANSWER, "latency": 0.2})
    prompts = tmp_path / "p.txt"
    prompts.write_text("".join(f"prompt {i}\n" for i in range(1, 25)))
    out = tmp_path / "out.jsonl"
    args = _args(str(prompts), "-o", str(out), "-c", "4")
    with anyio.fail_after(10):  # abandoning does not wait for the model
        async with anyio.create_task_group() as tg:
            tg.start_soon(_signal_after, fake_llm, 9, signal.SIGTERM)
            code = await run_batch(args, config)
    assert code == EXIT_INTERRUPTED
    raw = out.read_text()
    assert raw == "" or raw.endswith("\n")  # no half-written line
    first = [r["id"] for r in _lines(out)]
    assert len(first) < len(_prompt_texts(fake_llm.requests))  # some were abandoned in flight
    assert await run_batch(_args(str(prompts), "-o", str(out), "-c", "4", "--resume"), config) == EXIT_OK
    assert Counter(r["id"] for r in _lines(out)) == dict.fromkeys(range(1, 25), 1)


# --- the real program: kill it, signal it, resume ------------------------------------------------


@pytest.fixture
def slow_fake(fake_llm_process: FakeLLMProcess) -> Iterator[FakeLLMProcess]:
    fake_llm_process.script({"turns": ADD_THEN_ANSWER, "latency": 0.05})
    yield fake_llm_process


def _agent_batch(config_file: Path, *argv: str) -> subprocess.Popen[str]:
    env = {**os.environ, "FAKE_KEY": "test-key", "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "agent", "--config", str(config_file), "-vv", "batch", *argv],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_items(proc: subprocess.Popen[str], count: int) -> None:
    """Read the program's debug log until ``count`` items were written (each log line comes after
    its output line was written and flushed)."""
    assert proc.stderr is not None
    written = 0
    for line in proc.stderr:
        if "batch: item " in line:
            written += 1
            if written >= count:
                return
    raise AssertionError(f"agent batch ended after {written} items (exit {proc.wait()})")


def _write_config(path: Path, base_url: str, mcp_url: str) -> Path:
    path.write_text(
        'model = "fake:fake-model"\n'
        f'[providers.fake]\ntype = "anthropic"\nbase_url = "{base_url}"\napi_key_env = "FAKE_KEY"\n'
        f'[servers.test]\nurl = "{mcp_url}"\n'
    )
    return path


@pytest.mark.e2e
async def test_killed_mid_run_then_resume_gives_every_id_once(
    slow_fake: FakeLLMProcess, mcp_http_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_file = _write_config(tmp_path / "agent.toml", slow_fake.base_url, mcp_http_url)
    prompts = tmp_path / "p.txt"
    prompts.write_text("".join(f"prompt {i}\n" for i in range(1, 61)))
    out = tmp_path / "out.jsonl"
    proc = _agent_batch(config_file, str(prompts), "-o", str(out), "-c", "8")
    try:
        _wait_for_items(proc, 10)
        proc.send_signal(signal.SIGKILL)
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stderr is not None
        proc.stderr.close()
    assert code == -signal.SIGKILL
    before = out.read_bytes()
    complete = before[: before.rfind(b"\n") + 1]
    first_run = Counter(json.loads(line)["id"] for line in complete.splitlines())
    assert 10 <= len(first_run) < 60
    assert set(first_run.values()) == {1}

    monkeypatch.setenv("FAKE_KEY", "test-key")
    config = _config(slow_fake.base_url, mcp_http_url)
    assert await run_batch(_args(str(prompts), "-o", str(out), "-c", "8", "--resume"), config) == EXIT_OK
    ids = Counter(r["id"] for r in _lines(out))
    assert ids == dict.fromkeys(range(1, 61), 1)


async def test_ask_approval_cannot_be_given_so_the_call_is_denied(
    fake_llm: FakeLLM, mcp_http_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_KEY", "test-key")
    config = Config(
        model="fake:fake-model",
        providers={"fake": {"type": "anthropic", "base_url": fake_llm.base_url, "api_key_env": "FAKE_KEY"}},
        servers={"test": {"url": mcp_http_url, "approval": {"add": "ask", "*": "always"}}},
    )
    fake_llm.script(
        [
            {
                "tool_calls": [
                    {"name": "add", "arguments": {"a": 1, "b": 2}},
                    {"name": "echo", "arguments": {"text": "hi"}},
                ]
            },
            {"echo": "tool_results"},
        ]
    )
    prompts = tmp_path / "p.txt"
    prompts.write_text("go\n")
    out = tmp_path / "out.jsonl"
    assert await run_batch(_args(str(prompts), "-o", str(out)), config) == EXIT_OK
    calls = {c["tool"]: c for c in _lines(out)[0]["tool_calls"]}
    assert calls["add"]["denied"] is True and calls["add"]["is_error"] is True
    assert calls["echo"]["denied"] is False and calls["echo"]["is_error"] is False
    assert "no one was there to give it" in _lines(out)[0]["answer"]  # not "denied by the user"


async def test_a_server_that_cannot_connect_stops_the_batch_before_any_item(
    config: Config, fake_llm: FakeLLM, tmp_path: Path
) -> None:
    dead = f"http://127.0.0.1:{refused_port()}/mcp"
    broken = config.model_copy(update={"servers": {"dead": ServerSettings(url=dead, timeout=5)}})
    prompts = tmp_path / "p.txt"
    prompts.write_text("x\n")
    out = tmp_path / "out.jsonl"
    with pytest.raises(ServerError, match="dead"):
        await run_batch(_args(str(prompts), "-o", str(out)), broken)
    assert fake_llm.requests == []
    assert out.read_text() == ""


def test_a_full_device_ends_the_batch_with_one_line_and_exit_1(
    fake_llm_process: FakeLLMProcess, mcp_http_url: str, tmp_path: Path
) -> None:
    """/dev/full answers every write with ENOSPC: one line naming it, exit 1, no traceback."""
    fake_llm_process.script({"turns": ADD_THEN_ANSWER})
    config_file = _write_config(tmp_path / "agent.toml", fake_llm_process.base_url, mcp_http_url)
    (tmp_path / "in.txt").write_text("one\ntwo\n")
    argv = ["--config", str(config_file), "batch", str(tmp_path / "in.txt"), "-o", "/dev/full", "-c", "1"]
    proc = run_agent(*argv, env={"FAKE_KEY": "test-key"})  # in this process: an escaping error fails here
    assert proc.returncode == EXIT_FAILURE, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "cannot write the results to /dev/full: No space left on device" in proc.stderr


async def test_a_server_lost_mid_batch_fails_its_items_and_retry_failed_runs_them_once(
    fake_llm: FakeLLM, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    events = tmp_path / "events.txt"
    events.touch()
    monkeypatch.setenv("MCP_TEST_EVENTS", str(events))
    monkeypatch.setenv("FAKE_KEY", "test-key")
    fake_llm.script(
        [
            {"tool_calls": [{"name": "slow", "arguments": {"seconds": 2, "tag": "lost"}}]},
            {"echo": "tool_results"},
        ]
    )
    prompts = tmp_path / "p.txt"
    prompts.write_text("".join(f"prompt {i}\n" for i in range(1, 5)))
    out = tmp_path / "out.jsonl"
    async with RestartableServer() as server:
        config = _config(fake_llm.base_url, server.url)
        codes: list[int] = []
        async with anyio.create_task_group() as tg:

            async def batch() -> None:
                codes.append(await run_batch(_args(str(prompts), "-o", str(out), "-c", "1"), config))

            tg.start_soon(batch)
            with anyio.fail_after(60):
                while "started lost" not in (await anyio.Path(events).read_text()).splitlines():  # noqa: ASYNC110
                    await anyio.sleep(0.02)
            await server.kill()
        assert codes == [EXIT_FAILURE]
        records = _lines(out)
        assert len(records) == 4
        assert all(r["error"]["type"] == "ServerUnavailable" for r in records)
        assert "4 failed" in capsys.readouterr().err

        await server.start()
        fake_llm.reset([{"echo": "user"}])
        again = _args(str(prompts), "-o", str(out), "--resume", "--retry-failed")
        assert await run_batch(again, config) == EXIT_OK
    records = _lines(out)
    assert Counter(r["id"] for r in records) == dict.fromkeys(range(1, 5), 1)
    assert all(r["error"] is None for r in records)
    assert _prompt_texts(fake_llm.requests) == {f"prompt {i}": 1 for i in range(1, 5)}
    assert "4 failed item(s) taken out of the output to run again" in capsys.readouterr().err
