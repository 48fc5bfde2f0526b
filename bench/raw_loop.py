"""The thinnest hand-written agent loop on the raw SDKs, the baseline of bench/loop_overhead.py.

``python bench/raw_loop.py MCP_URL PROMPT [--stream] [--api anthropic|openai|openai-chat]``: the
SDK's client (``ANTHROPIC_BASE_URL`` / ``OPENAI_BASE_URL`` and the keys from the environment) and
one ``mcp.Client`` session; lists the tools once, names made API-safe (``.`` and other characters
the APIs refuse become ``_``, as ``agent`` does); every tool call of a response runs concurrently;
prints the final text. One request per step, plain JSON responses, or with ``--stream`` the raw
SSE events put together by hand (what ``agent`` does, so the two compare like for like). No error
handling, no events, no truncation.
"""

from __future__ import annotations

import json
import re
import sys
from types import SimpleNamespace
from typing import Any

import anyio

_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]")


async def call(session: Any, name: str, arguments: Any) -> str:
    result = await session.call_tool(name, arguments)
    return "\n".join(c.text for c in result.content if c.type == "text")


async def run_calls(session: Any, names: dict[str, str], calls: list[tuple[str, Any]]) -> list[str]:
    """The calls' result texts, in order; the calls run concurrently."""
    results: list[str] = [""] * len(calls)

    async def one(i: int, name: str, arguments: Any) -> None:
        results[i] = await call(session, names[name], arguments)

    async with anyio.create_task_group() as tg:
        for i, (name, arguments) in enumerate(calls):
            tg.start_soon(one, i, name, arguments)
    return results


# --- Anthropic Messages -------------------------------------------------------------------------


async def anthropic_streamed(client: Any, **params: Any) -> list[Any]:
    """The response's content blocks, assembled from the raw stream events."""
    blocks: list[dict[str, Any]] = []
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
    return [SimpleNamespace(**b, model_dump=lambda b=b: b) for b in blocks]


async def anthropic_loop(
    session: Any, listed: list[Any], names: dict[str, str], prompt: str, stream: bool
) -> str:
    import anthropic

    client = anthropic.AsyncAnthropic()
    tools = [
        {"name": _UNSAFE.sub("_", t.name), "description": t.description or "", "input_schema": t.input_schema}
        for t in listed
    ]
    messages: list[Any] = [{"role": "user", "content": prompt}]
    while True:
        params: dict[str, Any] = {
            "model": "claude-test",
            "max_tokens": 8192,
            "system": "sys",
            "messages": messages,
        }
        if stream:
            content = await anthropic_streamed(client, tools=tools, **params)
        else:
            content = (await client.messages.create(tools=tools, **params)).content
        messages.append({"role": "assistant", "content": [b.model_dump() for b in content]})
        uses = [b for b in content if b.type == "tool_use"]
        if not uses:
            return "".join(b.text for b in content if b.type == "text")
        texts = await run_calls(session, names, [(u.name, u.input) for u in uses])
        results = [
            {"type": "tool_result", "tool_use_id": u.id, "content": [{"type": "text", "text": t}]}
            for u, t in zip(uses, texts, strict=True)
        ]
        messages.append({"role": "user", "content": results})


# --- OpenAI Responses ---------------------------------------------------------------------------


async def responses_loop(
    session: Any, listed: list[Any], names: dict[str, str], prompt: str, stream: bool
) -> str:
    import openai

    client = openai.AsyncOpenAI()
    tools = [
        {
            "type": "function",
            "name": _UNSAFE.sub("_", t.name),
            "description": t.description or "",
            "parameters": t.input_schema,
            "strict": False,
        }
        for t in listed
    ]
    items: list[Any] = [{"role": "user", "content": prompt}]
    while True:
        params: dict[str, Any] = {
            "model": "gpt-test",
            "max_output_tokens": 8192,
            "instructions": "sys",
            "input": items,
            "tools": tools,
            "store": False,
        }
        calls: list[dict[str, Any]] = []
        text: list[str] = []
        if stream:
            async for event in await client.responses.create(stream=True, **params):
                if event.type == "response.output_text.delta":
                    text.append(event.delta)
                elif event.type == "response.output_item.done" and event.item.type == "function_call":
                    item = event.item
                    calls.append(
                        {
                            "type": "function_call",
                            "call_id": item.call_id,
                            "name": item.name,
                            "arguments": item.arguments,
                        }
                    )
        else:
            response = await client.responses.create(**params)
            text.append(response.output_text)
            calls = [
                {"type": "function_call", "call_id": i.call_id, "name": i.name, "arguments": i.arguments}
                for i in response.output
                if i.type == "function_call"
            ]
        if not calls:
            return "".join(text)
        items += calls
        texts = await run_calls(
            session, names, [(c["name"], json.loads(c["arguments"] or "{}")) for c in calls]
        )
        items += [
            {"type": "function_call_output", "call_id": c["call_id"], "output": t}
            for c, t in zip(calls, texts, strict=True)
        ]


# --- OpenAI Chat Completions --------------------------------------------------------------------


async def chat_loop(session: Any, listed: list[Any], names: dict[str, str], prompt: str, stream: bool) -> str:
    import openai

    client = openai.AsyncOpenAI()
    tools = [
        {
            "type": "function",
            "function": {
                "name": _UNSAFE.sub("_", t.name),
                "description": t.description or "",
                "parameters": t.input_schema,
            },
        }
        for t in listed
    ]
    messages: list[Any] = [{"role": "system", "content": "sys"}, {"role": "user", "content": prompt}]
    while True:
        params: dict[str, Any] = {
            "model": "gpt-test",
            "max_tokens": 8192,
            "messages": messages,
            "tools": tools,
        }
        text: list[str] = []
        calls: dict[int, dict[str, Any]] = {}
        if stream:
            async for chunk in await client.chat.completions.create(
                stream=True, stream_options={"include_usage": True}, **params
            ):
                if not chunk.choices:
                    continue
                delta = chunk.choices[0].delta
                if delta.content:
                    text.append(delta.content)
                for f in delta.tool_calls or ():
                    c = calls.setdefault(
                        f.index, {"id": "", "type": "function", "function": {"name": "", "arguments": ""}}
                    )
                    c["id"] = f.id or c["id"]
                    if f.function is not None:
                        c["function"]["name"] = f.function.name or c["function"]["name"]
                        c["function"]["arguments"] += f.function.arguments or ""
        else:
            message = (await client.chat.completions.create(**params)).choices[0].message
            text.append(message.content or "")
            for i, c in enumerate(message.tool_calls or ()):
                calls[i] = {
                    "id": c.id,
                    "type": "function",
                    "function": {"name": c.function.name, "arguments": c.function.arguments},
                }
        if not calls:
            return "".join(text)
        ordered = [calls[i] for i in sorted(calls)]
        messages.append({"role": "assistant", "content": "".join(text) or None, "tool_calls": ordered})
        args = [(c["function"]["name"], json.loads(c["function"]["arguments"] or "{}")) for c in ordered]
        texts = await run_calls(session, names, args)
        messages += [
            {"role": "tool", "tool_call_id": c["id"], "content": t}
            for c, t in zip(ordered, texts, strict=True)
        ]


LOOPS = {"anthropic": anthropic_loop, "openai": responses_loop, "openai-chat": chat_loop}


async def main(url: str, prompt: str, stream: bool, api: str) -> None:
    from mcp import Client

    async with Client(url) as session:
        listed = (await session.list_tools()).tools
        names = {_UNSAFE.sub("_", t.name): t.name for t in listed}
        print(await LOOPS[api](session, listed, names, prompt, stream))


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] in ("-h", "--help"):
        sys.exit(__doc__)
    rest = sys.argv[3:]
    api = rest[rest.index("--api") + 1] if "--api" in rest else "anthropic"
    anyio.run(main, sys.argv[1], sys.argv[2], "--stream" in rest, api)
