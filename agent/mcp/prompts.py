"""A server's prompts: list them, get one with its arguments as neutral messages.

A prompt's messages become :class:`~agent.messages.UserMessage` / ``AssistantMessage`` values:
text as text, an image (in a user message) as an image, audio and binary resources as a short
note, an embedded text resource as its text, a resource link as a note naming the URI. A server
that does not declare the ``prompts`` capability has none (no request is sent).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agent.errors import UsageError
from agent.mcp.resources import bounded, paged, per_server, servers_with
from agent.messages import AssistantMessage, ImagePart, Message, TextPart, UserMessage

if TYPE_CHECKING:
    from agent.mcp.connection import Connection
    from agent.mcp.manager import ServerManager

__all__ = ["Prompt", "PromptArgument", "get_prompt", "list_prompts", "parse_arguments"]


@dataclass(frozen=True, slots=True)
class PromptArgument:
    name: str
    description: str = ""
    required: bool = False


@dataclass(frozen=True, slots=True)
class Prompt:
    server: str
    name: str
    description: str = ""
    arguments: tuple[PromptArgument, ...] = ()


async def _list_one(conn: Connection) -> list[Prompt]:
    async def fetch(cursor: str | None) -> tuple[list[Prompt], str | None]:
        page = await conn.client.list_prompts(cursor=cursor)
        found = [
            Prompt(
                conn.name,
                p.name,
                p.description or p.title or "",
                tuple(
                    PromptArgument(a.name, a.description or a.title or "", bool(a.required))
                    for a in p.arguments or ()
                ),
            )
            for p in page.prompts
        ]
        return found, page.next_cursor

    async with bounded(conn, "listing prompts"):
        return await paged(fetch)


async def list_prompts(manager: ServerManager, server: str | None = None) -> list[Prompt]:
    """The prompts of ``server``, or of every connected server that has them (one that fails
    is left out and logged; naming one, its error is raised)."""
    names = servers_with(manager, "prompts", server)
    results = await per_server(manager, names, _list_one, named=server)
    return [p for name in names for p in results.get(name, [])]


def parse_arguments(words: list[str]) -> dict[str, str]:
    """``key=value`` words as a dict (a value may hold ``=``); anything else is a usage error."""
    arguments: dict[str, str] = {}
    for word in words:
        key, eq, value = word.partition("=")
        if not eq or not key:
            raise UsageError(f"prompt arguments are key=value, not {word!r}", hint="e.g. topic=cats")
        if key in arguments:
            raise UsageError(f"prompt argument {key!r} is given twice", hint="give each argument once")
        arguments[key] = value
    return arguments


def _part(content: Any, role: str) -> TextPart | ImagePart:
    kind = getattr(content, "type", None)
    if kind == "text":
        return TextPart(content.text)
    if kind == "image" and role == "user":
        return ImagePart(content.data, content.mime_type)
    if kind in ("image", "audio"):
        return TextPart(f"[{kind} ({content.mime_type}) from the prompt, not shown]")
    if kind == "resource":
        res = content.resource
        text = getattr(res, "text", None)
        if text is not None:
            return TextPart(f"[resource: {res.uri}]\n{text}")
        return TextPart(f"[binary resource: {res.uri} ({res.mime_type or 'unknown type'}), not shown]")
    if kind == "resource_link":
        return TextPart(f"[resource link {content.name!r}: {content.uri}]")
    return TextPart(f"[unsupported prompt content {kind!r} omitted]")


async def get_prompt(
    manager: ServerManager, server: str, name: str, arguments: Mapping[str, str] | None = None
) -> list[Message]:
    """The prompt's messages; consecutive messages of one role are joined into one."""
    conn = manager.connection(server)
    async with bounded(conn, f"getting prompt {name!r}"):
        result = await conn.client.get_prompt(name, dict(arguments or {}))
    grouped: list[tuple[str, list[TextPart | ImagePart]]] = []
    for message in result.messages:
        part = _part(message.content, message.role)
        if grouped and grouped[-1][0] == message.role:
            grouped[-1][1].append(part)
        else:
            grouped.append((message.role, [part]))
    messages: list[Message] = []
    for role, parts in grouped:
        if role == "user":
            messages.append(UserMessage(tuple(parts)))
        else:
            messages.append(AssistantMessage(tuple(p for p in parts if isinstance(p, TextPart))))
    return messages
