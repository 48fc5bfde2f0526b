"""agent/mcp/result_type.py: a result without ``resultType`` reaches the SDK as a complete one.

The wrapper sits on a transport read stream (the SDK's public seam); these drive it with the same
memory streams the SDK's transports use, and then let the SDK's own validation judge the result.
"""

from __future__ import annotations

import anyio
import pytest
from mcp.shared.message import SessionMessage
from mcp_types import JSONRPCError, JSONRPCNotification, JSONRPCResponse
from mcp_types import methods as sdk_methods
from pydantic import ValidationError

from agent.mcp.result_type import CompleteByDefault, with_default_result_type

TOOL_RESULT = {"content": [{"type": "text", "text": "no-result-type-test-ok"}]}


def test_the_sdk_rejects_a_modern_result_without_result_type() -> None:
    """Why the shim exists: remove it when this starts to fail (the SDK follows SEP-2322)."""
    with pytest.raises(ValidationError, match="resultType"):
        sdk_methods.validate_server_result("tools/call", "2026-07-28", TOOL_RESULT)


def test_a_result_without_result_type_becomes_complete_and_passes_the_sdk_check() -> None:
    message = SessionMessage(JSONRPCResponse(jsonrpc="2.0", id=1, result=dict(TOOL_RESULT)))
    out = with_default_result_type(message)
    assert isinstance(out, SessionMessage) and isinstance(out.message, JSONRPCResponse)
    assert out.message.result == {**TOOL_RESULT, "resultType": "complete"}
    sdk_methods.validate_server_result("tools/call", "2026-07-28", out.message.result)


def test_other_messages_pass_untouched() -> None:
    tagged = {"resultType": "input_required", "requestState": "s"}
    kept = SessionMessage(JSONRPCResponse(jsonrpc="2.0", id=2, result=dict(tagged)))
    assert with_default_result_type(kept).message.result == tagged  # type: ignore[union-attr]
    error = SessionMessage(JSONRPCError(jsonrpc="2.0", id=3, error={"code": -32601, "message": "nope"}))
    note = SessionMessage(JSONRPCNotification(jsonrpc="2.0", method="notifications/progress", params={}))
    failure = RuntimeError("transport broke")
    for item in (error, note, failure):
        assert with_default_result_type(item) is item
    assert "resultType" not in error.message.model_dump()


async def test_the_stream_wrapper_fills_in_what_it_yields() -> None:
    send, receive = anyio.create_memory_object_stream[SessionMessage | Exception](4)
    stream = CompleteByDefault(receive)
    async with send, stream:
        await send.send(SessionMessage(JSONRPCResponse(jsonrpc="2.0", id=1, result={"content": []})))
        await send.send(SessionMessage(JSONRPCResponse(jsonrpc="2.0", id=2, result={"content": []})))
        first = await stream.receive()
        second = await stream.__anext__()
        assert stream.last_context is None  # a plain memory stream keeps no sender context
    for item in (first, second):
        assert isinstance(item, SessionMessage)
        assert item.message.result["resultType"] == "complete"  # type: ignore[union-attr]
