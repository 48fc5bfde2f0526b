"""The fake model server itself: what other tests rely on (scripts, recording, faults, both modes)."""

from __future__ import annotations

import json
from typing import Any

import anyio
import httpx2
import pytest

from agent.messages import Message, ModelRequest, ResponseDone, ToolResultPart, UserMessage
from agent.providers.anthropic import AnthropicProvider
from agent.providers.openai_chat import OpenAIChatProvider
from tests.support.fake_llm import FakeLLM, FakeLLMProcess, Script, SeenRequest


async def _answer(base_url: str, messages: list[Message], *, model: str = "gpt-5.5") -> str:
    provider = OpenAIChatProvider(model=model, api_key="k", base_url=base_url + "/v1", max_retries=0)
    try:
        async for event in provider.stream(ModelRequest("", messages)):
            if isinstance(event, ResponseDone):
                return event.response.message.text
    finally:
        await provider.aclose()
    raise AssertionError("no answer")


async def test_history_mode_lets_concurrent_conversations_walk_the_same_script(fake_llm: FakeLLM) -> None:
    fake_llm.script(
        {
            "turns": [{"tool_calls": [{"name": "t", "arguments": {}}], "delay": 0.2}, {"echo": "user"}],
            "latency": 0,
        }
    )
    results: dict[int, str] = {}

    async def conversation(i: int) -> None:
        provider = AnthropicProvider(model="claude-sonnet-4-6", api_key="k", base_url=fake_llm.base_url)
        try:
            history = [UserMessage.of(f"item {i}")]
            async for event in provider.stream(ModelRequest("", history)):
                if isinstance(event, ResponseDone):
                    call = event.response.message.tool_calls[0]
                    history += [event.response.message, UserMessage((ToolResultPart(call.id, "t", ()),))]
            async for event in provider.stream(ModelRequest("", history)):
                if isinstance(event, ResponseDone):
                    results[i] = event.response.message.text
        finally:
            await provider.aclose()

    async with anyio.create_task_group() as tg:
        for i in range(4):
            tg.start_soon(conversation, i)
    assert results == {i: f"item {i}" for i in range(4)}
    assert fake_llm.stats["max_in_flight"] == 4  # the first turns overlapped (each waits 0.2 s)
    assert fake_llm.stats["requests"] == 8


async def test_a_callable_script_decides_from_the_tool_results(fake_llm: FakeLLM) -> None:
    def model(request: SeenRequest) -> dict[str, Any] | str:
        results = request.conversation.last_tool_results
        if not results:
            return {"tool_calls": [{"name": "lookup", "arguments": {"key": "x"}}]}
        return f"the tool said {results[0].text!r} (error={results[0].is_error})"

    fake_llm.script(model)
    first = [UserMessage.of("go")]
    provider = OpenAIChatProvider(model="m", api_key="k", base_url=fake_llm.base_url + "/v1", max_retries=0)
    try:
        async for event in provider.stream(ModelRequest("", first)):
            if isinstance(event, ResponseDone):
                reply = event.response.message
    finally:
        await provider.aclose()
    call = reply.tool_calls[0]
    result = UserMessage((ToolResultPart(call.id, call.name, (), is_error=True),))
    assert await _answer(fake_llm.base_url, [*first, reply, result]) == "the tool said '' (error=True)"


async def test_a_failing_script_answers_500_and_is_kept_for_the_test(fake_llm: FakeLLM) -> None:
    def broken(request: SeenRequest) -> str:
        raise KeyError("oops")

    fake_llm.script(Script(respond=broken))
    async with httpx2.AsyncClient(base_url=fake_llm.base_url) as client:
        response = await client.post("/v1/chat/completions", json={"model": "m", "messages": []})
    assert response.status_code == 500
    assert "the script failed" in response.json()["error"]["message"]
    assert [repr(e) for e in fake_llm.errors] == ["KeyError('oops')"]
    fake_llm.errors.clear()  # handled here: do not fail the test at teardown


async def test_an_exhausted_script_says_so(fake_llm: FakeLLM) -> None:
    fake_llm.script({"turns": ["only one"], "by": "sequence"})
    assert await _answer(fake_llm.base_url, [UserMessage.of("a")]) == "only one"
    async with httpx2.AsyncClient(base_url=fake_llm.base_url) as client:
        response = await client.post("/v1/messages", json={"model": "m", "max_tokens": 1, "messages": []})
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert "script exhausted" in response.json()["error"]["message"]


async def test_a_request_over_the_context_window_is_refused_as_the_apis_do(fake_llm: FakeLLM) -> None:
    fake_llm.script({"turns": ["fits"], "context_window": 1000, "repeat_last": True})
    assert await _answer(fake_llm.base_url, [UserMessage.of("short")]) == "fits"
    async with httpx2.AsyncClient(base_url=fake_llm.base_url) as client:
        big = {"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "x" * 5000}]}
        response = await client.post("/v1/messages", json=big)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert "prompt is too long: 12" in response.json()["error"]["message"]
    assert "> 1000 maximum" in response.json()["error"]["message"]


async def test_non_streaming_requests_get_the_whole_json_object(fake_llm: FakeLLM) -> None:
    fake_llm.script([{"text": "whole", "tool_calls": [{"name": "t", "arguments": {"a": 1}}]}])
    async with httpx2.AsyncClient(base_url=fake_llm.base_url) as client:
        chat = (await client.post("/chat/completions", json={"model": "m", "messages": []})).json()
        msg = (await client.post("/v1/messages", json={"model": "m", "max_tokens": 1, "messages": []})).json()
        resp = (await client.post("/v1/responses", json={"model": "m", "input": "hi"})).json()
    assert chat["choices"][0]["message"]["content"] == "whole"
    assert chat["choices"][0]["finish_reason"] == "tool_calls"
    assert json.loads(chat["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]) == {"a": 1}
    assert [b["type"] for b in msg["content"]] == ["text", "tool_use"] and msg["stop_reason"] == "tool_use"
    assert [i["type"] for i in resp["output"]] == ["message", "function_call"] and resp[
        "status"
    ] == "completed"


def test_script_typos_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown key"):
        Script.parse({"turns": [{"txt": "hello"}]})
    with pytest.raises(ValueError, match="unknown key"):
        Script.parse({"turn": []})


async def test_the_subprocess_serves_the_same_api_and_control_endpoints(
    fake_llm_process: FakeLLMProcess,
) -> None:
    fake_llm_process.script({"turns": [{"echo": "user"}]})
    assert fake_llm_process.base_url.startswith("http://127.0.0.1:")
    assert (
        await _answer(fake_llm_process.base_url, [UserMessage.of("ping from a test")]) == "ping from a test"
    )
    (seen,) = fake_llm_process.requests
    assert (seen.api, seen.status, seen.conversation.last_user_text) == ("chat", 200, "ping from a test")
    assert fake_llm_process.stats["requests"] == 1
