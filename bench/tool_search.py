"""Tool search, measured (issue 16): ranking quality, request bytes, per-step CPU, index build.

``uv run python bench/tool_search.py [--repeats N]``

- Quality: the hand-written queries of bench/data/tool_queries.json against the tools of the
  published servers in bench/data/servers/ (their ``tools/list``, snapshotted), alone and among
  5000 synthetic distractors (bench/distractors.py). recall@k = share of queries with an expected
  tool among the first k results. The queries are split for honest tuning: ``dev`` (CRC-32 of the
  query text even) is what ranking changes are tried on, and only its misses are printed;
  ``held-out`` (odd) is only counted. A ranking change that helps dev but not held-out is
  fitting the queries, not ranking better. Two more groups are only counted: ``blind`` (the
  queries marked so, written after the thesaurus and before running them) and ``fresh``
  (bench/data/tool_queries_fresh.json, written before the word vectors) and ``fresh2``
  (bench/data/tool_queries_fresh2.json, written blind in session 6, before its ranking changes);
  they are not part of dev / held-out / all, and no ranking choice was made on fresh2.
- Model-written queries: in use, the model writes the ``search_tools`` query, not the user.
  bench/data/tool_queries_model.json holds, for every request of the three sets, the first query
  an LLM playing the assistant sent, knowing only the system prompt's tool-search paragraph and
  the user's message; recall of those is reported per set beside the user's own words.
- Bytes: the first request's JSON as each provider adapter posts it (``_wire``: system,
  messages, tools), with tool search and with every tool, for 1000 and 5000 tools.
- CPU per step: our side of one step with search on: the ``search_tools`` call, working out the
  step's tools from the history, and the adapter's conversion of the request (median).
- Index build: the CPU time of building the index of 1000 / 5000 tools (median: tantivy's and
  the tools' vectors), the wall time of ``import tantivy`` and ``import numpy``, and the CPU time
  of reading the word vectors (once per process, on the first build).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
import zlib
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

t0 = time.perf_counter()
import tantivy  # noqa: E402, F401

IMPORT_MS = (time.perf_counter() - t0) * 1000
t0 = time.perf_counter()
import numpy  # noqa: E402, F401

NUMPY_IMPORT_MS = (time.perf_counter() - t0) * 1000

import mcp_types  # noqa: E402
from distractors import distractors  # noqa: E402

from agent.config import ToolSearchSettings  # noqa: E402
from agent.mcp.manager import ServerTool  # noqa: E402
from agent.messages import AssistantMessage, ModelRequest, ToolCallPart, UserMessage  # noqa: E402
from agent.tool_index import ToolIndex  # noqa: E402
from agent.tool_search import ToolSearch  # noqa: E402
from agent.tool_vectors import TABLE, word_vectors  # noqa: E402
from agent.tools import Toolbox  # noqa: E402

DATA = ROOT / "bench" / "data"


def real_tools() -> tuple[list[ServerTool], list[str]]:
    tools, about = [], []
    for path in sorted((DATA / "servers").glob("*.json")):
        snap = json.loads(path.read_text(encoding="utf-8"))
        tools += [ServerTool(snap["server"], mcp_types.Tool.model_validate(t)) for t in snap["tools"]]
        about.append(f"{snap['package']} {snap['version']} ({len(snap['tools'])})")
    return tools, about


def gateway(n: int) -> list[ServerTool]:
    return [ServerTool("gateway", mcp_types.Tool.model_validate(t)) for t in distractors(n)]


def is_dev(query: dict[str, Any]) -> bool:
    """The deterministic dev / held-out split: by the query's text, so adding a query moves no other."""
    return zlib.crc32(query["q"].encode()) % 2 == 0


def recall(search: ToolSearch, queries: list[dict[str, Any]]) -> tuple[float, float, list[str]]:
    at1 = at5 = 0
    misses = []
    for item in queries:
        found = [f"{e.server}.{e.tool}" for e in search.search(item["q"], 5)]
        expected = set(item["expect"])
        at1 += bool(found[:1] and found[0] in expected)
        hit5 = bool(expected & set(found))
        at5 += hit5
        if not hit5:
            misses.append(f"  {item['q']!r}: got {found[:3]}")
    return at1 / len(queries), at5 / len(queries), misses


def quality(
    real: list[ServerTool],
    queries: list[dict[str, Any]],
    fresh: dict[str, list[dict[str, Any]]],
    model: list[dict[str, Any]],
    show_held_out: bool,
) -> None:
    dev = [q for q in queries if is_dev(q)]
    held_out = [q for q in queries if not is_dev(q)]
    blind = [q for q in queries if q.get("group") == "blind"]
    print(f"queries: {len(dev)} dev, {len(held_out)} held-out (split by CRC-32 of the text)")
    apart = ", ".join(f"{len(items)} '{name}'" for name, items in fresh.items())
    print(f"  of them {len(blind)} 'blind' (written after the thesaurus); apart: {apart}\n")
    print("| tools | recall@1 dev | held-out | all | recall@5 dev | held-out | all |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    shown: list[tuple[str, list[str]]] = []
    counts: list[str] = []
    groups: list[str] = []
    written: list[str] = []
    for n_fake in (0, 5000):
        box = Toolbox(None, [*real, *gateway(n_fake)], namespaced=True)
        search = ToolSearch(box, ToolSearchSettings())
        d1, d5, dev_misses = recall(search, dev)
        h1, h5, held_misses = recall(search, held_out)
        a1, a5, _ = recall(search, queries)
        b1, b5, _ = recall(search, blind)
        apart = {name: recall(search, items)[:2] for name, items in fresh.items()}
        label = f"{len(real)} real" + (f" + {n_fake} distractors" if n_fake else "")
        print(f"| {label} | {d1:.2f} | {h1:.2f} | {a1:.2f} | {d5:.2f} | {h5:.2f} | {a5:.2f} |")
        groups.append(
            f"| {label} | {b1:.2f} | "
            + " | ".join(f"{r1:.2f}" for r1, _ in apart.values())
            + f" | {b5:.2f} | "
            + " | ".join(f"{r5:.2f}" for _, r5 in apart.values())
            + " |"
        )
        counts.append(
            f"{label}: @5 hits dev {round(d5 * len(dev))}/{len(dev)}, "
            f"held-out {round(h5 * len(held_out))}/{len(held_out)}, all {round(a5 * len(queries))}/{len(queries)}, "
            f"blind {round(b5 * len(blind))}/{len(blind)}, "
            + ", ".join(
                f"{name} {round(r5 * len(fresh[name]))}/{len(fresh[name])}" for name, (_, r5) in apart.items()
            )
        )
        row = []
        for source in ("tool_queries.json", *(f"tool_queries_{name}.json" for name in fresh)):
            items = [q for q in model if q["set"] == source]
            users = [{"q": q["request"], "expect": q["expect"]} for q in items]
            u1, u5, _ = recall(search, users)
            m1, m5, _ = recall(search, items)
            row.append(f"{u1:.2f} -> {m1:.2f} | {u5:.2f} -> {m5:.2f}")
        written.append(f"| {label} | " + " | ".join(row) + " |")
        shown = [("dev", dev_misses)] + ([("held-out", held_misses)] if show_held_out else [])
    names = " | ".join(fresh)
    print(f"\n| tools | recall@1 blind | {names} | recall@5 blind | {names} |")
    print("|---|---:|" + "---:|" * len(fresh) + "---:|" + "---:|" * len(fresh))
    print("\n".join(groups))
    print("\nthe user's words -> the model's query (tool_queries_model.json), per set:")
    sets = " | ".join(f"{name} @1 | {name} @5" for name in ("all", *fresh))
    print(f"\n| tools | {sets} |")
    print("|---|" + "---:|" * (2 + 2 * len(fresh)))
    print("\n".join(written))
    print("\n" + "\n".join(counts))
    for part, misses in shown:
        if misses:
            print(f"\nmisses at @5 (with distractors), {part}:\n" + "\n".join(misses))


def providers() -> dict[str, Any]:
    from agent.providers.anthropic import AnthropicProvider
    from agent.providers.openai import OpenAIResponsesProvider
    from agent.providers.openai_chat import OpenAIChatProvider

    common = {"api_key": "x", "base_url": "http://127.0.0.1:9"}
    return {
        "anthropic": AnthropicProvider(model="claude-sonnet-4-6", **common),
        "openai": OpenAIResponsesProvider(model="gpt-5.5", **common),
        "openai-chat": OpenAIChatProvider(model="gpt-5.5", **common),
    }


def body(provider: Any, request: ModelRequest) -> int:
    return len(provider._wire(request))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--show-held-out", action="store_true", help="print the held-out misses too (not for tuning)"
    )
    parser.add_argument("--quality-only", action="store_true", help="skip the bytes, CPU and build numbers")
    args = parser.parse_args()
    real, about = real_tools()
    queries = json.loads((DATA / "tool_queries.json").read_text(encoding="utf-8"))["queries"]
    known = {f"{t.server}.{t.tool.name}" for t in real}
    fresh = {
        name: json.loads((DATA / f"tool_queries_{name}.json").read_text(encoding="utf-8"))["queries"]
        for name in ("fresh", "fresh2")
    }
    model = json.loads((DATA / "tool_queries_model.json").read_text(encoding="utf-8"))["queries"]
    everything = [*queries, *(q for items in fresh.values() for q in items)]
    assert [q["request"] for q in model] == [q["q"] for q in everything], "tool_queries_model.json is stale"
    unknown = [name for q in everything for name in q["expect"] if name not in known]
    assert not unknown, f"queries expect unknown tools: {unknown}"
    print(
        f"tool search bench: {len(real)} tools of {len(about)} published servers, {len(queries)} queries + "
        + " + ".join(f"{len(items)} {name}" for name, items in fresh.items())
    )
    print("servers: " + ", ".join(about))
    start = time.process_time()
    word_vectors()
    table_ms = (time.process_time() - start) * 1000
    print(f"tantivy import: {IMPORT_MS:.1f} ms, numpy import: {NUMPY_IMPORT_MS:.1f} ms (wall)")
    print(f"word vectors ({TABLE.stat().st_size / 1e6:.1f} MB) read once: {table_ms:.0f} ms of CPU\n")

    quality(real, queries, fresh, model, args.show_held_out)
    if args.quality_only:
        return

    made = providers()
    print("\n| tools | provider | first request, all tools | with search | ratio | CPU per step (ours) |")
    print("|---|---|---:|---:|---:|---:|")
    build_rows = []
    for total in (1000, 5000):
        box = Toolbox(None, [*real, *gateway(total - len(real))], namespaced=True)
        builds = []
        for _ in range(args.repeats):
            start = time.process_time()
            ToolIndex(box.entries)
            builds.append((time.process_time() - start) * 1000)
        build_rows.append((total, statistics.median(builds), max(builds)))
        search = ToolSearch(box, ToolSearchSettings())
        search.index  # noqa: B018 - built here, not inside the first step
        system = "You are a helpful assistant." + search.system_note()
        history = [UserMessage.of("what time is it in Tokyo?")]
        for name, provider in made.items():
            offer = search.offer()
            everything = body(provider, ModelRequest(system, history, box.specs))
            first = body(provider, ModelRequest(system, history, offer.specs_for(history)))
            cpu = []
            for i in range(max(20, args.repeats * 10)):
                query = queries[i % len(queries)]["q"]
                call = ToolCallPart(f"c{i}", "search_tools", {"query": query})
                steps = [*history, AssistantMessage((call,))]
                search._found.clear()  # a new search every time, not a cached one
                start = time.process_time()
                import anyio

                result = anyio.run(offer.call, "search_tools", call.arguments)
                steps.append(UserMessage((result,)))
                provider._wire(ModelRequest(system, steps, offer.specs_for(steps)))
                cpu.append((time.process_time() - start) * 1000)
            print(
                f"| {total} | {name} | {everything / 1000:,.0f} kB | {first / 1000:,.1f} kB | "
                f"{first / everything:.1%} | {statistics.median(cpu):.2f} ms (max {max(cpu):.2f}) |"
            )
    print("\n| tools | index build, CPU (median) | max |")
    print("|---|---:|---:|")
    for total, median, worst in build_rows:
        print(f"| {total} | {median:.0f} ms | {worst:.0f} ms |")


if __name__ == "__main__":
    main()
