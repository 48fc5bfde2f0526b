"""The two OpenAI APIs as the fake speaks them (see :mod:`tests.support.fake_llm`): Chat Completions
(``chat``) and Responses (``responses``). Reading a request into a :class:`Conversation`, writing an
:class:`Answer` as the service's SSE events or JSON object, and their (shared) errors.

The OpenAI APIs have no is_error flag on a tool result: a text starting with ``"Error: "`` counts as
one."""

from __future__ import annotations

import time
from typing import Any

from tests.support.fake_llm_neutral import Answer, Conversation, SeenToolResult, pieces, sse, text_of

__all__ = [
    "encode_chat",
    "encode_responses",
    "error_body",
    "read_chat",
    "read_responses",
    "stream_error_chat",
    "stream_error_responses",
]

_CHAT_STOP = {
    "end_turn": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "refusal": "content_filter",
}
_ERRORS = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}


# --- reading requests -------------------------------------------------------------------------


def _tool_result(call_id: str, content: Any) -> SeenToolResult:
    text, images = text_of(content)
    is_error = text.startswith("Error: ")
    return SeenToolResult(call_id, text.removeprefix("Error: ") if is_error else text, is_error, images)


def _user_message(conv: Conversation, content: Any) -> None:
    text, images = text_of(content)
    if text:
        conv.user_texts.append(text)
    conv.images += images


def read_chat(body: dict[str, Any], conv: Conversation) -> None:
    conv.tools = [t.get("function", {}).get("name", "") for t in body.get("tools") or ()]
    for message in body.get("messages") or ():
        role = message.get("role")
        if role in ("system", "developer"):
            conv.system = text_of(message.get("content"))[0]
        elif role == "assistant":
            conv.start_assistant_turn()
            for call in message.get("tool_calls") or ():
                conv.tool_calls.append((call["id"], call["function"]["name"]))
        elif role == "tool":
            conv.add_tool_result(_tool_result(message["tool_call_id"], message.get("content")))
        elif role == "user":
            _user_message(conv, message.get("content"))


def read_responses(body: dict[str, Any], conv: Conversation) -> None:
    conv.system = body.get("instructions") or ""
    conv.tools = [t.get("name", "") for t in body.get("tools") or ()]
    items = body.get("input") or []
    if isinstance(items, str):
        items = [{"role": "user", "content": items}]
    in_assistant_turn = False
    for item in items:
        kind = item.get("type", "message")
        assistant = kind == "function_call" or (kind == "message" and item.get("role") == "assistant")
        if assistant and not in_assistant_turn:
            conv.start_assistant_turn()
        in_assistant_turn = assistant
        if kind == "function_call":
            conv.tool_calls.append((item["call_id"], item["name"]))
        elif kind == "function_call_output":
            conv.add_tool_result(_tool_result(item["call_id"], item.get("output")))
        elif kind == "message" and item.get("role") in ("system", "developer"):
            conv.system = text_of(item.get("content"))[0]
        elif kind == "message" and item.get("role") == "user":
            _user_message(conv, item.get("content"))


# --- Chat Completions answers -----------------------------------------------------------------


def _prompt_tokens(a: Answer) -> int:
    """OpenAI counts cached input tokens inside the prompt total (Anthropic does not)."""
    return a.input_tokens + a.cache_read_tokens


def _chat_usage(a: Answer) -> dict[str, Any]:
    prompt = _prompt_tokens(a)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": a.output_tokens,
        "total_tokens": prompt + a.output_tokens,
        "prompt_tokens_details": {"cached_tokens": a.cache_read_tokens, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    }


def _chat_head(a: Answer, kind: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{a.ident}",
        "object": kind,
        "created": int(time.time()),
        "model": a.model,
        "system_fingerprint": "fp_fake",
    }


def _chat_chunks(a: Answer, include_usage: bool) -> list[bytes]:
    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        body = _chat_head(a, "chat.completion.chunk")
        body["choices"] = [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]
        if include_usage:
            body["usage"] = None
        return sse(None, body)

    events = [chunk({"role": "assistant", "content": "", "refusal": None})]
    events += [chunk({"content": piece}) for piece in pieces(a.text, a.chunk)]
    fragments: list[list[dict[str, Any]]] = []
    for i, c in enumerate(a.calls):
        first = {"index": i, "id": c.id, "type": "function", "function": {"name": c.name, "arguments": ""}}
        rest = [{"index": i, "function": {"arguments": p}} for p in pieces(c.arguments, a.chunk)]
        fragments.append([first, *rest])
    if a.interleave:
        longest = max((len(f) for f in fragments), default=0)
        ordered = [f[n] for n in range(longest) for f in fragments if n < len(f)]
    else:
        ordered = [frag for f in fragments for frag in f]
    events += [chunk({"tool_calls": [frag]}) for frag in ordered]
    events.append(chunk({}, _CHAT_STOP[a.stop]))
    if include_usage:
        body = _chat_head(a, "chat.completion.chunk")
        body.update(choices=[], usage=_chat_usage(a))
        events.append(sse(None, body))
    events.append(sse(None, "[DONE]"))
    return events


def _chat_completion(a: Answer) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": a.text or None, "refusal": None}
    if a.calls:
        message["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in a.calls
        ]
    body = _chat_head(a, "chat.completion")
    body["choices"] = [
        {"index": 0, "message": message, "logprobs": None, "finish_reason": _CHAT_STOP[a.stop]}
    ]
    body["usage"] = _chat_usage(a)
    return body


def encode_chat(answer: Answer, *, stream: bool, include_usage: bool = False) -> list[bytes] | dict[str, Any]:
    return _chat_chunks(answer, include_usage) if stream else _chat_completion(answer)


# --- Responses answers ------------------------------------------------------------------------


def _responses_object(a: Answer, status: str, output: list[dict[str, Any]], usage: bool) -> dict[str, Any]:
    incomplete = None
    if status == "incomplete":
        incomplete = {"reason": "max_output_tokens" if a.stop == "max_tokens" else "content_filter"}
    prompt = _prompt_tokens(a)
    return {
        "id": f"resp_{a.ident}",
        "object": "response",
        "created_at": int(time.time()),
        "status": status,
        "error": None,
        "incomplete_details": incomplete,
        "instructions": None,
        "max_output_tokens": None,
        "model": a.model,
        "output": output,
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": None, "summary": None},
        "store": True,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": {
            "input_tokens": prompt,
            "input_tokens_details": {
                "cached_tokens": a.cache_read_tokens,
                "cache_write_tokens": a.cache_write_tokens,
            },
            "output_tokens": a.output_tokens,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": prompt + a.output_tokens,
        }
        if usage
        else None,
        "metadata": {},
    }


def _responses_items(a: Answer) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    if a.text:
        part = {"type": "output_text", "text": a.text, "annotations": [], "logprobs": []}
        items.append(
            {
                "id": f"msg_{a.ident}",
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": [part],
            }
        )
    for c in a.calls:
        items.append(
            {
                "id": c.item_id,
                "type": "function_call",
                "status": "completed",
                "call_id": c.id,
                "name": c.name,
                "arguments": c.arguments,
            }
        )
    return items


def _responses_final_status(a: Answer) -> str:
    return "incomplete" if a.stop in ("max_tokens", "refusal") else "completed"


def _responses_events(a: Answer) -> list[bytes]:
    seq = iter(range(1 << 30))
    events: list[bytes] = []

    def emit(kind: str, **data: Any) -> None:
        events.append(sse(kind, {"type": kind, "sequence_number": next(seq), **data}))

    emit("response.created", response=_responses_object(a, "in_progress", [], False))
    emit("response.in_progress", response=_responses_object(a, "in_progress", [], False))
    done_items = _responses_items(a)
    for index, item in enumerate(done_items):
        if item["type"] == "message":
            emit(
                "response.output_item.added",
                output_index=index,
                item={**item, "status": "in_progress", "content": []},
            )
            empty = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            where = {"item_id": item["id"], "output_index": index, "content_index": 0}
            emit("response.content_part.added", **where, part=empty)
            for piece in pieces(a.text, a.chunk):
                emit("response.output_text.delta", **where, delta=piece, logprobs=[])
            emit("response.output_text.done", **where, text=a.text, logprobs=[])
            emit("response.content_part.done", **where, part=item["content"][0])
        else:
            emit(
                "response.output_item.added",
                output_index=index,
                item={**item, "status": "in_progress", "arguments": ""},
            )
            for piece in pieces(item["arguments"], a.chunk):
                emit(
                    "response.function_call_arguments.delta",
                    item_id=item["id"],
                    output_index=index,
                    delta=piece,
                )
            emit(
                "response.function_call_arguments.done",
                item_id=item["id"],
                output_index=index,
                name=item["name"],
                arguments=item["arguments"],
            )
        emit("response.output_item.done", output_index=index, item=item)
    status = _responses_final_status(a)
    final = "response.completed" if status == "completed" else "response.incomplete"
    emit(final, response=_responses_object(a, status, done_items, True))
    return events


def encode_responses(answer: Answer, *, stream: bool) -> list[bytes] | dict[str, Any]:
    if stream:
        return _responses_events(answer)
    return _responses_object(answer, _responses_final_status(answer), _responses_items(answer), True)


# --- errors -----------------------------------------------------------------------------------


def stream_error_chat(kind: str, message: str) -> bytes:
    return sse(None, {"error": {"message": message, "type": kind, "param": None, "code": None}})


def stream_error_responses(kind: str, message: str) -> bytes:
    return sse(
        "error", {"type": "error", "code": kind, "message": message, "param": None, "sequence_number": 0}
    )


def error_body(status: int, message: str) -> dict[str, Any]:
    kind, code = _ERRORS.get(status, ("server_error", None))
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}
