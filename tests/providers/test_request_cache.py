"""Requests are built incrementally: each message converted once, the tool definitions once per
tool set (agent/providers/_common.py ``PerMessage``, ``ToolDefinitions``)."""

from __future__ import annotations

import gc
import json
from typing import Any

import pytest

from agent.messages import (
    AssistantMessage,
    Message,
    ModelRequest,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    ToolSpec,
    UserMessage,
)
from agent.providers._common import SDKAdapter
from agent.providers.anthropic import AnthropicProvider, to_api_messages
from agent.providers.openai import OpenAIResponsesProvider, to_input_items
from agent.providers.openai_chat import OpenAIChatProvider, to_chat_messages
from tests.support.fake_llm import FakeLLM

KINDS = {"anthropic": AnthropicProvider, "openai": OpenAIResponsesProvider, "openai-chat": OpenAIChatProvider}
SCHEMA = {"type": "object", "properties": {"q": {"type": "string"}}}


def history(steps: int) -> list[Message]:
    out: list[Message] = [UserMessage.of("go")]
    for i in range(steps):
        call = ToolCallPart(f"c{i}", "find", {"q": str(i)})
        out.append(AssistantMessage((TextPart(f"step {i}"), call)))
        out.append(UserMessage((ToolResultPart(call.id, "find", (TextPart(f"found {i}"),)),)))
    return out


def uncached(kind: str, messages: list[Message]) -> list[dict[str, Any]]:
    if kind == "anthropic":
        return to_api_messages(messages)
    if kind == "openai":
        return to_input_items(messages)
    return to_chat_messages("sys", messages)


def conversation(kind: str, body: dict[str, Any]) -> list[dict[str, Any]]:
    return body["input"] if kind == "openai" else body["messages"]


@pytest.fixture(params=list(KINDS))
def adapter(request: pytest.FixtureRequest) -> tuple[str, SDKAdapter]:
    kind = request.param
    return kind, KINDS[kind](model="m", api_key="k", base_url="http://127.0.0.1:9/v1")


def test_a_message_is_converted_once_and_the_body_is_what_a_full_conversion_gives(
    adapter: tuple[str, SDKAdapter],
) -> None:
    kind, provider = adapter
    messages = history(3)
    first = conversation(kind, provider.request_body(ModelRequest("sys", tuple(messages))))
    assert first == uncached(kind, messages)
    messages += history(1)[1:]  # one more step
    second = conversation(kind, provider.request_body(ModelRequest("sys", tuple(messages))))
    assert second == uncached(kind, messages)
    # The messages seen before come back as the very objects built the first time (the system
    # message of Chat Completions is no message of the history).
    skip = 1 if kind == "openai-chat" else 0
    assert all(a is b for a, b in zip(first[skip:], second[skip:], strict=False))
    assert len(second) > len(first)


def test_an_entry_goes_with_its_message(adapter: tuple[str, SDKAdapter]) -> None:
    _, provider = adapter
    messages = history(5)
    provider.request_body(ModelRequest("sys", tuple(messages)))
    cache = provider._converted  # type: ignore[attr-defined]
    assert len(cache) == len(messages)
    del messages[1:]  # compaction dropped them
    gc.collect()
    assert len(cache) == 1


def test_tool_definitions_are_built_once_per_tool_set(adapter: tuple[str, SDKAdapter]) -> None:
    _, provider = adapter
    tools = tuple(ToolSpec(f"t{i}", f"tool {i}", SCHEMA) for i in range(3))
    one = provider.request_body(ModelRequest("sys", (UserMessage.of("hi"),), tools))["tools"]
    again = provider.request_body(ModelRequest("sys", (UserMessage.of("hi"),), list(tools)))["tools"]
    assert again is one  # the same specs, in another sequence: the same definitions
    changed = (*tools[:2], ToolSpec("t9", "a new one", SCHEMA))  # list_changed, or a search found it
    three = provider.request_body(ModelRequest("sys", (UserMessage.of("hi"),), changed))["tools"]
    assert three is not one and len(three) == 3
    assert three[0] is one[0] and three[1] is one[1]  # kept specs keep their definitions
    assert "t9" in str(three[2])


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("streaming", [True, False])
async def test_requests_are_what_the_sdks_own_method_sends(
    kind: str, streaming: bool, fake_llm: FakeLLM
) -> None:
    """The adapters post the JSON they put together through the client (``_post_json``),
    without the SDK's walk of the body: the same body and the same headers (the API key) go out
    as from ``messages.create`` / ``responses.create`` / ``chat.completions.create`` given the
    same parameters."""
    fake_llm.script({"turns": ["hello"], "repeat_last": True})
    base_url = fake_llm.base_url + ("" if kind == "anthropic" else "/v1")
    provider = KINDS[kind](model="m", api_key="sk-test", base_url=base_url, streaming=streaming)
    request = ModelRequest("sys", tuple(history(2)), (ToolSpec("find", "Find.", SCHEMA),))
    try:
        async for _ in provider.stream(request):
            pass
        client: Any = provider._client
        resource = {"anthropic": "messages", "openai": "responses", "openai-chat": "chat.completions"}[kind]
        for name in resource.split("."):
            client = getattr(client, name)
        method = client.create
        answer = await method(**json.loads(provider._wire(request)))
        if streaming:
            async for _ in answer:
                pass
    finally:
        await provider.aclose()
    ours, sdk = fake_llm.requests
    assert ours.body == sdk.body
    assert "sk-test" in ours.headers.get("x-api-key", "") + ours.headers.get("authorization", "")
    volatile = {"x-stainless-retry-count", "x-stainless-read-timeout", "content-length"}
    assert {k: v for k, v in ours.headers.items() if k not in volatile} == {
        k: v for k, v in sdk.headers.items() if k not in volatile
    }


def test_a_lone_surrogate_in_a_tool_result_still_makes_a_request(adapter: tuple[str, SDKAdapter]) -> None:
    kind, provider = adapter
    odd = "half a pair: \ud800, and é"
    call = ToolCallPart("c1", "find", {"q": odd})
    messages: list[Message] = [
        UserMessage.of("go"),
        AssistantMessage((call,)),
        UserMessage((ToolResultPart("c1", "find", (TextPart(odd),)),)),
    ]
    body = json.loads(provider._wire(ModelRequest("sys", tuple(messages))))
    assert conversation(kind, body) == uncached(kind, messages)
