"""The three provider adapters, each through its real SDK, against the loopback fake of its API."""

from __future__ import annotations

import email.utils
import logging
import socket
import time
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

import anyio
import pytest

from agent.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderRateLimitError,
    ProviderUnavailableError,
)
from agent.messages import (
    AssistantMessage,
    ImagePart,
    Message,
    ModelRequest,
    ModelResponse,
    ResponseDone,
    TextDelta,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    ToolSpec,
    Usage,
    UserMessage,
)
from agent.providers.anthropic import AnthropicProvider
from agent.providers.base import Provider
from agent.providers.openai import OpenAIResponsesProvider
from agent.providers.openai_chat import OpenAIChatProvider
from tests.support.fake_llm import FakeLLM

KINDS = ["anthropic", "openai", "openai-chat"]
PNG = ImagePart.from_bytes(b"\x89PNG\r\n\x1a\nfake", "image/png")
ADD = ToolSpec(
    "add",
    "Add two numbers.",
    {
        "type": "object",
        "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
        "required": ["a", "b"],
    },
)


def build(kind: str, base_url: str, *, max_retries: int = 1, **extra: Any) -> Provider:
    common: dict[str, Any] = {"api_key": "test-key", "max_retries": max_retries, "timeout": 10.0}
    common.update(extra)
    if kind == "anthropic":
        return AnthropicProvider(model="claude-sonnet-4-6", base_url=base_url, **common)
    if kind == "openai":
        return OpenAIResponsesProvider(model="gpt-5.5", base_url=base_url + "/v1", **common)
    return OpenAIChatProvider(model="gpt-5.5", base_url=base_url + "/v1", **common)


@pytest.fixture(params=KINDS)
async def provider(request: pytest.FixtureRequest, fake_llm: FakeLLM) -> AsyncIterator[Provider]:
    p = build(request.param, fake_llm.base_url)
    yield p
    await p.aclose()


async def run(provider: Provider, request: ModelRequest) -> tuple[list[str], ModelResponse]:
    deltas: list[str] = []
    done: list[ModelResponse] = []
    async with aclosing(provider.stream(request)) as events:
        async for event in events:
            assert not done, "nothing may follow ResponseDone"
            if isinstance(event, TextDelta):
                deltas.append(event.text)
            else:
                assert isinstance(event, ResponseDone)
                done.append(event.response)
    assert len(done) == 1
    return deltas, done[0]


def ask(text: str = "hi", **kw: Any) -> ModelRequest:
    return ModelRequest(system="You are terse.", messages=[UserMessage.of(text)], **kw)


async def test_text_streams_in_pieces_then_one_final_response(provider: Provider, fake_llm: FakeLLM) -> None:
    fake_llm.script([{"text": "Hello there, streaming world", "chunk": 5}])
    deltas, response = await run(provider, ask())
    assert len(deltas) >= 5
    assert "".join(deltas) == "Hello there, streaming world"
    assert response.message == AssistantMessage((TextPart("Hello there, streaming world"),))
    assert response.stop_reason == "end_turn"
    assert response.model == provider.model


@pytest.mark.parametrize("kind", KINDS)
async def test_usage_is_reported_with_cache_tokens_apart(kind: str, fake_llm: FakeLLM) -> None:
    usage = {"input_tokens": 120, "output_tokens": 7, "cache_read_tokens": 30, "cache_write_tokens": 5}
    fake_llm.script([{"text": "ok", "usage": usage}])
    provider = build(kind, fake_llm.base_url)
    try:
        _, response = await run(provider, ask())
    finally:
        await provider.aclose()
    # Chat Completions reports no cache writes.
    assert response.usage == Usage(120, 7, 30, 0 if kind == "openai-chat" else 5)


async def test_several_tool_calls_in_one_response(provider: Provider, fake_llm: FakeLLM) -> None:
    calls = [
        {"name": "add", "arguments": {"a": 1, "b": 2}},
        {
            "name": "search",
            "arguments": {"query": 'x "quoted" ü', "filters": {"tags": ["a", "b"], "n": None}},
        },
        {"name": "now", "arguments": {}},
    ]
    fake_llm.script([{"text": "Let me look.", "tool_calls": calls, "chunk": 3, "interleave": True}])
    deltas, response = await run(provider, ask(tools=[ADD]))
    assert "".join(deltas) == "Let me look."
    assert response.stop_reason == "tool_use"
    got = response.message.tool_calls
    assert [(c.name, dict(c.arguments)) for c in got] == [(c["name"], c["arguments"]) for c in calls]
    assert len({c.id for c in got}) == 3 and all(c.id for c in got)
    assert response.message.parts[0] == TextPart("Let me look.")


BROKEN_ARGUMENTS = [
    ('{"a": 1,, "b"}', "not valid JSON: Expecting property name enclosed in double quotes"),
    ('{"a": 1, "b": ', "not valid JSON: Expecting value"),  # cut off
    ("[1, 2]", "not a JSON object but an array"),
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("streaming", [True, False], ids=["streamed", "whole"])
async def test_tool_arguments_that_cannot_be_read_are_named_not_emptied(
    kind: str, streaming: bool, fake_llm: FakeLLM, caplog: pytest.LogCaptureFixture
) -> None:
    calls = [{"name": "add", "arguments": raw} for raw, _ in BROKEN_ARGUMENTS]
    fake_llm.script([{"tool_calls": [*calls, {"name": "now", "arguments": ""}], "chunk": 4}])
    provider = build(kind, fake_llm.base_url, streaming=streaming)
    try:
        with caplog.at_level(logging.WARNING, logger="agent.providers"):
            _, response = await run(provider, ask(tools=[ADD]))
    finally:
        await provider.aclose()
    *broken, now = response.message.tool_calls
    assert now.arguments == {} and now.arguments_error is None  # empty means no arguments
    for call, (_, problem) in zip(broken, BROKEN_ARGUMENTS, strict=True):
        if kind == "anthropic" and not streaming and "JSON:" in problem:
            problem = "not a JSON object but a string"  # a whole Messages response has input decoded
        assert call.arguments == {}
        assert call.arguments_error is not None and problem in call.arguments_error, call
    assert "arguments that are not" in caplog.text


def _conversation_with_results() -> list[Message]:
    return [
        UserMessage.of("add, then fail"),
        AssistantMessage(
            (
                TextPart("Calling."),
                ToolCallPart("call_a", "add", {"a": 2, "b": 3}),
                ToolCallPart("call_b", "broken", {}),
            ),
        ),
        UserMessage(
            (
                ToolResultPart("call_a", "add", (TextPart("5"),)),
                ToolResultPart("call_b", "broken", (TextPart("boom"),), is_error=True),
            ),
        ),
    ]


@pytest.mark.parametrize("kind", KINDS)
async def test_tool_results_go_back_in_order_with_their_errors(kind: str, fake_llm: FakeLLM) -> None:
    fake_llm.script([{"text": "unused"}, {"echo": "tool_results"}])
    provider = build(kind, fake_llm.base_url)
    try:
        _, response = await run(provider, ModelRequest("sys", _conversation_with_results(), [ADD]))
    finally:
        await provider.aclose()
    # The fake model saw both results, in order, the failed one as an error.
    assert response.message.text == "5\nerror: boom"
    seen = fake_llm.requests[0]
    assert seen.conversation.tool_calls == [("call_a", "add"), ("call_b", "broken")]
    body = seen.body
    if kind == "anthropic":
        assert body["messages"][1]["content"][1:] == [
            {"type": "tool_use", "id": "call_a", "name": "add", "input": {"a": 2, "b": 3}},
            {"type": "tool_use", "id": "call_b", "name": "broken", "input": {}},
        ]
        assert body["messages"][2] == {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "call_a", "content": [{"type": "text", "text": "5"}]},
                {
                    "type": "tool_result",
                    "tool_use_id": "call_b",
                    "content": [{"type": "text", "text": "boom"}],
                    "is_error": True,
                },
            ],
        }
    elif kind == "openai":
        items = body["input"]
        assert [i.get("type", "message") for i in items] == [
            "message",
            "message",
            "function_call",
            "function_call",
            "function_call_output",
            "function_call_output",
        ]
        assert items[2] == {
            "type": "function_call",
            "call_id": "call_a",
            "name": "add",
            "arguments": '{"a": 2, "b": 3}',
        }
        assert items[4:] == [
            {"type": "function_call_output", "call_id": "call_a", "output": "5"},
            {"type": "function_call_output", "call_id": "call_b", "output": "Error: boom"},
        ]
    else:
        messages = body["messages"]
        assert [m["role"] for m in messages] == ["system", "user", "assistant", "tool", "tool"]
        assert messages[2]["content"] == "Calling."
        assert [c["id"] for c in messages[2]["tool_calls"]] == ["call_a", "call_b"]
        assert messages[3:] == [
            {"role": "tool", "tool_call_id": "call_a", "content": "5"},
            {"role": "tool", "tool_call_id": "call_b", "content": "Error: boom"},
        ]


@pytest.mark.parametrize("kind", KINDS)
async def test_images_reach_the_model_from_the_user_and_from_tool_results(
    kind: str, fake_llm: FakeLLM
) -> None:
    fake_llm.script([{"text": "unused"}, {"text": "I see them"}])
    conversation: list[Message] = [
        UserMessage((TextPart("look"), PNG)),
        AssistantMessage((ToolCallPart("call_s", "screenshot", {}),)),
        UserMessage((ToolResultPart("call_s", "screenshot", (TextPart("a screenshot"), PNG)),)),
    ]
    provider = build(kind, fake_llm.base_url)
    try:
        _, response = await run(provider, ModelRequest("", conversation))
    finally:
        await provider.aclose()
    assert response.message.text == "I see them"
    body = fake_llm.requests[0].body
    data_url = f"data:image/png;base64,{PNG.data}"
    if kind == "anthropic":
        source = {"type": "base64", "media_type": "image/png", "data": PNG.data}
        assert body["messages"][0]["content"][1] == {"type": "image", "source": source}
        assert body["messages"][2]["content"][0]["content"] == [
            {"type": "text", "text": "a screenshot"},
            {"type": "image", "source": source},
        ]
        assert "system" not in body
    elif kind == "openai":
        assert body["input"][0]["content"][1] == {
            "type": "input_image",
            "image_url": data_url,
            "detail": "auto",
        }
        assert body["input"][2]["output"] == [
            {"type": "input_text", "text": "a screenshot"},
            {"type": "input_image", "image_url": data_url, "detail": "auto"},
        ]
        assert "instructions" not in body
    else:
        messages = body["messages"]
        assert [m["role"] for m in messages] == ["user", "assistant", "tool", "user"]
        assert messages[0]["content"][1] == {"type": "image_url", "image_url": {"url": data_url}}
        assert messages[2]["content"].startswith("a screenshot\n[1 image(s)")
        assert messages[3]["content"][1] == {"type": "image_url", "image_url": {"url": data_url}}


@pytest.mark.parametrize("kind", KINDS)
async def test_system_prompt_tools_and_limits_are_sent_as_each_api_wants(
    kind: str, fake_llm: FakeLLM
) -> None:
    fake_llm.script(["ok"])
    provider = build(kind, fake_llm.base_url, headers={"x-team": "blue"})
    try:
        await run(provider, ask(tools=[ADD], max_tokens=321))
    finally:
        await provider.aclose()
    seen = fake_llm.requests[0]
    body = seen.body
    assert seen.headers["x-team"] == "blue"
    assert body["stream"] is True
    assert seen.conversation.system == "You are terse."
    assert seen.conversation.tools == ["add"]
    if kind == "anthropic":
        assert seen.headers.get("x-api-key", seen.headers.get("authorization")) in (
            "test-key",
            "Bearer test-key",
        )
        assert body["system"] == "You are terse."
        assert body["max_tokens"] == 321
        assert body["tools"] == [
            {"name": "add", "description": ADD.description, "input_schema": ADD.input_schema}
        ]
    elif kind == "openai":
        assert seen.headers["authorization"] == "Bearer test-key"
        assert body["instructions"] == "You are terse."
        assert body["max_output_tokens"] == 321
        assert body["tools"] == [
            {
                "type": "function",
                "name": "add",
                "description": ADD.description,
                "parameters": ADD.input_schema,
                "strict": False,
            }
        ]
    else:
        assert body["messages"][0] == {"role": "system", "content": "You are terse."}
        assert body["messages"][1] == {"role": "user", "content": "hi"}
        assert body["max_tokens"] == 321  # not api.openai.com: the widely known name
        assert body["stream_options"] == {"include_usage": True}
        assert body["tools"] == [
            {
                "type": "function",
                "function": {"name": "add", "description": ADD.description, "parameters": ADD.input_schema},
            }
        ]


@pytest.mark.parametrize("kind", KINDS)
async def test_configured_max_tokens_overrides_the_request(kind: str, fake_llm: FakeLLM) -> None:
    fake_llm.script(["ok"])
    provider = build(kind, fake_llm.base_url, max_tokens=77)
    try:
        await run(provider, ask(max_tokens=5000))
    finally:
        await provider.aclose()
    body = fake_llm.requests[0].body
    assert body.get("max_tokens", body.get("max_output_tokens")) == 77


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("stop", ["max_tokens", "refusal"])
async def test_stop_reasons_map_to_the_neutral_ones(kind: str, stop: str, fake_llm: FakeLLM) -> None:
    fake_llm.script([{"text": "partial", "stop_reason": stop}])
    provider = build(kind, fake_llm.base_url)
    try:
        _, response = await run(provider, ask())
    finally:
        await provider.aclose()
    assert response.stop_reason == stop
    assert response.message.text == "partial"


@pytest.mark.parametrize("kind", KINDS)
async def test_429_is_retried_after_retry_after_then_succeeds(kind: str, fake_llm: FakeLLM) -> None:
    fake_llm.script({"faults": [{"status": 429, "retry_after": 0.001}], "turns": ["after the wait"]})
    provider = build(kind, fake_llm.base_url, max_retries=2)
    try:
        _, response = await run(provider, ask())
    finally:
        await provider.aclose()
    assert response.message.text == "after the wait"
    assert [r.status for r in fake_llm.requests] == [429, 200]


@pytest.mark.parametrize("kind", KINDS)
async def test_429_after_every_retry_is_a_rate_limit_error(kind: str, fake_llm: FakeLLM) -> None:
    fault = {"status": 429, "retry_after": 0.001, "message": "slow down"}
    fake_llm.script({"faults": [fault] * 2, "turns": ["never"]})
    provider = build(kind, fake_llm.base_url, max_retries=1)
    try:
        with pytest.raises(ProviderRateLimitError, match="slow down") as caught:
            await run(provider, ask())
    finally:
        await provider.aclose()
    assert "after 1 retry" in str(caught.value)
    assert len(fake_llm.requests) == 2


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("streaming", [True, False])
@pytest.mark.parametrize(
    ("headers", "wait"),
    [({"retry-after": "3"}, 3.0), ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5), ({}, None)],
)
async def test_a_429_names_provider_model_status_and_the_wait_asked_for(
    kind: str, streaming: bool, headers: dict[str, str], wait: float | None, fake_llm: FakeLLM
) -> None:
    fake_llm.script({"faults": [{"status": 429, "headers": headers}], "turns": ["never"]})
    provider = build(kind, fake_llm.base_url, max_retries=0, streaming=streaming)
    try:
        with pytest.raises(ProviderRateLimitError) as caught:
            await run(provider, ask())
    finally:
        await provider.aclose()
    error = caught.value
    assert (error.provider, error.model, error.status, error.retry_after) == (
        provider.name,
        provider.model,
        429,
        wait,
    )


async def test_a_retry_after_date_is_the_seconds_until_then(fake_llm: FakeLLM) -> None:
    started = time.time()
    then = email.utils.formatdate(started + 30, usegmt=True)  # whole seconds
    fake_llm.script({"faults": [{"status": 503, "headers": {"retry-after": then}}], "turns": ["never"]})
    provider = build("anthropic", fake_llm.base_url, max_retries=0)
    try:
        with pytest.raises(ProviderUnavailableError) as caught:
            await run(provider, ask())
    finally:
        await provider.aclose()
    elapsed = time.time() - started  # however busy the machine was
    assert caught.value.status == 503
    assert caught.value.retry_after is not None
    assert 29 - elapsed <= caught.value.retry_after <= 30.5


async def test_500_until_retries_run_out_is_unavailable(provider: Provider, fake_llm: FakeLLM) -> None:
    fake_llm.script({"faults": [{"status": 500, "retry_after": 0.001}] * 2, "turns": ["never"]})
    with pytest.raises(ProviderUnavailableError) as caught:
        await run(provider, ask())
    assert "HTTP 500" in str(caught.value) and "after 1 retry" in str(caught.value)
    assert caught.value.exit_code == 1
    assert [r.status for r in fake_llm.requests] == [500, 500]


@pytest.mark.parametrize("kind", KINDS)
async def test_401_is_an_auth_error_naming_the_key_variable_without_retries(
    kind: str, fake_llm: FakeLLM
) -> None:
    fake_llm.script({"faults": [{"status": 401, "message": "invalid x-api-key"}], "turns": ["never"]})
    env = "ANTHROPIC_API_KEY" if kind == "anthropic" else "OPENAI_API_KEY"
    provider = build(kind, fake_llm.base_url, max_retries=3, api_key_env=env)
    try:
        with pytest.raises(ProviderAuthError) as caught:
            await run(provider, ask())
    finally:
        await provider.aclose()
    assert "API key rejected" in str(caught.value) and "invalid x-api-key" in str(caught.value)
    assert caught.value.hint == f"check {env}"
    assert len(fake_llm.requests) == 1


async def test_other_refusals_carry_the_api_message(provider: Provider, fake_llm: FakeLLM) -> None:
    fake_llm.script(
        {"faults": [{"status": 400, "message": "messages: roles must alternate"}], "turns": ["x"]}
    )
    with pytest.raises(ProviderError) as caught:
        await run(provider, ask())
    assert type(caught.value) is ProviderError
    assert "HTTP 400: messages: roles must alternate" in str(caught.value)
    assert caught.value.provider == provider.name


@pytest.mark.parametrize("kind", KINDS)
async def test_a_404_is_an_unknown_model_a_usage_error(kind: str, fake_llm: FakeLLM) -> None:
    from agent.errors import ModelNotFoundError

    fake_llm.script({"faults": [{"status": 404, "message": "model: nope"}], "turns": ["never"]})
    provider = build(kind, fake_llm.base_url, max_retries=3)
    try:
        with pytest.raises(ModelNotFoundError) as caught:
            await run(provider, ask())
    finally:
        await provider.aclose()
    assert caught.value.exit_code == 2 and "not found (HTTP 404: model: nope)" in str(caught.value)
    assert "agent models" in str(caught.value.hint)
    assert len(fake_llm.requests) == 1  # not retried


async def test_a_stream_cut_midway_is_unavailable_and_no_sdk_type_leaks(
    provider: Provider, fake_llm: FakeLLM
) -> None:
    fake_llm.script(
        {"faults": [{"cut_after": 3}], "turns": [{"text": "a long answer that gets cut", "chunk": 2}]}
    )
    with pytest.raises(ProviderUnavailableError) as caught:
        await run(provider, ask())
    assert type(caught.value).__module__ == "agent.errors"
    assert "broke off" in str(caught.value) or "connection" in str(caught.value)


@pytest.mark.parametrize("kind", KINDS)
async def test_an_unreachable_server_is_unavailable(kind: str) -> None:
    with socket.socket() as s:  # a loopback port with nobody listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    provider = build(kind, f"http://127.0.0.1:{port}", max_retries=0)
    try:
        with pytest.raises(ProviderUnavailableError, match=r"connection to http://127\.0\.0\.1"):
            await run(provider, ask())
    finally:
        await provider.aclose()


@pytest.mark.parametrize("kind", KINDS)
async def test_no_answer_in_time_is_unavailable_and_the_request_is_dropped(
    kind: str, fake_llm: FakeLLM
) -> None:
    fake_llm.script([{"text": "too late", "delay": 30}])
    provider = build(kind, fake_llm.base_url, max_retries=0, timeout=0.3)
    try:
        with anyio.fail_after(10), pytest.raises(ProviderUnavailableError, match="timed out"):
            await run(provider, ask())
    finally:
        await provider.aclose()
    assert await fake_llm.wait_for(lambda s: s["disconnects"] == 1 and s["in_flight"] == 0, 5)


async def test_cancelling_the_consumer_closes_the_stream_promptly(
    provider: Provider, fake_llm: FakeLLM
) -> None:
    fake_llm.script([{"text": "one two three four five six", "chunk": 4, "hang_after": 6}])
    first = anyio.Event()

    async def consume() -> None:
        async for event in provider.stream(ask()):
            if isinstance(event, TextDelta):
                first.set()

    with anyio.fail_after(5):
        async with anyio.create_task_group() as tg:
            tg.start_soon(consume)
            await first.wait()
            tg.cancel_scope.cancel()
    # The fake saw the client hang up: the HTTP stream was closed, not left open.
    assert await fake_llm.wait_for(lambda s: s["disconnects"] >= 1, 5)
    assert fake_llm.stats["in_flight"] == 0 or await fake_llm.wait_for(lambda s: s["in_flight"] == 0, 5)


async def test_stopping_early_closes_the_stream(provider: Provider, fake_llm: FakeLLM) -> None:
    fake_llm.script([{"text": "one two three four five six", "chunk": 4, "hang_after": 6}])
    with anyio.fail_after(5):
        async with aclosing(provider.stream(ask())) as events:
            async for _ in events:
                break
    assert await fake_llm.wait_for(lambda s: s["disconnects"] >= 1, 5)


async def test_empty_messages_and_empty_text_are_left_out(fake_llm: FakeLLM) -> None:
    fake_llm.script(["ok"])
    provider = build("anthropic", fake_llm.base_url)
    conversation: list[Message] = [
        UserMessage.of("first"),
        AssistantMessage((TextPart(""),)),
        UserMessage((TextPart("again"),)),
    ]
    try:
        await run(provider, ModelRequest("", conversation))
    finally:
        await provider.aclose()
    assert fake_llm.requests[0].body["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "first"}]},
        {"role": "user", "content": [{"type": "text", "text": "again"}]},
    ]


async def test_an_error_event_inside_the_stream_is_unavailable(provider: Provider, fake_llm: FakeLLM) -> None:
    fault = {"stream_error": "overloaded_error", "cut_after": 2, "message": "Overloaded right now"}
    fake_llm.script({"faults": [fault], "turns": ["never complete"]})
    with pytest.raises(ProviderUnavailableError, match="Overloaded right now") as caught:
        await run(provider, ask())
    assert caught.value.status is None  # no HTTP status failed: the response had started


def test_anthropic_gets_a_note_instead_of_an_image_type_it_cannot_take() -> None:
    from agent.providers.anthropic import to_api_messages

    svg = ImagePart("PHN2Zy8+", "image/svg+xml")
    result = ToolResultPart("c1", "draw", (svg,))
    assert to_api_messages([UserMessage((result,))]) == [
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "c1",
                    "content": [
                        {
                            "type": "text",
                            "text": "[an image of type image/svg+xml was left out: not supported]",
                        }
                    ],
                }
            ],
        }
    ]


async def test_chat_completions_names_the_token_limit_as_each_server_knows_it(fake_llm: FakeLLM) -> None:
    fake_llm.script({"turns": ["ok"], "repeat_last": True})
    compatible = build("openai-chat", fake_llm.base_url, max_tokens=77)
    try:
        await run(compatible, ask())
    finally:
        await compatible.aclose()
    body = fake_llm.requests[0].body
    assert body["max_tokens"] == 77 and "max_completion_tokens" not in body
    # OpenAI itself (its reasoning models refuse max_tokens); nothing is sent to it here.
    official = OpenAIChatProvider(model="gpt-5.5", api_key="k", max_tokens=77)
    try:
        params = official.request_body(ask())
    finally:
        await official.aclose()
    assert params["max_completion_tokens"] == 77 and "max_tokens" not in params


def test_a_tool_error_that_says_error_itself_is_not_prefixed_twice() -> None:
    from agent.providers._common import tool_error_text

    assert tool_error_text("boom") == "Error: boom"
    assert tool_error_text("error: kaput") == "Error: kaput"
    assert tool_error_text("  Error:  error: kaput") == "Error: kaput"


def test_a_responses_tool_error_with_an_image_is_prefixed_once() -> None:
    from agent.providers.openai import _result_output

    failed = ToolResultPart("c", "shot", (TextPart("error: no screen"), PNG), is_error=True)
    output = _result_output(failed)
    assert isinstance(output, list)
    assert output[0] == {"type": "input_text", "text": "Error: no screen"}
    assert output[1]["type"] == "input_image" and len(output) == 2
    only_image = _result_output(ToolResultPart("c", "shot", (PNG,), is_error=True))
    assert isinstance(only_image, list) and only_image[0] == {"type": "input_text", "text": "Error: "}
