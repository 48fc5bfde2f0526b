"""How much the agent loop costs on top of the model and the tools (issue 5, "Bar and benchmark").

    uv run python bench/loop_overhead.py [--iterations 20] [--latency 0.05] [--repeats 3] [--baseline DIR]

Everything runs on 127.0.0.1: the fake provider (tests/support/fake_llm.py, in this process's
thread, answering after ``--latency`` seconds) and the MCP test server (tests/support/mcp_server.py,
Streamable HTTP). It measures, and prints:

1. Per tool iteration: ``agent run`` and the thinnest hand-written loop on the raw SDKs
   (bench/raw_loop.py: anthropic client + mcp Client; once with plain JSON responses, once
   streamed like ``agent``) each answer a prompt that takes ``--iterations`` steps of one
   ``echo`` call. The fake notes when each model request arrives; per iteration = (last request -
   first request) / iterations, which leaves process start and exit out. "Beyond latency"
   subtracts the fake's latency. "CPU per iteration" (the program's CPU time between its first and
   last model request, from /proc, per step) is what the machine's load disturbs least. The programs run
   in the same session, in turn, ``--repeats`` times; medians are printed, and the ratios.
2. Cold start: process launch to the first model request, for both programs.
3. Listing: 1000 and 5000 tools (bench/many_tools_server.py, realistic schemas) listed over MCP
   and converted into tool specs (``ServerManager.list_tools`` + ``Toolbox``), next to the SDK's
   bare ``Client.list_tools``; once from the SDK's server as it is, once from one that replays a
   prepared reply (``--prepared``), which leaves the client's share alone.
   ``bench/listing_breakdown.py`` splits the client's share between the MCP SDK's steps.
4. Concurrency: K tool calls of 200 ms each in one response; the wall time of the tool phase.

Goals: per-iteration overhead within 1.10x of the raw loop, cold start within 10 %, 1000 tools
under 100 ms, K concurrent 200 ms calls in about 200 ms.
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio
from common import PY, ROOT, cache_bytecode, proc_cpu, start, stop

sys.path.insert(0, str(ROOT))

from tests.support.fake_llm import FakeLLM


def clean_env(home: Path, fake: FakeLLM) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENT_")}
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        (home / var).mkdir(exist_ok=True)
        env[var] = str(home / var)
    env.update(fake.env())
    return cache_bytecode(env, home)  # cold starts as users see them


def _reached(k: int, stats: dict[str, int]) -> bool:
    return stats["requests"] >= k


def timed_run(
    fake: FakeLLM, argv: list[str], env: dict[str, str], cwd: Path, requests: int
) -> tuple[float, float, float]:
    """Run a program; return (process start to first request, seconds per iteration, CPU seconds
    per iteration), the last two measured between the first and the last model request."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    arrivals: list[float] = []
    cpu: list[float] = []
    for k in range(1, requests + 1):
        if not fake.wait_for_sync(functools.partial(_reached, k), 300):
            proc.kill()
            raise SystemExit(f"{argv[1]}: request {k} never came; stderr: {proc.communicate()[1][-2000:]}")
        arrivals.append(time.perf_counter())
        if k in (1, requests):
            cpu.append(proc_cpu(proc.pid))
    out, err = proc.communicate(timeout=120)
    if proc.returncode != 0 or out.strip() != "done":
        raise SystemExit(f"{argv[1]} failed ({proc.returncode}): {out[-500:]} {err[-2000:]}")
    steps = requests - 1
    return arrivals[0] - started, (arrivals[-1] - arrivals[0]) / steps, (cpu[-1] - cpu[0]) / steps


def bench_loop(
    fake: FakeLLM, mcp_url: str, iterations: int, latency: float, repeats: int, baseline: Path | None = None
) -> dict[str, Any]:
    def script(steps: int) -> dict[str, Any]:
        turns: list[Any] = [{"tool_calls": [["echo", {"text": f"step {i}"}]]} for i in range(steps)]
        return {"turns": [*turns, "done"], "latency": latency}

    prompt = f"call echo {iterations} times"
    programs = {
        "raw": [PY, str(ROOT / "bench" / "raw_loop.py"), mcp_url, prompt],
        "raw-stream": [PY, str(ROOT / "bench" / "raw_loop.py"), mcp_url, prompt, "--stream"],
        "agent": [
            *(PY, "-m", "agent", "run", prompt, "--url", mcp_url),
            *("-m", "anthropic:claude-test", "--max-steps", str(iterations + 5)),
        ],
    }
    if baseline is not None:  # the same agent command, from another checkout (its own .venv)
        python = str(baseline / ".venv" / "bin" / "python")
        programs["baseline"] = [python, *programs["agent"][1:]]
    keys = ("cold", "iter", "cpu_iter")
    results: dict[str, dict[str, list[float]]] = {name: {k: [] for k in keys} for name in programs}
    with tempfile.TemporaryDirectory() as tmp:
        env = clean_env(Path(tmp), fake)
        for argv in programs.values():  # warm-up: fill the bytecode cache, untimed
            fake.reset(script(1))
            timed_run(fake, argv, env, Path(tmp), 2)
        for r in range(repeats):
            order = list(programs.items())
            for name, argv in order[r % len(order) :] + order[: r % len(order)]:
                fake.reset(script(iterations))
                cold, per_iter, cpu_iter = timed_run(fake, argv, env, Path(tmp), iterations + 1)
                results[name]["cold"].append(cold)
                results[name]["iter"].append(per_iter)
                results[name]["cpu_iter"].append(cpu_iter)
    return {
        name: {key: statistics.median(values) for key, values in data.items()}
        for name, data in results.items()
    }


async def raw_http_listing(url: str, repeats: int) -> float:
    """tools/list as one bare httpx2 exchange (no MCP SDK on the client): the server's share."""
    import httpx2

    headers = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
    init = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "b", "version": "0"},
        },
    }
    times: list[float] = []
    async with httpx2.AsyncClient(timeout=60) as http:
        response = await http.post(url, headers=headers, json=init)
        if session := response.headers.get("mcp-session-id"):
            headers["mcp-session-id"] = session
        headers["mcp-protocol-version"] = "2025-11-25"
        await http.post(url, headers=headers, json={"jsonrpc": "2.0", "method": "notifications/initialized"})
        for i in range(repeats):
            t0 = time.perf_counter()
            response = await http.post(
                url, headers=headers, json={"jsonrpc": "2.0", "id": i + 1, "method": "tools/list"}
            )
            body = await response.aread()
            times.append(time.perf_counter() - t0)
            assert b'"tools"' in body, body[:200]
    return statistics.median(times)


async def bench_listing(url: str, server_pid: int, repeats: int) -> dict[str, float]:
    from mcp import Client

    from agent.config import ServerSettings
    from agent.mcp.manager import ServerManager
    from agent.tools import Toolbox

    listed: list[float] = []
    converted: list[float] = []
    client_cpu: list[float] = []
    server_cpu: list[float] = []
    count = 0
    async with ServerManager({"many": ServerSettings(url=url)}) as manager:
        for _ in range(repeats):
            s0, c0, t0 = proc_cpu(server_pid), time.process_time(), time.perf_counter()
            tools = await manager.list_tools()
            t1, c1, s1 = time.perf_counter(), time.process_time(), proc_cpu(server_pid)
            box = Toolbox(manager, tools)
            t2 = time.perf_counter()
            listed.append(t1 - t0)
            converted.append(t2 - t1)
            client_cpu.append(c1 - c0)
            server_cpu.append(s1 - s0)
            count = len(box)
            del tools, box
    raw: list[float] = []
    async with Client(url, cache=None) as client:
        for _ in range(repeats):
            t0 = time.perf_counter()
            await client.list_tools()
            raw.append(time.perf_counter() - t0)
    return {
        "tools": count,
        "list": statistics.median(listed),
        "convert": statistics.median(converted),
        "client_cpu": statistics.median(client_cpu),
        "server_cpu": statistics.median(server_cpu),
        "raw_list": statistics.median(raw),
        "http": await raw_http_listing(url, repeats),
    }


async def bench_concurrency(fake: FakeLLM, mcp_url: str, k: int) -> tuple[float, float]:
    from agent.config import Config, ServerSettings
    from agent.core import ToolCallFinished, ToolCallStarted
    from agent.session import Session, SessionOptions

    fake.reset([{"tool_calls": [["slow", {"seconds": 0.2, "tag": f"bench{i}"}] for i in range(k)]}, "done"])
    config = Config(servers={"test": ServerSettings(url=mcp_url)}, system_prompt="s")
    started = finished = 0.0
    slowest = 0.0
    async with Session.open(config, SessionOptions(model="anthropic:claude-test")) as session:
        async for event in session.turn("go", []):
            if isinstance(event, ToolCallStarted):
                started = time.perf_counter()
            elif isinstance(event, ToolCallFinished):
                finished = time.perf_counter()  # the last call's end: events come as calls finish
                slowest = max(slowest, event.duration_ms)
                if event.result.is_error:
                    raise SystemExit(f"tool call failed: {event.result.text}")
    return finished - started, slowest / 1000


async def bench_concurrency_raw(mcp_url: str, k: int) -> float:
    """The same K calls straight through the SDK's Client, for reference."""
    from mcp import Client

    async with Client(mcp_url) as client:
        started = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for i in range(k):
                tg.start_soon(client.call_tool, "slow", {"seconds": 0.2, "tag": f"raw{i}"})
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tools", default="1000,5000")
    parser.add_argument("--concurrency", default="10,50")
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="DIR",
        help="also time `agent run` from another checkout (with its own .venv), interleaved",
    )
    args = parser.parse_args()

    with FakeLLM() as fake:
        os.environ.update(fake.env())
        server, mcp_url = start([PY, "-m", "tests.support.mcp_server", "--transport", "http", "--port", "0"])
        try:
            loop = bench_loop(fake, mcp_url, args.iterations, args.latency, args.repeats, args.baseline)
            raw, stream, ours = loop["raw"], loop["raw-stream"], loop["agent"]
            lat = args.latency
            print(
                f"tool iterations: {args.iterations} steps, fake latency {lat * 1000:.0f} ms, median of {args.repeats}"
            )
            print(
                f"{'':20}{'raw loop':>12}{'raw, stream':>13}{'agent run':>12}{'agent/raw-stream':>18}{'agent/raw':>11}"
            )
            rows = [
                ("per iteration", raw["iter"], stream["iter"], ours["iter"]),
                ("  beyond latency", raw["iter"] - lat, stream["iter"] - lat, ours["iter"] - lat),
                ("  CPU per iteration", raw["cpu_iter"], stream["cpu_iter"], ours["cpu_iter"]),
                ("cold start", raw["cold"], stream["cold"], ours["cold"]),
            ]
            for label, a, b, c in rows:
                print(
                    f"{label:20}{a * 1000:>9.1f} ms{b * 1000:>10.1f} ms{c * 1000:>9.1f} ms"
                    f"{c / b if b > 0 else float('nan'):>17.2f}x{c / a if a > 0 else float('nan'):>10.2f}x"
                )
            if "baseline" in loop:
                base = loop["baseline"]
                print(f"\nagent run here vs the baseline checkout {args.baseline}:")
                for label, key in (
                    ("per iteration", "iter"),
                    ("CPU per iteration", "cpu_iter"),
                    ("cold start", "cold"),
                ):
                    print(
                        f"  {label:20}{ours[key] * 1000:>9.1f} ms here {base[key] * 1000:>9.1f} ms baseline"
                        f"{ours[key] / base[key] if base[key] > 0 else float('nan'):>8.3f}x"
                    )
            print("\nK concurrent 200 ms tool calls in one response (wall time of the tool phase):")
            anyio.run(bench_concurrency, fake, mcp_url, 1)  # warm-up: first-call imports and connections
            for k in (int(x) for x in args.concurrency.split(",") if x):
                wall, slowest = anyio.run(bench_concurrency, fake, mcp_url, k)
                raw_wall = anyio.run(bench_concurrency_raw, mcp_url, k)
                print(
                    f"  K={k:<4} agent {wall * 1000:7.1f} ms (slowest call {slowest * 1000:6.1f} ms)"
                    f"   bare SDK Client {raw_wall * 1000:7.1f} ms"
                )
        finally:
            stop(server)

    print("\ntools listed over MCP and converted (median of 5):")
    for n in (int(x) for x in args.tools.split(",") if x):
        for mode, extra in (("SDK server", []), ("prepared reply", ["--prepared"])):
            proc, url = start([PY, str(ROOT / "bench" / "many_tools_server.py"), str(n), *extra])
            try:
                r = anyio.run(bench_listing, url, proc.pid, 5)
            finally:
                stop(proc)
            total = r["list"] + r["convert"]
            print(
                f"  {int(r['tools']):>5} tools, {mode}: list {r['list'] * 1000:6.1f} ms"
                f" + convert {r['convert'] * 1000:5.1f} ms = {total * 1000:6.1f} ms"
                f"   (bare SDK list_tools {r['raw_list'] * 1000:6.1f} ms)\n"
                f"{'':14}CPU during the listing: client {r['client_cpu'] * 1000:6.1f} ms,"
                f" server {r['server_cpu'] * 1000:6.1f} ms;"
                f" one bare httpx2 tools/list exchange {r['http'] * 1000:6.1f} ms"
            )
    print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
