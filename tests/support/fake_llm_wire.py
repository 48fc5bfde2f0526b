"""The wire formats of the fake model APIs (see :mod:`tests.support.fake_llm`).

Two directions:

* reading what an SDK sent: :func:`read_conversation` turns the body of an Anthropic Messages,
  Chat Completions or Responses request into one provider-neutral :class:`Conversation`, so a
  scripted "model" can look at tool results without caring which API it is faking;
* writing the answer: :func:`encode` renders an :class:`Answer` as the SSE events (or the JSON
  object, when the request did not ask for a stream) the real service sends.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "API",
    "Answer",
    "Call",
    "Conversation",
    "SeenToolResult",
    "encode",
    "error_body",
    "read_conversation",
    "sse",
    "stream_error",
]

API = Literal["anthropic", "chat", "responses"]
NeutralStop = Literal["end_turn", "tool_use", "max_tokens", "refusal"]


@dataclass(frozen=True)
class SeenToolResult:
    call_id: str
    text: str
    is_error: bool
    images: int = 0


@dataclass
class Conversation:
    """What the model was sent, the same for all three APIs."""

    system: str = ""
    tools: list[str] = field(default_factory=list)
    user_texts: list[str] = field(default_factory=list)
    assistant_turns: int = 0
    tool_calls: list[tuple[str, str]] = field(default_factory=list)  # (call id, name), in order
    tool_results: list[SeenToolResult] = field(default_factory=list)  # every result, in order
    last_tool_results: list[SeenToolResult] = field(default_factory=list)  # since the last assistant turn
    images: int = 0  # images in user messages (not in tool results)

    @property
    def last_user_text(self) -> str:
        return self.user_texts[-1] if self.user_texts else ""


@dataclass(frozen=True)
class Call:
    id: str  # the call id the model gives (toolu_…, call_…)
    item_id: str  # the Responses output item id (fc_…)
    name: str
    arguments: str  # JSON text, exactly as streamed


@dataclass
class Answer:
    model: str
    text: str
    calls: list[Call]
    stop: NeutralStop
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    chunk: int = 8  # characters per streamed text or argument fragment
    interleave: bool = False  # Chat Completions: interleave the fragments of several tool calls
    ident: str = "0"


# --- reading requests -------------------------------------------------------------------------


def _text_of(content: Any) -> tuple[str, int]:
    """Text and image count of a content value: a string or a list of typed blocks."""
    if isinstance(content, str):
        return content, 0
    texts: list[str] = []
    images = 0
    for block in content or ():
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind in ("text", "input_text", "output_text") and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif kind in ("image", "image_url", "input_image"):
            images += 1
    return "\n".join(texts), images


def _openai_result(call_id: str, content: Any) -> SeenToolResult:
    text, images = _text_of(content)
    is_error = text.startswith("Error: ")
    return SeenToolResult(call_id, text.removeprefix("Error: ") if is_error else text, is_error, images)


def _read_anthropic(body: dict[str, Any], conv: Conversation) -> None:
    system = body.get("system") or ""
    conv.system = system if isinstance(system, str) else _text_of(system)[0]
    conv.tools = [t.get("name", "") for t in body.get("tools") or ()]
    for message in body.get("messages") or ():
        content = message.get("content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content or []
        if message.get("role") == "assistant":
            conv.assistant_turns += 1
            conv.last_tool_results = []
            conv.tool_calls += [(b["id"], b["name"]) for b in blocks if b.get("type") == "tool_use"]
            continue
        for block in blocks:
            kind = block.get("type")
            if kind == "tool_result":
                text, images = _text_of(block.get("content"))
                result = SeenToolResult(block["tool_use_id"], text, bool(block.get("is_error")), images)
                conv.tool_results.append(result)
                conv.last_tool_results.append(result)
            elif kind == "text":
                conv.user_texts.append(block["text"])
            elif kind == "image":
                conv.images += 1


def _read_chat(body: dict[str, Any], conv: Conversation) -> None:
    conv.tools = [t.get("function", {}).get("name", "") for t in body.get("tools") or ()]
    for message in body.get("messages") or ():
        role = message.get("role")
        text, images = _text_of(message.get("content"))
        if role in ("system", "developer"):
            conv.system = text
        elif role == "assistant":
            conv.assistant_turns += 1
            conv.last_tool_results = []
            for call in message.get("tool_calls") or ():
                conv.tool_calls.append((call["id"], call["function"]["name"]))
        elif role == "tool":
            result = _openai_result(message["tool_call_id"], message.get("content"))
            conv.tool_results.append(result)
            conv.last_tool_results.append(result)
        elif role == "user":
            if text:
                conv.user_texts.append(text)
            conv.images += images


def _read_responses(body: dict[str, Any], conv: Conversation) -> None:
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
            conv.assistant_turns += 1
            conv.last_tool_results = []
        in_assistant_turn = assistant
        if kind == "function_call":
            conv.tool_calls.append((item["call_id"], item["name"]))
        elif kind == "function_call_output":
            result = _openai_result(item["call_id"], item.get("output"))
            conv.tool_results.append(result)
            conv.last_tool_results.append(result)
        elif kind == "message" and item.get("role") in ("system", "developer"):
            conv.system = _text_of(item.get("content"))[0]
        elif kind == "message" and item.get("role") == "user":
            text, images = _text_of(item.get("content"))
            if text:
                conv.user_texts.append(text)
            conv.images += images


def read_conversation(api: API, body: dict[str, Any]) -> Conversation:
    conv = Conversation()
    {"anthropic": _read_anthropic, "chat": _read_chat, "responses": _read_responses}[api](body, conv)
    return conv


# --- writing answers --------------------------------------------------------------------------


def sse(event: str | None, data: Any) -> bytes:
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()


def _pieces(text: str, size: int) -> list[str]:
    size = max(1, size)
    return [text[i : i + size] for i in range(0, len(text), size)]


_ANTHROPIC_STOP = {
    "end_turn": "end_turn",
    "tool_use": "tool_use",
    "max_tokens": "max_tokens",
    "refusal": "refusal",
}
_CHAT_STOP = {
    "end_turn": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "refusal": "content_filter",
}


def _anthropic_message(
    a: Answer, content: list[dict[str, Any]], stop: str | None, out: int
) -> dict[str, Any]:
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


def _anthropic_content(a: Answer) -> list[dict[str, Any]]:
    content: list[dict[str, Any]] = [{"type": "text", "text": a.text}] if a.text else []
    for c in a.calls:
        content.append(
            {"type": "tool_use", "id": c.id, "name": c.name, "input": json.loads(c.arguments or "{}")}
        )
    return content


def _anthropic_events(a: Answer) -> list[bytes]:
    events = [sse("message_start", {"type": "message_start", "message": _anthropic_message(a, [], None, 1)})]
    index = 0
    if a.text:
        start = {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}
        events += [sse("content_block_start", start), sse("ping", {"type": "ping"})]
        for piece in _pieces(a.text, a.chunk):
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
        for piece in ["", *_pieces(c.arguments, a.chunk)]:
            delta = {
                "type": "content_block_delta",
                "index": i,
                "delta": {"type": "input_json_delta", "partial_json": piece},
            }
            events.append(sse("content_block_delta", delta))
        events.append(sse("content_block_stop", {"type": "content_block_stop", "index": i}))
    delta = {
        "type": "message_delta",
        "delta": {"stop_reason": _ANTHROPIC_STOP[a.stop], "stop_sequence": None},
        "usage": {"output_tokens": a.output_tokens},
    }
    events += [sse("message_delta", delta), sse("message_stop", {"type": "message_stop"})]
    return events


def _chat_usage(a: Answer) -> dict[str, Any]:
    prompt = a.input_tokens + a.cache_read_tokens
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
    events += [chunk({"content": piece}) for piece in _pieces(a.text, a.chunk)]
    fragments: list[list[dict[str, Any]]] = []
    for i, c in enumerate(a.calls):
        first = {"index": i, "id": c.id, "type": "function", "function": {"name": c.name, "arguments": ""}}
        rest = [{"index": i, "function": {"arguments": p}} for p in _pieces(c.arguments, a.chunk)]
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


def _responses_object(a: Answer, status: str, output: list[dict[str, Any]], usage: bool) -> dict[str, Any]:
    incomplete = None
    if status == "incomplete":
        incomplete = {"reason": "max_output_tokens" if a.stop == "max_tokens" else "content_filter"}
    prompt = a.input_tokens + a.cache_read_tokens
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
            for piece in _pieces(a.text, a.chunk):
                emit("response.output_text.delta", **where, delta=piece, logprobs=[])
            emit("response.output_text.done", **where, text=a.text, logprobs=[])
            emit("response.content_part.done", **where, part=item["content"][0])
        else:
            emit(
                "response.output_item.added",
                output_index=index,
                item={**item, "status": "in_progress", "arguments": ""},
            )
            for piece in _pieces(item["arguments"], a.chunk):
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


def encode(
    api: API, answer: Answer, *, stream: bool, include_usage: bool = False
) -> list[bytes] | dict[str, Any]:
    """SSE events (``stream``) or the whole JSON response body, as the real API sends them."""
    if api == "anthropic":
        if stream:
            return _anthropic_events(answer)
        stop = _ANTHROPIC_STOP[answer.stop]
        return _anthropic_message(answer, _anthropic_content(answer), stop, answer.output_tokens)
    if api == "chat":
        return _chat_chunks(answer, include_usage) if stream else _chat_completion(answer)
    if stream:
        return _responses_events(answer)
    return _responses_object(answer, _responses_final_status(answer), _responses_items(answer), True)


_ANTHROPIC_ERRORS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    529: "overloaded_error",
}
_OPENAI_ERRORS = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    403: ("invalid_request_error", "unsupported_country_region_territory"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
}


def stream_error(api: API, kind: str, message: str) -> bytes:
    """An error reported inside a 200 stream, as each service does it (``kind``: e.g. overloaded_error)."""
    if api == "anthropic":
        return sse("error", {"type": "error", "error": {"type": kind, "message": message}})
    if api == "responses":
        return sse(
            "error", {"type": "error", "code": kind, "message": message, "param": None, "sequence_number": 0}
        )
    return sse(None, {"error": {"message": message, "type": kind, "param": None, "code": None}})


def error_body(api: API, status: int, message: str) -> dict[str, Any]:
    if api == "anthropic":
        kind = _ANTHROPIC_ERRORS.get(status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_fake"}
    kind, code = _OPENAI_ERRORS.get(status, ("server_error", None))
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}
