"""How close ``agent batch`` gets to the ideal throughput, and whether its memory stays flat (issue 7).

    uv run python bench/batch_throughput.py [--items 200] [--concurrency 1 8 32] [--latency 0.1]
                                            [--memory-items 200 2000] [--memory-concurrency 32]

Everything runs on 127.0.0.1: the fake model API (tests/support/fake_llm.py, in a thread of this
process, answering every request after ``--latency`` seconds) and the MCP test server
(tests/support/mcp_server.py, Streamable HTTP, its own process). Each run is the real
``agent batch`` program in its own process, so its peak RSS (``wait4``) is its own.

Every item makes 2 tool calls, one after the other (``add`` then ``echo``), so it takes 3 model
requests. Ideal wall time = items x 3 x latency / concurrency. "Batch phase" is the first model
request's arrival to the last one's answer (process start, imports and connecting are left out);
"program" is the whole process. Efficiency = ideal / batch phase; the goal is >= 0.9 at
concurrency 32, and a peak RSS that does not grow from 200 to 2000 items. "CPU s" is the CPU time
of the ``agent batch`` process (imports included), "others" that of the MCP server and of the fake
(this process) during the run: on a small machine their sum over the cores is a floor under the
batch phase that no concurrency can beat.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.fake_llm import FakeLLM, Script, SeenRequest  # noqa: E402

STEPS = 3  # model requests per item: add, echo, answer


@dataclass
class Result:
    items: int
    concurrency: int
    ideal: float
    phase: float
    program: float
    summary_wall: float | None
    rss_mb: float
    cpu: float
    cpu_others: float
    lines: int
    code: int

    @property
    def efficiency(self) -> float:
        return self.ideal / self.phase if self.phase else 0.0


class Clock:
    """Arrival times of the model requests, noted by the fake's script."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.arrivals: list[float] = []

    def respond(self, request: SeenRequest) -> dict[str, object]:
        with self.lock:
            self.arrivals.append(time.monotonic())
        turns = request.conversation.assistant_turns
        if turns == 0:
            return {"tool_calls": [{"name": "add", "arguments": {"a": 2, "b": 3}}]}
        if turns == 1:
            return {"tool_calls": [{"name": "echo", "arguments": {"text": "step two"}}]}
        return {"text": "done", "usage": {"input_tokens": 100, "output_tokens": 5}}


def start_mcp_server() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.mcp_server", "--transport", "http", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("READY "):
        proc.kill()
        raise SystemExit(f"the MCP test server did not start: {line!r}")
    return proc, line.split()[1]


def _proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) a live process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_once(
    fake: FakeLLM,
    mcp: subprocess.Popen[str],
    mcp_url: str,
    items: int,
    concurrency: int,
    latency: float,
    work: Path,
) -> Result:
    clock = Clock()
    fake.reset(Script(respond=clock.respond, latency=latency))
    prompts = work / f"prompts-{items}-{concurrency}.txt"
    prompts.write_text("".join(f"question {i}\n" for i in range(items)), encoding="utf-8")
    out = work / f"results-{items}-{concurrency}.jsonl"
    out.unlink(missing_ok=True)
    config = work / "agent.toml"
    config.write_text(
        'model = "fake:fake-model"\n'
        f'[providers.fake]\ntype = "anthropic"\nbase_url = "{fake.base_url}"\napi_key_env = "FAKE_KEY"\n'
        f'[servers.test]\nurl = "{mcp_url}"\n',
        encoding="utf-8",
    )
    err = work / "stderr.txt"
    env = {**os.environ, "FAKE_KEY": "bench"}
    argv = [sys.executable, "-m", "agent", "--config", str(config), "batch", str(prompts), "-o", str(out)]
    others = _proc_cpu(mcp.pid) + _own_cpu()
    began = time.monotonic()
    with err.open("w") as err_fh:
        proc = subprocess.Popen([*argv, "-c", str(concurrency)], cwd=work, env=env, stderr=err_fh)
        _, status, usage = os.wait4(proc.pid, 0)
    program = time.monotonic() - began
    others = _proc_cpu(mcp.pid) + _own_cpu() - others
    proc.returncode = os.waitstatus_to_exitcode(status)
    stderr = err.read_text(encoding="utf-8")
    found = re.search(r"· ([0-9.]+) s ·", stderr)
    with clock.lock:
        first, last = min(clock.arrivals), max(clock.arrivals)
    return Result(
        items=items,
        concurrency=concurrency,
        ideal=items * STEPS * latency / concurrency,
        phase=last + latency - first,
        program=program,
        summary_wall=float(found.group(1)) if found else None,
        rss_mb=usage.ru_maxrss / 1024,
        cpu=usage.ru_utime + usage.ru_stime,
        cpu_others=others,
        lines=sum(1 for _ in out.open(encoding="utf-8")),
        code=proc.returncode,
    )


def show(results: list[Result]) -> None:
    print(
        f"{'items':>6} {'conc':>5} {'ideal s':>8} {'phase s':>8} {'eff':>5} "
        f"{'summary s':>9} {'program s':>9} {'CPU s':>6} {'others':>6} {'peak RSS MB':>11} {'lines':>6} {'exit':>4}"
    )
    for r in results:
        wall = f"{r.summary_wall:.1f}" if r.summary_wall is not None else "-"
        print(
            f"{r.items:>6} {r.concurrency:>5} {r.ideal:>8.2f} {r.phase:>8.2f} {r.efficiency:>5.2f} "
            f"{wall:>9} {r.program:>9.1f} {r.cpu:>6.1f} {r.cpu_others:>6.1f} {r.rss_mb:>11.1f} {r.lines:>6} {r.code:>4}"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--memory-items", type=int, nargs="*", default=[200, 2000])
    parser.add_argument("--memory-concurrency", type=int, default=32)
    args = parser.parse_args()

    mcp, mcp_url = start_mcp_server()
    try:
        with FakeLLM() as fake, tempfile.TemporaryDirectory(prefix="batch-bench-") as tmp:
            work = Path(tmp)
            print(
                f"throughput: {args.items} items, 2 tool calls each, model latency {args.latency * 1000:.0f} ms"
            )
            throughput = [
                run_once(fake, mcp, mcp_url, args.items, c, args.latency, work) for c in args.concurrency
            ]
            show(throughput)
            if args.memory_items:
                print(f"\nmemory: concurrency {args.memory_concurrency}")
                memory = [
                    run_once(fake, mcp, mcp_url, n, args.memory_concurrency, args.latency, work)
                    for n in args.memory_items
                ]
                show(memory)
    finally:
        mcp.terminate()
        mcp.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
