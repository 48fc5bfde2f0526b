"""Watch what a transport reads: tell when the stream ends, and when a server writes junk.

The SDK's transports hand the session a stream of JSON-RPC messages, with the lines they could
not parse as ``Exception`` items in between, and end the stream when the server goes away (a
stdio process that exits, a stateless HTTP transport whose server stopped). The session only
fails the requests waiting at that moment; nothing tells the owner of the connection. So every
connection reads through :func:`watched`, which passes each message on and

- sets ``closed`` when the stream ends, so the manager sees a lost server at once, not on the
  next call;
- fails the transport with a :class:`~agent.errors.ServerConnectError` quoting one of the lines
  once ``JUNK_LIMIT`` lines were not JSON-RPC (a stdio server that logs to stdout): reported in
  a moment, not after the whole connect timeout.
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream

from agent.errors import ServerConnectError

__all__ = ["JUNK_LIMIT", "watched"]

log = logging.getLogger(__name__)

JUNK_LIMIT = 3
_QUOTE_WIDTH = 120


def _quote(exc: Exception) -> str:
    """The line a parse error was about, as the server wrote it (cut to one short line)."""
    errors = getattr(exc, "errors", None)
    raw: Any = None
    if callable(errors):
        try:
            found = errors()
        except Exception:  # not a pydantic error after all
            found = []
        raw = found[0].get("input") if found else None
    text = raw if isinstance(raw, str) else json.dumps(raw, default=str) if raw is not None else str(exc)
    text = " ".join(text.split())
    return text if len(text) <= _QUOTE_WIDTH else text[: _QUOTE_WIDTH - 1] + "…"


@asynccontextmanager
async def watched(
    name: str, streams: tuple[Any, Any], closed: anyio.Event
) -> AsyncIterator[tuple[MemoryObjectReceiveStream[Any], Any]]:
    """``streams`` (read, write) with the read side passed through the watch (module doc)."""
    source, write = streams
    send, receive = anyio.create_memory_object_stream[Any](0)

    async def pump() -> None:
        junk = 0
        try:
            async with send:
                async for item in source:
                    if isinstance(item, Exception):
                        junk += 1
                        log.info("server %s: not a JSON-RPC message: %s", name, _quote(item))
                        if junk >= JUNK_LIMIT:
                            raise ServerConnectError(
                                name,
                                f"it writes lines that are not JSON-RPC messages on stdout "
                                f"({junk} so far), e.g. {_quote(item)!r}",
                                hint="a stdio server must write only MCP messages on stdout; "
                                "its logs belong on stderr",
                            )
                    await send.send(item)
        except (anyio.BrokenResourceError, anyio.ClosedResourceError):
            pass  # our side closed first: the session is over
        finally:
            closed.set()

    async with anyio.create_task_group() as tg:
        tg.start_soon(pump)
        try:
            yield receive, write
        finally:
            receive.close()
            tg.cancel_scope.cancel()
