"""The bit of HTTP/1.1 the fake model server (:mod:`tests.support.fake_llm_server`) speaks over an
anyio socket stream: read one request, answer with JSON, or stream SSE events in chunked encoding
(optionally slowed, cut short or left hanging, to fake a bad network)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import anyio
import anyio.abc
from anyio.streams.buffered import BufferedByteReceiveStream

__all__ = ["Request", "read_request", "send_bytes", "send_json", "send_sse"]

_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
}
_SSE_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
    b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\nrequest-id: req_fake\r\n\r\n"
)

Request = tuple[str, str, dict[str, str], bytes]  # method, path (no query), lower-case headers, body


async def read_request(reader: BufferedByteReceiveStream) -> Request:
    """The next request on a keep-alive connection (anyio's stream errors when the client leaves)."""
    head = await reader.receive_until(b"\r\n\r\n", 1 << 20)
    line, *lines = head.decode("latin-1").split("\r\n")
    method, target, _ = line.split(" ", 2)
    headers = {}
    for h in lines:
        name, _, value = h.partition(":")
        headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length") or 0)
    body = await reader.receive_exactly(length) if length else b""
    return method, target.split("?", 1)[0], headers, body


async def send_json(
    stream: anyio.abc.SocketStream, status: int, body: Any, extra: Mapping[str, str] | None = None
) -> None:
    """A whole JSON answer with ``status`` and ``extra`` headers."""
    await send_bytes(stream, status, json.dumps(body).encode(), "application/json", extra)


async def send_bytes(
    stream: anyio.abc.SocketStream,
    status: int,
    data: bytes,
    content_type: str,
    extra: Mapping[str, str] | None = None,
) -> None:
    """A whole answer of ``data`` (a file's content, JSONL results)."""
    head = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}", f"content-type: {content_type}"]
    head += [f"{k}: {v}" for k, v in (extra or {}).items()]
    head.append(f"content-length: {len(data)}")
    await stream.send(("\r\n".join(head) + "\r\n\r\n").encode() + data)


async def send_sse(
    stream: anyio.abc.SocketStream,
    events: list[bytes],
    chunk_delay: float,
    cut: int | None,
    hang: int | None,
) -> bool:
    """Stream ``events`` (``chunk_delay`` seconds apart); stop after ``cut`` events, or after ``hang``
    events wait until the client leaves. True if the connection may serve another request."""
    limit = min(x for x in (cut, hang, len(events)) if x is not None)
    chunks = [b"%x\r\n%s\r\n" % (len(e), e) for e in events[:limit]]
    if limit == len(events):
        chunks.append(b"0\r\n\r\n")
    if not chunk_delay:
        await stream.send(_SSE_HEAD + b"".join(chunks))
    else:
        await stream.send(_SSE_HEAD)
        for i, chunk in enumerate(chunks):
            if i:
                await anyio.sleep(chunk_delay)
            await stream.send(chunk)
    if hang is not None and cut is None and hang < len(events):
        await anyio.sleep_forever()  # until the client leaves (the server's watcher cancels this)
    return limit == len(events)  # after a cut, close the connection
