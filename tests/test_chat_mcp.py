"""The chat's use of a server's resources, prompts, questions, progress and logs (agent/chat_mcp.py,
agent/elicit_ui.py), with scripted input, a deterministic model and the real features test server."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document
from rich.console import Console

from agent.chat import Chat
from agent.chat_render import TurnView
from agent.config import Config, ServerSettings
from agent.core import ToolCallStarted
from agent.elicit_ui import ask_user
from agent.mcp.elicitation import ElicitationAnswer, ElicitationRequest
from agent.messages import ImagePart, ModelRequest, ModelResponse, UserMessage
from agent.slash import ChatCompleter
from agent.tools import ToolProgress
from tests.support.features_server import PNG_B64, features_server
from tests.support.function_provider import FunctionProvider, call, last_results, reply
from tests.support.scripted_input import ScriptedInput


def model(request: ModelRequest) -> ModelResponse:
    """Calls the tool a message names (``tool NAME {json}``), then repeats what it returned."""
    results = last_results(request)
    if results:
        return reply(f"result: {results[0].text}")
    text = request.messages[-1].text
    if text.startswith("tool "):
        name, _, raw = text.removeprefix("tool ").partition(" ")
        return reply(call(name, json.loads(raw or "{}")))
    return reply(f"seen {len(request.messages)} messages")


async def run_chat(
    url: str, lines: list[str], opener: Callable[[str], Awaitable[bool]] | None = None
) -> tuple[str, Chat, FunctionProvider]:
    config = Config(servers={"notes": ServerSettings(url=url)}, approval="always")
    out = io.StringIO()
    chat = Chat(Console(file=out, width=120, force_terminal=False, color_system=None), fancy=False)
    chat.input = ScriptedInput(lines)
    provider = FunctionProvider(model)
    assert await chat.run(config, chat.session_options(open_browser=opener), provider=provider) == 0
    return out.getvalue(), chat, provider


async def test_resources_prompts_and_attachments_in_chat() -> None:
    lines = [
        "/resources",
        "/prompts",
        "/prompt summarize topic=cats style=bullets",
        "/prompt summarize",
        "what does @notes:notes://note/alpha say? and @notes:notes://logo",
        "@nobody:x is not a mention",
        "@notes:notes://missing",
    ]
    async with features_server() as url:
        text, _, provider = await run_chat(url, lines)
    assert "@notes:notes://list" in text and "@notes:notes://note/{name}" in text and "template" in text
    assert re.search(r"summarize +notes +topic, style\? +Summarize a topic\.", text)
    assert "[user] Summarize cats in a bullets style." in text
    assert "error: prompt 'summarize' needs topic" in text
    assert provider.requests[0].messages[-1].text == "Summarize cats in a bullets style."
    attached = provider.requests[1].messages[-1]
    assert isinstance(attached, UserMessage)
    assert (
        '<resource server="notes" uri="notes://note/alpha">\nAlpha is the first note.\n</resource>'
        in attached.text
    )
    assert ImagePart(PNG_B64, "image/png") in attached.parts
    assert "attached @notes:notes://note/alpha" in text
    assert provider.requests[2].messages[-1].text == "@nobody:x is not a mention"  # sent as typed
    assert "error: server 'notes': reading notes://missing failed" in text
    assert len(provider.requests) == 3  # a failed attachment sends nothing


async def test_a_prompt_that_ends_with_a_user_message_is_answered_at_once() -> None:
    async with features_server() as url:
        text, chat, _ = await run_chat(url, ["/prompt greet"])
    assert [m.role for m in chat.history] == ["user", "assistant", "user", "assistant"]
    assert "seen 3 messages" in text


async def test_tab_completes_mentions_templates_and_prompt_arguments() -> None:
    async with features_server() as url:
        config = Config(servers={"notes": ServerSettings(url=url)})
        chat = Chat(Console(file=io.StringIO()), fancy=False)
        completions: dict[str, list[str]] = {}

        async def loop() -> int:
            completer = ChatCompleter(chat)
            for text in (
                "see @n",
                "@notes:notes://l",
                "@notes:notes://no",
                "@notes:notes://note/b",
                "/prompt su",
                "/prompt summarize st",
                "/prompt summarize topic=x style=d",
                "/pro",
            ):
                found = completer.get_completions_async(Document(text, len(text)), CompleteEvent())
                completions[text] = [c.text async for c in found]
            return 0

        chat.loop = loop  # type: ignore[method-assign]  # complete while the session is open
        await chat.run(config, chat.session_options(), provider=FunctionProvider(model))
    assert completions["see @n"] == ["@notes:"]
    assert completions["@notes:notes://l"] == ["@notes:notes://list", "@notes:notes://logo"]
    assert completions["@notes:notes://no"] == ["@notes:notes://note/"]
    assert completions["@notes:notes://note/b"] == ["@notes:notes://note/beta"]
    assert completions["/prompt su"] == ["summarize"]
    assert completions["/prompt summarize st"] == ["style="]
    assert completions["/prompt summarize topic=x style=d"] == ["style=detailed"]
    assert completions["/pro"] == ["/prompts", "/prompt"]


async def test_elicitation_form_and_url_are_asked_in_chat() -> None:
    opened: list[str] = []

    async def opener(url: str) -> bool:
        opened.append(url)
        return True

    lines = [
        "tool form",
        "a",  # answer
        "",  # name is required: asked again
        "Ada",
        "9",  # not a choice
        "2",  # large
        "two",  # not a number
        "",  # guests: the default, 2
        "y",
        "tool form",
        "d",
        "tool visit",
        "n",
        "tool visit",
        "y",
    ]
    async with features_server() as url:
        text, chat, provider = await run_chat(url, lines, opener)
    answers = [r.text for r in (last_results(req)[0] for req in provider.requests if last_results(req))]
    assert answers == [
        'accept {"guests": 2, "name": "Ada", "size": "large", "vegan": true}',
        "decline null",
        "decline",
        "accept",
    ]
    assert opened == ["https://example.com/login?x=1"]
    assert "? notes asks: Book a table" in text and "this one is required" in text
    assert "https://example.com/login?x=1" in text
    # the questions and answers went between the user and the server: the model saw only the
    # tool's result (which this server makes of the answers)
    sent = json.dumps([m.text for m in provider.requests[-1].messages])
    assert "Book a table" not in sent and "Sign in" not in sent
    assert isinstance(chat.input, ScriptedInput)
    assert "  Size one of 1=small, 2=large [small]: " in chat.input.questions
    assert "  Name (Your name): " in chat.input.questions


async def test_progress_in_the_spinner_and_warnings_as_a_dim_line() -> None:
    async with features_server() as url:
        text, _, _ = await run_chat(url, ['tool work {"steps": 2}'])
    assert "notes warning: disk almost full" in text
    assert "result: worked 2 steps" in text
    view = TurnView(Console(file=io.StringIO()), model="m", fancy=False)
    view.handle(ToolCallStarted("c1", "work", "notes", "work", {}))
    view.progress(ToolProgress("c1", "notes", "work", 3, 10, "copying"))
    assert view.status == "running notes.work: copying (3/10)"
    view.progress(ToolProgress("c9", "notes", "work", 1))  # not running: ignored
    assert view.status == "running notes.work: copying (3/10)"
    out = io.StringIO()
    view = TurnView(Console(file=out), model="m", fancy=False)
    view.handle(ToolCallStarted("c1", "work", "notes", "work", {}))
    view.cancelled()
    assert "cancelled (told the server to stop notes.work)" in out.getvalue()


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        (["c"], ElicitationAnswer("cancel")),
        (["x", "d"], ElicitationAnswer("decline")),
        (["a", "3", "maybe", "no", "1", ""], ElicitationAnswer("accept", {"n": 3, "ok": False, "pick": "p"})),
        (
            ["a", "0", "", "", "", "P", "hi"],
            ElicitationAnswer("accept", {"n": 1.5, "ok": True, "pick": "p", "note": "hi"}),
        ),
        (["a"], ElicitationAnswer("cancel")),  # the input ended: cancel
    ],
)
async def test_form_fields_by_type(answers: list[str], expected: ElicitationAnswer) -> None:
    schema: dict[str, Any] = {
        "properties": {
            "n": {"type": "number", "minimum": 1, "default": 1.5},
            "ok": {"type": "boolean", "default": True},
            "pick": {"oneOf": [{"const": "p", "title": "P"}, {"const": "q", "title": "Q"}]},
            "note": {"type": "string"},
        },
        "required": ["pick"],
    }
    scripted = ScriptedInput(answers)
    said: list[str] = []

    async def never(url: str) -> bool:
        raise AssertionError("no URL here")

    request = ElicitationRequest("srv", "Fill \x1b]0;x\x07 in", schema=schema)
    assert await ask_user(request, scripted.ask, said.append, never) == expected
    assert said[0] == "? srv asks: Fill \\x1b]0;x\\x07 in"  # the server's words made visible
    ok = [q for q in scripted.questions if q.strip().startswith("ok ")]
    assert not ok or ok[0].endswith("y/n [y]: ")  # a boolean's default as one would type it
