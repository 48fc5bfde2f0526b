"""The real ``agent run`` in a pseudo-terminal: the approval question is one key, no Enter, as in chat."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agent.config import ServerSettings
from tests.support.fake_llm import FakeLLM, SeenRequest
from tests.test_chat_e2e import Screen, chat_env  # noqa: F401  (chat_env is a fixture)

pytestmark = pytest.mark.e2e

MODEL = "anthropic:claude-sonnet-4-6"


def _echo_twice(request: SeenRequest) -> dict[str, Any]:
    """Calls echo in two steps, then answers with what the tools said."""
    return _echo_times(request, 2)


def _echo_times(request: SeenRequest, times: int) -> dict[str, Any]:
    conv = request.conversation
    if conv.assistant_turns < times:
        return {"tool_calls": [{"name": "echo", "arguments": {"text": f"hi {conv.assistant_turns}"}}]}
    return {"text": "told: " + " | ".join(r.text for r in conv.last_tool_results)}


@pytest.fixture
def run_asking(
    fake_llm: FakeLLM,
    chat_env: Callable[..., dict[str, str]],  # noqa: F811
    mcp_http_url: str,
    write_config: Callable[..., Path],
    tmp_path: Path,
) -> Callable[[Callable[[SeenRequest], dict[str, Any]], str], Screen]:
    """Starts ``agent run PROMPT`` in a pseudo-terminal, the fake model scripted, echo on 'ask'."""

    def start(script: Callable[[SeenRequest], dict[str, Any]], prompt: str) -> Screen:
        fake_llm.script(script)
        write_config({"test": ServerSettings(url=mcp_http_url, approval={"echo": "ask"})})
        return Screen(["run", prompt, "--model", MODEL], tmp_path, chat_env())

    return start


def test_run_asks_for_approval_with_one_key(run_asking: Callable[..., Screen]) -> None:
    """One run (one process: each costs seconds of imports) answers n, y, then a: the fourth call
    is not asked about (always for this tool, this run)."""
    screen = run_asking(lambda request: _echo_times(request, 4), "echo four times")
    for step, key, outcome in [(0, "n", "denied"), (1, "y", "ok"), (2, "a", "ok"), (3, None, "ok")]:
        if key is not None:
            screen.expect(f'agent: allow test.echo {{"text": "hi {step}"}}? ')
            screen.expect("[y]es / [n]o / [a]lways for echo in this run:")
            screen.send("x")  # not an answer: ignored
            screen.send(key)  # one key, no Enter
        screen.expect(f'tool test.echo {{"text": "hi {step}"}}')
        start = screen.pos
        screen.expect(f" ms {outcome}")
        assert "\n" not in screen.text[start : screen.pos]  # on the call's own line
    screen.expect("told: hi 3")
    assert screen.wait_exit() == 0
    last = screen.text.index('tool test.echo {"text": "hi 3"}')
    assert "allow" not in screen.text[screen.text.index('tool test.echo {"text": "hi 2"}') : last]


def test_ctrl_c_at_the_approval_question_interrupts_the_run(run_asking: Callable[..., Screen]) -> None:
    screen = run_asking(_echo_twice, "echo twice")
    screen.expect("[a]lways for echo in this run:")
    screen.send("\x03")
    assert screen.wait_exit() == 130
    assert "told:" not in screen.text
