"""An MCP server offering N tools, for bench/loop_overhead.py's listing benchmark.

``python bench/many_tools_server.py N [--prepared]``: Streamable HTTP on 127.0.0.1 (ephemeral
port); prints ``READY <url>`` once it accepts connections. With ``--prepared`` the SDK answers the
first ``tools/list`` of each protocol version and later ones are replayed byte for byte (the
request id patched in), as a server that caches its listing would: the listing then costs the
server next to nothing, so a client's own share shows. Every tool has a realistic schema: a few scalar
parameters, an enum, an optional (anyOf) field, a nested object behind ``$ref``, and a
description of a couple of sentences. Calls answer ``ok``.
"""

from __future__ import annotations

import json
import re
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


_ID = re.compile(rb'"id":\s*(?:\d+|"[^"]*")')


def prepared(app: Any) -> Any:
    """ASGI wrapper: replay the first ``tools/list`` answer per protocol version (see the docstring)."""
    answers: dict[bytes, tuple[dict[str, Any], bytes]] = {}

    async def wrapper(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            return await app(scope, receive, send)
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        request = json.loads(body) if body.startswith(b"{") else None
        key = dict(scope["headers"]).get(b"mcp-protocol-version", b"")
        if not (isinstance(request, dict) and request.get("method") == "tools/list"):
            request = None
        elif key in answers:
            start, reply = answers[key]
            request_id = json.dumps(request["id"]).encode()
            await send(start)
            await send({"type": "http.response.body", "body": _ID.sub(b'"id":' + request_id, reply, count=1)})
            return
        sent: list[dict[str, Any]] = []
        pending = [{"type": "http.request", "body": body, "more_body": False}]

        async def replay_receive() -> dict[str, Any]:
            return pending.pop() if pending else await receive()

        async def capture(message: dict[str, Any]) -> None:
            sent.append(message)
            await send(message)

        await app(scope, replay_receive, capture if request is not None else send)
        if request is not None and sent and sent[0].get("status") == 200:
            start = {**sent[0], "headers": [(k, v) for k, v in sent[0]["headers"] if k != b"content-length"]}
            answers[key] = (start, b"".join(m.get("body", b"") for m in sent[1:]))

    return wrapper


def main() -> None:
    n = int(sys.argv[1])
    app = build(n).streamable_http_app(json_response="--prepared" in sys.argv)
    if "--prepared" in sys.argv:
        app = prepared(app)
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
