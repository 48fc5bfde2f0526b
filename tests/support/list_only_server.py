"""A real MCP server (the SDK's low-level ``Server``, stdio) that lists one tool, ``lookup``, but
serves no ``tools/call``: calling it gets JSON-RPC -32601 (method not found), as some servers
answer for what they do not implement.

Run it as ``python -m tests.support.list_only_server``.
"""

from __future__ import annotations

from typing import Any

import anyio
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server
from mcp_types import ListToolsResult, PaginatedRequestParams, Tool


async def _list_tools(ctx: Any, params: PaginatedRequestParams | None) -> ListToolsResult:
    return ListToolsResult(tools=[Tool(name="lookup", input_schema={"type": "object"})])


async def _main() -> None:
    server: Server[Any] = Server("list-only", on_list_tools=_list_tools)
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


if __name__ == "__main__":
    anyio.run(_main)
