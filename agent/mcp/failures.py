"""Why a connection failed, in plain words: refused, DNS, TLS, timeout, HTTP status.

The SDK wraps the causes of a failure in exception groups and generic protocol errors, so
:func:`describe_failure` digs through ``__cause__`` / ``__context__`` and groups
(:func:`leaves`) for the network-level reason, and :func:`hint` says what to do about it.
"""

from __future__ import annotations

import errno
import socket
import ssl
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx2

__all__ = ["describe_failure", "first_message", "hint", "leaves", "not_an_mcp_answer", "request_url"]

_SHOWN_BYTES = 120  # of an answer that is no MCP message


def leaves(exc: BaseException) -> Iterator[BaseException]:
    """Every exception in ``exc``'s groups and cause/context chains, outermost first."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, BaseExceptionGroup):
            todo.extend(current.exceptions)
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                todo.append(linked)


def describe_failure(exc: BaseException, *, url: str | None = None) -> str | None:
    """A plain reason for a network-level failure found anywhere in ``exc``, or None."""
    import httpx2

    chain = list(leaves(exc))
    # The request that failed names where it went: the MCP server, or during a login the
    # authorization server (its metadata, registration or token endpoint).
    url = next((u for u in map(request_url, chain) if u is not None), url)
    where = f" at {url}" if url else ""
    for item in chain:
        if isinstance(item, socket.gaierror) or (
            isinstance(item, OSError) and "name or service not known" in str(item).lower()
        ):
            return f"DNS lookup failed{where}: {item}"
    for item in chain:
        if isinstance(item, ssl.SSLError):
            reason = getattr(item, "verify_message", None) or getattr(item, "reason", None) or str(item)
            return f"TLS error{where}: {reason}"
    for item in chain:
        if isinstance(item, ConnectionRefusedError) or (
            isinstance(item, OSError) and item.errno == errno.ECONNREFUSED
        ):
            return f"connection refused{where}"
    for item in chain:
        if isinstance(item, httpx2.HTTPStatusError):
            response = item.response
            return f"HTTP {response.status_code} {response.reason_phrase} at {response.request.url}"
    for item in chain:
        if isinstance(item, httpx2.TimeoutException):
            return f"network timeout{where}: {item or type(item).__name__}"
    for item in chain:
        if isinstance(item, httpx2.ConnectError):
            text = str(item)
            lowered = text.lower()
            if "refused" in lowered or "all connection attempts failed" in lowered:
                return f"connection refused{where}"
            if "name or service" in lowered or "nodename" in lowered or "getaddrinfo" in lowered:
                return f"DNS lookup failed{where}: {text}"
            if "ssl" in lowered or "certificate" in lowered or "tls" in lowered:
                return f"TLS error{where}: {text}"
            return f"cannot connect{where}: {text}"
    for item in chain:
        if isinstance(item, httpx2.TransportError):
            return f"network error{where}: {item or type(item).__name__}"
    return None


def request_url(exc: BaseException) -> str | None:
    """The URL of the request an httpx2 error failed on, when it carries one."""
    import httpx2

    if not isinstance(exc, httpx2.RequestError):
        return None
    try:
        return str(exc.request.url)
    except RuntimeError:  # raised outside a request: httpx2 knows no request
        return None


def first_message(exc: BaseException) -> str:
    found = [e for e in leaves(exc) if not isinstance(e, BaseExceptionGroup)]
    first = found[0] if found else exc
    return str(first) or type(first).__name__


_HINTS = {
    "connection refused": "is the server running, at this host and port?",
    "DNS lookup failed": "check the host name in the server's 'url'",
    "TLS error": "check the URL's scheme (http or https) and the server's certificate",
    "network timeout": "raise the server's 'timeout' if it is just slow",
    "HTTP 404": "check the path in the server's 'url' (servers often answer at /mcp)",
    "HTTP 405": "check the path in the server's 'url'; a legacy SSE server needs transport = \"sse\" (with --url: a URL ending in /sse)",
    "not an MCP server": "check the URL: MCP servers often answer at /mcp (a legacy SSE one at /sse, "
    'with transport = "sse")',
}


async def not_an_mcp_answer(response: httpx2.Response) -> str | None:
    """What a 200 answer to an MCP request holds when it is no MCP message (a web page, other
    JSON), in one terminal-safe line: status, content type and its first bytes. None when it is
    an event stream or JSON-RPC (an event stream is never read here: it stays the SDK's), and for
    an answer to anything but a JSON-RPC POST (a login's requests go through the same client)."""
    import json

    import httpx2

    from agent.terminal import visible

    try:
        asked = response.request.method == "POST" and b'"jsonrpc"' in response.request.content
    except httpx2.RequestNotRead:
        asked = False
    if not asked:
        return None

    content_type = response.headers.get("content-type", "")
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "text/event-stream":
        return None
    body = await response.aread()  # not a stream: small, and the SDK reads it whole anyway
    if kind == "application/json":
        try:
            message = json.loads(body)
        except ValueError:
            message = None
        messages = message if isinstance(message, list) else [message]
        if messages and all(isinstance(m, dict) and m.get("jsonrpc") == "2.0" for m in messages):
            return None
    text = " ".join(body[: _SHOWN_BYTES * 4].decode("utf-8", errors="replace").split())
    shown = visible(
        text[:_SHOWN_BYTES] + ("…" if len(text) > _SHOWN_BYTES or len(body) > _SHOWN_BYTES * 4 else "")
    )
    said = f"{visible(content_type)}" if content_type else "no content type"
    return (
        f"not an MCP server at {response.request.url}: it answered HTTP {response.status_code} ({said}"
        f", {len(body)} bytes): {shown or '(empty)'}"
    )


def hint(reason: str) -> str | None:
    """What to do about a network-level failure, by the start of its reason."""
    return next((hint for start, hint in _HINTS.items() if reason.startswith(start)), None)
