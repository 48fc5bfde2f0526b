"""An MCP server offering published servers' tools (from the snapshots in bench/data/servers/)
and/or synthetic distractors (bench/distractors.py): a stand-in for a server with thousands of
realistic tools, for bench/tool_search.py and the 5000-tool tests.

``python bench/catalog_server.py [--snapshot NAME]... [--distractors N] [--http]``: over stdio by
default; with ``--http``, Streamable HTTP on 127.0.0.1 (prints ``READY <url>``). A call answers
``called TOOL with {arguments}``, so a test sees which tool ran.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
from pathlib import Path
from typing import Any

import anyio
import mcp_types as types
import uvicorn
from mcp.server import Server

sys.path.insert(0, str(Path(__file__).resolve().parent))
from distractors import distractors

DATA = Path(__file__).resolve().parent / "data" / "servers"


def snapshot(name: str) -> dict[str, Any]:
    """One published server's snapshot: server, package, version, tools (as ``tools/list`` gave them)."""
    result: dict[str, Any] = json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))
    return result


def build(snapshots: list[str], n_distractors: int) -> Server[Any]:
    raw = [tool for name in snapshots for tool in snapshot(name)["tools"]] + distractors(n_distractors)
    # Calls answer plain text, so no tool declares an output schema the answer would not match.
    tools = [
        types.Tool.model_validate({k: v for k, v in tool.items() if k != "outputSchema"}) for tool in raw
    ]

    async def list_tools(ctx: Any, params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=tools)

    async def call_tool(ctx: Any, params: Any) -> types.CallToolResult:
        text = f"called {params.name} with {json.dumps(params.arguments or {}, sort_keys=True)}"
        return types.CallToolResult(content=[types.TextContent(text=text)])

    name = snapshots[0] if len(snapshots) == 1 and not n_distractors else "catalog"
    return Server(name, on_list_tools=list_tools, on_call_tool=call_tool)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--snapshot", action="append", default=[], help="a file of bench/data/servers/")
    parser.add_argument("--distractors", type=int, default=0)
    parser.add_argument("--http", action="store_true")
    args = parser.parse_args()
    server = build(args.snapshot, args.distractors)
    if not args.http:
        from mcp.server.stdio import stdio_server

        async def serve() -> None:
            async with stdio_server() as (read, write):
                await server.run(read, write, server.create_initialization_options())

        anyio.run(serve)
        return
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]

    class _Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            print(f"READY http://127.0.0.1:{port}/mcp", flush=True)

    _Server(uvicorn.Config(server.streamable_http_app(), log_level="warning")).run(sockets=[sock])


if __name__ == "__main__":
    main()
