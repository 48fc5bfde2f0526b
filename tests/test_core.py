"""The agent loop, driven by a deterministic function model against a real MCP server."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

import anyio
import pytest

from agent import core
from agent.config import ServerSettings
from agent.core import (
    Agent,
    Event,
    Final,
    StepStarted,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
    TurnError,
    UsageUpdate,
)
from agent.errors import ProviderAuthError, ProviderRateLimitError
from agent.mcp.elicitation import ElicitationAnswer, ElicitationRequest
from agent.mcp.manager import ServerManager
from agent.messages import (
    AssistantMessage,
    Message,
    ModelRequest,
    ModelResponse,
    ToolResultPart,
    Usage,
    UserMessage,
)
from agent.tools import Toolbox
from tests.providers.test_adapters import KINDS
from tests.providers.test_adapters import build as build_provider
from tests.support.elicit_server import elicit_server
from tests.support.fake_llm import FakeLLM
from tests.support.fixtures_loop import LoopServer
from tests.support.function_provider import FunctionProvider, call, last_results, reply, script


def assert_valid(history: list[Message]) -> None:
    """Alternating roles, ending with the assistant; every tool call answered right after, in order."""
    assert history, "empty history"
    for i, message in enumerate(history):
        assert message.role == ("user" if i % 2 == 0 else "assistant"), f"message {i} has role {message.role}"
        calls = message.tool_calls if isinstance(message, AssistantMessage) else ()
        if calls:
            results = [p for p in history[i + 1].parts if isinstance(p, ToolResultPart)]
            assert [r.call_id for r in results] == [c.id for c in calls]
    assert history[-1].role == "assistant"


async def collect(agent: Agent, prompt: str) -> list[Event]:
    async with anyio.create_task_group() as tg:
        return [event async for event in core.events(agent, prompt, tg)]


@contextlib.asynccontextmanager
async def toolbox(
    server: LoopServer, *, server_timeout: float = 30.0, max_result_tokens: int = 25_000
) -> AsyncIterator[Toolbox]:
    async with ServerManager({"test": ServerSettings(url=server.url, timeout=server_timeout)}) as manager:
        assert manager.connected == ["test"]
        yield await Toolbox.load(manager, max_result_tokens=max_result_tokens)


def tag() -> str:
    return uuid.uuid4().hex[:8]


# --- with a real MCP server -------------------------------------------------------------------


async def test_multi_step_tool_use_reaches_a_final_answer(loop_server: LoopServer) -> None:
    def model(request: ModelRequest) -> ModelResponse:
        step = len(provider.requests)
        if step == 1:
            return reply("Let me add.", call("add", {"a": 2, "b": 3}))
        if step == 2:
            (result,) = last_results(request)
            return reply(call("echo", {"text": f"sum={result.text}"}))
        (result,) = last_results(request)
        return reply(f"The answer is {result.text}.")

    provider = FunctionProvider(model)
    async with toolbox(loop_server) as box:
        assert {"add", "echo", "slow"} <= {s.name for s in box.specs}
        agent = Agent(provider, box, system="sys")
        events = await collect(agent, "what is 2+3?")

    final = events[-1]
    assert isinstance(final, Final)
    assert (final.answer, final.stop_reason, final.steps) == ("The answer is sum=5.", "end_turn", 3)
    assert final.usage == Usage(30, 15)
    assert [c.result.text for c in final.tool_calls] == ["5", "sum=5"]
    assert [type(e).__name__ for e in events if not isinstance(e, TextDelta)] == [
        "StepStarted", "UsageUpdate", "ToolCallStarted", "ToolCallFinished",
        "StepStarted", "UsageUpdate", "ToolCallStarted", "ToolCallFinished",
        "StepStarted", "UsageUpdate", "Final",
    ]  # fmt: skip
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Let me add.The answer is sum=5."
    assert [e.total for e in events if isinstance(e, UsageUpdate)][-1] == Usage(30, 15)
    assert all(r.system == "sys" and r.tools == box.specs for r in provider.requests)
    assert len(agent.history) == 6
    assert_valid(agent.history)


async def test_parallel_calls_overlap_and_results_keep_the_models_order(loop_server: LoopServer) -> None:
    a, b, c = tag(), tag(), tag()
    calls = [
        call("slow", {"seconds": 0.5, "tag": a}, "c1"),
        call("echo", {"text": "quick"}, "c2"),
        call("slow", {"seconds": 0.1, "tag": b}, "c3"),
        call("slow", {"seconds": 0.1, "tag": c}, "c4"),
    ]
    provider = FunctionProvider(script(reply(*calls), reply("done")))
    async with toolbox(loop_server) as box:
        events = await collect(Agent(provider, box, system="s"), "go")

    results = last_results(provider.requests[1])
    assert [r.call_id for r in results] == ["c1", "c2", "c3", "c4"]
    assert [r.text for r in results] == ["slept 0.5", "quick", "slept 0.1", "slept 0.1"]
    reported = [e.call_id for e in events if isinstance(e, ToolCallFinished)]
    assert sorted(reported) == ["c1", "c2", "c3", "c4"] and reported[-1] == "c1"  # completion order
    assert isinstance(events[-1], Final)
    assert [f.call_id for f in events[-1].tool_calls] == ["c1", "c2", "c3", "c4"]  # the model's order
    # Overlap, seen on the server: every call had started before the slowest one finished.
    lines = loop_server.lines()
    done_a = lines.index(f"done {a}")
    assert all(lines.index(f"started {t}") < done_a for t in (a, b, c))
    assert lines.index(f"done {b}") < done_a


async def test_unknown_tool_and_tool_error_become_results_the_model_sees(loop_server: LoopServer) -> None:
    provider = FunctionProvider(
        script(
            reply(call("no_such_tool", {}, "u1"), call("fail", {"message": "disk full"}, "f1")),
            reply("sorry"),
        )
    )
    async with toolbox(loop_server) as box:
        events = await collect(Agent(provider, box, system="s"), "go")
    unknown, failed = last_results(provider.requests[1])
    assert unknown.is_error and "no tool named 'no_such_tool'" in unknown.text
    assert failed.is_error and "fail" in failed.text
    started = [e for e in events if isinstance(e, ToolCallStarted)]
    assert [(e.server, e.tool) for e in started] == [(None, None), ("test", "fail")]
    final = events[-1]
    assert isinstance(final, Final) and final.stop_reason == "end_turn" and final.answer == "sorry"


async def test_tool_timeout_is_an_error_result(loop_server: LoopServer) -> None:
    t = tag()
    provider = FunctionProvider(script(reply(call("slow", {"seconds": 60, "tag": t})), reply("gave up")))
    async with toolbox(loop_server, server_timeout=2.0) as box:
        events = await collect(Agent(provider, box, system="s"), "go")
    (result,) = last_results(provider.requests[1])
    assert result.is_error and "timed out" in result.text
    assert isinstance(events[-1], Final) and events[-1].answer == "gave up"
    await loop_server.wait_for(f"cancelled {t}")  # the server was told to stop


async def test_huge_result_is_truncated(loop_server: LoopServer) -> None:
    provider = FunctionProvider(script(reply(call("big", {"size": 1_000_000})), reply("ok")))
    async with toolbox(loop_server, max_result_tokens=1000) as box:
        await collect(Agent(provider, box, system="s"), "go")
    (result,) = last_results(provider.requests[1])
    assert "[… truncated 996000 characters …]" in result.text
    assert len(result.text) < 4100


async def test_max_steps_stops_with_a_clear_message_and_valid_history(loop_server: LoopServer) -> None:
    provider = FunctionProvider(lambda request: reply("again", call("echo", {"text": "x"})))
    async with toolbox(loop_server) as box:
        agent = Agent(provider, box, system="s", max_steps=3)
        events = await collect(agent, "loop forever")
    errors = [e for e in events if isinstance(e, TurnError)]
    assert len(errors) == 1 and "stopped after 3 steps" in str(errors[0].error)
    final = events[-1]
    assert isinstance(final, Final) and (final.stop_reason, final.steps) == ("max_steps", 3)
    assert len(provider.requests) == 3
    assert len(final.tool_calls) == 2  # the third step's call was not run
    assert "step limit" in agent.history[-2].parts[0].text  # type: ignore[union-attr]
    assert_valid(agent.history)


async def test_cancellation_mid_tool_cancels_the_call_and_keeps_history_valid(
    loop_server: LoopServer,
) -> None:
    t = tag()
    provider = FunctionProvider(
        script(
            reply(call("echo", {"text": "fast"}, "e1"), call("slow", {"seconds": 60, "tag": t}, "s1")),
            reply("next"),
        )
    )
    seen: list[Event] = []
    async with toolbox(loop_server) as box:
        agent = Agent(provider, box, system="s")
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as tg:

                async def cancel_when_running() -> None:
                    await loop_server.wait_for(f"started {t}")
                    scope.cancel()

                tg.start_soon(cancel_when_running)
                async for event in core.events(agent, "go", tg):
                    seen.append(event)
        assert scope.cancelled_caught
        await loop_server.wait_for(f"cancelled {t}")  # MCP cancellation reached the server
        assert not any(isinstance(e, Final) for e in seen)
        assert_valid(agent.history)
        results = [p for p in agent.history[2].parts if isinstance(p, ToolResultPart)]
        assert [r.call_id for r in results] == ["e1", "s1"]
        # The quick call may or may not have finished before the cancel; either way it is answered.
        assert results[0].text == "fast" or (results[0].is_error and "cancelled" in results[0].text)
        assert results[1].is_error and "cancelled" in results[1].text
        # The conversation goes on.
        events = await collect(agent, "again")
    assert isinstance(events[-1], Final) and events[-1].answer == "next"
    assert_valid(agent.history)


async def test_denied_call_is_not_run(loop_server: LoopServer) -> None:
    asked: list[tuple[str, str, Mapping[str, Any]]] = []

    async def approve(server: str, tool: str, arguments: Mapping[str, Any]) -> bool:
        asked.append((server, tool, arguments))
        return tool != "echo"

    provider = FunctionProvider(
        script(reply(call("echo", {"text": "hi"}), call("add", {"a": 1, "b": 1}), call("ghost")), reply("ok"))
    )
    async with toolbox(loop_server) as box:
        events = await collect(Agent(provider, box, system="s", approve=approve), "go")
    assert asked == [("test", "echo", {"text": "hi"}), ("test", "add", {"a": 1, "b": 1})]
    echo, add, ghost = last_results(provider.requests[1])
    assert echo.is_error and echo.text == "denied by the user"
    assert add.text == "2" and ghost.is_error
    finished = [e for e in events if isinstance(e, ToolCallFinished)]
    assert [f.denied for f in finished] == [True, False, False]


async def test_approval_is_asked_once_the_consumer_has_handled_the_text_before_it(
    loop_server: LoopServer,
) -> None:
    seen: list[Event] = []
    handled_when_asked: list[list[str]] = []

    async def approve(server: str, tool: str, arguments: Mapping[str, Any]) -> bool:
        handled_when_asked.append(["".join(e.text for e in seen if isinstance(e, TextDelta))])
        return True

    provider = FunctionProvider(script(reply("Calling echo.", call("echo", {"text": "hi"})), reply("ok")))
    async with toolbox(loop_server) as box, anyio.create_task_group() as tg:
        agent = Agent(provider, box, system="s", approve=approve)
        async for event in core.events(agent, "go", tg):
            await anyio.sleep(0.01)  # a slow screen: the loop runs ahead of it
            seen.append(event)
    assert handled_when_asked == [["Calling echo."]]  # the whole text, not a part of it


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("streaming", [True, False], ids=["streamed", "whole"])
async def test_a_call_with_unreadable_arguments_is_answered_with_the_problem_and_never_run(
    kind: str, streaming: bool, loop_server: LoopServer, fake_llm: FakeLLM
) -> None:
    asked: list[str] = []

    async def approve(server: str, tool: str, arguments: Mapping[str, Any]) -> bool:
        asked.append(tool)
        return True

    # "pid" takes no arguments: run with {} it would answer, and the model would be told it worked.
    fake_llm.script([{"tool_calls": [{"name": "pid", "arguments": '{"a": 1,, "b"}'}]}, {"text": "ok"}])
    provider = build_provider(kind, fake_llm.base_url, streaming=streaming)
    try:
        async with toolbox(loop_server) as box:
            events = await collect(Agent(provider, box, system="s", approve=approve), "go")
    finally:
        await provider.aclose()
    (finished,) = [e for e in events if isinstance(e, ToolCallFinished)]
    assert finished.is_error and not finished.denied and asked == []
    assert finished.result.text.startswith("error: the tool was not run: the arguments are not")
    (seen,) = fake_llm.requests[1].conversation.last_tool_results
    assert seen.is_error and "the tool was not run" in seen.text


async def test_a_failing_approval_hook_denies(loop_server: LoopServer) -> None:
    async def approve(server: str, tool: str, arguments: Mapping[str, Any]) -> bool:
        raise RuntimeError("the terminal went away")

    provider = FunctionProvider(script(reply(call("echo", {"text": "hi"})), reply("ok")))
    async with toolbox(loop_server) as box:
        events = await collect(Agent(provider, box, system="s", approve=approve), "go")
    (result,) = last_results(provider.requests[1])
    assert result.is_error and result.text == "denied by the user"
    assert isinstance(events[-1], Final) and events[-1].answer == "ok"


async def test_a_finished_call_is_reported_at_once_while_a_slower_one_runs(loop_server: LoopServer) -> None:
    t = tag()
    calls = [call("slow", {"seconds": 60, "tag": t}, "long"), call("echo", {"text": "quick"}, "short")]
    provider = FunctionProvider(script(reply(*calls), reply("never")))

    seen: list[Event] = []
    async with toolbox(loop_server) as box:
        agent = Agent(provider, box, system="s")
        with anyio.CancelScope() as scope:
            async with anyio.create_task_group() as tg:
                async for event in core.events(agent, "go", tg):
                    seen.append(event)
                    if isinstance(event, ToolCallFinished):
                        await loop_server.wait_for(f"started {t}")
                        assert f"done {t}" not in loop_server.lines()  # the long call still runs
                        scope.cancel()
        assert scope.cancelled_caught
        await loop_server.wait_for(f"cancelled {t}")
    # The short call was reported while the long one ran; the cancelled one is not reported.
    finished = [e for e in seen if isinstance(e, ToolCallFinished)]
    assert [(f.call_id, f.result.text) for f in finished] == [("short", "quick")]
    assert not any(isinstance(e, Final) for e in seen)
    assert_valid(agent.history)


async def test_calls_are_reported_in_completion_order_and_the_model_gets_its_own_order(
    loop_server: LoopServer,
) -> None:
    short_reported = anyio.Event()

    async def answer_after_the_short_call(request: ElicitationRequest) -> ElicitationAnswer:
        # The long call (the server's ``ask``) can only finish once the short one was reported.
        await short_reported.wait()
        return ElicitationAnswer("accept", {"name": "Ada", "age": 36, "verified": True})

    calls = [call("asker__ask", {}, "long"), call("test__echo", {"text": "quick"}, "short")]
    provider = FunctionProvider(script(reply(*calls), reply("done")))
    async with elicit_server() as asker_url:
        servers = {"test": ServerSettings(url=loop_server.url), "asker": ServerSettings(url=asker_url)}
        async with ServerManager(servers, elicitation=answer_after_the_short_call) as manager:
            box = await Toolbox.load(manager)
            agent = Agent(provider, box, system="s")
            events: list[Event] = []
            with anyio.fail_after(20):
                async with anyio.create_task_group() as tg:
                    async for event in core.events(agent, "go", tg):
                        events.append(event)
                        if isinstance(event, ToolCallFinished) and event.call_id == "short":
                            short_reported.set()

    finished = [e for e in events if isinstance(e, ToolCallFinished)]
    assert [f.call_id for f in finished] == ["short", "long"]  # completion order
    long = finished[1]
    assert (long.server, long.tool, long.arguments, long.is_error) == ("asker", "ask", {}, False)
    assert long.result.text == 'accept {"age": 36, "name": "Ada", "verified": true}'
    assert long.summary == long.result.text and long.label == "asker.ask" and long.duration_ms > 0
    assert [r.call_id for r in last_results(provider.requests[1])] == ["long", "short"]  # the model's order
    assert isinstance(events[-1], Final)
    assert [f.call_id for f in events[-1].tool_calls] == ["long", "short"]  # the model's order
    assert_valid(agent.history)


async def test_denied_calls_are_reported_before_any_call_runs(loop_server: LoopServer) -> None:
    async def approve(server: str, tool: str, arguments: Mapping[str, Any]) -> bool:
        return tool != "echo"

    provider = FunctionProvider(
        script(reply(call("echo", {"text": "hi"}, "d"), call("add", {"a": 1, "b": 2}, "a")), reply("ok"))
    )
    async with toolbox(loop_server) as box:
        agent = Agent(provider, box, system="s", approve=approve)
        events = await collect(agent, "go")
    finished = [e for e in events if isinstance(e, ToolCallFinished)]
    assert [(f.call_id, f.denied, f.result.text) for f in finished] == [
        ("d", True, "denied by the user"),
        ("a", False, "3"),
    ]
    assert isinstance(events[-1], Final) and events[-1].answer == "ok"
    assert_valid(agent.history)


async def test_an_unexpected_failure_of_the_loop_reaches_the_consumer() -> None:
    class Broken(Toolbox):  # a bug in the loop's own code, as far as the loop can tell
        def resolve(self, name: str) -> Any:
            raise RuntimeError("broken toolbox")

    agent = Agent(FunctionProvider(script(reply(call("echo")))), Broken(None), system="s")
    with pytest.raises(ExceptionGroup) as info:  # raised out of the consumer's task group
        await collect(agent, "go")
    assert info.group_contains(RuntimeError, match="broken toolbox")
    assert_valid(agent.history)


# --- without tools ----------------------------------------------------------------------------


async def test_provider_error_ends_the_turn_and_the_next_turn_works() -> None:
    provider = FunctionProvider(
        script(ProviderAuthError("function", "401 invalid x-api-key"), reply("hello"))
    )
    agent = Agent(provider, Toolbox.empty(), system="s")
    events = await collect(agent, "hi")
    assert [type(e) for e in events] == [StepStarted, TurnError, Final]
    assert isinstance(events[1], TurnError) and isinstance(events[1].error, ProviderAuthError)
    assert isinstance(events[2], Final) and events[2].stop_reason == "error"
    assert_valid(agent.history)
    events = await collect(agent, "hi again")
    assert isinstance(events[-1], Final) and events[-1].answer == "hello"
    assert [m.role for m in provider.requests[1].messages] == ["user", "assistant", "user"]
    assert_valid(agent.history)


async def test_provider_error_after_tool_calls_keeps_the_exchange() -> None:
    provider = FunctionProvider(
        script(reply(call("nope", {}, "n1")), ProviderRateLimitError("function", "429 after 4 retries"))
    )
    agent = Agent(provider, Toolbox.empty(), system="s")
    events = await collect(agent, "go")
    assert isinstance(events[-1], Final) and events[-1].stop_reason == "error"
    assert [m.role for m in agent.history] == ["user", "assistant", "user", "assistant"]
    assert "429" in agent.history[-1].text
    assert_valid(agent.history)


async def test_unexpected_provider_exception_is_a_turn_error() -> None:
    provider = FunctionProvider(script(RuntimeError("boom")))
    events = await collect(Agent(provider, Toolbox.empty(), system="s"), "go")
    assert isinstance(events[1], TurnError) and "RuntimeError: boom" in str(events[1].error)


async def test_cancellation_mid_stream_leaves_history_valid() -> None:
    provider = FunctionProvider(script(reply("never"), reply("second")))
    provider.gate = anyio.Event()
    agent = Agent(provider, Toolbox.empty(), system="s")
    with anyio.CancelScope() as scope:
        async with anyio.create_task_group() as tg:

            async def cancel_when_streaming() -> None:
                await provider.streaming.wait()
                scope.cancel()

            tg.start_soon(cancel_when_streaming)
            await collect(agent, "first")
    assert scope.cancelled_caught
    assert_valid(agent.history)
    provider.gate = None
    provider.requests.clear()
    events = await collect(agent, "second")
    assert isinstance(events[-1], Final)


async def test_consumer_that_stops_early_leaves_history_valid() -> None:
    provider = FunctionProvider(script(reply("a b c d")))
    agent = Agent(provider, Toolbox.empty(), system="s")
    async with anyio.create_task_group() as tg, contextlib.aclosing(core.events(agent, "go", tg)) as events:
        async for event in events:
            if isinstance(event, TextDelta):
                break
    assert_valid(agent.history)


async def test_history_ending_with_a_user_message_is_closed_before_the_next_prompt() -> None:
    provider = FunctionProvider(script(reply("ok")))
    agent = Agent(provider, Toolbox.empty(), system="s", history=[UserMessage.of("dangling")])
    await collect(agent, "next")
    assert_valid(agent.history)


async def test_empty_answer_is_recorded_as_a_placeholder() -> None:
    provider = FunctionProvider(script(ModelResponse(AssistantMessage(()))))
    agent = Agent(provider, Toolbox.empty(), system="s")
    events = await collect(agent, "go")
    assert isinstance(events[-1], Final) and events[-1].answer == ""
    assert agent.history[-1].text == "[no answer]"
