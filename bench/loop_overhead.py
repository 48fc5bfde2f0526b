"""How much the agent loop costs on top of the model and the tools, next to the raw SDKs.

    uv run python bench/loop_overhead.py [--grid 10,100,1000,5000] [--apis anthropic,openai,openai-chat]
                                         [--iterations 20] [--latency 0.05] [--repeats 3]
                                         [--tools 1000,5000] [--concurrency 10,50] [--baseline DIR]

Everything runs on 127.0.0.1: the fake provider (tests/support/fake_llm.py, in this process's
thread, answering after ``--latency`` seconds) and MCP servers (Streamable HTTP, their own
processes). Every comparison does the same work on both sides, runs them in turn (ABAB, the
order rotated every repeat) ``--repeats`` times, and prints the median and the min-max; the
machine's load average is printed with the numbers. It measures:

1. The loop grid: for N tools in ``--grid`` (bench/many_tools_server.py: realistic schemas) and
   each API in ``--apis`` (Anthropic Messages, OpenAI Responses, Chat Completions), ``agent run``
   and the thinnest hand-written loop on the raw SDK (bench/raw_loop.py ``--stream --api``: lists
   the tools once, sends all N with every request, streams like ``agent``) each answer a prompt
   that takes ``--iterations`` steps of one tool call. Tool search is off for ``agent``
   (``AGENT_TOOLS__SEARCH=never``), so both send every tool. The fake notes when each model
   request arrives: per iteration = (last request - first request) / iterations (process start
   and exit left out); CPU per iteration = the program's CPU time (from /proc) in that window,
   what the machine's load disturbs least; cold start = process launch to the first model request
   (imports, connecting, listing the N tools). ``--baseline DIR`` adds ``agent run`` from another
   checkout (its own .venv), interleaved.
2. Concurrency: K tool calls of 200 ms each in one response; the wall time of the tool phase,
   next to the SDK's ``Client`` making the same K calls after listing the tools once (as a
   session does).
3. Listing: ``--tools`` tools listed over MCP and converted into tool specs
   (``ServerManager.list_tools`` + ``Toolbox``), next to the SDK's bare ``Client.list_tools``,
   alternating; once from the SDK's server as it is, once from one that replays a prepared reply
   (``--prepared``), which leaves the client's share alone. ``bench/listing_breakdown.py`` splits
   the client's share between the MCP SDK's steps.

Goals (issue 20): per iteration at or below the raw loop at every size and API, cold start within
5 %.
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

MODELS = {
    "anthropic": "anthropic:claude-test",
    "openai": "openai:gpt-test",
    "openai-chat": "openai-chat:gpt-test",
}


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def spread(values: list[float], scale: float = 1000.0, width: int = 7, digits: int = 1) -> str:
    """``median (min-max)``."""
    med, lo, hi = statistics.median(values) * scale, min(values) * scale, max(values) * scale
    return f"{med:{width}.{digits}f} ({lo:.{digits}f}-{hi:.{digits}f})"


def ratio(a: list[float], b: list[float]) -> str:
    mb = statistics.median(b)
    return f"{statistics.median(a) / mb:.2f}x" if mb > 0 else "nan"


def clean_env(home: Path, fake: FakeLLM) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AGENT_")}
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME"):
        (home / var).mkdir(exist_ok=True)
        env[var] = str(home / var)
    env.update(fake.env())
    env["AGENT_TOOLS__SEARCH"] = "never"  # every tool in every request, as the raw loop sends them
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
    fake: FakeLLM,
    n_tools: int,
    api: str,
    args: argparse.Namespace,
) -> dict[str, dict[str, list[float]]]:
    """One cell of the grid: {program: {"cold"|"iter"|"cpu_iter": [seconds, one per repeat]}}."""
    iterations, latency = args.iterations, args.latency

    def script(steps: int) -> dict[str, Any]:
        call = {"name": "collection_0_search", "arguments": {"query": "q"}}
        return {"turns": [*[{"tool_calls": [call]}] * steps, "done"], "latency": latency}

    server, mcp_url = start([PY, str(ROOT / "bench" / "many_tools_server.py"), str(n_tools)])
    prompt = f"call the tool {iterations} times"
    programs = {
        "raw": [PY, str(ROOT / "bench" / "raw_loop.py"), mcp_url, prompt, "--stream", "--api", api],
        "agent": [
            *(PY, "-m", "agent", "run", prompt, "--url", mcp_url),
            *("-m", MODELS[api], "--max-steps", str(iterations + 5)),
        ],
    }
    if args.baseline is not None:  # the same agent command, from another checkout (its own .venv)
        programs["baseline"] = [str(args.baseline / ".venv" / "bin" / "python"), *programs["agent"][1:]]
    results: dict[str, dict[str, list[float]]] = {
        name: {"cold": [], "iter": [], "cpu_iter": []} for name in programs
    }
    try:
        with tempfile.TemporaryDirectory() as tmp:
            env = clean_env(Path(tmp), fake)
            for argv in programs.values():  # warm-up: fill the bytecode cache, untimed
                fake.reset(script(1))
                timed_run(fake, argv, env, Path(tmp), 2)
            order = list(programs.items())
            for r in range(args.repeats):
                for name, argv in order[r % len(order) :] + order[: r % len(order)]:
                    fake.reset(script(iterations))
                    cold, per_iter, cpu_iter = timed_run(fake, argv, env, Path(tmp), iterations + 1)
                    results[name]["cold"].append(cold)
                    results[name]["iter"].append(per_iter)
                    results[name]["cpu_iter"].append(cpu_iter)
    finally:
        stop(server)
    return results


def print_grid(fake: FakeLLM, args: argparse.Namespace) -> None:
    sizes = [int(x) for x in args.grid.split(",") if x]
    apis = [a for a in args.apis.split(",") if a]
    print(
        f"agent run vs the raw SDK loop (streamed): {args.iterations} steps, fake latency"
        f" {args.latency * 1000:.0f} ms; median (min-max) of {args.repeats}, interleaved; load {load()}"
    )
    head = f"{'api':12}{'tools':>6}  {'':14}{'raw loop':>26}{'agent run':>26}{'agent/raw':>11}"
    if args.baseline is not None:
        head += f"{'baseline':>26}{'agent/base':>11}"
    print(head)
    rows = (
        ("per iteration", "iter", 1000.0, "ms"),
        ("CPU/iteration", "cpu_iter", 1000.0, "ms"),
        ("cold start", "cold", 1.0, "s"),
    )
    for n in sizes:
        for api in apis:
            r = bench_loop(fake, n, api, args)
            for label, key, scale, unit in rows:
                digits = 2 if unit == "s" else 1
                line = (
                    f"{api:12}{n:>6}  {label + ' (' + unit + ')':14}{spread(r['raw'][key], scale, 8, digits):>26}"
                    f"{spread(r['agent'][key], scale, 8, digits):>26}{ratio(r['agent'][key], r['raw'][key]):>11}"
                )
                if "baseline" in r:
                    line += f"{spread(r['baseline'][key], scale, 8, digits):>26}{ratio(r['agent'][key], r['baseline'][key]):>11}"
                print(line, flush=True)
    print(f"load average after the grid: {load()}")


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


async def bench_listing(url: str, server_pid: int, repeats: int) -> dict[str, Any]:
    """Alternating: one listing + conversion by the agent's manager, one bare ``Client.list_tools``
    (each on a connection opened before, each its own collection state)."""
    from mcp import Client

    from agent.config import ServerSettings
    from agent.mcp.manager import ServerManager
    from agent.tools import Toolbox

    out: dict[str, Any] = {k: [] for k in ("list", "convert", "client_cpu", "server_cpu", "raw_list")}
    count = 0
    async with ServerManager({"many": ServerSettings(url=url)}) as manager, Client(url, cache=None) as client:
        for r in range(repeats):
            for side in ("agent", "raw") if r % 2 == 0 else ("raw", "agent"):
                if side == "raw":
                    t0 = time.perf_counter()
                    await client.list_tools()
                    out["raw_list"].append(time.perf_counter() - t0)
                    continue
                s0, c0, t0 = proc_cpu(server_pid), time.process_time(), time.perf_counter()
                tools = await manager.list_tools()
                t1, c1, s1 = time.perf_counter(), time.process_time(), proc_cpu(server_pid)
                box = Toolbox(manager, tools)
                out["convert"].append(time.perf_counter() - t1)
                out["list"].append(t1 - t0)
                out["client_cpu"].append(c1 - c0)
                out["server_cpu"].append(s1 - s0)
                count = len(box)
                del tools, box
    out["tools"] = count
    out["http"] = await raw_http_listing(url, repeats)
    return out


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
    """The same K calls straight through the SDK's Client, after one listing (as the agent's
    session lists first: else the first ``call_tool`` lists the tools inside the timed phase)."""
    from mcp import Client

    async with Client(mcp_url) as client:
        await client.list_tools()
        started = time.perf_counter()
        async with anyio.create_task_group() as tg:
            for i in range(k):
                tg.start_soon(client.call_tool, "slow", {"seconds": 0.2, "tag": f"raw{i}"})
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--grid", default="10,100,1000,5000", help="tool counts of the loop grid ('' skips it)"
    )
    parser.add_argument("--apis", default="anthropic,openai,openai-chat")
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--tools", default="1000,5000", help="tool counts of the listing comparison ('' skips it)"
    )
    parser.add_argument(
        "--concurrency", default="10,50", help="K of the concurrency comparison ('' skips it)"
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="DIR",
        help="also time `agent run` from another checkout (with its own .venv), interleaved",
    )
    args = parser.parse_args()

    with FakeLLM() as fake:
        os.environ.update(fake.env())
        if args.grid:
            print_grid(fake, args)
        if args.concurrency:
            server, mcp_url = start(
                [PY, "-m", "tests.support.mcp_server", "--transport", "http", "--port", "0"]
            )
            try:
                print(
                    f"\nK concurrent 200 ms tool calls in one response (wall time of the tool phase),"
                    f" median (min-max) of {args.repeats}, ms; load {load()}"
                )
                anyio.run(bench_concurrency, fake, mcp_url, 1)  # warm-up: first-call imports and connections
                for k in (int(x) for x in args.concurrency.split(",") if x):
                    ours: list[float] = []
                    bare: list[float] = []
                    for r in range(args.repeats):
                        for side in ("agent", "raw") if r % 2 == 0 else ("raw", "agent"):
                            if side == "agent":
                                ours.append(anyio.run(bench_concurrency, fake, mcp_url, k)[0])
                            else:
                                bare.append(anyio.run(bench_concurrency_raw, mcp_url, k))
                    print(
                        f"  K={k:<4} agent {spread(ours)}   bare SDK Client (listed first) {spread(bare)}  {ratio(ours, bare)}"
                    )
            finally:
                stop(server)

    if args.tools:
        print(
            f"\ntools listed over MCP and converted, alternating with the bare SDK, median (min-max) of {args.repeats}, ms; load {load()}"
        )
    for n in (int(x) for x in args.tools.split(",") if x):
        for mode, extra in (("SDK server", []), ("prepared reply", ["--prepared"])):
            proc, url = start([PY, str(ROOT / "bench" / "many_tools_server.py"), str(n), *extra])
            try:
                r = anyio.run(bench_listing, url, proc.pid, args.repeats)
            finally:
                stop(proc)
            total = [a + b for a, b in zip(r["list"], r["convert"], strict=True)]
            print(
                f"  {int(r['tools']):>5} tools, {mode}: list {spread(r['list'])} + convert {spread(r['convert'])}"
                f" = {spread(total)}   bare SDK list_tools {spread(r['raw_list'])}  {ratio(total, r['raw_list'])}\n"
                f"{'':14}CPU during the listing: client {spread(r['client_cpu'])},"
                f" server {spread(r['server_cpu'])}; one bare httpx2 tools/list exchange {r['http'] * 1000:6.1f} ms"
            )
    print(f"load average: {load()}")


if __name__ == "__main__":
    main()
