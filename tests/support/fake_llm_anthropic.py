"""The Anthropic Messages API as the fake speaks it (see :mod:`tests.support.fake_llm`): reading a
request into a :class:`Conversation`, and writing an :class:`Answer` as the service's SSE events or
JSON message, and its errors."""

from __future__ import annotations

import json
from typing import Any

from tests.support.fake_llm_neutral import Answer, Conversation, SeenToolResult, pieces, sse, text_of

__all__ = ["encode", "error_body", "read", "stream_error"]

_STOP = {
    "end_turn": "end_turn",
    "tool_use": "tool_use",
    "max_tokens": "max_tokens",
    "refusal": "refusal",
}
_ERRORS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def read(body: dict[str, Any], conv: Conversation) -> None:
    system = body.get("system") or ""
    conv.system = system if isinstance(system, str) else text_of(system)[0]
    conv.tools = [t.get("name", "") for t in body.get("tools") or ()]
    for message in body.get("messages") or ():
        content = message.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content or []
        if message.get("role") == "assistant":
            conv.start_assistant_turn()
            conv.tool_calls += [(b["id"], b["name"]) for b in blocks if b.get("type") == "tool_use"]
            continue
        for block in blocks:
            kind = block.get("type")
            if kind == "tool_result":
                text, images = text_of(block.get("content"))
                conv.add_tool_result(
                    SeenToolResult(block["tool_use_id"], text, bool(block.get("is_error")), images)
                )
            elif kind == "text":
                conv.user_texts.append(block["text"])
            elif kind == "image":
                conv.images += 1


def _message(a: Answer, content: list[dict[str, Any]], stop: str | None, out: int) -> dict[str, Any]:
    return {
        "id": f"msg_{a.ident}",
        "type": "message",
        "role": "assistant",
        "model": a.model,
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {
            "input_tokens": a.input_tokens,
            "cache_creation_input_tokens": a.cache_write_tokens,
            "cache_read_input_tokens": a.cache_read_tokens,
            "output_tokens": out,
        },
    }


def _content(a: Answer) -> list[dict[str, Any]]:
    content: list[dict[str, Any]] = [{"type": "text", "text": a.text}] if a.text else []
    for c in a.calls:
        content.append({"type": "tool_use", "id": c.id, "name": c.name, "input": _input(c.arguments)})
    return content


def _input(arguments: str) -> object:
    """A whole tool_use block's ``input``: the decoded arguments, or a script's broken JSON as is."""
    try:
        return json.loads(arguments or "{}")
    except json.JSONDecodeError:
        return arguments


def _events(a: Answer) -> list[bytes]:
    events = [sse("message_start", {"type": "message_start", "message": _message(a, [], None, 1)})]
    index = 0
    if a.text:
        start = {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
        events += [sse("content_block_start", start), sse("ping", {"type": "ping"})]
        for piece in pieces(a.text, a.chunk):
            delta = {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": piece},
            }
            events.append(sse("content_block_delta", delta))
        events.append(sse("content_block_stop", {"type": "content_block_stop", "index": 0}))
        index = 1
    else:
        events.append(sse("ping", {"type": "ping"}))
    for i, c in enumerate(a.calls, start=index):
        block = {"type": "tool_use", "id": c.id, "name": c.name, "input": {}}
        events.append(
            sse("content_block_start", {"type": "content_block_start", "index": i, "content_block": block})
        )
        for piece in ["", *pieces(c.arguments, a.chunk)]:
            delta = {
                "type": "content_block_delta",
                "index": i,
                "delta": {"type": "input_json_delta", "partial_json": piece},
            }
            events.append(sse("content_block_delta", delta))
        events.append(sse("content_block_stop", {"type": "content_block_stop", "index": i}))
    delta = {
        "type": "message_delta",
        "delta": {"stop_reason": _STOP[a.stop], "stop_sequence": None},
        "usage": {"output_tokens": a.output_tokens},
    }
    events += [sse("message_delta", delta), sse("message_stop", {"type": "message_stop"})]
    return events


def encode(answer: Answer, *, stream: bool) -> list[bytes] | dict[str, Any]:
    if stream:
        return _events(answer)
    return _message(answer, _content(answer), _STOP[answer.stop], answer.output_tokens)


def stream_error(kind: str, message: str) -> bytes:
    return sse("error", {"type": "error", "error": {"type": kind, "message": message}})


def error_body(status: int, message: str) -> dict[str, Any]:
    kind = _ERRORS.get(status, "api_error")
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_fake"}
