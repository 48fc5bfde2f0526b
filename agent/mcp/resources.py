"""A server's resources: list them (and their templates), read one, complete a template's arguments.

The SDK's types stay in here; callers get small neutral records: :class:`Resource`,
:class:`ResourceTemplate`, :class:`ResourceContent`. Every request is bounded by the server's
``timeout``; every failure is a :class:`~agent.errors.ServerError` naming the server. A server that
does not declare the ``resources`` capability simply has none (no request is sent).

``completion/complete`` (for template and prompt arguments) lives here too: :func:`complete`.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import anyio

from agent.errors import ServerError, ServerRequestFailed

if TYPE_CHECKING:
    from agent.mcp.connection import Connection
    from agent.mcp.manager import ServerManager

__all__ = [
    "Resource",
    "ResourceContent",
    "ResourceTemplate",
    "complete",
    "has_capability",
    "list_resources",
    "per_server",
    "read_resource",
    "servers_with",
    "servers_with_resources",
]

_MAX_PAGES = 100
_T = TypeVar("_T")
_VARIABLE = re.compile(r"\{([+#./;?&]?)([^}]*)\}")


@dataclass(frozen=True, slots=True)
class Resource:
    server: str
    uri: str
    name: str
    description: str = ""
    mime_type: str | None = None
    size: int | None = None


@dataclass(frozen=True, slots=True)
class ResourceTemplate:
    """A family of resources, ``uri_template`` in RFC 6570 form (``notes://note/{name}``)."""

    server: str
    uri_template: str
    name: str
    description: str = ""
    mime_type: str | None = None

    @property
    def variables(self) -> list[str]:
        """The template's variable names, in order."""
        names: list[str] = []
        for _, spec in _VARIABLE.findall(self.uri_template):
            names.extend(n.strip().rstrip("*").split(":")[0] for n in spec.split(",") if n.strip())
        return names

    @property
    def prefix(self) -> str:
        """The literal text before the first variable."""
        return _VARIABLE.split(self.uri_template, maxsplit=1)[0]


@dataclass(frozen=True, slots=True)
class ResourceContent:
    """One content item of a read: ``text``, or ``blob`` (decoded bytes)."""

    uri: str
    mime_type: str | None = None
    text: str | None = None
    blob: bytes | None = None

    @property
    def is_text(self) -> bool:
        return self.text is not None


def has_capability(conn: Connection, feature: str) -> bool:
    """Whether the server declared ``resources``, ``prompts`` or ``completions``."""
    try:
        caps = conn.client.server_capabilities
    except Exception:  # not initialised (cannot happen for a live connection)
        return False
    return getattr(caps, feature, None) is not None


def servers_with(manager: ServerManager, feature: str, server: str | None = None) -> list[str]:
    """The connected servers (or just ``server``, which must exist) that offer ``feature``."""
    if server is not None:
        return [server] if has_capability(manager.connection(server), feature) else []
    return [name for name in manager.connected if has_capability(manager.connection(name), feature)]


@asynccontextmanager
async def bounded(conn: Connection, what: str) -> AsyncIterator[None]:
    """The server's ``timeout`` around a request; its failures as a ServerError."""
    from mcp.shared.exceptions import MCPError
    from mcp_types import CONNECTION_CLOSED
    from pydantic import ValidationError

    try:
        with anyio.fail_after(conn.settings.timeout if conn.settings.timeout > 0 else None):
            yield
    except TimeoutError:
        raise ServerError(conn.name, f"{what} timed out after {conn.settings.timeout:g} s") from None
    except MCPError as exc:
        if exc.code == CONNECTION_CLOSED:
            raise ServerError(conn.name, f"{what} failed: {exc}") from None
        raise ServerRequestFailed(conn.name, f"{what} failed: {exc}") from None
    except ValidationError as exc:
        raise ServerError(conn.name, f"{what}: the server sent an invalid result: {exc}") from None


async def paged(fetch: Callable[[str | None], Awaitable[tuple[list[_T], str | None]]]) -> list[_T]:
    """Every page of a listing (a repeated cursor ends it)."""
    items: list[_T] = []
    cursor: str | None = None
    seen: set[str] = set()
    for _ in range(_MAX_PAGES):
        page, cursor = await fetch(cursor)
        items.extend(page)
        if cursor is None or cursor in seen:
            break
        seen.add(cursor)
    return items


async def _list_one(conn: Connection) -> tuple[list[Resource], list[ResourceTemplate]]:
    client = conn.client

    async def resources(cursor: str | None) -> tuple[list[Resource], str | None]:
        page = await client.list_resources(cursor=cursor)
        return [
            Resource(conn.name, r.uri, r.name, r.description or r.title or "", r.mime_type, r.size)
            for r in page.resources
        ], page.next_cursor

    async def templates(cursor: str | None) -> tuple[list[ResourceTemplate], str | None]:
        page = await client.list_resource_templates(cursor=cursor)
        return [
            ResourceTemplate(conn.name, t.uri_template, t.name, t.description or t.title or "", t.mime_type)
            for t in page.resource_templates
        ], page.next_cursor

    async with bounded(conn, "listing resources"):
        found = await paged(resources)
    async with bounded(conn, "listing resource templates"):
        shaped = await paged(templates)
    return found, shaped


async def list_resources(
    manager: ServerManager, server: str | None = None
) -> tuple[list[Resource], list[ResourceTemplate]]:
    """The resources and templates of ``server`` (or of every connected server that has them).

    Listing every server, one that fails is left out (and logged); naming one, its error is raised."""
    names = servers_with(manager, "resources", server)
    results = await per_server(manager, names, _list_one, named=server)
    resources = [r for name in names for r in results.get(name, ([], []))[0]]
    templates = [t for name in names for t in results.get(name, ([], []))[1]]
    return resources, templates


async def per_server(
    manager: ServerManager,
    names: list[str],
    fetch: Callable[[Connection], Awaitable[_T]],
    *,
    named: str | None,
) -> dict[str, _T]:
    """``fetch`` of each server in ``names`` at once. A server that fails is left out (and
    logged), unless it is the one the user ``named``: then its error is raised."""
    import logging

    results: dict[str, _T] = {}

    async def one(name: str) -> None:
        try:
            results[name] = await fetch(manager.connection(name))
        except ServerError as exc:
            if named is not None:
                raise
            logging.getLogger(__name__).info("%s", exc)

    async with anyio.create_task_group() as tg:
        for name in names:
            tg.start_soon(one, name)
    return results


async def servers_with_resources(manager: ServerManager) -> list[str]:
    """The connected servers that list any resource or template (a failed listing counts as none):
    the ones the model's ``read_resource`` can read."""
    resources, templates = await list_resources(manager)
    found = {r.server for r in resources} | {t.server for t in templates}
    return [name for name in manager.connected if name in found]


async def read_resource(manager: ServerManager, server: str, uri: str) -> list[ResourceContent]:
    """Read one resource: its content items (text, or decoded binary)."""
    conn = manager.connection(server)
    async with bounded(conn, f"reading {uri}"):
        result = await conn.client.read_resource(uri)
    contents: list[ResourceContent] = []
    for item in result.contents:
        text = getattr(item, "text", None)
        if text is not None:
            contents.append(ResourceContent(item.uri, item.mime_type, text=text))
            continue
        try:
            blob = base64.b64decode(getattr(item, "blob", "") or "", validate=True)
        except (binascii.Error, ValueError):
            raise ServerError(server, f"reading {uri}: the server sent invalid base64") from None
        contents.append(ResourceContent(item.uri, item.mime_type, blob=blob))
    return contents


async def complete(
    manager: ServerManager,
    server: str,
    *,
    argument: str,
    value: str,
    template: str | None = None,
    prompt: str | None = None,
    context: Mapping[str, str] | None = None,
) -> list[str]:
    """``completion/complete`` for one argument of a resource ``template`` or a ``prompt``: the
    server's suggestions (none when it does not offer completions)."""
    import mcp_types

    conn = manager.connection(server)
    if not has_capability(conn, "completions"):
        return []
    ref: Any = (
        mcp_types.ResourceTemplateReference(uri=template)
        if template is not None
        else mcp_types.PromptReference(name=prompt or "")
    )
    async with bounded(conn, f"completing {argument!r}"):
        result = await conn.client.complete(
            ref, {"name": argument, "value": value}, dict(context) if context else None
        )
    return [v for v in result.completion.values if isinstance(v, str)]
