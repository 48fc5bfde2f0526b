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
    conv = request.conversation
    if conv.assistant_turns < 2:
        return {"tool_calls": [{"name": "echo", "arguments": {"text": f"hi {conv.assistant_turns}"}}]}
    return {"text": "told: " + " | ".join(r.text for r in conv.last_tool_results)}


@pytest.mark.parametrize(
    ("key", "outcome", "answer"),
    [
        ("a", "ok", "told: hi 1"),  # always for this tool, this run: the second call is not asked about
        ("y", "ok", "told: hi 1"),
        ("n", "denied", "told: denied by the user"),
    ],
)
def test_run_asks_for_approval_with_one_key(
    key: str,
    outcome: str,
    answer: str,
    fake_llm: FakeLLM,
    chat_env: Callable[..., dict[str, str]],  # noqa: F811
    mcp_http_url: str,
    write_config: Callable[..., Path],
    tmp_path: Path,
) -> None:
    fake_llm.script(_echo_twice)
    write_config({"test": ServerSettings(url=mcp_http_url, approval={"echo": "ask"})})
    screen = Screen(["run", "echo twice", "--model", MODEL], tmp_path, chat_env())
    for step in (0, 1):
        if key != "a" or step == 0:
            screen.expect(f'agent: allow test.echo {{"text": "hi {step}"}}? ')
            screen.expect("[y]es / [n]o / [a]lways for echo in this run:")
            screen.send("x")  # not an answer: ignored
            screen.send(key)  # one key, no Enter
        screen.expect(f'tool test.echo {{"text": "hi {step}"}}')
        start = screen.pos
        screen.expect(f" ms {outcome}")
        assert "\n" not in screen.text[start : screen.pos]  # on the call's own line
    screen.expect(answer)
    assert screen.wait_exit() == 0
    if key == "a":
        first = screen.text.index('tool test.echo {"text": "hi 0"}')
        assert "allow" not in screen.text[first:]


def test_ctrl_c_at_the_approval_question_interrupts_the_run(
    fake_llm: FakeLLM,
    chat_env: Callable[..., dict[str, str]],  # noqa: F811
    mcp_http_url: str,
    write_config: Callable[..., Path],
    tmp_path: Path,
) -> None:
    fake_llm.script(_echo_twice)
    write_config({"test": ServerSettings(url=mcp_http_url, approval={"echo": "ask"})})
    screen = Screen(["run", "echo twice", "--model", MODEL], tmp_path, chat_env())
    screen.expect("[a]lways for echo in this run:")
    screen.send("\x03")
    assert screen.wait_exit() == 130
    assert "told:" not in screen.text
