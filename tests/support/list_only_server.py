"""A real MCP server (the SDK's low-level ``Server``, stdio) that lists one tool, ``lookup``, but
serves no ``tools/call``: calling it gets JSON-RPC -32601 (method not found), as some servers
answer for what they do not implement.

Run it as ``python -m tests.support.list_only_server`` (stdio), or with ``--http``: Streamable HTTP
on an ephemeral port of 127.0.0.1, printing ``READY <url>`` once it accepts connections.
"""

from __future__ import annotations

import sys
from typing import Any

import anyio
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server
from mcp_types import ListToolsResult, PaginatedRequestParams, Tool


async def _list_tools(ctx: Any, params: PaginatedRequestParams | None) -> ListToolsResult:
    return ListToolsResult(tools=[Tool(name="lookup", input_schema={"type": "object"})])


def _server() -> Server[Any]:
    return Server("list-only", on_list_tools=_list_tools)


async def _stdio() -> None:
    server = _server()
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


def _http() -> None:
    import socket

    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]

    class _Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            print(f"READY http://127.0.0.1:{port}/mcp", flush=True)

    config = uvicorn.Config(_server().streamable_http_app(), log_level="warning", lifespan="on")
    _Server(config).run(sockets=[sock])


if __name__ == "__main__":
    if "--http" in sys.argv:
        _http()
    else:
        anyio.run(_stdio)
