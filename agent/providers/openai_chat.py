"""OpenAI Chat Completions, streamed, through the ``openai`` SDK: OpenAI itself and every
OpenAI-compatible server (Ollama, vLLM, OpenRouter, Groq…) declared with ``type = "openai-chat"``.

Tool calls stream in fragments keyed by ``index`` and are put together here. Tool results become
``role: "tool"`` messages, text only as the API requires; images in results follow in one
``user`` message of ``image_url`` parts, and each tool message says so. Usage comes in the last
chunk (``stream_options.include_usage``).

Requests and answers are plain JSON through the SDK client (``SDKAdapter._post_json``): chunks
are the parsed SSE ``data`` objects, no SDK models. With ``streaming=False`` (batch runs) one whole
completion is asked for; the same events come out (the text as one delta, then the final response).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, assert_never
from urllib.parse import urlsplit

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
    data_url,
    dumps,
    item_fragments,
    json_array,
    json_body,
    tool_call,
    tool_error_text,
    unexpected_response,
)

if TYPE_CHECKING:
    from openai import AsyncOpenAI, AsyncStream

__all__ = ["OpenAIChatProvider", "to_chat_messages"]

_FINISH: dict[str, StopReason] = {
    "stop": "end_turn",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "length": "max_tokens",
    "content_filter": "refusal",
}


def _image_part(image: ImagePart) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": data_url(image)}}


def _assistant(parts: Sequence[AssistantPart]) -> dict[str, Any]:
    text: list[str] = []
    calls: list[dict[str, Any]] = []
    for part in parts:
        match part:
            case TextPart():
                text.append(part.text)
            case ToolCallPart():
                function = {"name": part.name, "arguments": json.dumps(dict(part.arguments))}
                calls.append({"id": part.id, "type": "function", "function": function})
            case _:
                assert_never(part)
    message: dict[str, Any] = {"role": "assistant", "content": "".join(text) or None}
    if calls:
        message["tool_calls"] = calls
    return message


def _user(parts: Sequence[UserPart]) -> list[dict[str, Any]]:
    tool_messages: list[dict[str, Any]] = []
    content: list[dict[str, Any]] = []
    tool_images: list[dict[str, Any]] = []
    for part in parts:
        match part:
            case TextPart():
                if part.text:
                    content.append({"type": "text", "text": part.text})
            case ImagePart():
                content.append(_image_part(part))
            case ToolResultPart():
                text = tool_error_text(part.text) if part.is_error else part.text
                images = [_image_part(p) for p in part.content if isinstance(p, ImagePart)]
                if images:
                    text += f"\n[{len(images)} image(s) from this result follow in the next user message]"
                    tool_images.append({"type": "text", "text": f"Images from tool call {part.call_id}:"})
                    tool_images += images
                tool_messages.append({"role": "tool", "tool_call_id": part.call_id, "content": text})
            case _:
                assert_never(part)
    content = tool_images + content
    if not content:
        return tool_messages
    if len(content) == 1 and content[0]["type"] == "text":
        return [*tool_messages, {"role": "user", "content": content[0]["text"]}]
    return [*tool_messages, {"role": "user", "content": content}]


def _chat_messages(message: Message) -> list[dict[str, Any]]:
    match message:
        case UserMessage():
            return _user(message.parts)
        case AssistantMessage():
            return [_assistant(message.parts)]
        case _:
            assert_never(message)


def to_chat_messages(
    system: str,
    messages: Sequence[Message],
    convert: Callable[[Message], list[dict[str, Any]]] = _chat_messages,
) -> list[dict[str, Any]]:
    """The conversation as Chat Completions ``messages`` (plain string content where possible).
    ``convert`` converts one message (the adapter's :class:`PerMessage` cache)."""
    out: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    for message in messages:
        out += convert(message)
    return out


def _tool_definition(t: ToolSpec) -> dict[str, Any]:
    function = {"name": t.name, "description": t.description, "parameters": dict(t.input_schema)}
    return {"type": "function", "function": function}


def _usage(u: dict[str, Any]) -> Usage:
    """A ``usage`` object of a completion (or of the last chunk of a stream)."""
    cached = (u.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
    return Usage((u.get("prompt_tokens") or 0) - cached, u.get("completion_tokens") or 0, cached, 0)


class _Call:
    __slots__ = ("id", "name", "pieces")

    def __init__(self) -> None:
        self.id = ""
        self.name = ""
        self.pieces: list[str] = []


class OpenAIChatProvider(SDKAdapter):
    """One model behind a Chat Completions endpoint (constructor: :class:`SDKAdapter`)."""

    DEFAULT_NAME = "openai-chat"
    DEFAULT_KEY_ENV = "OPENAI_API_KEY"
    SDK = "openai"
    _client: AsyncOpenAI
    _POST_OPTIONS: ClassVar[Mapping[str, Any]] = {
        "security": {"bearer_auth": True}
    }  # as chat.completions.create sends it

    def _make_client(self, options: dict[str, Any]) -> AsyncOpenAI:
        import openai

        return openai.AsyncOpenAI(**options)

    @cached_property
    def _max_tokens_key(self) -> str:
        # OpenAI itself wants max_completion_tokens (its reasoning models refuse max_tokens);
        # compatible servers know max_tokens, and not all of them the newer name.
        base_url = self._who.base_url
        host = urlsplit(base_url).hostname if base_url else "api.openai.com"
        return "max_completion_tokens" if host == "api.openai.com" else "max_tokens"

    def _head(self, request: ModelRequest) -> dict[str, Any]:
        """The body's small fields: all but the messages and the tools."""
        return {"model": self._who.model, self._max_tokens_key: self._max_tokens or request.max_tokens}

    def request_body(self, request: ModelRequest) -> dict[str, Any]:
        """The Chat Completions body of ``request`` (not streamed): also a Batch API line's ``body``."""
        params = self._head(request)
        params["messages"] = to_chat_messages(request.system, request.messages, self._converted)
        if request.tools:
            params["tools"] = self._tool_definitions(request.tools)
        return params

    def _wire(self, request: ModelRequest) -> bytes:
        system = [dumps({"role": "system", "content": request.system})] if request.system else []
        serialized = {"messages": json_array([*system, *map(self._fragments, request.messages)])}
        if request.tools:
            serialized["tools"] = self._tool_definitions.json(request.tools)
        head = self._head(request)
        if self._streaming:
            head.update(stream=True, stream_options={"include_usage": True})
        return json_body(head, **serialized)

    @cached_property
    def _fragments(self) -> PerMessage[str]:
        return item_fragments(self._converted)

    @cached_property
    def _converted(self) -> PerMessage[list[dict[str, Any]]]:
        return PerMessage(_chat_messages)

    @cached_property
    def _tool_definitions(self) -> ToolDefinitions:
        return ToolDefinitions(_tool_definition)

    async def _streamed(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        who = self._who.in_stream()  # the SDK does not retry failures inside a started stream
        with self._errors():
            chunks: AsyncStream[object] = await self._post_json(
                "/chat/completions", self._wire(request), stream=True
            )
        text: list[str] = []
        calls: dict[int, _Call] = {}
        finish: str | None = None
        refused = False
        usage = Usage()
        model = who.model
        with self._errors(in_stream=True):
            async with chunks:
                async for chunk in chunks:
                    if not isinstance(chunk, dict):
                        continue
                    model = str(chunk.get("model") or model)
                    if isinstance(u := chunk.get("usage"), dict):
                        usage = _usage(u)
                    choices = chunk.get("choices")
                    if not choices or not isinstance(choices, list) or not isinstance(choices[0], dict):
                        continue
                    choice = choices[0]
                    delta = choice.get("delta") or {}
                    if isinstance(content := delta.get("content"), str) and content:
                        text.append(content)
                        yield TextDelta(content)
                    if isinstance(refusal := delta.get("refusal"), str) and refusal:
                        refused = True
                        text.append(refusal)
                        yield TextDelta(refusal)
                    for fragment in delta.get("tool_calls") or ():
                        index = fragment.get("index")
                        call = calls.setdefault(index if isinstance(index, int) else 0, _Call())
                        call.id = str(fragment.get("id") or call.id)
                        function = fragment.get("function")
                        if isinstance(function, dict):
                            call.name = str(function.get("name") or call.name)
                            if arguments := function.get("arguments"):
                                call.pieces.append(str(arguments))
                    finish = choice.get("finish_reason") or finish
            if finish is None:
                raise connection_error(who, "the response stream ended before the answer was complete")
            ordered = [calls[index] for index in sorted(calls)]
            yield ResponseDone(self._response("".join(text), ordered, str(finish), refused, usage, model))

    async def _whole(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        """One non-streamed completion, as the events :meth:`stream` promises."""
        with self._errors():
            body = await self._post_json("/chat/completions", self._wire(request), stream=False)
            response = self.response_from_json(body)
        if response.message.text:
            yield TextDelta(response.message.text)
        yield ResponseDone(response)

    def response_from_json(self, body: object) -> ModelResponse:
        """The neutral response of a ``chat.completion`` object (a whole response, or a Batch API
        output line's ``body``)."""
        choices = body.get("choices") if isinstance(body, dict) else None
        if not isinstance(body, dict) or not isinstance(choices, list) or not choices:
            raise unexpected_response(self._who, body)
        choice = choices[0] or {}
        message = choice.get("message") or {}
        refusal = message.get("refusal") or ""
        text = (message.get("content") or "") + refusal
        calls = []
        for item in message.get("tool_calls") or ():
            call = _Call()
            function = item.get("function") or {}
            call.id, call.name = str(item.get("id") or ""), str(function.get("name") or "")
            call.pieces.append(str(function.get("arguments") or ""))
            calls.append(call)
        usage = _usage(body.get("usage") or {})
        finish = str(choice.get("finish_reason") or "stop")
        model = str(body.get("model") or self._who.model)
        return self._response(text, calls, finish, bool(refusal), usage, model)

    def _response(
        self, text: str, calls: Sequence[_Call], finish: str, refused: bool, usage: Usage, model: str
    ) -> ModelResponse:
        parts: list[AssistantPart] = [TextPart(text)] if text else []
        for call in calls:
            call_id = call.id or f"call_{uuid.uuid4().hex[:24]}"
            parts.append(tool_call(call_id, call.name, "".join(call.pieces), provider=self._who.name))
        stop = _FINISH.get(finish, "end_turn")
        if calls and stop == "end_turn":  # some compatible servers say "stop" after tool calls
            stop = "tool_use"
        if refused:
            stop = "refusal"
        return ModelResponse(AssistantMessage(tuple(parts)), usage, stop, model)
