"""OpenAI Chat Completions, streamed, through the ``openai`` SDK: OpenAI itself and every
OpenAI-compatible server (Ollama, vLLM, OpenRouter, Groq…) declared with ``type = "openai-chat"``.

Tool calls stream in fragments keyed by ``index`` and are put together here. Tool results become
``role: "tool"`` messages, text only as the API requires; images in results follow in one
``user`` message of ``image_url`` parts, and each tool message says so. Usage comes in the last
chunk (``stream_options.include_usage``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, assert_never
from urllib.parse import urlsplit

from agent.errors import ProviderError
from agent.messages import (
    ImagePart,
    Message,
    ModelRequest,
    ModelResponse,
    Part,
    ResponseDone,
    StopReason,
    StreamEvent,
    TextDelta,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    Usage,
)
from agent.providers._common import (
    TOOL_ERROR_PREFIX,
    ProviderIdentity,
    SDKAdapter,
    connection_error,
    data_url,
    openai_error,
    parse_arguments,
)

if TYPE_CHECKING:
    from openai import AsyncOpenAI, AsyncStream
    from openai.types.chat import ChatCompletionChunk

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


def _assistant(parts: Sequence[Part]) -> dict[str, Any]:
    text: list[str] = []
    calls: list[dict[str, Any]] = []
    for part in parts:
        match part:
            case TextPart():
                text.append(part.text)
            case ImagePart():
                text.append("[image]")
            case ToolCallPart():
                function = {"name": part.name, "arguments": json.dumps(dict(part.arguments))}
                calls.append({"id": part.id, "type": "function", "function": function})
            case ToolResultPart():
                raise ValueError("a tool result in an assistant message")
            case _:
                assert_never(part)
    message: dict[str, Any] = {"role": "assistant", "content": "".join(text) or None}
    if calls:
        message["tool_calls"] = calls
    return message


def _user(parts: Sequence[Part]) -> list[dict[str, Any]]:
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
                text = (TOOL_ERROR_PREFIX if part.is_error else "") + part.text
                images = [_image_part(p) for p in part.content if isinstance(p, ImagePart)]
                if images:
                    text += f"\n[{len(images)} image(s) from this result follow in the next user message]"
                    tool_images.append({"type": "text", "text": f"Images from tool call {part.call_id}:"})
                    tool_images += images
                tool_messages.append({"role": "tool", "tool_call_id": part.call_id, "content": text})
            case ToolCallPart():
                raise ValueError("a tool call in a user message")
            case _:
                assert_never(part)
    content = tool_images + content
    if not content:
        return tool_messages
    if len(content) == 1 and content[0]["type"] == "text":
        return [*tool_messages, {"role": "user", "content": content[0]["text"]}]
    return [*tool_messages, {"role": "user", "content": content}]


def to_chat_messages(system: str, messages: Sequence[Message]) -> list[dict[str, Any]]:
    """The conversation as Chat Completions ``messages`` (plain string content where possible)."""
    out: list[dict[str, Any]] = [{"role": "system", "content": system}] if system else []
    for message in messages:
        if message.role == "assistant":
            out.append(_assistant(message.parts))
        else:
            out += _user(message.parts)
    return out


class _Call:
    __slots__ = ("id", "name", "pieces")

    def __init__(self) -> None:
        self.id = ""
        self.name = ""
        self.pieces: list[str] = []


class OpenAIChatProvider(SDKAdapter):
    """One model behind a Chat Completions endpoint. ``max_tokens`` set here overrides the request's."""

    def __init__(
        self,
        *,
        model: str,
        api_key: str,
        name: str = "openai-chat",
        api_key_env: str | None = "OPENAI_API_KEY",
        base_url: str | None = None,
        max_tokens: int | None = None,
        headers: Mapping[str, str] | None = None,
        max_retries: int = 4,
        timeout: float = 600.0,
    ) -> None:
        import openai

        self._who = ProviderIdentity(name, model, api_key_env, base_url, max_retries)
        self._max_tokens = max_tokens
        # OpenAI itself wants max_completion_tokens (its reasoning models refuse max_tokens);
        # compatible servers know max_tokens, and not all of them the newer name.
        host = urlsplit(base_url).hostname if base_url else "api.openai.com"
        self._max_tokens_key = "max_completion_tokens" if host == "api.openai.com" else "max_tokens"
        self._client: AsyncOpenAI = openai.AsyncOpenAI(
            **self.client_options(api_key, base_url, max_retries, timeout, headers)
        )

    def _params(self, request: ModelRequest) -> dict[str, Any]:
        params: dict[str, Any] = {
            "model": self._who.model,
            "messages": to_chat_messages(request.system, request.messages),
            self._max_tokens_key: self._max_tokens or request.max_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if request.tools:
            params["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": t.name,
                        "description": t.description,
                        "parameters": dict(t.input_schema),
                    },
                }
                for t in request.tools
            ]
        return params

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        who = self._who.in_stream()  # the SDK does not retry failures inside a started stream
        try:
            chunks: AsyncStream[ChatCompletionChunk] = await self._client.chat.completions.create(
                **self._params(request)
            )
        except ProviderError:
            raise
        except Exception as exc:  # never let an SDK's exception type out
            raise openai_error(self._who, exc) from exc
        text: list[str] = []
        calls: dict[int, _Call] = {}
        finish: str | None = None
        refused = False
        usage = Usage()
        model = who.model
        async with chunks:
            try:
                async for chunk in chunks:
                    model = chunk.model or model
                    if chunk.usage is not None:
                        u = chunk.usage
                        details = u.prompt_tokens_details
                        cached = (details.cached_tokens or 0) if details else 0
                        usage = Usage(u.prompt_tokens - cached, u.completion_tokens, cached, 0)
                    if not chunk.choices:
                        continue
                    choice = chunk.choices[0]
                    delta = choice.delta
                    if delta.content:
                        text.append(delta.content)
                        yield TextDelta(delta.content)
                    if delta.refusal:
                        refused = True
                        text.append(delta.refusal)
                        yield TextDelta(delta.refusal)
                    for fragment in delta.tool_calls or ():
                        call = calls.setdefault(fragment.index, _Call())
                        call.id = fragment.id or call.id
                        if fragment.function is not None:
                            call.name = fragment.function.name or call.name
                            if fragment.function.arguments:
                                call.pieces.append(fragment.function.arguments)
                    finish = choice.finish_reason or finish
            except ProviderError:
                raise
            except Exception as exc:  # never let an SDK's exception type out
                raise openai_error(who, exc) from exc
        if finish is None:
            raise connection_error(who, "the response stream ended before the answer was complete")
        parts: list[Part] = [TextPart("".join(text))] if text else []
        for index in sorted(calls):
            call = calls[index]
            args = parse_arguments("".join(call.pieces), provider=who.name, tool=call.name)
            parts.append(ToolCallPart(call.id or f"call_{uuid.uuid4().hex[:24]}", call.name, args))
        stop = _FINISH.get(finish, "end_turn")
        if calls and stop == "end_turn":  # some compatible servers say "stop" after tool calls
            stop = "tool_use"
        if refused:
            stop = "refusal"
        yield ResponseDone(ModelResponse(Message("assistant", tuple(parts)), usage, stop, model))
