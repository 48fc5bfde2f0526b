"""Saved chats (agent/history.py): every chat is kept as it goes; ``agent history`` lists them."""

from __future__ import annotations

import io
import json
import stat
from pathlib import Path

import pytest
from rich.console import Console

from agent.chat import Chat
from agent.cli import main
from agent.config import Config, ServerSettings
from agent.errors import UsageError
from agent.history import SavedChat, chats_dir, find_chat, list_chats
from agent.messages import AssistantMessage, ModelRequest, ModelResponse, UserMessage
from agent.transcript import save_transcript
from tests.support.function_provider import FunctionProvider, reply


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_saved_chat_is_private_atomic_and_listed_newest_first(capsys: pytest.CaptureFixture[str]) -> None:
    first = SavedChat.new()
    first.save([], model="m")  # nothing to keep yet
    assert not first.path.exists()
    first.save(
        [UserMessage.of("plan a trip\nto Oslo"), AssistantMessage.of("Sure.")], model="anthropic:claude"
    )
    second = SavedChat(chats_dir() / "20991231-000000-beef.json")
    second.save([UserMessage.of("second chat")], model="openai:gpt-4o")
    assert _mode(first.path) == 0o600 and _mode(chats_dir()) == 0o700
    assert sorted(p.name for p in chats_dir().iterdir()) == sorted([first.path.name, second.path.name])
    chats = list_chats()
    assert [c.id for c in chats] == [second.id, first.id]
    assert chats[1].title == "plan a trip" and chats[1].messages == 2 and chats[1].model == "anthropic:claude"

    assert main(["history"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(second.id) and "openai:gpt-4o" in out[0] and out[0].endswith("second chat")
    assert first.id in out[1] and "  2 msgs  plan a trip" in out[1]
    assert "agent chat --continue" in out[-1]
    assert main(["history", "--json", "-n", "1"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in rows] == [second.id]


@pytest.mark.parametrize("n", ["0", "-1"])
def test_a_limit_below_one_is_a_usage_error(n: str, capsys: pytest.CaptureFixture[str]) -> None:
    SavedChat.new().save([UserMessage.of("kept")], model="m")
    assert main(["history", "-n", n]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"-n must be at least 1, not {n}" in captured.err


def test_find_a_chat_by_id_start_or_file(tmp_path: Path) -> None:
    saved = SavedChat(chats_dir() / "20260101-101010-abcd.json")
    saved.save([UserMessage.of("hi")], model="m")
    messages, found = find_chat("20260101-1010")
    assert found.path == saved.path and messages[0].text == "hi"
    save_transcript(str(tmp_path / "mine.json"), [UserMessage.of("from a file")], model="m")
    messages, found = find_chat(str(tmp_path / "mine.json"))
    assert messages[0].text == "from a file" and found.path.parent == chats_dir()  # goes on in a new chat
    with pytest.raises(UsageError, match="no saved chat or file 'nope'"):
        find_chat("nope")


async def test_the_chat_is_saved_after_every_turn(mcp_http_url: str) -> None:
    def model(request: ModelRequest) -> ModelResponse:
        return reply(f"You said: {request.messages[-1].text}")

    lines = ["one", "two"]
    seen: list[int] = []

    class Lines:
        async def read(self) -> str:
            files = list(chats_dir().glob("*.json")) if chats_dir().is_dir() else []
            seen.append(len(json.loads(files[0].read_text())["messages"]) if files else 0)
            if not lines:
                raise EOFError
            return lines.pop(0)

        async def ask(self, question: str) -> str:
            raise AssertionError(question)

    out = io.StringIO()
    chat = Chat(Console(file=out, width=100, color_system=None), fancy=False, saved=SavedChat.new())
    chat.input = Lines()
    config = Config(servers={"test": ServerSettings(url=mcp_http_url)})
    assert await chat.run(config, chat.session_options(), provider=FunctionProvider(model)) == 0
    assert seen == [0, 2, 4]
    assert list_chats()[0].title == "one"
