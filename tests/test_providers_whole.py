"""The Anthropic adapter with ``streaming=False`` (batch): whole JSON responses from the real SDK,
against the loopback fake, giving exactly what the streamed path gives."""

from __future__ import annotations

from typing import Any

import pytest

from agent.config import Config
from agent.errors import ProviderRateLimitError, ProviderUnavailableError
from agent.providers.anthropic import AnthropicProvider
from agent.providers.registry import make_provider
from tests.support.fake_llm import FakeLLM
from tests.test_providers import ADD, ask, run

CALLS = [
    {"id": "toolu_1", "name": "add", "arguments": {"a": 1, "b": 2}},
    {"id": "toolu_2", "name": "search", "arguments": {"query": 'x "q" ü', "filters": {"n": None}}},
    {"id": "toolu_3", "name": "now", "arguments": {}},
]
USAGE = {"input_tokens": 120, "output_tokens": 7, "cache_read_tokens": 30, "cache_write_tokens": 5}


def build(base_url: str, *, streaming: bool, max_retries: int = 1) -> AnthropicProvider:
    return AnthropicProvider(
        model="claude-sonnet-4-6",
        api_key="test-key",
        base_url=base_url,
        max_retries=max_retries,
        timeout=10.0,
        streaming=streaming,
    )


@pytest.mark.parametrize(
    "turn",
    [
        {"text": "Hello there, whole world", "usage": USAGE},
        {"text": "Let me look.", "tool_calls": CALLS},
        {"tool_calls": CALLS[:1], "usage": USAGE},
        {"text": "cut short", "stop_reason": "max_tokens"},
    ],
    ids=["text", "text-and-calls", "call-only", "max-tokens"],
)
async def test_a_whole_response_gives_what_the_stream_gives(turn: dict[str, Any], fake_llm: FakeLLM) -> None:
    fake_llm.script({"turns": [turn], "repeat_last": True})
    got = []
    for streaming in (True, False):
        provider = build(fake_llm.base_url, streaming=streaming)
        try:
            deltas, response = await run(provider, ask(tools=[ADD]))
        finally:
            await provider.aclose()
        got.append(("".join(deltas), response))
    assert [r.body["stream"] for r in fake_llm.requests] == [True, False]
    assert got[1] == got[0]
    text, response = got[1]
    assert text == turn.get("text", "")
    assert [c.id for c in response.message.tool_calls] == [c["id"] for c in turn.get("tool_calls", [])]


async def test_a_whole_response_429_is_retried_then_a_rate_limit_error(fake_llm: FakeLLM) -> None:
    fault = {"status": 429, "retry_after": 0.001, "message": "slow down"}
    fake_llm.script({"faults": [fault] * 3, "turns": ["after the wait"], "repeat_last": True})
    provider = build(fake_llm.base_url, streaming=False, max_retries=1)
    try:
        with pytest.raises(ProviderRateLimitError, match="slow down"):
            await run(provider, ask())
        _, response = await run(provider, ask())  # the third 429, then the answer
    finally:
        await provider.aclose()
    assert response.message.text == "after the wait"
    assert [r.status for r in fake_llm.requests] == [429, 429, 429, 200]


async def test_a_whole_response_500_is_unavailable(fake_llm: FakeLLM) -> None:
    fake_llm.script({"faults": [{"status": 500, "retry_after": 0.001}] * 2, "turns": ["never"]})
    provider = build(fake_llm.base_url, streaming=False)
    try:
        with pytest.raises(ProviderUnavailableError, match="HTTP 500"):
            await run(provider, ask())
    finally:
        await provider.aclose()


async def test_the_registry_makes_a_non_streaming_provider_on_request(fake_llm: FakeLLM) -> None:
    fake_llm.script({"turns": ["ok"], "repeat_last": True})
    providers = {"anthropic": {"type": "anthropic", "base_url": fake_llm.base_url}}
    for streaming in (False, True):
        provider = make_provider(
            Config(providers=providers), "anthropic", env={"ANTHROPIC_API_KEY": "k"}, streaming=streaming
        )
        try:
            await run(provider, ask())
        finally:
            await provider.aclose()
    assert [r.body["stream"] for r in fake_llm.requests] == [False, True]
