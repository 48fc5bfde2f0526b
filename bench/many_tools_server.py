"""An MCP server offering N tools, for bench/loop_overhead.py's listing benchmark.

``python bench/many_tools_server.py N``: Streamable HTTP on 127.0.0.1 (ephemeral port); prints
``READY <url>`` once it accepts connections. Every tool has a realistic schema: a few scalar
parameters, an enum, an optional (anyOf) field, a nested object behind ``$ref``, and a
description of a couple of sentences. Calls answer ``ok``.
"""

from __future__ import annotations

import socket
import sys
from typing import Any

import mcp_types as types
import uvicorn
from mcp.server import Server


def schema(i: int) -> dict[str, Any]:
    return {
        "type": "object",
        "$defs": {
            "Range": {
                "type": "object",
                "properties": {"start": {"type": "integer"}, "end": {"type": "integer"}},
                "required": ["start", "end"],
            }
        },
        "properties": {
            "query": {"type": "string", "description": f"What to look for in collection {i}."},
            "limit": {"type": "integer", "minimum": 1, "maximum": 100, "default": 10},
            "order": {"type": "string", "enum": ["asc", "desc"], "default": "asc"},
            "range": {"$ref": "#/$defs/Range"},
            "tag": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
            "flags": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["query"],
    }


def build(n: int) -> Server[Any]:
    tools = [
        types.Tool(
            name=f"collection_{i}.search",
            description=f"Search collection number {i} for matching records. Returns up to `limit` rows.",
            input_schema=schema(i),
        )
        for i in range(n)
    ]

    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=tools)

    async def call_tool(ctx: Any, params: Any) -> types.CallToolResult:
        return types.CallToolResult(content=[types.TextContent(text="ok")])

    return Server("many-tools", on_list_tools=list_tools, on_call_tool=call_tool)


def main() -> None:
    n = int(sys.argv[1])
    app = build(n).streamable_http_app()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]

    class _Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            print(f"READY http://127.0.0.1:{port}/mcp", flush=True)

    _Server(uvicorn.Config(app, log_level="warning")).run(sockets=[sock])


if __name__ == "__main__":
    main()
