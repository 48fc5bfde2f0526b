"""An in-process MCP server (streamable HTTP on 127.0.0.1) that uses every feature a chat client can:
instructions, resources and a resource template with completions, prompts with arguments and
completions, progress, log messages, resource links, images with structured content, and
elicitation (a form and a URL).

Like :mod:`tests.support.elicit_server` it speaks the 2025 protocol (``server/discover`` is "method
not found"), where a tool can log, report progress and elicit over the request's SSE stream.

Resources: ``notes://list`` (text), ``notes://logo`` (a PNG), template ``notes://note/{name}``
(``alpha``, ``beta``, ``gamma``; ``name`` is completed). Prompts: ``summarize(topic, style?)``
(``style`` is completed: ``short``, ``detailed``, ``bullets``), ``greet()`` (user + assistant).
Tools: ``work(steps)`` (progress per step, an info and a warning log), ``link()`` (a resource
link to ``notes://note/alpha``), ``picture()`` (an image whose structuredContent is the same
image), ``chart()`` (an image plus different structuredContent), ``form()`` (elicits a form with
a required string, an enum, a number and a boolean), ``visit()`` (elicits a URL).
"""

from __future__ import annotations

import base64
import json
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.prompts.base import AssistantMessage, UserMessage
from mcp.shared.exceptions import MCPDeprecationWarning
from mcp_types import (
    CallToolResult,
    Completion,
    ImageContent,
    PromptReference,
    ResourceLink,
    ResourceTemplateReference,
    TextContent,
)
from pydantic import BaseModel, Field

from tests.support.elicit_server import serve_legacy_http
from tests.support.mcp_server import PNG_1X1

INSTRUCTIONS = "Notes live in notes://note/{name}; read notes://list first."
NOTES = {"alpha": "Alpha is the first note.", "beta": "Beta follows alpha.", "gamma": "Gamma is last."}
STYLES = ("short", "detailed", "bullets")
PNG_B64 = base64.b64encode(PNG_1X1).decode()


class Booking(BaseModel):
    name: str = Field(description="Your name")
    size: str = Field(default="small", json_schema_extra={"enum": ["small", "large"]})
    guests: int = 2
    vegan: bool = False


async def _log(ctx: Context, level: str, text: str) -> None:
    with warnings.catch_warnings():  # deprecated in 2026-07-28, still 2025's way
        warnings.simplefilter("ignore", MCPDeprecationWarning)
        await ctx.log(level, text, logger_name="work")  # type: ignore[arg-type]


def build_server() -> MCPServer:
    server = MCPServer("features-server", instructions=INSTRUCTIONS, log_level="WARNING")

    @server.resource("notes://list", name="notes", description="Every note's name.", mime_type="text/plain")
    def note_list() -> str:
        return "\n".join(NOTES)

    @server.resource("notes://logo", name="logo", mime_type="image/png")
    def logo() -> bytes:
        return PNG_1X1

    @server.resource("notes://note/{name}", name="note", description="One note.", mime_type="text/plain")
    def note(name: str) -> str:
        return NOTES[name]

    @server.prompt(description="Summarize a topic.")
    def summarize(topic: str, style: str = "short") -> str:
        return f"Summarize {topic} in a {style} style."

    @server.prompt(description="A greeting exchange.")
    def greet() -> list[Any]:
        return [
            UserMessage("Hello!"),
            AssistantMessage("Hi, how can I help?"),
            UserMessage("Tell me a joke."),
        ]

    @server.completion()
    async def complete(ref: Any, argument: Any, context: Any) -> Completion | None:
        if isinstance(ref, ResourceTemplateReference) and argument.name == "name":
            return Completion(values=[n for n in NOTES if n.startswith(argument.value)])
        if isinstance(ref, PromptReference) and ref.name == "summarize" and argument.name == "style":
            return Completion(values=[s for s in STYLES if s.startswith(argument.value)])
        return None

    @server.tool(description="Work in steps, reporting progress and logging.")
    async def work(steps: int, ctx: Context) -> str:
        await _log(ctx, "info", "starting work")
        for step in range(1, steps + 1):
            await ctx.report_progress(step, steps, f"step {step}")
        await _log(ctx, "warning", "disk almost full")
        return f"worked {steps} steps"

    @server.tool(description="Point at a note.")
    def link() -> CallToolResult:
        target = ResourceLink(name="alpha", uri="notes://note/alpha", mime_type="text/plain")
        return CallToolResult(content=[target])

    @server.tool(description="An image whose structured content is the image again.")
    def picture() -> CallToolResult:
        image = ImageContent(data=PNG_B64, mime_type="image/png")
        return CallToolResult(content=[image], structured_content={"data": PNG_B64, "mimeType": "image/png"})

    @server.tool(description="An image plus facts about it.")
    def chart() -> CallToolResult:
        image = ImageContent(data=PNG_B64, mime_type="image/png")
        return CallToolResult(content=[image], structured_content={"width": 1, "height": 1})

    @server.tool(description="Ask for a booking form.")
    async def form(ctx: Context) -> str:
        result = await ctx.elicit("Book a table", Booking)
        data = result.data.model_dump() if getattr(result, "data", None) is not None else None  # type: ignore[union-attr]
        return f"{result.action} {json.dumps(data, sort_keys=True)}"

    @server.tool(description="Ask the user to visit a URL.")
    async def visit(ctx: Context) -> list[TextContent]:
        result = await ctx.elicit_url("Sign in to continue", "https://example.com/login?x=1", "e1")
        return [TextContent(text=f"{result.action}")]

    return server


@asynccontextmanager
async def features_server() -> AsyncIterator[str]:
    """Serve :func:`build_server` for the block; yields its MCP URL once it accepts connections."""
    async with serve_legacy_http(build_server().streamable_http_app()) as url:
        yield url
