"""Per-step client cost as the history grows: the agent's provider adapters next to the raw SDKs.

    uv run python bench/history_steps.py [--history 10,50,200] [--steps 10] [--tools 10] [--repeats 5]
                                         [--apis anthropic,openai,openai-chat]

The fake model (tests/support/fake_llm.py) runs in its own process on 127.0.0.1 and answers every
request at once with one tool call, streamed. Each side starts from a conversation that already
holds K tool steps (K in ``--history``), takes one untimed step (the adapter converts the
history it has not seen, as the earlier steps of a real loop would have), then ``--steps``
timed steps, each adding the answer and a tool result, as a loop does:

- agent: the adapter (agent/providers/) streams a ``ModelRequest`` of the neutral history and
  ``--tools`` tool specs (bench/many_tools_server.py's schemas), the loop appends the neutral
  messages.
- raw: the SDK client is called with the API's own dicts, the stream put together by hand as
  bench/raw_loop.py does, and the dicts appended (no conversion at all: the floor).

Both sides run in this process, in turn (ABAB, the order swapped every repeat), ``--repeats``
times; printed per cell: wall and CPU time (this process only; the fake is another process) per
step, median and min-max, and the ratio of the medians. The machine's load is printed with them.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import anyio
from common import PY, ROOT, start, stop
from many_tools_server import schema

sys.path.insert(0, str(ROOT))

from agent.messages import (
    AssistantMessage,
    Message,
    ModelRequest,
    ResponseDone,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    ToolSpec,
    UserMessage,
)

SCRIPT = {
    "turns": [{"tool_calls": [{"name": "tool_0", "arguments": {"query": "q", "limit": 3}}]}],
    "by": "sequence",
    "repeat_last": True,
}
RESULT = "row 1: something found\nrow 2: something else"


def spread(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:7.2f} ({min(values) * 1000:6.2f}-{max(values) * 1000:6.2f})"


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


# --- the agent's side -------------------------------------------------------------------------


def neutral_history(k: int) -> list[Message]:
    history: list[Message] = [UserMessage.of("look things up")]
    for i in range(k):
        call = ToolCallPart(f"call_{i}", "tool_0", {"query": f"q{i}", "limit": 3})
        history.append(AssistantMessage((TextPart(f"Looking up q{i}."), call)))
        history.append(UserMessage((ToolResultPart(call.id, call.name, (TextPart(RESULT),)),)))
    return history


def make_agent_side(api: str, url: str, n_tools: int) -> tuple[Any, Callable[[int], Any]]:
    from agent.providers.anthropic import AnthropicProvider
    from agent.providers.openai import OpenAIResponsesProvider
    from agent.providers.openai_chat import OpenAIChatProvider

    kinds = {
        "anthropic": AnthropicProvider,
        "openai": OpenAIResponsesProvider,
        "openai-chat": OpenAIChatProvider,
    }
    provider = kinds[api](model="m", api_key="k", base_url=url + ("" if api == "anthropic" else "/v1"))
    tools = tuple(ToolSpec(f"tool_{i}", f"Search collection {i}.", schema(i)) for i in range(n_tools))

    def prepare(k: int) -> Callable[[], Awaitable[None]]:
        history = neutral_history(k)

        async def step() -> None:
            response = None
            async for event in provider.stream(ModelRequest("sys", tuple(history), tools)):
                if isinstance(event, ResponseDone):
                    response = event.response
            assert response is not None and response.message.tool_calls
            history.append(response.message)
            results = tuple(
                ToolResultPart(c.id, c.name, (TextPart(RESULT),)) for c in response.message.tool_calls
            )
            history.append(UserMessage(results))

        return step

    return provider, prepare


# --- the raw SDKs' side -------------------------------------------------------------------------


def raw_tools(api: str, n: int) -> list[dict[str, Any]]:
    specs = [(f"tool_{i}", f"Search collection {i}.", schema(i)) for i in range(n)]
    if api == "anthropic":
        return [{"name": a, "description": b, "input_schema": c} for a, b, c in specs]
    if api == "openai":
        return [
            {"type": "function", "name": a, "description": b, "parameters": c, "strict": False}
            for a, b, c in specs
        ]
    return [
        {"type": "function", "function": {"name": a, "description": b, "parameters": c}} for a, b, c in specs
    ]


def raw_history(api: str, k: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"role": "user", "content": "look things up"}]
    if api == "openai-chat":
        out.insert(0, {"role": "system", "content": "sys"})
    for i in range(k):
        args = {"query": f"q{i}", "limit": 3}
        call_id = f"call_{i}"
        if api == "anthropic":
            out.append(
                {
                    "role": "assistant",
                    "content": [
                        {"type": "text", "text": f"Looking up q{i}."},
                        {"type": "tool_use", "id": call_id, "name": "tool_0", "input": args},
                    ],
                }
            )
            result = {
                "type": "tool_result",
                "tool_use_id": call_id,
                "content": [{"type": "text", "text": RESULT}],
            }
            out.append({"role": "user", "content": [result]})
        elif api == "openai":
            out.append({"role": "assistant", "content": f"Looking up q{i}."})
            out.append(
                {"type": "function_call", "call_id": call_id, "name": "tool_0", "arguments": json.dumps(args)}
            )
            out.append({"type": "function_call_output", "call_id": call_id, "output": RESULT})
        else:
            function = {"name": "tool_0", "arguments": json.dumps(args)}
            out.append(
                {
                    "role": "assistant",
                    "content": f"Looking up q{i}.",
                    "tool_calls": [{"id": call_id, "type": "function", "function": function}],
                }
            )
            out.append({"role": "tool", "tool_call_id": call_id, "content": RESULT})
    return out


def make_raw_side(api: str, url: str, n_tools: int) -> tuple[Any, Callable[[int], Any]]:
    tools = raw_tools(api, n_tools)
    if api == "anthropic":
        import anthropic

        client: Any = anthropic.AsyncAnthropic(api_key="k", base_url=url)
    else:
        import openai

        client = openai.AsyncOpenAI(api_key="k", base_url=url + "/v1")

    def prepare(k: int) -> Callable[[], Awaitable[None]]:
        messages = raw_history(api, k)

        async def anthropic_step() -> None:
            blocks: list[dict[str, Any]] = []
            params = {"model": "m", "max_tokens": 8192, "system": "sys", "messages": messages, "tools": tools}
            async for event in await client.messages.create(stream=True, **params):
                if event.type == "content_block_start":
                    blocks.append(event.content_block.model_dump())
                    blocks[-1]["json"] = ""
                elif event.type == "content_block_delta":
                    if event.delta.type == "text_delta":
                        blocks[-1]["text"] += event.delta.text
                    elif event.delta.type == "input_json_delta":
                        blocks[-1]["json"] += event.delta.partial_json
            for block in blocks:
                raw = block.pop("json")
                if block["type"] == "tool_use" and raw:
                    block["input"] = json.loads(raw)
            messages.append({"role": "assistant", "content": blocks})
            uses = [b for b in blocks if b["type"] == "tool_use"]
            assert uses
            content = [{"type": "text", "text": RESULT}]
            messages.append(
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": u["id"], "content": content} for u in uses
                    ],
                }
            )

        async def responses_step() -> None:
            params = {"model": "m", "max_output_tokens": 8192, "instructions": "sys", "input": messages}
            calls: list[dict[str, Any]] = []
            async for event in await client.responses.create(stream=True, store=False, tools=tools, **params):
                if event.type == "response.output_item.done" and event.item.type == "function_call":
                    item = event.item
                    calls.append(
                        {
                            "type": "function_call",
                            "call_id": item.call_id,
                            "name": item.name,
                            "arguments": item.arguments,
                        }
                    )
            assert calls
            messages.extend(calls)
            messages.extend(
                {"type": "function_call_output", "call_id": c["call_id"], "output": RESULT} for c in calls
            )

        async def chat_step() -> None:
            calls: dict[int, dict[str, Any]] = {}
            text: list[str] = []
            params = {"model": "m", "max_tokens": 8192, "messages": messages, "tools": tools}
            async for chunk in await client.chat.completions.create(stream=True, **params):
                if not chunk.choices:
                    continue
                delta = chunk.choices[0].delta
                if delta.content:
                    text.append(delta.content)
                for f in delta.tool_calls or ():
                    call = calls.setdefault(
                        f.index, {"id": "", "type": "function", "function": {"name": "", "arguments": ""}}
                    )
                    call["id"] = f.id or call["id"]
                    if f.function is not None:
                        call["function"]["name"] = f.function.name or call["function"]["name"]
                        call["function"]["arguments"] += f.function.arguments or ""
            assert calls
            ordered = [calls[i] for i in sorted(calls)]
            messages.append({"role": "assistant", "content": "".join(text) or None, "tool_calls": ordered})
            messages.extend({"role": "tool", "tool_call_id": c["id"], "content": RESULT} for c in ordered)

        return {"anthropic": anthropic_step, "openai": responses_step, "openai-chat": chat_step}[api]

    return client, prepare


async def timed(
    prepare: Callable[[int], Callable[[], Awaitable[None]]], k: int, steps: int
) -> tuple[float, float]:
    step = prepare(k)
    await step()  # untimed: the history seen for the first time
    w0, c0 = time.perf_counter(), time.process_time()
    for _ in range(steps):
        await step()
    return (time.perf_counter() - w0) / steps, (time.process_time() - c0) / steps


async def run(args: argparse.Namespace, url: str) -> None:
    apis = [a for a in args.apis.split(",") if a]
    sizes = [int(x) for x in args.history.split(",") if x]
    print(
        f"per step, {args.steps} steps from a history of K tool steps, {args.tools} tools,"
        f" median (min-max) of {args.repeats}, ms; load {load()}"
    )
    print(
        f"{'api':12}{'K':>5}  {'agent wall':>24}{'raw wall':>24}{'ratio':>7}  {'agent CPU':>24}{'raw CPU':>24}{'ratio':>7}"
    )
    for api in apis:
        agent_client, agent_prepare = make_agent_side(api, url, args.tools)
        raw_client, raw_prepare = make_raw_side(api, url, args.tools)
        sides = {"agent": agent_prepare, "raw": raw_prepare}
        for side in sides.values():  # warm-up: first-use imports, connections, schema builds
            await timed(side, 1, 2)
        for k in sizes:
            wall: dict[str, list[float]] = {"agent": [], "raw": []}
            cpu: dict[str, list[float]] = {"agent": [], "raw": []}
            for r in range(args.repeats):
                for name in ("agent", "raw") if r % 2 == 0 else ("raw", "agent"):
                    w, c = await timed(sides[name], k, args.steps)
                    wall[name].append(w)
                    cpu[name].append(c)
            med = {n: (statistics.median(wall[n]), statistics.median(cpu[n])) for n in wall}
            print(
                f"{api:12}{k:>5}  {spread(wall['agent']):>24}{spread(wall['raw']):>24}"
                f"{med['agent'][0] / med['raw'][0]:>6.2f}x  {spread(cpu['agent']):>24}{spread(cpu['raw']):>24}"
                f"{med['agent'][1] / med['raw'][1]:>6.2f}x"
            )
        await agent_client.aclose()
        await raw_client.close()
    print(f"load average at the end: {load()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--history", default="10,50,200")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--tools", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--apis", default="anthropic,openai,openai-chat")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "script.json"
        script.write_text(json.dumps(SCRIPT))
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        proc, url = start([PY, "-m", "tests.support.fake_llm", "--script", str(script)], env)
        try:
            anyio.run(run, args, url)
        finally:
            stop(proc)


if __name__ == "__main__":
    main()
