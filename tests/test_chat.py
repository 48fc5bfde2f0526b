"""The terminal chat.

In-process: the pure pieces (cost, formatting, approval modes, transcripts, completion) and the
chat itself with scripted input, a deterministic model (FunctionProvider) and the real MCP test
server. End to end (``tests/test_chat_e2e.py``): the real ``agent`` in a pseudo-terminal.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Awaitable, Callable
from pathlib import Path

import anyio
import pytest
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document
from rich.console import Console

from agent.chat import Chat
from agent.chat_render import error_line, estimate_cost, format_usage, short_args
from agent.config import Config, ServerSettings, approval_mode
from agent.errors import ProviderAuthError, UsageError
from agent.mcp.elicitation import ElicitationAnswer, ElicitationRequest
from agent.messages import (
    AssistantMessage,
    Message,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolResultPart,
    Usage,
    UserMessage,
)
from agent.slash import ChatCompleter
from agent.transcript import load_transcript, save_transcript
from tests.support.elicit_server import elicit_server
from tests.support.fixtures_mcp import RestartableServer
from tests.support.function_provider import FunctionProvider, call, last_results, reply
from tests.support.http_edge import silent_server
from tests.support.scripted_input import ScriptedInput

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07")

# -- pure pieces ---------------------------------------------------------------------------------


def test_cost_is_estimated_for_known_models_only() -> None:
    usage = Usage(input_tokens=1_000_000, output_tokens=100_000)
    assert estimate_cost("claude-sonnet-4-6", usage) == pytest.approx(3.0 + 1.5)
    assert estimate_cost("anthropic:claude-haiku-4-5-20251001", usage) == pytest.approx(1.0 + 0.5)
    # The longest prefix wins: gpt-4o-mini is not priced as gpt-4o.
    assert estimate_cost("gpt-4o-mini", usage) == pytest.approx(0.15 + 0.06)
    assert estimate_cost("my-local-llama", usage) is None
    assert format_usage("claude-sonnet-4-6", Usage(1200, 80), steps=2, seconds=1.25) == (
        "1,200 in · 80 out · ≈$0.0048 · 2 steps · 1.2 s"
    )
    assert format_usage("my-local-llama", Usage(1200, 80)) == "1,200 in · 80 out"
    assert format_usage("gpt-4o", Usage()) == ""


def test_short_args_and_error_lines_fit_on_one_line() -> None:
    assert short_args({"expression": "6*7"}) == 'expression="6*7"'
    long = short_args({"text": "word " * 100, "n": 3})
    assert long == 'text="word word word word word word word wor…, n=3'
    assert len(short_args({f"k{i}": i for i in range(40)})) == 60
    exc = ProviderAuthError(
        "anthropic", "401 invalid x-api-key\n(request abc)", hint="check ANTHROPIC_API_KEY"
    )
    assert (
        error_line(exc) == "error: anthropic: 401 invalid x-api-key (request abc) — check ANTHROPIC_API_KEY"
    )


def test_no_line_says_error_twice() -> None:
    from agent.chat_render import CallRecord, call_line
    from agent.errors import ToolCallFailed
    from agent.events import ToolCallFinished
    from agent.messages import TextPart, ToolResultPart
    from agent.run import _tool_line

    assert error_line(ToolCallFailed("Error: the tool timed out")) == "error: the tool timed out"
    text = "error: there is no tool named 'nope'."
    record = CallRecord("nope", {}, text, is_error=True, duration_ms=1)
    assert call_line(record).plain.count("error") == 1 and "there is no tool named" in call_line(record).plain
    result = ToolResultPart("c1", "nope", (TextPart(text),), is_error=True)
    line = _tool_line(ToolCallFinished("c1", "nope", None, None, {}, result, 1.0))
    assert line.endswith("error: there is no tool named 'nope'.") and line.count("error") == 1


def test_approval_mode_per_server_and_per_tool() -> None:
    config = Config(
        approval="ask",
        servers={
            "free": {"command": "x", "approval": "always"},
            "mixed": {"command": "x", "approval": {"read": "always", "rm": "never", "*": "ask"}},
            "partial": {"command": "x", "approval": {"read": "always"}},
        },
    )
    servers = config.servers
    assert approval_mode(config, servers, "free", "anything") == "always"
    assert approval_mode(config, servers, "mixed", "read") == "always"
    assert approval_mode(config, servers, "mixed", "rm") == "never"
    assert approval_mode(config, servers, "mixed", "other") == "ask"
    assert approval_mode(config, servers, "partial", "write") == "ask"  # falls back to the global mode
    assert approval_mode(config, {}, "demo", "calculate") == "ask"  # a server not in the config
    assert approval_mode(Config(), {}, "demo", "calculate") == "always"


def test_transcript_round_trip_and_bad_files(tmp_path: Path) -> None:
    messages = [
        UserMessage.of("what is 6*7?"),
        AssistantMessage((TextPart("let me see"), call("calc", {"e": "6*7"}, call_id="c1"))),
        UserMessage((ToolResultPart("c1", "calc", (TextPart("42"),)),)),
        AssistantMessage((TextPart("**42**"),)),
    ]
    path = save_transcript(str(tmp_path / "chat.json"), messages, model="anthropic:claude-sonnet-4-6")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["format"] == "agent-transcript"
    assert data["model"] == "anthropic:claude-sonnet-4-6"
    assert load_transcript(str(path)) == messages
    # A missing folder (a typo, say) is an error naming it, and is not created.
    missing = tmp_path / "no" / "such"
    with pytest.raises(UsageError, match=f"the folder '{missing}' does not exist") as caught:
        save_transcript(str(missing / "chat.json"), messages, model="m")
    assert caught.value.hint == "create it first, or choose another file"
    assert not (tmp_path / "no").exists()
    with pytest.raises(UsageError, match=f"the folder '{path}' is not a folder"):
        save_transcript(str(path / "chat.json"), messages, model="m")
    with pytest.raises(UsageError, match="not found"):
        load_transcript(str(tmp_path / "missing.json"))
    (tmp_path / "bad.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(UsageError, match="cannot read transcript"):
        load_transcript(str(tmp_path / "bad.json"))
    (tmp_path / "odd.json").write_text('{"messages": [{"role": "robot"}]}', encoding="utf-8")
    with pytest.raises(UsageError, match="malformed: unknown message role 'robot'"):
        load_transcript(str(tmp_path / "odd.json"))


# -- the chat, in-process ------------------------------------------------------------------------


def model(request: ModelRequest) -> ModelResponse:
    """A model that calls ``echo`` when asked to, then reports the tool's answer."""
    results = last_results(request)
    if results:
        return reply(f"The tool said: **{results[0].text}**", input_tokens=100, output_tokens=20)
    text = request.messages[-1].text
    if text == "fail please":
        raise ProviderAuthError("function", "401 invalid API key", hint="check FUNCTION_API_KEY")
    if text.startswith("echo "):
        return reply("Calling echo.", call("echo", {"text": text.removeprefix("echo ")}))
    return reply(f"You said: {text}")


async def run_chat(
    url: str,
    lines: list[str],
    config: Config | None = None,
    history: list[Message] | None = None,
    more_servers: dict[str, ServerSettings] | None = None,
) -> tuple[str, Chat, int]:
    """Run a whole chat against the test server at ``url``; returns (output, chat, exit code)."""
    servers = {"test": ServerSettings(url=url), **(more_servers or {})}
    config = (config or Config()).model_copy(update={"servers": servers})
    out = io.StringIO()
    console = Console(file=out, width=100, force_terminal=False, color_system=None)
    chat = Chat(console, history=history, fancy=False)
    chat.input = ScriptedInput(lines)
    code = await chat.run(config, chat.session_options(), provider=FunctionProvider(model))
    return out.getvalue(), chat, code


async def test_conversation_with_a_tool_call(mcp_http_url: str) -> None:
    text, chat, code = await run_chat(mcp_http_url, ["echo hello there", "thanks"])
    assert code == 0
    assert "function:function-model · 10 tools from test" in text
    assert "Calling echo." in text
    assert '✓ test.echo(text="hello there") → hello there' in text
    assert "The tool said: **hello there**" in text  # plain output: Markdown source as is
    assert "You said: thanks" in text
    assert "110 in · 25 out · 2 steps" in text
    assert [m.role for m in chat.history] == [
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
        "assistant",
    ]
    assert chat.last_call is not None and chat.last_call.text == "hello there"


async def test_approval_yes_no_always_and_never(mcp_http_url: str) -> None:
    lines = ["echo one", "n", "echo two", "y", "echo three", "a", "echo four"]
    text, chat, _ = await run_chat(mcp_http_url, lines, Config(approval="ask"))
    assert isinstance(chat.input, ScriptedInput)
    assert len(chat.input.questions) == 3  # "four" ran without asking: "a" means always for echo
    assert 'allow test.echo(text="one")? [y]es / [n]o / [a]lways for echo' in chat.input.questions[0]
    assert text.count('⊘ test.echo(text="one") → denied') == 1  # shown live, not again with its event
    assert "The tool said: **denied by the user**" in text  # the model was told
    for word in ("two", "three", "four"):
        assert f'✓ test.echo(text="{word}") → {word}' in text
    assert chat.always == {("test", "echo")}

    text, chat, _ = await run_chat(mcp_http_url, ["echo five"], Config(approval="never"))
    assert '⊘ test.echo(text="five") → denied' in text
    assert isinstance(chat.input, ScriptedInput) and chat.input.questions == []


async def test_slash_commands(mcp_http_url: str, tmp_path: Path) -> None:
    saved = tmp_path / "saved.json"
    lines = [
        "/help",
        "/last",
        "/list",
        '/call echo {"text": "direct"}',
        '/call test.add {"a": 2, "b": 3}',
        "/call echo {bad",
        "/call nope {}",
        '/call add {"a": "x", "b": 1}',
        '/call fail {"message": "it broke"}',
        "/last",
        "/servers",
        "/servers reconnect test",
        "/servers reconnect nosuch",
        "/servers reconnect",
        "/frobnicate",
        "echo before save",
        f"/save {saved}",
        "/clear",
        "//etc is a folder",
        "/quit",
        "never read",
    ]
    text, chat, code = await run_chat(mcp_http_url, lines)
    assert code == 0
    assert "/call TOOL {json}" in text and "Esc+Enter" in text  # /help
    assert "no tool call yet" in text
    assert "Add two integers." in text and "a, b" in text  # /list: description and parameters
    assert '✓ test.echo(text="direct") → direct' in text
    assert "\ndirect\n" not in text  # a short result is not repeated below its line
    assert "✓ test.add(a=2, b=3) → 5" in text
    assert (
        "error: the arguments are not valid JSON: Expecting property name enclosed in double quotes" in text
    )
    assert "error: no tool named 'nope' — /tools lists the tools" in text
    assert "error: bad arguments for add: a: 'x' is not of type 'integer'" in text
    assert '✗ test.fail(message="it broke") → Error executing tool fail: it broke' in text
    assert "tool  test.fail  error" in text  # /last shows the failed call in full
    assert '"message": "it broke"' in text
    assert re.search(r"test +connected +http +10 +test-server \d+ ms", text)  # /servers
    assert "test: connected, 10 tools" in text  # reconnect
    assert "error: /servers reconnect needs one server name" in text
    assert "error: no server named 'nosuch' — known servers: test" in text
    assert "reconnecting nosuch" not in text  # the name is checked first
    assert "error: unknown command '/frobnicate' — /help lists the commands" in text
    assert f"saved 4 messages to {saved}" in text
    assert "conversation cleared" in text
    assert "You said: /etc is a folder" in text
    assert "never read" not in text
    assert len(chat.history) == 2  # cleared, then one exchange
    resumed = load_transcript(str(saved))
    assert resumed[0].text == "echo before save"
    assert resumed[-1].text == "The tool said: **before save**"


async def test_resumed_history_goes_to_the_model(mcp_http_url: str) -> None:
    history = [UserMessage.of("my name is Ada"), AssistantMessage((TextPart("Hello Ada"),))]
    _, chat, _ = await run_chat(mcp_http_url, ["who am I?"], history=history)
    provider = chat.provider
    assert isinstance(provider, FunctionProvider)
    sent = provider.requests[0].messages
    assert [m.text for m in sent] == ["my name is Ada", "Hello Ada", "who am I?"]


async def test_completion_of_commands_tools_models_and_servers(mcp_http_url: str, tmp_path: Path) -> None:
    config = Config(providers={"ollama": {"type": "openai-chat", "base_url": "http://127.0.0.1:1/v1"}})
    _, chat, _ = await run_chat(mcp_http_url, [], config)
    completer = ChatCompleter(chat)

    def complete(text: str) -> list[str]:
        return [c.text for c in completer.get_completions(Document(text, len(text)), CompleteEvent())]

    assert complete("/to") == ["/tools"]
    assert set(complete("/")) >= {"/help", "/tools", "/call", "/servers", "/model", "/save", "/quit", "/list"}
    assert complete("/call e") == ["echo"]
    assert complete("/call ") == [e.name for e in chat.toolbox.entries]
    assert complete("/model ") == [
        "function:function-model",
        "anthropic:",
        "openai:",
        "openai-chat:",
        "ollama:",
    ]
    assert complete("/model op") == ["openai:", "openai-chat:"]
    assert complete("/servers re") == ["reconnect"]
    assert complete("/servers reconnect t") == ["test"]
    (tmp_path / "chat-one.json").touch()
    assert complete(f"/save {tmp_path}/chat-") == ["one.json"]
    assert complete("hello /to") == []


async def test_errors_are_one_line_and_the_chat_goes_on(mcp_http_url: str) -> None:
    dead = {"dead": ServerSettings(url="http://127.0.0.1:1/mcp", timeout=5)}
    # /model reads a model as --model does: a provider alone is its default model
    lines = ["fail please", "/model", "/model nope:x", "/model a b", "/model anthropic:", "/model function"]
    lines.append("still there?")
    text, chat, code = await run_chat(mcp_http_url, lines, more_servers=dead)
    assert code == 0
    assert re.search(r"^error: server 'dead': .+$", text, re.MULTILINE)  # at start-up, then on
    assert "error: function: 401 invalid API key — check FUNCTION_API_KEY\n" in text
    assert "model: function:function-model\n" in text
    assert "(providers: anthropic, openai, openai-chat)" in text
    assert "error: unknown provider 'nope' in model 'nope:x'" in text
    assert "error: a model has no spaces: 'a b'" in text
    assert "error: no model name after 'anthropic:'" in text
    assert "You said: still there?" in text
    assert chat.model == "function:function-model"
    history = chat.history
    assert [m.role for m in history] == ["user", "assistant", "user", "assistant"]
    assert history[1].text.startswith("[the turn stopped on an error")


class WatchedOutput(io.StringIO):
    """The chat's output, which a test can wait on: ``await out.appears(text)``."""

    def __init__(self) -> None:
        super().__init__()
        self._waiting: list[tuple[str, anyio.Event]] = []

    def write(self, text: str) -> int:
        written = super().write(text)
        for wanted, event in self._waiting:
            if wanted in self.getvalue():
                event.set()
        return written

    async def appears(self, wanted: str) -> None:
        event = anyio.Event()
        self._waiting.append((wanted, event))
        if wanted in self.getvalue():
            event.set()
        await event.wait()


@pytest.mark.parametrize("fancy", [False, True], ids=["plain", "terminal"])
async def test_each_tool_result_shows_when_its_call_finishes(mcp_http_url: str, fancy: bool) -> None:
    """Two calls at once: the quick one's line is printed while the other still runs (its server
    answers only once that line is on screen), so the lines come in completion order, once each."""

    def two_calls(request: ModelRequest) -> ModelResponse:
        if last_results(request):
            return reply("Both done.")
        return reply("Two at once.", call("asker__ask", {}), call("test__echo", {"text": "quick"}))

    out = WatchedOutput()
    console = Console(file=out, width=100, force_terminal=fancy, color_system="standard" if fancy else None)

    async def answer_once_the_quick_line_shows(request: ElicitationRequest) -> ElicitationAnswer:
        await out.appears('text="quick"')
        return ElicitationAnswer("accept", {"name": "Ada", "age": 36, "verified": True})

    async with elicit_server() as asker_url:
        servers = {"test": ServerSettings(url=mcp_http_url), "asker": ServerSettings(url=asker_url)}
        chat = Chat(console, fancy=fancy)
        chat.input = ScriptedInput(["run both"])
        wanted = chat.session_options(elicitation=answer_once_the_quick_line_shows)
        with anyio.fail_after(20):
            code = await chat.run(Config(servers=servers), wanted, provider=FunctionProvider(two_calls))
            assert code == 0

    text = _ANSI.sub("", out.getvalue())
    quick = '✓ test.echo(text="quick") → quick'
    slow = '✓ asker.ask() → accept {"age": 36, "name": "Ada", "verified": true}'
    assert text.count(quick) == 1 and text.count(slow) == 1
    assert text.index("Two at once.") < text.index(quick) < text.index(slow) < text.index("Both done.")
    assert chat.last_call is not None and chat.last_call.label == "asker.ask"  # the last one shown
    results = last_results(chat.provider.requests[1])  # type: ignore[attr-defined]
    assert [r.text for r in results] == [slow.rpartition("→ ")[2], "quick"]  # the model's order


class _ActingInput(ScriptedInput):
    """Scripted lines, with an action (kill or start the server) run before some of them."""

    def __init__(self, steps: list[tuple[Callable[[], Awaitable[None]] | None, str]]) -> None:
        super().__init__([line for _, line in steps])
        self.actions = [action for action, _ in steps]

    async def read(self) -> str:
        if self.actions:
            action = self.actions.pop(0)
            if action is not None:
                await action()
        return await super().read()


async def test_a_server_restarted_mid_chat_is_said_gone_and_back_and_works_again() -> None:
    async with RestartableServer() as server:
        config = Config(servers={"test": ServerSettings(url=server.url, timeout=10)})
        out = io.StringIO()
        console = Console(file=out, width=200, force_terminal=False, color_system=None)
        chat = Chat(console, fancy=False)
        chat.input = _ActingInput(
            [
                (None, "echo one"),
                (server.kill, "echo two"),
                (server.start, "echo three"),
                (None, "/servers"),
            ]
        )
        assert await chat.run(config, chat.session_options(), provider=FunctionProvider(model)) == 0
    text = out.getvalue()
    assert '✓ test.echo(text="one") → one' in text
    assert "✗ test.echo(text=\"two\") → error: server 'test': unavailable: connection refused" in text
    assert text.count("server test went away: connection lost: connection refused") == 1
    assert text.count("server test is back") == 1
    assert '✓ test.echo(text="three") → three' in text
    assert "last error" in text and "connection refused" in text.split("/servers")[-1]


async def test_quit_while_a_server_is_still_connecting_is_at_once_and_reports_nothing(
    mcp_http_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that never answers (timeout 30 s) does not hold /quit back, and is not said to
    have failed or to be tried again on the way out."""
    monkeypatch.setattr("agent.session_servers.CHAT_GRACE", 0.1)  # the chat opens without it sooner
    async with silent_server() as url:
        hang = {"hang": ServerSettings(url=url, timeout=30)}
        with anyio.fail_after(10):  # a hang guard, far below the server's timeout
            text, _, code = await run_chat(mcp_http_url, ["hi", "/quit"], more_servers=hang)
    assert code == 0 and "You said: hi" in text
    assert "trying again" not in text and "could not be used" not in text and "timed out" not in text


async def test_tools_with_words_searches_them_as_the_model_would(mcp_http_url: str) -> None:
    text, _, code = await run_chat(mcp_http_url, ["/tools add two numbers", "/tools zzzqqq"])
    assert code == 0
    found, _rest = text.split("no tools match 'zzzqqq'")
    rows = [line for line in found.splitlines() if line.startswith("  ") and "test" in line]
    assert rows[0].split()[0] == "add" and "Add two integers." in rows[0]
    assert len(rows) < 10  # matches only, not all ten tools


async def test_piped_chat_input_that_is_not_utf8_names_the_byte(monkeypatch: pytest.MonkeyPatch) -> None:
    import io
    import sys

    from agent.chat_input import PlainInput
    from agent.errors import UsageError

    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"first\\\nsecond\nbad \xff\n")))
    piped = PlainInput()
    assert await piped.read() == "first\nsecond"
    with pytest.raises(UsageError, match="stdin is not UTF-8 text: invalid byte 0xff at byte offset 18"):
        await piped.read()


async def test_ctrl_c_during_a_tool_call_names_the_call_it_stopped(mcp_http_url: str) -> None:
    """Cancelling a turn while a call runs (as Ctrl-C does): the running call gets its ⊘ line and
    the cancel line names the call the server was told to stop; the next turn works."""

    def ask_then_talk(request: ModelRequest) -> ModelResponse:
        if request.messages[-1].text == "ask me":
            return reply("Asking.", call("asker__ask", {}))
        return reply(f"You said: {request.messages[-1].text}")

    out = io.StringIO()
    console = Console(file=out, width=100, force_terminal=False, color_system=None)
    chat = Chat(console, fancy=False)

    async def cancel_the_turn(request: ElicitationRequest) -> ElicitationAnswer:
        assert chat._turn_scope is not None  # the call is running: cancel its turn, as Ctrl-C does
        chat._turn_scope.cancel()
        return ElicitationAnswer("cancel")

    async with elicit_server() as asker_url:
        servers = {"test": ServerSettings(url=mcp_http_url), "asker": ServerSettings(url=asker_url)}
        chat.input = ScriptedInput(["ask me", "still there?"])
        wanted = chat.session_options(elicitation=cancel_the_turn)
        with anyio.fail_after(20):
            assert (
                await chat.run(Config(servers=servers), wanted, provider=FunctionProvider(ask_then_talk)) == 0
            )
    text = out.getvalue()
    assert re.search(r"  ⊘ asker\.ask\(\) → cancelled  \d+ ms\n", text), text
    assert "cancelled (told the server to stop asker.ask) — the conversation so far is kept" in text
    assert "You said: still there?" in text


async def test_one_tool_is_singular_tools_rows_are_one_line_and_resumed_parts_keep_their_order(
    mcp_http_url: str,
) -> None:
    from agent.chat_resume import show_recent
    from agent.config import ToolFilter

    settings = ServerSettings(url=mcp_http_url, tools=ToolFilter(include=["slow"]))
    out = io.StringIO()
    chat = Chat(Console(file=out, width=70, color_system=None), fancy=False)
    chat.input = ScriptedInput(["/tools", "/servers reconnect test"])
    assert (
        await chat.run(
            Config(servers={"test": settings}), chat.session_options(), provider=FunctionProvider(model)
        )
        == 0
    )
    text = out.getvalue()
    assert "· 1 tool from test\n" in text and "test: connected, 1 tool\n" in text
    # /tools: one line per tool, the description cut where the screen ends, marked with "…"
    row = next(line for line in text.splitlines() if line.startswith("  slow "))
    assert row.rstrip().endswith("…") and "Sleep for a while;" in row
    assert len(row) <= 70

    out = io.StringIO()
    answer = AssistantMessage((TextPart("Let me wait."), call("slow", {"seconds": 1}), TextPart("Done.")))
    show_recent(Console(file=out, width=100, color_system=None), [UserMessage.of("wait"), answer])
    assert out.getvalue().splitlines()[1:4] == ["Let me wait.", '  · slow {"seconds": 1}', "Done."]


def test_a_single_newline_in_an_answer_is_a_line_break_on_a_terminal() -> None:
    from agent.chat_render import TurnView
    from agent.messages import TextDelta

    out = io.StringIO()
    view = TurnView(Console(file=out, width=60, color_system=None), model="m", fancy=True)
    view.handle(TextDelta("line one\nline two\n\n**bold\nend**"))
    view.close()
    lines = [line.rstrip() for line in out.getvalue().splitlines() if line.strip()]
    assert lines == ["line one", "line two", "bold", "end"]
