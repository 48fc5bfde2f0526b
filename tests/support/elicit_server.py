"""An in-process MCP server (streamable HTTP on 127.0.0.1) whose tools ask the client for input.

``ask`` elicits a form whose fields all have defaults; ``needs`` one with a required field that
has none. Each returns the answer it got, as ``<action> <content as JSON>``.

It speaks the 2025 protocol only (``server/discover`` is "method not found", so the client falls
back to the initialize handshake), where a tool elicits over the request's SSE stream, as the
conformance suite's servers do; the SDK's 2026-07-28 era has no server-to-client requests.
"""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from mcp.server.mcpserver import Context, MCPServer
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tests.support.oauth_server import _Uvicorn


class Profile(BaseModel):
    name: str = "John Doe"
    age: int = 30
    verified: bool = True


class Secret(BaseModel):
    token: str
    remember: bool = False


def _answer(result: object) -> str:
    data = getattr(result, "data", None)
    content = data.model_dump() if isinstance(data, BaseModel) else None
    return f"{getattr(result, 'action', '?')} {json.dumps(content, sort_keys=True)}"


def build_server() -> MCPServer:
    server = MCPServer("elicit-test-server", log_level="WARNING")

    @server.tool(description="Ask for a profile; every field has a default.")
    async def ask(ctx: Context) -> str:
        return _answer(await ctx.elicit("Who are you?", Profile))

    @server.tool(description="Ask for a token, which has no default.")
    async def needs(ctx: Context) -> str:
        return _answer(await ctx.elicit("Your token, please", Secret))

    return server


class _LegacyOnly:
    """ASGI middleware: answer ``server/discover`` as a 2025-era server would (method not found)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        body = await Request(scope, receive).body()
        message = json.loads(body or b"{}")
        if isinstance(message, dict) and message.get("method") == "server/discover":
            error = {"code": -32601, "message": "Method not found"}
            reply = JSONResponse({"jsonrpc": "2.0", "id": message.get("id"), "error": error})
            await reply(scope, receive, send)
            return

        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:  # then wait for the disconnect, as the server's own receive would
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


@asynccontextmanager
async def serve_legacy_http(app: ASGIApp) -> AsyncIterator[str]:
    """Serve an MCP server's streamable HTTP ``app`` (2025 protocol only, see :class:`_LegacyOnly`)
    on an ephemeral loopback port for the block; yields its MCP URL once it accepts connections."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    started = anyio.Event()
    uv = _Uvicorn(_LegacyOnly(app), started, lifespan="on")
    async with anyio.create_task_group() as tg:
        tg.start_soon(uv.serve, [sock])
        await started.wait()
        try:
            yield f"http://127.0.0.1:{port}/mcp"
        finally:
            uv.should_exit = True


@asynccontextmanager
async def elicit_server() -> AsyncIterator[str]:
    """Serve :func:`build_server` for the block; yields its MCP URL once it accepts connections."""
    async with serve_legacy_http(build_server().streamable_http_app()) as url:
        yield url
