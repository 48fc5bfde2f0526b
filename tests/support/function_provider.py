"""A deterministic model for loop tests, driven by a Python function (like pydantic-ai's FunctionModel).

``FunctionProvider(fn)`` calls ``fn(request)`` for each model request; ``fn`` returns a
:class:`~agent.messages.ModelResponse` (or raises, e.g. a ProviderError). Text is streamed as one
``TextDelta`` per word, then ``ResponseDone``. Every request is kept in ``requests`` so a test can
check what the model was shown. ``gate``, when set, is awaited before each response: a test can
hold the model "mid-stream" and cancel there.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from itertools import count
from typing import Any

import anyio

from agent.messages import (
    AssistantMessage,
    ModelRequest,
    ModelResponse,
    ResponseDone,
    StreamEvent,
    TextDelta,
    ToolCallPart,
    ToolResultPart,
    Usage,
)

ModelFn = Callable[[ModelRequest], ModelResponse | Awaitable[ModelResponse]]

_ids = count(1)


def call(name: str, arguments: Mapping[str, Any] | None = None, call_id: str | None = None) -> ToolCallPart:
    return ToolCallPart(call_id or f"call_{next(_ids)}", name, dict(arguments or {}))


def reply(*parts: str | ToolCallPart, input_tokens: int = 10, output_tokens: int = 5) -> ModelResponse:
    """A response of text and tool calls; its stop reason follows from whether it calls tools."""
    message = AssistantMessage.of(*parts)
    stop = "tool_use" if message.tool_calls else "end_turn"
    return ModelResponse(message, Usage(input_tokens, output_tokens), stop, "function-model")


def last_results(request: ModelRequest) -> list[ToolResultPart]:
    """The tool results in the request's last message (what the model is answering)."""
    return [p for p in request.messages[-1].parts if isinstance(p, ToolResultPart)]


class FunctionProvider:
    """Implements agent.providers.base.Provider with a function instead of a network API."""

    def __init__(self, fn: ModelFn, *, name: str = "function") -> None:
        self._fn = fn
        self._name = name
        self.requests: list[ModelRequest] = []
        self.gate: anyio.Event | None = None
        self.streaming = anyio.Event()
        self.closed = False

    @property
    def name(self) -> str:
        return self._name

    @property
    def model(self) -> str:
        return "function-model"

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        self.requests.append(request)
        self.streaming.set()
        if self.gate is not None:
            await self.gate.wait()
        result = self._fn(request)
        response = await result if isinstance(result, Awaitable) else result
        for word in re.findall(r"\S+\s*", response.message.text):
            yield TextDelta(word)
        yield ResponseDone(response)

    async def aclose(self) -> None:
        self.closed = True


def script(*responses: ModelResponse | Exception) -> ModelFn:
    """A model function that answers with the given responses in turn (raising the exceptions)."""
    queue = list(responses)

    def fn(request: ModelRequest) -> ModelResponse:
        item = queue.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    return fn
