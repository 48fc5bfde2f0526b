"""The built-in ``read_resource`` tool: the model reads a server's resources, e.g. the resource
links a tool result points at.

When any connected server offers resources, each request also offers ``read_resource``
(``{"server": string, "uri": string}``), the agent's own tool: no approval is asked (reading a
resource changes nothing), and it shows as ``agent.read_resource``. :class:`ResourceTools` wraps
the turn's tools (a :class:`~agent.tool_search.ToolOffer`) and adds it; the result is the
resource's text, an image as an image, other binary content as a note with its type and size,
cut to the toolbox's result limit like any tool result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from agent.builtin_tools import BuiltinTools
from agent.errors import AgentError
from agent.messages import ImagePart, TextPart, ToolResultPart
from agent.tools import ToolEntry, error_result, truncate_text

if TYPE_CHECKING:
    from agent.core import Tools
    from agent.mcp.manager import ServerManager
    from agent.mcp.resources import ResourceContent

__all__ = ["READ_RESOURCE", "ResourceTools", "read_hint", "resource_result"]

READ_RESOURCE = "read_resource"
_DESCRIPTION = (
    "Read a resource of a connected MCP server by its URI, e.g. a resource link a tool returned. "
    "Servers offering resources: {servers}."
)


def read_hint(server: str, uri: str) -> str:
    """What a resource link tells the model."""
    return f'read it with {READ_RESOURCE}(server="{server}", uri="{uri}")'


def _schema(servers: Sequence[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "server": {"type": "string", "enum": list(servers), "description": "The server's name."},
            "uri": {"type": "string", "description": "The resource's URI."},
        },
        "required": ["server", "uri"],
    }


def resource_result(
    contents: Sequence[ResourceContent], *, call_id: str, name: str, max_chars: int
) -> ToolResultPart:
    """A read's contents as a tool result: text, images, notes for other binary data."""
    parts: list[TextPart | ImagePart] = []
    for item in contents:
        mime = f" ({item.mime_type})" if item.mime_type else ""
        if item.text is not None:
            parts.append(TextPart(f"[resource: {item.uri}{mime}]\n{item.text}"))
        elif item.blob is not None and (item.mime_type or "").startswith("image/"):
            import base64

            parts.append(ImagePart(base64.b64encode(item.blob).decode(), item.mime_type or "image/png"))
        else:
            size = len(item.blob or b"")
            parts.append(TextPart(f"[binary resource: {item.uri}{mime}, {size} bytes, not shown]"))
    if not parts:
        parts.append(TextPart("(the resource is empty)"))
    text = "\n".join(p.text for p in parts if isinstance(p, TextPart))
    if len(text) > max_chars:
        parts = [TextPart(truncate_text(text, max_chars)), *(p for p in parts if isinstance(p, ImagePart))]
    return ToolResultPart(call_id, name, tuple(parts))


class ResourceTools(BuiltinTools):
    """The turn's tools plus ``read_resource`` for ``servers`` (the ones offering resources)."""

    def __init__(
        self, inner: Tools, manager: ServerManager, servers: Sequence[str], *, max_chars: int
    ) -> None:
        self.manager = manager
        self.servers = tuple(servers)
        self.max_chars = max_chars
        description = _DESCRIPTION.format(servers=", ".join(self.servers))
        super().__init__(inner, [(READ_RESOURCE, description, _schema(self.servers))])

    async def call_own(self, entry: ToolEntry, arguments: object, call_id: str) -> ToolResultPart:
        from agent.mcp.resources import read_resource

        name = entry.name
        server = arguments.get("server") if isinstance(arguments, Mapping) else None
        uri = arguments.get("uri") if isinstance(arguments, Mapping) else None
        if not isinstance(server, str) or not isinstance(uri, str) or not uri:
            return error_result(call_id, name, 'error: give {"server": NAME, "uri": URI}')
        if server not in self.servers:
            known = ", ".join(self.servers)
            return error_result(
                call_id, name, f"error: no server {server!r} offers resources (these do: {known})"
            )
        try:
            contents = await read_resource(self.manager, server, uri)
        except AgentError as exc:
            return error_result(call_id, name, f"error: {exc.message}")
        return resource_result(contents, call_id=call_id, name=name, max_chars=self.max_chars)
