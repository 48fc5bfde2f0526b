"""Every adapter with ``streaming=False`` (batch): whole JSON responses from the real SDKs
(Anthropic Messages, OpenAI Responses, Chat Completions), against the loopback fake, giving exactly
what the streamed path gives."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from agent.config import Config
from agent.errors import ProviderError, ProviderRateLimitError, ProviderUnavailableError
from agent.messages import Usage
from agent.providers.base import Provider
from agent.providers.registry import make_provider
from tests.providers.test_adapters import ADD, KINDS, ask, run
from tests.providers.test_adapters import build as build_kind
from tests.support.fake_llm import FakeLLM
from tests.support.http_edge import status_server

CALLS = [
    {"id": "toolu_1", "name": "add", "arguments": {"a": 1, "b": 2}},
    {"id": "toolu_2", "name": "search", "arguments": {"query": 'x "q" ü', "filters": {"n": None}}},
    {"id": "toolu_3", "name": "now", "arguments": {}},
]
USAGE = {"input_tokens": 120, "output_tokens": 7, "cache_read_tokens": 30, "cache_write_tokens": 5}


def build(base_url: str, *, streaming: bool, max_retries: int = 1, kind: str = "anthropic") -> Provider:
    return build_kind(kind, base_url, max_retries=max_retries, streaming=streaming)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "turn",
    [
        {"text": "Hello there, whole world", "usage": USAGE},
        {"text": "Let me look.", "tool_calls": CALLS},
        {"tool_calls": CALLS[:1], "usage": USAGE},
        {"text": "cut short", "stop_reason": "max_tokens"},
        {"text": "I can't help with that.", "stop_reason": "refusal"},
    ],
    ids=["text", "text-and-calls", "call-only", "max-tokens", "refusal"],
)
async def test_a_whole_response_gives_what_the_stream_gives(
    kind: str, turn: dict[str, Any], fake_llm: FakeLLM
) -> None:
    fake_llm.script({"turns": [turn], "repeat_last": True})
    got = []
    for streaming in (True, False):
        provider = build(fake_llm.base_url, streaming=streaming, kind=kind)
        try:
            deltas, response = await run(provider, ask(tools=[ADD]))
        finally:
            await provider.aclose()
        got.append(("".join(deltas), response))
    assert [bool(r.body.get("stream")) for r in fake_llm.requests] == [True, False]
    if "usage" not in turn:  # the fake then counts the request's size, and stream options add to it
        got = [(text, replace(response, usage=Usage())) for text, response in got]
    assert got[1] == got[0]
    text, response = got[1]
    assert text == turn.get("text", "")
    assert [c.id for c in response.message.tool_calls] == [c["id"] for c in turn.get("tool_calls", [])]
    assert [c.arguments for c in response.message.tool_calls] == [
        c["arguments"] for c in turn.get("tool_calls", [])
    ]
    assert response.stop_reason == turn.get("stop_reason", "tool_use" if "tool_calls" in turn else "end_turn")
    if "usage" in turn:
        assert response.usage.output_tokens == 7
        assert response.usage.cache_read_tokens == 30


@pytest.mark.parametrize("kind", KINDS)
async def test_a_whole_response_429_is_retried_then_a_rate_limit_error(kind: str, fake_llm: FakeLLM) -> None:
    fault = {"status": 429, "retry_after": 0.001, "message": "slow down"}
    fake_llm.script({"faults": [fault] * 3, "turns": ["after the wait"], "repeat_last": True})
    provider = build(fake_llm.base_url, streaming=False, max_retries=1, kind=kind)
    try:
        with pytest.raises(ProviderRateLimitError, match="slow down"):
            await run(provider, ask())
        _, response = await run(provider, ask())  # the third 429, then the answer
    finally:
        await provider.aclose()
    assert response.message.text == "after the wait"
    assert [r.status for r in fake_llm.requests] == [429, 429, 429, 200]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("streaming", [True, False])
async def test_an_empty_200_is_a_provider_error_of_ours(kind: str, streaming: bool) -> None:
    async with status_server(200, "OK", {"content-type": "application/json"}) as url:
        provider = build(url, streaming=streaming, max_retries=0, kind=kind)
        try:
            with pytest.raises(ProviderError) as caught:
                await run(provider, ask())
        finally:
            await provider.aclose()
    assert type(caught.value).__module__ == "agent.errors"
    assert (caught.value.provider, caught.value.model) == (provider.name, provider.model)


@pytest.mark.parametrize("kind", KINDS)
async def test_a_whole_response_500_is_unavailable(kind: str, fake_llm: FakeLLM) -> None:
    fake_llm.script({"faults": [{"status": 500, "retry_after": 0.001}] * 2, "turns": ["never"]})
    provider = build(fake_llm.base_url, streaming=False, kind=kind)
    try:
        with pytest.raises(ProviderUnavailableError, match="HTTP 500"):
            await run(provider, ask())
    finally:
        await provider.aclose()


@pytest.mark.parametrize("kind", KINDS)
async def test_the_registry_makes_a_non_streaming_provider_on_request(kind: str, fake_llm: FakeLLM) -> None:
    fake_llm.script({"turns": ["ok"], "repeat_last": True})
    base_url = fake_llm.base_url + ("" if kind == "anthropic" else "/v1")
    providers = {"p": {"type": kind, "base_url": base_url, "api_key_env": "KEY"}}
    for streaming in (False, True):
        provider = make_provider(Config(providers=providers), "p:m", env={"KEY": "k"}, streaming=streaming)
        try:
            await run(provider, ask())
        finally:
            await provider.aclose()
    assert [bool(r.body.get("stream")) for r in fake_llm.requests] == [False, True]
