"""The real ``agent chat`` in a pseudo-terminal, against the loopback fake model and a real MCP server.

Each session pays the program's start-up (seconds of imports), so one session checks many things
in a row. The screen is read as text: ANSI escape sequences are stripped, and every check waits for
its text to appear (the output is the signal), with a generous deadline.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pexpect
import pytest

from agent.config import ServerSettings
from tests.support.fake_llm import FakeLLM, SeenRequest
from tests.support.inproc import run_agent

pytestmark = pytest.mark.e2e

_ANSI = re.compile(
    r"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[()][0-9A-Za-z]|\x1b[=>78]"
)
_COLOUR = re.compile(r"\x1b\[(?:[0-9;]*;)?(?:3[0-8]|4[0-8]|9[0-7]|10[0-7])(?:;[0-9;]*)?m")
# Any style at all (bold, dim, reverse, underline, colour): an SGR that is not a plain reset.
_STYLED = re.compile(r"\x1b\[(?!0*m)[0-9;]*m")
UP = "\x1b[A"
ESC_ENTER = "\x1b\r"
TIMEOUT = 30.0


class Screen:
    """A running ``agent`` in a pseudo-terminal, read as plain text."""

    def __init__(
        self, args: list[str], cwd: Path, env: dict[str, str], *, umask: int | None = None, columns: int = 120
    ) -> None:
        command, argv = sys.executable, ["-m", "agent", *args]
        # The terminal's size is the pty's: a COLUMNS or LINES inherited from pytest would override it.
        env = {k: v for k, v in env.items() if k not in ("COLUMNS", "LINES")}
        if umask is not None:  # through a shell that sets it
            command, argv = "sh", ["-c", f'umask {umask:03o}; exec "$@"', "sh", command, *argv]
        self.child = pexpect.spawn(
            command,
            argv,
            cwd=str(cwd),
            env=env,
            dimensions=(40, columns),
            encoding="utf-8",
            codec_errors="replace",
            timeout=TIMEOUT,
        )
        self.raw = ""
        self.pos = 0
        # An unstyled "> " ends in a cursor move, not a space (prompt_toolkit skips plain blanks).
        self.prompt_text = ">" if env.get("NO_COLOR") else "> "

    @property
    def text(self) -> str:
        return _ANSI.sub("", self.raw)

    def _read(self, timeout: float) -> bool:
        try:
            self.raw += self.child.read_nonblocking(65536, timeout=timeout)
        except pexpect.TIMEOUT:
            pass
        except pexpect.EOF:
            return False
        return True

    def expect(self, wanted: str, timeout: float = TIMEOUT) -> None:
        """Wait until ``wanted`` appears after the last match; then continue after it."""
        deadline = time.monotonic() + timeout
        alive = True
        while True:
            found = self.text.find(wanted, self.pos)
            if found >= 0:
                self.pos = found + len(wanted)
                return
            left = deadline - time.monotonic()
            if left <= 0 or not alive:
                raise AssertionError(f"{wanted!r} did not appear; the screen ends with:\n{self.text[-3000:]}")
            alive = self._read(min(left, 0.5))

    def after(self) -> str:
        """The text since the last match (what has arrived so far)."""
        return self.text[self.pos :]

    def send(self, keys: str) -> None:
        self.child.send(keys)

    def line(self, text: str) -> None:
        """Type a line and press Enter (a carriage return, as a terminal sends it)."""
        self.child.send(text + "\r")

    def prompt(self) -> None:
        """Wait for the input prompt to be ready for typing."""
        self.expect(self.prompt_text)

    def wait_exit(self) -> int:
        while self._read(1.0):
            pass
        self.child.close()
        assert self.child.exitstatus is not None, f"killed by signal {self.child.signalstatus}"
        return int(self.child.exitstatus)


def _wait_for_line(path: Path, line: str, within: float = TIMEOUT) -> None:
    deadline = time.monotonic() + within
    # The signal is a line another process writes to a file: poll it.
    while time.monotonic() < deadline:
        if line in path.read_text(encoding="utf-8").splitlines():
            return
        time.sleep(0.02)
    raise AssertionError(f"{line!r} never appeared in {path}")


def model(request: SeenRequest) -> dict[str, Any]:
    """The scripted model: acts on the last user message; summarises tool results in Markdown."""
    conv = request.conversation
    results = conv.last_tool_results
    if results:
        shown = ", ".join(("error: " if r.is_error else "") + r.text for r in results)
        return {
            "text": f"**Tool result**: {shown}\n\n- first point\n- second point\n",
            "usage": {"input_tokens": 1200, "output_tokens": 80},
        }
    text = conv.last_user_text
    usage = {"input_tokens": 10, "output_tokens": 5}
    if text == "add please":
        return {"tool_calls": [{"name": "add", "arguments": {"a": 2, "b": 3}}], "usage": usage}
    if text == "echo please":
        return {"tool_calls": [{"name": "echo", "arguments": {"text": "hi"}}]}
    if text == "sleep please":
        return {"tool_calls": [{"name": "slow", "arguments": {"seconds": 60, "tag": "ui-cancel"}}]}
    if text == "long story":
        return {"text": "Once upon a time " + "and then " * 300, "chunk": 9, "chunk_delay": 0.05}
    return {"text": f"You said: {text}", "usage": usage}


@pytest.fixture
def chat_env(fake_llm: FakeLLM) -> Iterator[Callable[..., dict[str, str]]]:
    fake_llm.script(model)

    def env(**extra: str) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
        return {**base, **fake_llm.env(), "TERM": "xterm-256color", "PROMPT_TOOLKIT_NO_CPR": "1", **extra}

    yield env


def test_chat_session_in_a_terminal(
    fake_llm: FakeLLM,
    chat_env: Callable[..., dict[str, str]],
    mcp_http_url: str,
    mcp_events_file: Path,
    write_config: Callable[..., Path],
    tmp_path: Path,
) -> None:
    write_config({"test": ServerSettings(url=mcp_http_url, approval={"echo": "ask"})})
    screen = Screen(["chat", "--model", "anthropic:claude-sonnet-4-6"], tmp_path, chat_env())

    screen.expect("anthropic:claude-sonnet-4-6 · 10 tools from test")
    screen.prompt()

    # A question answered with a tool call, the answer rendered as Markdown, usage and cost.
    screen.line("add please")
    screen.expect("✓ test.add(a=2, b=3) → 5")
    screen.expect("Tool result: 5")  # bold rendered: no asterisks left
    screen.expect("• first point")
    screen.expect("1,210 in · 85 out · ≈$0.0049 · 2 steps")
    screen.prompt()

    # /tools, /call, /last.
    screen.line("/tools")
    screen.expect("[read-only] Add two integers.")
    screen.expect("seconds, tag?")
    screen.prompt()
    screen.line('/call add {"a": 40, "b": 2}')
    screen.expect("✓ test.add(a=40, b=2) → 42")
    screen.prompt()
    screen.line("/call add {oops")
    screen.expect("error: the arguments are not valid JSON")
    screen.prompt()
    screen.line("/last")
    screen.expect('"a": 40')
    screen.prompt()

    # Approval: no, yes, always (then no more questions for echo).
    for answer, outcome, told in (
        ("n", "⊘ test.echo", "Tool result: error: denied by the user"),
        ("y", "✓ test.echo", "Tool result: hi"),
        ("a", "✓ test.echo", "Tool result: hi"),
    ):
        screen.line("echo please")
        screen.expect("allow test.echo")
        screen.expect("[a]lways for echo")
        screen.send(answer)  # one key, no Enter
        screen.expect(outcome)
        screen.expect(told)
        screen.prompt()
    screen.line("echo please")
    screen.expect("✓ test.echo")
    assert "allow test.echo" not in screen.after()
    screen.prompt()

    # Ctrl-C in mid-stream cancels the turn; the next turn works.
    screen.line("long story")
    screen.expect("Once upon a time")
    screen.send("\x03")
    screen.expect("cancelled")
    screen.prompt()
    screen.line("hello")
    screen.expect("You said: hello")
    screen.prompt()

    # Ctrl-C in mid-tool cancels the call on the server too; the next turn works.
    screen.line("sleep please")
    _wait_for_line(mcp_events_file, "started ui-cancel")
    screen.send("\x03")
    screen.expect("cancelled")
    _wait_for_line(mcp_events_file, "cancelled ui-cancel")
    screen.prompt()
    screen.line("hello again")
    screen.expect("You said: hello again")
    screen.prompt()

    # Multi-line input: Esc+Enter and a trailing backslash both make a new line.
    screen.line("first" + ESC_ENTER + "second\\\rthird")
    screen.expect("You said: first")
    assert fake_llm.requests[-1].conversation.last_user_text == "first\nsecond\nthird"
    screen.prompt()

    # /model switches provider and keeps the conversation.
    screen.line("/model openai-chat:gpt-4o")
    screen.expect("model: openai-chat:gpt-4o (conversation kept")
    screen.prompt()
    screen.line("what did I say?")
    screen.expect("You said: what did I say?")
    last = fake_llm.requests[-1]
    assert last.api == "chat" and last.model == "gpt-4o"
    assert "hello again" in last.conversation.user_texts
    screen.prompt()

    # /save, /clear, /quit.
    screen.line("/save chat.json")
    screen.expect("saved ")
    screen.prompt()
    screen.line("/quit")
    assert screen.wait_exit() == 0
    assert (tmp_path / "chat.json").is_file()

    # A second session: --resume, history recall with Up, NO_COLOR, Ctrl-C at an empty prompt.
    screen = Screen(["chat", "--resume", "chat.json"], tmp_path, chat_env(NO_COLOR="1"))
    screen.expect("resumed ")
    screen.prompt()
    screen.send(UP)
    screen.expect("/quit")
    screen.send("\x03")  # Ctrl-C with text at the prompt clears it
    screen.send(UP + UP)
    screen.expect("/save chat.json")
    screen.send("\x03")
    screen.line("and now?")
    screen.expect("You said: and now?")
    resumed = fake_llm.requests[-1].conversation.user_texts
    assert "hello again" in resumed and "what did I say?" in resumed
    screen.prompt()
    screen.line("/help")
    screen.expect("keys: Enter sends")
    screen.prompt()
    screen.line("/servers")
    screen.expect("connected")
    screen.prompt()
    screen.line("/list")
    screen.expect("seconds, tag?")
    screen.prompt()
    screen.line("/clear")
    screen.expect("conversation cleared")
    screen.prompt()
    screen.line("fresh start")
    screen.expect("You said: fresh start")
    assert fake_llm.requests[-1].conversation.user_texts == ["fresh start"]
    screen.prompt()
    screen.send("\x03")
    assert screen.wait_exit() == 0
    styled = _STYLED.search(screen.raw)
    assert styled is None, f"style {styled and styled.group()!r} despite NO_COLOR"


def test_piped_chat_is_plain_text_and_uses_the_demo_server(
    chat_env: Callable[..., dict[str, str]], tmp_path: Path
) -> None:
    lines = ['/call calculate {"expression": "6*7"}', "hello", "/nope", "/tools", ""]
    # In this process (tests/support/inproc.py): a pipe needs no terminal of its own.
    proc = run_agent(input="\n".join(lines), env=chat_env(AGENT_MODEL="anthropic:claude-sonnet-4-6"))
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "\x1b" not in out
    assert "7 tools from demo" in out
    assert '✓ demo.calculate(expression="6*7") → 42' in out
    assert "You said: hello" in out
    assert "error: unknown command '/nope'" in out
    assert "read_note" in out


def test_chats_are_kept_continued_and_picked_and_a_second_ctrl_c_does_not_exit(
    fake_llm: FakeLLM,
    chat_env: Callable[..., dict[str, str]],
    mcp_http_url: str,
    write_config: Callable[..., Path],
    tmp_path: Path,
) -> None:
    write_config({"test": ServerSettings(url=mcp_http_url)})  # a running server: no demo to start
    env = chat_env(AGENT_MODEL="anthropic:claude-sonnet-4-6", XDG_DATA_HOME=str(tmp_path / "data"))
    screen = Screen([], tmp_path, env)
    screen.prompt()
    screen.line("hello there")
    screen.expect("You said: hello there")
    screen.prompt()
    # Ctrl-C cancels the turn; pressed twice at once (a second within a second) it does not exit.
    screen.line("long story")
    screen.expect("Once upon a time")
    screen.send("\x03")
    screen.expect("cancelled")
    screen.send("\x03")
    screen.prompt()
    screen.line("still here?")
    screen.expect("You said: still here?")
    screen.prompt()
    screen.send("\x04")  # Ctrl-D: nothing to save by hand, it was kept as it went
    assert screen.wait_exit() == 0
    chats = list((tmp_path / "data" / "agent" / "chats").glob("*.json"))
    assert len(chats) == 1 and oct(chats[0].stat().st_mode & 0o777) == "0o600"

    # --continue: the newest chat, its last exchanges shown. Piped (in this process: no terminal
    # needed), like the picking below.
    cont = run_agent("chat", "--continue", input="and again\n", env=env)
    assert cont.returncode == 0, cont.stderr
    out = cont.stdout + cont.stderr
    assert f"resumed {chats[0].stem}: " in out
    assert out.index("> still here?") < out.index("You said: still here?") < out.index("You said: and again")
    assert "hello there" in fake_llm.requests[-1].conversation.user_texts
    assert len(list(chats[0].parent.glob("*.json"))) == 1  # the same chat went on

    # --resume with no id: pick from a list.
    picked = run_agent("--resume", input="1\n", env=env)
    assert picked.returncode == 0, picked.stderr
    out = picked.stdout + picked.stderr
    assert "1  " + chats[0].stem in out and "resume which?" in out
    assert "> and again" in out
