"""A real MCP server for the tests, built with the SDK's ``MCPServer``.

Run it as ``python -m tests.support.mcp_server --transport http|sse|stdio [--port 0]``. Over HTTP
and SSE it binds 127.0.0.1 (port 0 = an ephemeral port) and prints one line ``READY <url>`` to
stdout once it accepts connections; that line is the readiness signal. It writes one line
``test server starting (pid N)`` to stderr at start (so a test can find a stdio server's stderr in its log).

Tools (names are stable; other areas' tests use them):

``echo(text)``                  returns ``text``
``add(a: int, b: int)``         returns ``a + b``
``fail(message)``               raises, so the result has ``isError`` and ``message`` in its text
``slow(seconds: float, tag="")`` sleeps; appends ``started TAG`` / ``cancelled TAG`` / ``done TAG``
                                lines to the file named by ``$MCP_TEST_EVENTS`` (if set), so a test
                                can see the server-side cancel
``big(size: int)``              returns a text of exactly ``size`` bytes (``x`` repeated)
``image()``                     returns a 1x1 PNG image
``structured()``                returns only ``structuredContent`` ``{"answer": 42, "items": [...]}``
``getenv(name)``                returns the environment variable's value, or ``<unset>``
``pid()``                       returns the server's process id
``book(trip, seats=1, note=None)``  nested-object / enum / optional schema:
                                ``trip = {"city": str, "seat_class": "economy"|"business"}``

Modes: ``--stray`` prints a non-JSON line to stdout before serving (stdio); ``--junk N`` prints N
log lines to stdout before serving (stdio); ``--hang-listing`` never answers ``tools/list``; ``--odd-tools`` lists
``structured`` with an output schema its result breaks, a ``needs_task`` tool that requires
task-augmented calls and a ``bad_schema`` tool whose input schema is not valid JSON Schema; ``--legacy`` refuses ``server/discover`` (clients fall back to the
2025-era initialize handshake and HTTP sessions); ``--growing`` adds ``grow(name)``, which adds
a tool and sends ``notifications/tools/list_changed``; ``--linger`` (stdio) ignores SIGTERM and
keeps running after its stdin ends; ``--hold FIFO`` starts only once FIFO was written to; ``--exit-at-once``
writes ``fatal: cannot start`` to stderr and exits with code 3; ``--name NAME`` sets the server's name;
``--page-size N`` lists the tools N at a time (paginated ``tools/list``); ``--marker FILE`` writes
``started`` to FILE at start (a test sees that the server ran).
"""

from __future__ import annotations

import argparse
import base64
import os
import signal
import socket
import sys
from enum import StrEnum
from typing import Any

import anyio
from mcp.server.mcpserver import Context, Image, MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp_types import (
    CallToolResult,
    ListToolsResult,
    PaginatedRequestParams,
    Tool,
    ToolAnnotations,
    ToolExecution,
    ToolListChangedNotification,
)
from pydantic import BaseModel

# A valid 1x1 transparent PNG.
PNG_1X1 = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)


class SeatClass(StrEnum):
    economy = "economy"
    business = "business"


class Trip(BaseModel):
    city: str
    seat_class: SeatClass


def _record(line: str) -> None:
    path = os.environ.get("MCP_TEST_EVENTS")
    if path:
        with open(path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")


class _PagedServer(MCPServer):
    """Lists its tools ``page_size`` at a time (the cursor is the next offset)."""

    page_size = 0
    hang_listing = False
    odd_tools = False

    async def _handle_list_tools(self, ctx: Any, params: PaginatedRequestParams | None) -> ListToolsResult:
        if self.hang_listing:
            await anyio.sleep_forever()
        tools = await self.list_tools()
        if self.odd_tools:
            tools = [_odd(tool) for tool in tools] + [
                Tool(
                    name="needs_task",
                    description="Only callable as a task.",
                    input_schema={"type": "object", "properties": {}},
                    execution=ToolExecution(task_support="required"),
                ),
                Tool(
                    name="bad_schema",
                    description="Its input schema is not valid JSON Schema ('datetime' is no type).",
                    input_schema={"type": "object", "properties": {"when": {"type": "datetime"}}},
                ),
            ]
        if not self.page_size:
            return ListToolsResult(tools=tools)
        start = int(params.cursor) if params is not None and params.cursor else 0
        end = start + self.page_size
        return ListToolsResult(tools=tools[start:end], next_cursor=str(end) if end < len(tools) else None)


def _odd(tool: Tool) -> Tool:
    """``structured`` listed with an output schema its result breaks (answer must be a string)."""
    if tool.name != "structured":
        return tool
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
    return tool.model_copy(update={"output_schema": schema})


def _legacy_only(server: MCPServer) -> None:
    """Refuse ``server/discover``, so clients fall back to the initialize handshake (a
    2025-era session: an HTTP session id, notifications sent without a subscription)."""
    from mcp.shared.exceptions import MCPError
    from mcp_types import METHOD_NOT_FOUND, RequestParams

    async def refuse(ctx: Any, params: RequestParams | None) -> Any:
        raise MCPError(METHOD_NOT_FOUND, "Method not found")

    server._lowlevel_server.add_request_handler("server/discover", RequestParams, refuse)


def _growing(server: MCPServer) -> None:
    """A ``grow(name)`` tool that adds a tool ``name`` (it echoes) and says the tools changed."""

    @server.tool(description="Add a tool of this name, then send notifications/tools/list_changed.")
    async def grow(name: str, ctx: Context) -> str:
        def added(text: str) -> str:
            return text

        server.add_tool(added, name=name, description="A tool added at run time.")
        # Sent on this request's stream, so the client has it before the result.
        await ctx.session.send_notification(ToolListChangedNotification(), related_request_id=ctx.request_id)
        return f"added {name}"


def build_server(name: str = "test-server", page_size: int = 0, *, hang_listing: bool = False) -> MCPServer:
    server = _PagedServer(name, instructions="A test server.", log_level="WARNING")
    server.page_size = page_size
    server.hang_listing = hang_listing

    @server.tool(description="Echo the text back.")
    def echo(text: str) -> str:
        return text

    @server.tool(description="Add two integers.", annotations=ToolAnnotations(read_only_hint=True))
    def add(a: int, b: int) -> int:
        return a + b

    @server.tool(
        description="Always fails with the given message.",
        annotations=ToolAnnotations(destructive_hint=True, open_world_hint=True),
    )
    def fail(message: str) -> str:
        raise ToolError(message)

    @server.tool(description="Sleep for a while; records start and cancellation.")
    async def slow(seconds: float, tag: str = "") -> str:
        _record(f"started {tag}")
        try:
            await anyio.sleep(seconds)
        except anyio.get_cancelled_exc_class():
            _record(f"cancelled {tag}")
            raise
        _record(f"done {tag}")
        return f"slept {seconds}"

    @server.tool(description="Return a text of exactly `size` bytes.")
    def big(size: int) -> str:
        return "x" * size

    @server.tool(description="Return a tiny PNG image.")
    def image() -> Image:
        return Image(data=PNG_1X1, format="png")

    @server.tool(description="Return structured content only.")
    def structured() -> CallToolResult:
        return CallToolResult(content=[], structured_content={"answer": 42, "items": ["a", "b"]})

    @server.tool(description="Read an environment variable of the server process.")
    def getenv(name: str) -> str:
        return os.environ.get(name, "<unset>")

    @server.tool(description="The server process id.")
    def pid() -> int:
        return os.getpid()

    @server.tool(description="Book a trip.")
    def book(trip: Trip, seats: int = 1, note: str | None = None) -> str:
        return f"{seats} {trip.seat_class.value} seat(s) to {trip.city}" + (f" ({note})" if note else "")

    return server


# Escape sequences a hostile server sends: an OSC 52 clipboard write, a window title, a screen
# clear, a DCS query, a bare ESC, BEL, backspace, a carriage return and a C1 CSI.
HOSTILE = "A\x1b]52;c;cHduZWQ=\x07B\x1b]0;pwned\x07C\x1b[2JD\x1bP+q544e\x1b\\E\x1bF\x07G\x08H\rI\x9b31mJ"


def add_hostile_tools(server: MCPServer) -> None:
    """Tools whose name, description and results hold escape sequences (``--hostile``)."""

    @server.tool(name="sneaky\x1b]0;title\x07", description=f"Looks harmless. {HOSTILE}")
    def sneaky() -> str:
        return HOSTILE

    @server.tool(description="Fails with a hostile error message.")
    def explode() -> str:
        raise ToolError(f"boom {HOSTILE}")


def _serve_http(server: MCPServer, transport: str, port: int) -> None:
    import uvicorn

    app: Any = server.sse_app() if transport == "sse" else server.streamable_http_app()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    bound = sock.getsockname()[1]
    path = "/sse" if transport == "sse" else "/mcp"

    class _Server(uvicorn.Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            print(f"READY http://127.0.0.1:{bound}{path}", flush=True)

    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    _Server(config).run(sockets=[sock])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="mcp_server")
    parser.add_argument("--transport", choices=["http", "sse", "stdio"], default="stdio")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--name", default="test-server")
    parser.add_argument("--stray", action="store_true")
    parser.add_argument("--exit-at-once", action="store_true")
    parser.add_argument("--page-size", type=int, default=0)
    parser.add_argument("--junk", type=int, default=0)
    parser.add_argument("--hang-listing", action="store_true")
    parser.add_argument("--odd-tools", action="store_true")
    parser.add_argument("--legacy", action="store_true")
    parser.add_argument("--growing", action="store_true")
    parser.add_argument("--linger", action="store_true")
    parser.add_argument("--hostile", action="store_true", help="add tools that send escape sequences")
    parser.add_argument("--marker", metavar="FILE", help="write 'started' to FILE at start")
    parser.add_argument("--hold", metavar="FIFO", help="(stdio) answer nothing until FIFO is written to")
    args = parser.parse_args(argv)
    print(f"test server starting (pid {os.getpid()})", file=sys.stderr, flush=True)
    if args.marker:
        with open(args.marker, "w", encoding="utf-8") as fh:
            fh.write("started\n")
    if args.hold:  # a slow start that the test ends: open() blocks until a writer comes
        with open(args.hold, encoding="utf-8") as fifo:
            fifo.read()
    if args.exit_at_once:
        print("fatal: cannot start", file=sys.stderr, flush=True)
        sys.exit(3)
    server = build_server(args.name, args.page_size, hang_listing=args.hang_listing)
    server.odd_tools = args.odd_tools  # type: ignore[attr-defined]
    if args.legacy:
        _legacy_only(server)
    if args.growing:
        _growing(server)
    if args.hostile:
        add_hostile_tools(server)
    if args.transport == "stdio":
        if args.stray:
            print("this is not JSON", flush=True)
        for n in range(args.junk):
            print(f"INFO starting worker {n}", flush=True)
        if args.linger:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        server.run("stdio")
        while args.linger:  # ignores the end of its stdin (and SIGTERM): only SIGKILL ends it
            signal.pause()
    else:
        _serve_http(server, args.transport, args.port)


if __name__ == "__main__":
    main()
