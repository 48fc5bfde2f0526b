"""How close ``agent batch`` gets to the ideal throughput, and whether its memory stays flat (issue 7).

    uv run python bench/batch_throughput.py [--items 200] [--concurrency 8 32 64] [--latency 0.1] [--repeats 3]
                                            [--memory-items 200 2000] [--memory-concurrency 32]
                                            [--shards 2] [--raw]

Everything runs on 127.0.0.1: the fake model API (tests/support/fake_llm.py, in a thread of this
process, answering every request after ``--latency`` seconds) and the MCP test server
(tests/support/mcp_server.py, Streamable HTTP with the SDK's default SSE responses, its own
process). Each run is the real ``agent batch`` program in its own process, so its peak RSS
(``wait4``) and CPU time are its own. ``agent batch`` asks the model for whole (non-streamed)
responses. Compiled modules are cached in the bench's temporary folder (even where
PYTHONDONTWRITEBYTECODE is set), so start-up is what users see, not a fresh compile.

Every item makes 2 tool calls, one after the other (``add`` then ``echo``), so it takes 3 model
requests. Ideal wall time = items x 3 x latency / concurrency. Columns:

- ``phase``: first model request's arrival to the last one's answer (process start, imports and
  connecting left out); ``eff`` = ideal / phase (goal: >= 0.9 at concurrency 32);
- ``best s``: the shortest phase any program could have: an item's 3 requests are sequential, so
  with C conversations at once it takes ceil(items / C) rounds of 3 x latency (200 items at 32:
  7 rounds, 2.1 s against the 1.875 s ideal, so eff can be at most 0.89); ``of best`` = best / phase;
- ``program``: the whole process, imports included;
- ``CPU``: CPU seconds of the ``agent batch`` process(es); ``CPU/item``: the same less a 1-item run
  (start-up), per item. One Python process runs on one core at a time, so items / CPU/item is
  the most a single process can do, whatever the concurrency;
- ``MCP s`` / ``fake s``: CPU seconds of the MCP server / of this process (the fake) during the run;
- ``RSS``: peak resident memory (the largest process); it must not grow from 200 to 2000 items.

``--shards K`` adds rows with K ``agent batch --shard I/K`` processes at once (each with
concurrency / K), the same input split by id: how sharding uses more cores.

Every configuration runs ``--repeats`` times. ``--raw`` adds the same runs of bench/raw_batch.py,
interleaved with ``agent batch`` (ABAB, the order swapped every repeat): the thinnest hand-written
batch on the raw SDKs (anthropic client + ``mcp.Client``, tools listed once, whole responses read
as plain JSON as ``agent batch`` reads them, the same concurrency, no retries, checks, resume or
fsync). Its ``eff`` is the most these SDKs reach on this machine; the last table compares the two
per concurrency, median and min-max of the repeats, with the machine's load.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from common import PY, ROOT, cache_bytecode, proc_cpu, start, stop

sys.path.insert(0, str(ROOT))

from tests.support.fake_llm import FakeLLM, Script, SeenRequest

STEPS = 3  # model requests per item: add, echo, answer


@dataclass
class Result:
    items: int
    concurrency: int
    shards: int
    kind: str
    ideal: float
    phase: float
    program: float
    cpu: float
    mcp_cpu: float
    fake_cpu: float
    rss_mb: float
    lines: int
    codes: list[int]

    latency: float = 0.0

    @property
    def efficiency(self) -> float:
        return self.ideal / self.phase if self.phase else 0.0

    @property
    def best(self) -> float:
        return math.ceil(self.items / self.concurrency) * STEPS * self.latency


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


def bench_env(work: Path) -> dict[str, str]:
    return cache_bytecode({**os.environ, "FAKE_KEY": "bench"}, work)


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Bench:
    def __init__(self, fake: FakeLLM, mcp: subprocess.Popen[str], mcp_url: str, latency: float, work: Path):
        self.fake = fake
        self.mcp = mcp
        self.latency = latency
        self.work = work
        self.config = work / "agent.toml"
        self.config.write_text(
            'model = "fake:fake-model"\n'
            f'[providers.fake]\ntype = "anthropic"\nbase_url = "{fake.base_url}"\napi_key_env = "FAKE_KEY"\n'
            f'[servers.test]\nurl = "{mcp_url}"\n',
            encoding="utf-8",
        )
        self.mcp_url = mcp_url
        self.startup_cpu = {"agent": 0.0, "raw": 0.0}

    def argv(self, program: str, prompts: Path, out: Path, concurrency: int, shard: str | None) -> list[str]:
        if program == "raw":
            raw = ROOT / "bench" / "raw_batch.py"
            return [sys.executable, str(raw), self.mcp_url, str(prompts), str(out), str(concurrency)]
        argv = [sys.executable, "-m", "agent", "--config", str(self.config), "batch", str(prompts)]
        argv += ["-o", str(out), "-c", str(concurrency)]
        return argv + (["--shard", shard] if shard else [])

    def run(self, items: int, concurrency: int, shards: int = 1, kind: str = "agent") -> Result:
        clock = Clock()
        self.fake.reset(Script(respond=clock.respond, latency=self.latency))
        prompts = self.work / f"prompts-{items}.txt"
        prompts.write_text("".join(f"question {i}\n" for i in range(items)), encoding="utf-8")
        env = bench_env(self.work)
        env.update(ANTHROPIC_BASE_URL=self.fake.base_url, ANTHROPIC_API_KEY="bench")
        outputs = [self.work / f"results-{items}-{concurrency}-{i}of{shards}.jsonl" for i in range(shards)]
        mcp_cpu, fake_cpu = proc_cpu(self.mcp.pid), _own_cpu()
        began = time.monotonic()
        procs = []
        for i, out in enumerate(outputs):
            out.unlink(missing_ok=True)
            shard = f"{i}/{shards}" if shards > 1 else None
            argv = self.argv(kind, prompts, out, max(1, concurrency // shards), shard)
            procs.append(subprocess.Popen(argv, cwd=self.work, env=env, stderr=subprocess.DEVNULL))
        cpu, rss, codes = 0.0, 0.0, []
        for proc in procs:
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            codes.append(proc.returncode)
            cpu += usage.ru_utime + usage.ru_stime
            rss = max(rss, usage.ru_maxrss / 1024)
        program = time.monotonic() - began
        mcp_cpu, fake_cpu = proc_cpu(self.mcp.pid) - mcp_cpu, _own_cpu() - fake_cpu
        with clock.lock:
            first, last = min(clock.arrivals), max(clock.arrivals)
        return Result(
            items=items,
            concurrency=concurrency,
            shards=shards,
            kind=kind,
            ideal=items * STEPS * self.latency / concurrency,
            phase=last + self.latency - first,
            program=program,
            cpu=cpu,
            mcp_cpu=mcp_cpu,
            fake_cpu=fake_cpu,
            rss_mb=rss,
            lines=sum(sum(1 for _ in out.open(encoding="utf-8")) for out in outputs),
            codes=codes,
            latency=self.latency,
        )

    def per_item_ms(self, r: Result) -> float:
        return (r.cpu - self.startup_cpu[r.kind] * r.shards) / r.items * 1000

    def compare(self, rows: list[Result], concurrency: list[int]) -> None:
        """agent batch next to the raw batch, per concurrency: median (min-max) of the repeats."""
        print(
            f"\nagent batch / raw batch, median (min-max) of the interleaved runs; load {os.getloadavg()[0]:.1f}"
        )
        print(
            f"{'conc':>5} {'agent phase s':>20} {'raw phase s':>20} {'ratio':>6} {'agent CPU/item ms':>22} {'raw CPU/item ms':>22} {'ratio':>6}"
        )

        def spread(values: list[float], digits: int) -> str:
            return (
                f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"
            )

        for c in concurrency:
            mine = [r for r in rows if r.concurrency == c and r.shards == 1]
            phase = {k: [r.phase for r in mine if r.kind == k] for k in ("agent", "raw")}
            cpu = {k: [self.per_item_ms(r) for r in mine if r.kind == k] for k in ("agent", "raw")}
            print(
                f"{c:>5} {spread(phase['agent'], 2):>20} {spread(phase['raw'], 2):>20}"
                f" {statistics.median(phase['agent']) / statistics.median(phase['raw']):>5.2f}x"
                f" {spread(cpu['agent'], 1):>22} {spread(cpu['raw'], 1):>22}"
                f" {statistics.median(cpu['agent']) / statistics.median(cpu['raw']):>5.2f}x"
            )

    def show(self, results: list[Result]) -> None:
        print(
            f"{'run':>11} {'items':>6} {'conc':>5} {'procs':>5} {'ideal s':>8} {'phase s':>8} {'eff':>5} {'best s':>7} {'of best':>7} {'program s':>9} "
            f"{'CPU s':>6} {'CPU/item ms':>11} {'MCP s':>6} {'fake s':>6} {'RSS MB':>7} {'lines':>6} {'exit':>5}"
        )
        for r in results:
            per_item = self.per_item_ms(r)
            name = "agent batch" if r.kind == "agent" else "raw SDKs"
            print(
                f"{name:>11} {r.items:>6} {r.concurrency:>5} {r.shards:>5} {r.ideal:>8.2f} {r.phase:>8.2f} "
                f"{r.efficiency:>5.2f} {r.best:>7.2f} {r.best / r.phase:>7.2f} {r.program:>9.1f} {r.cpu:>6.1f} {per_item:>11.1f} {r.mcp_cpu:>6.1f} {r.fake_cpu:>6.1f} "
                f"{r.rss_mb:>7.1f} {r.lines:>6} {','.join(map(str, r.codes)):>5}",
                flush=True,
            )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 32, 64])
    parser.add_argument("--repeats", type=int, default=3, help="runs of each configuration, interleaved")
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--memory-items", type=int, nargs="*", default=[200, 2000])
    parser.add_argument("--memory-concurrency", type=int, default=32)
    parser.add_argument("--shards", type=int, default=2, help="processes for the sharded rows (1: none)")
    parser.add_argument("--raw", action="store_true", help="add the raw-SDK baseline (bench/raw_batch.py)")
    args = parser.parse_args()

    with FakeLLM() as fake, tempfile.TemporaryDirectory(prefix="batch-bench-") as tmp:
        mcp_argv = [PY, "-m", "tests.support.mcp_server", "--transport", "http", "--port", "0"]
        mcp, mcp_url = start(mcp_argv, bench_env(Path(tmp)))
        try:
            bench = Bench(fake, mcp, mcp_url, args.latency, Path(tmp))
            programs = ["agent", "raw"] if args.raw else ["agent"]
            for program in programs:
                bench.run(1, 1, kind=program)  # fills the bytecode cache
                bench.startup_cpu[program] = bench.run(1, 1, kind=program).cpu
            print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
            print(f"start-up CPU of one agent batch process: {bench.startup_cpu['agent']:.1f} s")
            print(
                f"\nthroughput: {args.items} items, 2 tool calls each, model latency {args.latency * 1000:.0f} ms"
            )
            rows: list[Result] = []
            for c in args.concurrency:
                for r in range(args.repeats):  # ABAB: the order swapped every repeat
                    rows += [
                        bench.run(args.items, c, kind=p) for p in (programs if r % 2 == 0 else programs[::-1])
                    ]
            if args.shards > 1:
                rows += [bench.run(args.items, max(args.concurrency), args.shards)]
            bench.show(rows)
            if args.raw:
                bench.compare(rows, args.concurrency)
            if args.memory_items:
                print(f"\nmemory: concurrency {args.memory_concurrency}")
                bench.show([bench.run(n, args.memory_concurrency) for n in args.memory_items])
            print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")
        finally:
            stop(mcp)
    return 0


if __name__ == "__main__":
    sys.exit(main())
