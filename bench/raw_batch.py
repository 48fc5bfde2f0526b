"""The thinnest hand-written batch on the raw SDKs, the baseline of bench/batch_throughput.py.

``python bench/raw_batch.py MCP_URL PROMPTS_FILE OUTPUT CONCURRENCY``: one ``anthropic.AsyncAnthropic``
client (``ANTHROPIC_BASE_URL`` / ``ANTHROPIC_API_KEY`` from the environment) and one ``mcp.Client``
session shared by CONCURRENCY workers; each worker takes the next prompt and runs the loop of
bench/raw_loop.py on it (whole responses read as plain JSON, as ``agent batch`` asks for and reads
them), then appends ``{"id", "answer"}`` to OUTPUT. No retries beyond the SDK's, no validation, no resume, no fsync:
what is left is the SDKs' and the HTTP stack's own cost.
"""

from __future__ import annotations

import json
import sys
from typing import Any, TextIO

import anyio
from raw_loop import run_calls


async def one(client: Any, session: Any, tools: list[Any], prompt: str) -> str:
    messages: list[Any] = [{"role": "user", "content": prompt}]
    while True:
        raw = await client.messages.with_raw_response.create(
            model="claude-test", max_tokens=8192, system="sys", messages=messages, tools=tools
        )
        content = (await raw.json())["content"]  # plain JSON, as agent batch reads it: no SDK models
        messages.append({"role": "assistant", "content": content})
        uses = [b for b in content if b["type"] == "tool_use"]
        if not uses:
            return "".join(b["text"] for b in content if b["type"] == "text")
        texts = await run_calls(
            session, {u["name"]: u["name"] for u in uses}, [(u["name"], u["input"]) for u in uses]
        )
        results = [
            {"type": "tool_result", "tool_use_id": u["id"], "content": [{"type": "text", "text": t}]}
            for u, t in zip(uses, texts, strict=True)
        ]
        messages.append({"role": "user", "content": results})


async def main(url: str, prompts: list[str], out: TextIO, concurrency: int) -> None:
    import anthropic
    from mcp import Client

    queue = iter(enumerate(prompts))
    client = anthropic.AsyncAnthropic()
    async with Client(url) as session:
        listed = (await session.list_tools()).tools
        tools = [
            {"name": t.name, "description": t.description or "", "input_schema": t.input_schema}
            for t in listed
        ]

        async def worker() -> None:
            for i, prompt in queue:
                answer = await one(client, session, tools, prompt)
                out.write(json.dumps({"id": i + 1, "answer": answer}) + "\n")

        async with anyio.create_task_group() as tg:
            for _ in range(concurrency):
                tg.start_soon(worker)


if __name__ == "__main__":
    if len(sys.argv) != 5 or sys.argv[1] in ("-h", "--help"):
        sys.exit(__doc__)
    with open(sys.argv[2], encoding="utf-8") as f:
        lines = [line.strip() for line in f if line.strip()]
    with open(sys.argv[3], "w", encoding="utf-8") as output:
        anyio.run(main, sys.argv[1], lines, output, int(sys.argv[4]))
