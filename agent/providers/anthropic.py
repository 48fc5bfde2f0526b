"""Anthropic Messages API, streamed, through the ``anthropic`` SDK (imported only when this provider is used).

The neutral model maps almost one to one: text and image blocks, ``tool_use`` blocks for tool
calls, ``tool_result`` blocks (text and image content, ``is_error``) for results, placed first in
their user message as the API requires. The raw event stream (``message_start``,
``content_block_*``, ``message_delta``, ``message_stop``) becomes text deltas and one final
response. Prompt caching is on (top-level ``cache_control``), so each step of a tool loop reads
the conversation so far from the cache.

Requests go through the SDK client (retries, headers, error types) and answers are read as plain
JSON (``SDKAdapter._post_json``): streamed events are the parsed SSE ``data`` objects, not SDK
models. With ``streaming=False`` (batch runs, where nobody watches the text arrive) one whole JSON
response is asked for: the same events come out (each text block as one delta, then the final
response) for about two thirds of the client CPU of a streamed response.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, assert_never

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
    PerMessage,
    SDKAdapter,
    ToolDefinitions,
    connection_error,
    dumps,
    json_array,
    json_body,
    tool_call,
    unexpected_response,
)

if TYPE_CHECKING:
    from anthropic import AsyncAnthropic, AsyncStream

__all__ = ["AnthropicProvider"]

_STOP_REASONS: dict[str, StopReason] = {
    "end_turn": "end_turn",
    "stop_sequence": "end_turn",
    "pause_turn": "end_turn",
    "tool_use": "tool_use",
    "max_tokens": "max_tokens",
    "model_context_window_exceeded": "max_tokens",
    "refusal": "refusal",
}
_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})


def _image(image: ImagePart) -> dict[str, Any]:
    if image.media_type not in _IMAGE_TYPES:
        return {"type": "text", "text": f"[an image of type {image.media_type} was left out: not supported]"}
    return {"type": "image", "source": {"type": "base64", "media_type": image.media_type, "data": image.data}}


def _tool_result(result: ToolResultPart) -> dict[str, Any]:
    content: list[dict[str, Any]] = []
    for item in result.content:
        match item:
            case TextPart():
                if item.text:
                    content.append({"type": "text", "text": item.text})
            case ImagePart():
                content.append(_image(item))
            case _:
                assert_never(item)
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": result.call_id}
    if content:
        block["content"] = content
    if result.is_error:
        block["is_error"] = True
    return block


def _user_content(parts: Sequence[UserPart]) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    blocks: list[dict[str, Any]] = []
    for part in parts:
        match part:
            case TextPart():
                if part.text:  # the API refuses empty text blocks
                    blocks.append({"type": "text", "text": part.text})
            case ImagePart():
                blocks.append(_image(part))
            case ToolResultPart():
                results.append(_tool_result(part))
            case _:
                assert_never(part)
    return results + blocks


def _assistant_content(parts: Sequence[AssistantPart]) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = []
    for part in parts:
        match part:
            case TextPart():
                if part.text:  # the API refuses empty text blocks
                    blocks.append({"type": "text", "text": part.text})
            case ToolCallPart():
                blocks.append(
                    {"type": "tool_use", "id": part.id, "name": part.name, "input": dict(part.arguments)}
                )
            case _:
                assert_never(part)
    return blocks


def _api_message(message: Message) -> dict[str, Any] | None:
    """One message as a Messages API message; None for one with nothing the API takes."""
    match message:
        case UserMessage():
            content = _user_content(message.parts)
        case AssistantMessage():
            content = _assistant_content(message.parts)
        case _:
            assert_never(message)
    return {"role": message.role, "content": content} if content else None


def to_api_messages(
    messages: Sequence[Message], convert: Callable[[Message], dict[str, Any] | None] = _api_message
) -> list[dict[str, Any]]:
    """The conversation as Messages API ``messages``; tool results lead their user message.
    ``convert`` converts one message (the adapter's :class:`PerMessage` cache)."""
    return [m for m in map(convert, messages) if m is not None]


def _tool_definition(t: ToolSpec) -> dict[str, Any]:
    if t.description:
        return {"name": t.name, "description": t.description, "input_schema": dict(t.input_schema)}
    return {"name": t.name, "input_schema": dict(t.input_schema)}


def _usage(u: dict[str, Any], before: Usage) -> Usage:
    """A ``usage`` object (of a message, or of a ``message_delta``, which may leave counts out:
    those stay as ``before`` had them)."""

    def count(key: str, old: int) -> int:
        value = u.get(key)
        return value if isinstance(value, int) else old

    return Usage(
        count("input_tokens", before.input_tokens),
        count("output_tokens", before.output_tokens),
        count("cache_read_input_tokens", before.cache_read_tokens),
        count("cache_creation_input_tokens", before.cache_write_tokens),
    )


class _Block:
    """One content block as it streams in: text pieces, or a tool call's JSON pieces."""

    __slots__ = ("id", "initial", "kind", "name", "pieces")

    def __init__(
        self, kind: str, id: str = "", name: str = "", initial: object = None, text: str = ""
    ) -> None:
        self.kind = kind
        self.id = id
        self.name = name
        self.initial = initial  # a tool_use block's ``input`` as first sent (``{}`` when streamed)
        self.pieces: list[str] = [text] if text else []


class AnthropicProvider(SDKAdapter):
    """One Anthropic model (constructor: :class:`SDKAdapter`)."""

    DEFAULT_NAME = "anthropic"
    DEFAULT_KEY_ENV = "ANTHROPIC_API_KEY"
    SDK = "anthropic"
    _client: AsyncAnthropic

    def _make_client(self, options: dict[str, Any]) -> AsyncAnthropic:
        import anthropic

        return anthropic.AsyncAnthropic(**options)

    def _head(self, request: ModelRequest) -> dict[str, Any]:
        """The body's small fields: all but the messages and the tools."""
        params: dict[str, Any] = {
            "model": self._who.model,
            "max_tokens": self._max_tokens or request.max_tokens,
            "cache_control": {"type": "ephemeral"},
        }
        if request.system:
            params["system"] = request.system
        return params

    def request_body(self, request: ModelRequest) -> dict[str, Any]:
        """The Messages API body of ``request`` (without ``stream``): also a Message Batches ``params``."""
        params = self._head(request)
        params["messages"] = to_api_messages(request.messages, self._converted)
        if request.tools:
            params["tools"] = self._tool_definitions(request.tools)
        return params

    def _wire(self, request: ModelRequest) -> bytes:
        serialized = {"messages": json_array(map(self._fragments, request.messages))}
        if request.tools:
            serialized["tools"] = self._tool_definitions.json(request.tools)
        return json_body({**self._head(request), "stream": self._streaming}, **serialized)

    @cached_property
    def _fragments(self) -> PerMessage[str]:
        converted = self._converted
        return PerMessage(lambda m: "" if (c := converted(m)) is None else dumps(c))

    @cached_property
    def _converted(self) -> PerMessage[dict[str, Any] | None]:
        return PerMessage(_api_message)

    @cached_property
    def _tool_definitions(self) -> ToolDefinitions:
        return ToolDefinitions(_tool_definition)

    async def _streamed(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        with self._errors():
            events: AsyncStream[object] = await self._post_json(
                "/v1/messages", self._wire(request), stream=True
            )
        blocks: dict[int, _Block] = {}
        usage = Usage()
        model = self._who.model
        api_stop: str | None = None
        complete = False
        with self._errors(in_stream=True):
            async with events:
                async for event in events:
                    if not isinstance(event, dict):
                        continue
                    match event.get("type"):
                        case "content_block_delta":
                            delta = event.get("delta") or {}
                            block = blocks.get(event.get("index", -1))
                            if block is None:
                                continue
                            if delta.get("type") == "text_delta":
                                text = str(delta.get("text") or "")
                                block.pieces.append(text)
                                yield TextDelta(text)
                            elif delta.get("type") == "input_json_delta":
                                block.pieces.append(str(delta.get("partial_json") or ""))
                        case "content_block_start":
                            index, start = event.get("index"), event.get("content_block") or {}
                            if not isinstance(index, int):
                                continue
                            if start.get("type") == "text":
                                text = str(start.get("text") or "")
                                blocks[index] = _Block("text", text=text)
                                if text:
                                    yield TextDelta(text)
                            elif start.get("type") == "tool_use":
                                blocks[index] = _Block(
                                    "tool", str(start.get("id")), str(start.get("name")), start.get("input")
                                )
                            else:  # thinking and server-tool blocks: not part of the neutral model
                                blocks[index] = _Block("other")
                        case "message_start":
                            message = event.get("message") or {}
                            model = str(message.get("model") or model)
                            usage = _usage(message.get("usage") or {}, Usage())
                        case "message_delta":
                            api_stop = (event.get("delta") or {}).get("stop_reason") or api_stop
                            usage = _usage(event.get("usage") or {}, usage)
                        case "message_stop":
                            complete = True
            if not complete:
                raise connection_error(
                    self._who.in_stream(), "the response stream ended before the message was complete"
                )
            yield ResponseDone(self._response(blocks, usage, api_stop, model))

    async def _whole(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        """One non-streamed response, as the events :meth:`stream` promises."""
        with self._errors():
            body = await self._post_json("/v1/messages", self._wire(request), stream=False)
            response = self.response_from_json(body)
        for part in response.message.parts:
            if isinstance(part, TextPart):
                yield TextDelta(part.text)
        yield ResponseDone(response)

    def response_from_json(self, body: object) -> ModelResponse:
        """The neutral response of a Messages API ``message`` object (a whole response, or a
        Message Batches result's ``message``)."""
        if not isinstance(body, dict) or not isinstance(body.get("content"), list):
            raise unexpected_response(self._who, body)
        blocks: dict[int, _Block] = {}
        for index, block in enumerate(body["content"]):
            kind = block.get("type") if isinstance(block, dict) else None
            if kind == "text":
                blocks[index] = _Block("text", text=str(block.get("text") or ""))
            elif kind == "tool_use":
                blocks[index] = _Block("tool", str(block["id"]), str(block["name"]), block.get("input"))
        usage = _usage(body.get("usage") or {}, Usage())
        model = str(body.get("model") or self._who.model)
        return self._response(blocks, usage, body.get("stop_reason"), model)

    def _response(
        self, blocks: dict[int, _Block], usage: Usage, api_stop: str | None, model: str
    ) -> ModelResponse:
        parts: list[AssistantPart] = []
        for index in sorted(blocks):
            block = blocks[index]
            raw = "".join(block.pieces)
            if block.kind == "text" and raw:
                parts.append(TextPart(raw))
            elif block.kind == "tool":
                # Streamed input comes in pieces after an empty start; a whole response has it whole.
                if raw or block.initial in (None, {}):
                    call = tool_call(block.id, block.name, raw, provider=self._who.name)
                else:
                    call = tool_call(
                        block.id, block.name, block.initial, provider=self._who.name, decoded=True
                    )
                parts.append(call)
        message = AssistantMessage(tuple(parts))
        stop = _STOP_REASONS.get(api_stop or "", "tool_use" if message.tool_calls else "end_turn")
        return ModelResponse(message, usage, stop, model)
