"""OpenAI Responses API, streamed, through the ``openai`` SDK (imported only when this provider is used).

Stateless: every request sends the whole conversation as ``input`` items (``store`` off, no
``previous_response_id``), so the neutral message list stays the one source of truth. Tool calls
are ``function_call`` items, results ``function_call_output`` items whose output is a string, or a
list of ``input_text`` / ``input_image`` parts when the result holds images. Function tools go
with ``strict: false``: schemas pass unchanged, as ``agent/tool_schema.py`` made them.

Requests go through the SDK client (its retries, auth, error types) as the plain JSON built here,
and answers are read as plain JSON (``SDKAdapter._post_json``): streamed events as the parsed SSE
``data`` objects, no SDK models and no per-event ``to_dict()``. With ``streaming=False`` (batch
runs) one whole response is asked for; the same events come out (the text as one delta, then the
final response).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, assert_never

from agent.messages import (
    AssistantMessage,
    AssistantPart,
    ImagePart,
    Message,
    ModelRequest,
    ModelResponse,
    ResponseDone,
    StopReason,
    StreamEvent,
    TextDelta,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    ToolSpec,
    Usage,
    UserMessage,
    UserPart,
)
from agent.providers._common import (
    TOOL_ERROR_PREFIX,
    PerMessage,
    SDKAdapter,
    ToolDefinitions,
    connection_error,
    data_url,
    error_from_event,
    item_fragments,
    json_array,
    json_body,
    tool_call,
    tool_error_text,
    unexpected_response,
)

if TYPE_CHECKING:
    from openai import AsyncOpenAI, AsyncStream

__all__ = ["OpenAIResponsesProvider", "to_input_items"]

_INCOMPLETE: dict[str, StopReason] = {"max_output_tokens": "max_tokens", "content_filter": "refusal"}


def _result_output(result: ToolResultPart) -> str | list[dict[str, Any]]:
    if not any(isinstance(p, ImagePart) for p in result.content):
        return tool_error_text(result.text) if result.is_error else result.text
    output: list[dict[str, Any]] = []
    prefixed = not result.is_error  # an error's first text carries the prefix, once
    for item in result.content:
        match item:
            case TextPart():
                text = item.text if prefixed else tool_error_text(item.text)
                prefixed = True
                output.append({"type": "input_text", "text": text})
            case ImagePart():
                output.append({"type": "input_image", "image_url": data_url(item), "detail": "auto"})
            case _:
                assert_never(item)
    if not prefixed:  # an error of images only
        output.insert(0, {"type": "input_text", "text": TOOL_ERROR_PREFIX})
    return output


def _assistant_items(parts: Sequence[AssistantPart]) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    text: list[str] = []

    def flush() -> None:
        if text:
            items.append({"role": "assistant", "content": "".join(text)})
            text.clear()

    for part in parts:
        match part:
            case TextPart():
                text.append(part.text)
            case ToolCallPart():
                flush()
                items.append(
                    {
                        "type": "function_call",
                        "call_id": part.id,
                        "name": part.name,
                        "arguments": json.dumps(dict(part.arguments)),
                    }
                )
            case _:
                assert_never(part)
    flush()
    return items


def _user_items(parts: Sequence[UserPart]) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    content: list[dict[str, Any]] = []
    for part in parts:
        match part:
            case TextPart():
                if part.text:
                    content.append({"type": "input_text", "text": part.text})
            case ImagePart():
                content.append({"type": "input_image", "image_url": data_url(part), "detail": "auto"})
            case ToolResultPart():
                results.append(
                    {"type": "function_call_output", "call_id": part.call_id, "output": _result_output(part)}
                )
            case _:
                assert_never(part)
    return results + ([{"role": "user", "content": content}] if content else [])


def _message_items(message: Message) -> list[dict[str, Any]]:
    match message:
        case UserMessage():
            return _user_items(message.parts)
        case AssistantMessage():
            return _assistant_items(message.parts)
        case _:
            assert_never(message)


def to_input_items(
    messages: Sequence[Message], convert: Callable[[Message], list[dict[str, Any]]] = _message_items
) -> list[dict[str, Any]]:
    """The conversation as Responses ``input`` items; tool outputs come right after their calls.
    ``convert`` converts one message (the adapter's :class:`PerMessage` cache)."""
    items: list[dict[str, Any]] = []
    for message in messages:
        items += convert(message)
    return items


def _tool_definition(t: ToolSpec) -> dict[str, Any]:
    return {
        "type": "function",
        "name": t.name,
        "description": t.description,
        "parameters": dict(t.input_schema),
        "strict": False,
    }


def _text(value: object) -> str | None:
    return str(value) if value else None


class OpenAIResponsesProvider(SDKAdapter):
    """One model behind the OpenAI Responses API (constructor: :class:`SDKAdapter`)."""

    DEFAULT_NAME = "openai"
    DEFAULT_KEY_ENV = "OPENAI_API_KEY"
    SDK = "openai"
    _client: AsyncOpenAI
    _POST_OPTIONS: ClassVar[Mapping[str, Any]] = {
        "security": {"bearer_auth": True}
    }  # as responses.create sends it

    def _make_client(self, options: dict[str, Any]) -> AsyncOpenAI:
        import openai

        return openai.AsyncOpenAI(**options)

    def _head(self, request: ModelRequest) -> dict[str, Any]:
        """The body's small fields: all but the input items and the tools."""
        params: dict[str, Any] = {
            "model": self._who.model,
            "max_output_tokens": self._max_tokens or request.max_tokens,
            "store": False,
        }
        if request.system:
            params["instructions"] = request.system
        return params

    def request_body(self, request: ModelRequest) -> dict[str, Any]:
        """The Responses API body of ``request`` (without ``stream``): also a Batch API line's ``body``."""
        params = self._head(request)
        params["input"] = to_input_items(request.messages, self._converted)
        if request.tools:
            params["tools"] = self._tool_definitions(request.tools)
        return params

    def _wire(self, request: ModelRequest) -> bytes:
        serialized = {"input": json_array(map(self._fragments, request.messages))}
        if request.tools:
            serialized["tools"] = self._tool_definitions.json(request.tools)
        return json_body({**self._head(request), "stream": self._streaming}, **serialized)

    @cached_property
    def _fragments(self) -> PerMessage[str]:
        return item_fragments(self._converted)

    @cached_property
    def _converted(self) -> PerMessage[list[dict[str, Any]]]:
        return PerMessage(_message_items)

    @cached_property
    def _tool_definitions(self) -> ToolDefinitions:
        return ToolDefinitions(_tool_definition)

    async def _streamed(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        who = self._who.in_stream()  # the SDK does not retry failures inside a started stream
        with self._errors():
            events: AsyncStream[object] = await self._post_json(
                "/responses", self._wire(request), stream=True
            )
        items: dict[int, dict[str, Any]] = {}  # finished output items by output_index
        final: dict[str, Any] | None = None
        with self._errors(in_stream=True):
            async with events:
                async for event in events:
                    if not isinstance(event, dict):
                        continue
                    match event.get("type"):
                        case "response.output_text.delta" | "response.refusal.delta":
                            if isinstance(delta := event.get("delta"), str) and delta:
                                yield TextDelta(delta)
                        case "response.output_item.done":
                            item, index = event.get("item"), event.get("output_index")
                            if isinstance(item, dict) and isinstance(index, int):
                                items[index] = item
                        case "response.completed" | "response.incomplete":
                            response = event.get("response")
                            final = response if isinstance(response, dict) else {}
                        case "response.failed":
                            response = event.get("response")
                            error = (response.get("error") if isinstance(response, dict) else None) or {}
                            message = str(error.get("message") or "the response failed")
                            raise error_from_event(who, _text(error.get("code")), message)
                        case "error":
                            message = str(event.get("message") or "the response failed")
                            raise error_from_event(who, _text(event.get("code")), message)
            if final is None:
                raise connection_error(who, "the response stream ended before the response was complete")
            yield ResponseDone(self._response(final, items))

    async def _whole(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        """One non-streamed response, as the events :meth:`stream` promises."""
        with self._errors():
            body = await self._post_json("/responses", self._wire(request), stream=False)
            response = self.response_from_json(body)
        if response.message.text:
            yield TextDelta(response.message.text)
        yield ResponseDone(response)

    def response_from_json(self, body: object) -> ModelResponse:
        """The neutral response of a Responses API ``response`` object (a whole response, or a
        Batch API output line's ``body``); a failed response raises its error."""
        if not isinstance(body, dict) or not isinstance(body.get("output"), list):
            raise unexpected_response(self._who, body)
        if body.get("status") == "failed":
            error = body.get("error") or {}
            message = str(error.get("message") or "the response failed")
            raise error_from_event(self._who, error.get("code"), message)
        return self._response(body, {})

    def _response(self, final: dict[str, Any], items: dict[int, dict[str, Any]]) -> ModelResponse:
        """The neutral response from a Responses API ``response`` object (as JSON), or from the
        output items the stream delivered when the final object lists none."""
        output: list[dict[str, Any]] = [i for i in final.get("output") or () if isinstance(i, dict)]
        output = output or [items[i] for i in sorted(items)]
        parts: list[AssistantPart] = []
        refused = False
        for item in output:
            if item.get("type") == "message":
                texts = []
                for block in item.get("content") or ():
                    if block.get("type") == "output_text":
                        texts.append(block.get("text", ""))
                    elif block.get("type") == "refusal":
                        texts.append(block.get("refusal", ""))
                        refused = True
                if "".join(texts):
                    parts.append(TextPart("".join(texts)))
            elif item.get("type") == "function_call":
                name = str(item.get("name", ""))
                call_id = str(item.get("call_id") or item.get("id"))
                parts.append(
                    tool_call(call_id, name, str(item.get("arguments") or ""), provider=self._who.name)
                )
        message = AssistantMessage(tuple(parts))
        stop: StopReason = "tool_use" if message.tool_calls else "end_turn"
        reason = (final.get("incomplete_details") or {}).get("reason")
        if final.get("status") == "incomplete":
            stop = _INCOMPLETE.get(reason or "", stop)
        if refused:
            stop = "refusal"
        usage = Usage()
        if u := final.get("usage"):
            details = u.get("input_tokens_details") or {}
            cached = details.get("cached_tokens") or 0
            written = details.get("cache_write_tokens") or 0
            usage = Usage((u.get("input_tokens") or 0) - cached, u.get("output_tokens") or 0, cached, written)
        return ModelResponse(message, usage, stop, str(final.get("model") or self._who.model))
