"""Context management (agent/context.py): requests stay inside the model's context window.

The fake model refuses a request over its ``context_window`` exactly as the real APIs do (HTTP 400
"prompt is too long"), so "never refused" below means the agent made room in time.
"""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from rich.console import Console

from agent.chat import Chat
from agent.cli import main
from agent.config import Config, ProviderSettings, ServerSettings
from agent.context import SUMMARY_PREFIX, ContextManager, context_window, drop_tool_results
from agent.messages import (
    AssistantMessage,
    Message,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    ToolSpec,
    UserMessage,
)
from tests.support.fake_llm import FakeLLM, Script, SeenRequest
from tests.support.function_provider import FunctionProvider, reply


def _tool_turn(i: int, size: int) -> list[Message]:
    call = ToolCallPart(f"c{i}", "big", {"size": size})
    result = ToolResultPart(f"c{i}", "big", (TextPart(f"result {i} " + "x" * size),))
    return [
        UserMessage.of(f"ask {i}"),
        AssistantMessage.of(call),
        UserMessage.of(result),
        AssistantMessage.of("ok"),
    ]


def test_context_windows_come_from_config_then_the_known_models() -> None:
    config = Config(
        providers={
            "anthropic": ProviderSettings(type="anthropic", context_windows={"claude-big": 1_000_000}),
            "local": ProviderSettings(
                type="openai-chat", base_url="http://127.0.0.1:1/v1", context_window=8_000
            ),
        }
    )
    assert context_window(config, "anthropic", "claude-big") == 1_000_000
    assert context_window(config, "anthropic", "claude-sonnet-4-6") == 200_000
    assert context_window(config, "local", "llama3") == 8_000
    assert context_window(config, "openai", "gpt-4.1-mini") == 1_047_576
    assert context_window(config, "openai", "gpt-4o") == 128_000
    assert context_window(config, "openai-chat", "something-new") == 128_000


def test_old_tool_results_are_stubbed_oldest_first_and_the_latest_kept() -> None:
    history: list[Message] = []
    for i in range(4):
        history += _tool_turn(i, 30_000)
    history = history[:-1]  # the last results are what the model is about to read
    dropped, saved = drop_tool_results(history, over=15_000)
    assert dropped == 2 and saved > 15_000
    results = [p for m in history for p in m.parts if isinstance(p, ToolResultPart)]
    assert results[0].text.startswith("[dropped to save context: the 30,009 character")
    assert 'of big, which began "result 0 xxx' in results[0].text
    assert results[2].text.startswith("result 2") and results[3].text.startswith("result 3")
    assert [p.call_id for p in results] == ["c0", "c1", "c2", "c3"]  # every call keeps its result
    # Nothing left but the latest: it is never dropped.
    assert drop_tool_results(history, over=10**9)[0] == 1
    assert history[-1].parts[0].text.startswith("result 3")  # type: ignore[union-attr]


def summarizer(summary: str) -> tuple[ContextManager, list[str], list[str]]:
    """A 4,000-token context whose model answers ``summary``; the system prompts it was sent and
    the notices said."""
    asked: list[str] = []
    notes: list[str] = []

    def model(request: Any) -> Any:
        asked.append(request.system)
        return reply(summary)

    return ContextManager(FunctionProvider(model), 4_000, reserve=500, notice=notes.append), asked, notes


async def test_tools_alone_filling_the_window_are_named_and_no_summary_is_asked_for() -> None:
    context, asked, notes = summarizer("a summary")
    tools = [ToolSpec(f"tool_{i}", "d" * 400, {"type": "object"}) for i in range(40)]
    history: list[Message] = [UserMessage.of("first"), AssistantMessage.of("ok"), UserMessage.of("hi")]
    await context.fit(history, "system", tools)
    assert asked == []  # summarizing two messages cannot make 40 tools fit
    assert len(notes) == 1 and "the tool definitions (≈" in notes[0] and "tool search" in notes[0]
    assert [m.text for m in history] == ["first", "ok", "hi"]


async def test_older_turns_are_summarized_when_dropping_is_not_enough() -> None:
    context, asked, notes = summarizer("They talked about the weather in Oslo.")
    history: list[Message] = []
    for i in range(10):
        history += [UserMessage.of(f"question {i} " + "w" * 1_500), AssistantMessage.of(f"answer {i}")]
    history.append(UserMessage.of("and now?"))
    await context.fit(history, "system", [])
    assert "summarize" in asked[0]
    assert history[0].text == SUMMARY_PREFIX + "They talked about the weather in Oslo."
    assert [m.role for m in history] == ["user", "assistant", "user"]
    assert history[-1].text == "and now?"
    assert notes == ["context: summarized 20 earlier messages (≈5,470 tokens) into ≈13 tokens"]


async def test_a_50_turn_chat_with_100_kb_tool_results_never_hits_the_context_limit(
    fake_llm: FakeLLM, mcp_http_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def model(request: SeenRequest) -> dict[str, Any]:
        if request.conversation.last_tool_results:
            return {"text": f"That was {len(request.conversation.last_tool_results[0].text)} bytes."}
        return {"tool_calls": [{"name": "big", "arguments": {"size": 100_000}}]}

    fake_llm.script(Script(respond=model, context_window=200_000))
    for key, value in fake_llm.env().items():
        monkeypatch.setenv(key, value)
    config = Config(
        model="anthropic:claude-sonnet-4-6",
        max_tool_result_tokens=50_000,
        servers={"test": ServerSettings(url=mcp_http_url)},
    )
    out = io.StringIO()
    chat = Chat(Console(file=out, width=100, force_terminal=False, color_system=None), fancy=False)
    lines = [f"turn {i}: fetch the big thing" for i in range(50)]

    class Lines:
        async def read(self) -> str:
            if not lines:
                raise EOFError
            return lines.pop(0)

        async def ask(self, question: str) -> str:
            raise AssertionError("no approval questions here")

    chat.input = Lines()
    assert await chat.run(config, chat.session_options()) == 0
    statuses = [r.status for r in fake_llm.requests]
    assert len(statuses) == 100 and set(statuses) == {200}, out.getvalue()[-2000:]
    assert out.getvalue().count("That was 100000 bytes.") == 50
    assert "context: dropped the bodies of" in out.getvalue()
    biggest = max(len(r.body["messages"]) for r in fake_llm.requests)
    assert biggest == 1 + 4 * 49 + 2  # nothing summarized: every turn is still there, only stubbed


def test_agent_run_with_40_tool_steps_of_50_kb_finishes_on_a_200k_model(
    fake_llm: FakeLLM, mcp_http_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def model(request: SeenRequest) -> dict[str, Any]:
        if request.conversation.assistant_turns < 40:
            return {"tool_calls": [{"name": "big", "arguments": {"size": 50_000}}]}
        return {"text": "all 40 done"}

    fake_llm.script(Script(respond=model, context_window=200_000))
    for key, value in fake_llm.env().items():
        monkeypatch.setenv(key, value)
    code = main(
        [
            "run",
            "fetch it 40 times",
            "--url",
            mcp_http_url,
            "-m",
            "anthropic:claude-sonnet-4-6",
            "--max-steps",
            "50",
        ]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.strip() == "all 40 done"
    assert {r.status for r in fake_llm.requests} == {200} and len(fake_llm.requests) == 41


async def test_slash_context_shows_the_budget_and_compact_summarizes(mcp_http_url: str) -> None:
    def model(request: Any) -> Any:
        if request.system.startswith("You summarize"):
            return reply("Earlier: greetings.")
        return reply(f"You said: {request.messages[-1].text}")

    out = io.StringIO()
    chat = Chat(Console(file=out, width=120, color_system=None), fancy=False)
    long = "hello " * 100  # an exchange worth summarizing
    lines = ["/context", "first", "second", "/compact", long, "there", "/compact", "/context", "after"]

    class Lines:
        async def read(self) -> str:
            if not lines:
                raise EOFError
            return lines.pop(0)

        async def ask(self, question: str) -> str:
            raise AssertionError(question)

    chat.input = Lines()
    config = Config(servers={"test": ServerSettings(url=mcp_http_url)}, system_prompt="Be brief.")
    assert await chat.run(config, chat.session_options(), provider=FunctionProvider(model)) == 0
    text = out.getvalue()
    assert "system prompt" in text and "history (0 messages)" in text and "kept for the answer" in text
    assert "a 128,000-token window" in text
    assert "compacted: the history went from ≈" in text
    assert "history (4 messages)" in text  # summary, its acknowledgement, the last exchange
    # The first /compact: a short exchange ("first") is smaller than any summary of it, so the
    # history stays as it was; the second summarizes the long one.
    short, _ = text.split("You said: " + long.strip())
    assert re.search(r"a summary \(≈\d+ tokens\) would not be smaller than the 2 earlier messages", short)
    assert re.search(r"nothing to compact: the history is as it was \(≈\d+ tokens\)\n$", short)
    assert "compacted" not in short
    assert "context: summarized 6 earlier messages" in text
    assert chat.history[0].text == SUMMARY_PREFIX + "Earlier: greetings."
    assert [m.text for m in chat.history[2:]] == ["there", "You said: there", "after", "You said: after"]


def test_system_option_takes_text_or_a_file(
    fake_llm: FakeLLM,
    mcp_http_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Any,
) -> None:
    fake_llm.script({"turns": ["ok"], "repeat_last": True})
    for key, value in fake_llm.env().items():
        monkeypatch.setenv(key, value)
    (tmp_path / "prompt.md").write_text("You are a pirate.", encoding="utf-8")
    url = ["--url", mcp_http_url]
    assert main(["run", "hi", *url, "--system", "Answer in French."]) == 0
    assert main(["run", "hi", *url, "--system", "@prompt.md"]) == 0
    # The given system prompt, then what the server says of its tools.
    systems = [r.body["system"].split("\n\n# Instructions from")[0] for r in fake_llm.requests]
    assert systems == ["Answer in French.", "You are a pirate."]
    assert main(["run", "hi", *url, "--system", "@missing.md"]) == 2
    assert "--system: cannot read 'missing.md'" in capsys.readouterr().err
