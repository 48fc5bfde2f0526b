"""The thinnest hand-written agent loop on the raw SDKs, the baseline of bench/loop_overhead.py.

``python bench/raw_loop.py MCP_URL PROMPT``: the anthropic client (``ANTHROPIC_BASE_URL`` /
``ANTHROPIC_API_KEY`` from the environment, one non-streamed request per step) and one
``mcp.Client`` session; every tool call of a response runs concurrently; prints the final text.
No error handling, no events, no truncation: just the loop.
"""

from __future__ import annotations

import sys
from typing import Any

import anyio


async def call(session: Any, use: Any, results: list[Any], i: int) -> None:
    result = await session.call_tool(use.name, use.input)
    text = [{"type": "text", "text": c.text} for c in result.content if c.type == "text"]
    results[i] = {"type": "tool_result", "tool_use_id": use.id, "content": text, "is_error": result.is_error}


async def main(url: str, prompt: str) -> None:
    import anthropic
    from mcp import Client

    client = anthropic.AsyncAnthropic()
    async with Client(url) as session:
        listed = await session.list_tools()
        tools: list[Any] = [
            {"name": t.name, "description": t.description or "", "input_schema": t.input_schema}
            for t in listed.tools
        ]
        messages: list[Any] = [{"role": "user", "content": prompt}]
        while True:
            response = await client.messages.create(
                model="claude-test", max_tokens=8192, system="sys", messages=messages, tools=tools
            )
            messages.append({"role": "assistant", "content": [b.model_dump() for b in response.content]})
            uses = [b for b in response.content if b.type == "tool_use"]
            if not uses:
                print("".join(b.text for b in response.content if b.type == "text"))
                return
            results: list[Any] = [None] * len(uses)
            async with anyio.create_task_group() as tg:
                for i, use in enumerate(uses):
                    tg.start_soon(call, session, use, results, i)
            messages.append({"role": "user", "content": results})


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], sys.argv[2])
