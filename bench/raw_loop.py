"""The thinnest hand-written agent loop on the raw SDKs, the baseline of bench/loop_overhead.py.

``python bench/raw_loop.py MCP_URL PROMPT [--stream]``: the anthropic client
(``ANTHROPIC_BASE_URL`` / ``ANTHROPIC_API_KEY`` from the environment) and one ``mcp.Client``
session; every tool call of a response runs concurrently; prints the final text. One request per
step, plain JSON, or with ``--stream`` the raw SSE events put together by hand (what ``agent``
does, so the two compare like for like). No error handling, no events, no truncation.
"""

from __future__ import annotations

import json
import sys
from types import SimpleNamespace
from typing import Any

import anyio


async def call(session: Any, use: Any, results: list[Any], i: int) -> None:
    result = await session.call_tool(use.name, use.input)
    text = [{"type": "text", "text": c.text} for c in result.content if c.type == "text"]
    results[i] = {"type": "tool_result", "tool_use_id": use.id, "content": text, "is_error": result.is_error}


async def streamed(client: Any, **params: Any) -> list[Any]:
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


async def anthropic_tools(session: Any) -> list[Any]:
    """The session's tools as Messages API tool definitions."""
    listed = await session.list_tools()
    return [
        {"name": t.name, "description": t.description or "", "input_schema": t.input_schema}
        for t in listed.tools
    ]


async def main(url: str, prompt: str, stream: bool) -> None:
    import anthropic
    from mcp import Client

    client = anthropic.AsyncAnthropic()
    async with Client(url) as session:
        tools = await anthropic_tools(session)
        messages: list[Any] = [{"role": "user", "content": prompt}]
        while True:
            params: dict[str, Any] = {
                "model": "claude-test",
                "max_tokens": 8192,
                "system": "sys",
                "messages": messages,
            }
            if stream:
                content = await streamed(client, tools=tools, **params)
            else:
                content = (await client.messages.create(tools=tools, **params)).content
            messages.append({"role": "assistant", "content": [b.model_dump() for b in content]})
            uses = [b for b in content if b.type == "tool_use"]
            if not uses:
                print("".join(b.text for b in content if b.type == "text"))
                return
            results: list[Any] = [None] * len(uses)
            async with anyio.create_task_group() as tg:
                for i, use in enumerate(uses):
                    tg.start_soon(call, session, use, results, i)
            messages.append({"role": "user", "content": results})


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] in ("-h", "--help"):
        sys.exit(__doc__)
    anyio.run(main, sys.argv[1], sys.argv[2], "--stream" in sys.argv[3:])
