"""A result without ``resultType`` is a complete result (SEP-2322), whatever the SDK's check says.

Protocol 2026-07-28 added ``resultType`` to every result and says a client MUST assume
``"complete"`` when it is absent. mcp 2.3.0 does not: ``ClientSession.send_request`` first checks
every result against the negotiated revision's wire schema (``mcp_types.methods.
validate_server_result``), where ``resultType`` is required, so a server that leaves it out gets
``ValidationError`` instead of its result (its own models default the field to ``"complete"``,
but run only after that check). The SDK has no public hook between the transport and that check.

The shim sits at the public seam in front of it: the transport's read stream (the
``TransportStreams`` an ``mcp.Client`` reads). :class:`CompleteByDefault` wraps that stream and
adds ``"resultType": "complete"`` to a JSON-RPC result that has none. Nothing else changes: a
result that names its type keeps it, errors, requests and notifications pass untouched, and on a
pre-2026 session the SDK drops the field again as one of a later revision's.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, Self

if TYPE_CHECKING:
    from mcp.shared.message import SessionMessage

__all__ = ["CompleteByDefault", "with_default_result_type"]


class _ReadStream(Protocol):
    """What a transport's read stream offers (the SDK's ``ReadStream``, whose module is private)."""

    async def receive(self) -> SessionMessage | Exception: ...
    async def aclose(self) -> None: ...
    async def __anext__(self) -> SessionMessage | Exception: ...
    async def __aenter__(self) -> Any: ...
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> bool | None: ...


def with_default_result_type(item: SessionMessage | Exception) -> SessionMessage | Exception:
    """The same message, with ``resultType: "complete"`` on a result that names no type."""
    from mcp.shared.message import SessionMessage
    from mcp_types import JSONRPCResponse

    if isinstance(item, SessionMessage):
        message = item.message
        if isinstance(message, JSONRPCResponse) and "resultType" not in message.result:
            message.result = {**message.result, "resultType": "complete"}
    return item


class CompleteByDefault:
    """A transport read stream (``ReadStream[SessionMessage | Exception]``) that applies
    :func:`with_default_result_type` to every message it yields."""

    def __init__(self, inner: _ReadStream) -> None:
        self._inner = inner

    @property
    def last_context(self) -> Any:
        """The sender's context of the last message, where the inner stream keeps one (the SDK's
        dispatcher looks for this attribute)."""
        return getattr(self._inner, "last_context", None)

    async def receive(self) -> SessionMessage | Exception:
        return with_default_result_type(await self._inner.receive())

    async def aclose(self) -> None:
        await self._inner.aclose()

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> SessionMessage | Exception:
        return with_default_result_type(await self._inner.__anext__())

    async def __aenter__(self) -> Self:
        await self._inner.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> bool | None:
        return await self._inner.__aexit__(exc_type, exc_val, exc_tb)
