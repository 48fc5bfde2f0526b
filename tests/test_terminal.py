"""What a server or a model sends never drives the terminal: control characters are made visible on
a terminal (every command, chat too) and in a piped tool listing; results are kept exact in a pipe
and a file, and ``--json`` is always exact."""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.text import Text

from agent.config import ServerSettings
from agent.terminal import for_stream, terminal_console, visible
from tests.support.fake_llm import FakeLLM
from tests.support.inproc import Ran, run_agent
from tests.support.mcp_server import HOSTILE
from tests.test_chat_e2e import Screen

# What HOSTILE looks like once made visible (the CR before no newline stays, shown).
SHOWN = "A\\x1b]52;c;cHduZWQ=\\x07B\\x1b]0;pwned\\x07C\\x1b[2JD\\x1bP+q544e\\x1b\\E\\x1bF\\x07G\\x08H\\x0dI\\x9b31mJ"
# Pieces of HOSTILE that must never reach a terminal as they are.
RAW = ["\x1b]52;", "\x1b]0;pwned", "\x1b[2JD", "\x1bP+q", "\x1bF", "\x07G", "\x08H", "H\rI", "\x9b31m"]


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("\x1b[2J\x1b[31mred", "\\x1b[2J\\x1b[31mred"),  # CSI
        ("\x1b]52;c;aGk=\x07", "\\x1b]52;c;aGk=\\x07"),  # OSC 52: write the clipboard
        ("\x1b]0;title\x1b\\", "\\x1b]0;title\\x1b\\"),  # OSC 0: window title, ST-terminated
        ("\x1bP+q544e\x1b\\", "\\x1bP+q544e\\x1b\\"),  # DCS
        ("a\x1bb", "a\\x1bb"),  # a bare ESC
        ("ding\x07", "ding\\x07"),  # BEL
        ("abc\x08\x08X", "abc\\x08\\x08X"),  # backspace
        ("safe\rEVIL", "safe\\x0dEVIL"),  # a bare carriage return
        ("\x9b2J\x9d0;t\x9c", "\\x9b2J\\x9d0;t\\x9c"),  # C1 CSI, OSC and ST
        ("\x00\x7f", "\\x00\\x7f"),  # NUL and DEL
        ("line one\r\nline\ttwo\n", "line one\nline\ttwo\n"),  # newline, tab, CRLF: text layout
        ("plain ünïcode — fine", "plain ünïcode — fine"),
    ],
    ids=[
        "csi",
        "osc52",
        "osc-title",
        "dcs",
        "esc",
        "bel",
        "backspace",
        "cr",
        "c1",
        "nul-del",
        "layout",
        "plain",
    ],
)
def test_visible_shows_every_control_character_but_newline_and_tab(raw: str, shown: str) -> None:
    assert visible(raw) == shown
    assert visible(shown) == shown  # what it shows is plain text: cleaning twice changes nothing


def test_only_a_terminal_gets_the_visible_form(tmp_path: Path) -> None:
    assert for_stream(HOSTILE, io.StringIO()) == HOSTILE
    with (tmp_path / "out.txt").open("w") as file:
        assert for_stream(HOSTILE, file) == HOSTILE
    leader, follower = os.openpty()
    try:
        with open(follower, "w", closefd=False) as tty:
            assert for_stream(HOSTILE, tty) == SHOWN
    finally:
        os.close(leader)
        os.close(follower)


def test_the_rich_console_cleans_what_it_renders_and_keeps_its_own_styles() -> None:
    out = io.StringIO()
    console = terminal_console(file=out, force_terminal=True, color_system="standard", width=400)
    console.print(Text.assemble(("tool ", "bold red"), HOSTILE))
    printed = out.getvalue()
    assert "\x1b[1;31m" in printed  # rich's own colours still work
    assert "\\x1b]52;c;cHduZWQ=" in printed and "\\x9b31mJ" in printed
    assert not [piece for piece in RAW if piece in printed]
    piped = io.StringIO()
    terminal_console(file=piped, width=400).print(HOSTILE, markup=False)
    assert "\x1b]52;" in piped.getvalue()  # not a terminal: the content as it came


@pytest.mark.parametrize("width", [20, 37, 80, 400])
def test_a_narrow_terminal_wraps_the_visible_text_and_loses_nothing(width: int) -> None:
    out = io.StringIO()
    console = terminal_console(file=out, force_terminal=True, color_system=None, width=width)
    console.print(f"  [bold]sneaky[/bold]  Looks harmless. {HOSTILE}")
    lines = out.getvalue().splitlines()
    assert all(len(line) <= width for line in lines)  # measured as shown: every line fits
    unwrapped = "".join(lines).replace(" ", "")
    assert unwrapped == "sneakyLooksharmless." + SHOWN.replace(" ", "")


@pytest.fixture
def hostile_config(tmp_path: Path, write_config: Callable[..., Path], mcp_hostile_url: str) -> Path:
    return write_config({"h": ServerSettings(url=mcp_hostile_url)}, path=tmp_path / "hostile.toml")


def _in_terminal(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> Screen:
    # Wide, so that a table's cell never folds the sequences the tests look for.
    return Screen(args, cwd, {**os.environ, "TERM": "xterm-256color", **(env or {})}, columns=250)


def _no_raw_controls(screen: Screen) -> None:
    leaked = [piece for piece in RAW if piece in screen.raw]
    assert not leaked, f"reached the terminal as is: {leaked!r}"


@pytest.mark.e2e
def test_tools_and_call_on_a_terminal_show_escape_sequences_as_text(
    hostile_config: Path, tmp_path: Path
) -> None:
    config = ["--config", str(hostile_config)]
    listed = _in_terminal([*config, "tools"], tmp_path)
    listed.expect("sneaky\\x1b]0;title\\x07")  # a tool's name, BEL shown too
    listed.expect("Looks harmless. A\\x1b]52;c;cHduZWQ=")  # its description
    assert listed.wait_exit() == 0
    _no_raw_controls(listed)
    narrow = Screen([*config, "tools"], tmp_path, {**os.environ, "TERM": "xterm-256color"}, columns=80)
    assert narrow.wait_exit() == 0
    _no_raw_controls(narrow)
    unwrapped = "".join(line.strip() for line in narrow.text.splitlines())
    assert SHOWN.replace(" ", "") in unwrapped.replace(" ", "")  # wrapped, nothing lost

    called = _in_terminal([*config, "call", "sneaky\x1b]0;title\x07"], tmp_path)
    called.expect(SHOWN)  # a tool result
    assert called.wait_exit() == 0
    _no_raw_controls(called)

    failed = _in_terminal([*config, "call", "explode"], tmp_path)
    failed.expect("boom A\\x1b]52;")  # a server's error message, on stderr
    assert failed.wait_exit() == 1
    _no_raw_controls(failed)


def test_a_pipe_and_json_keep_the_exact_content(hostile_config: Path) -> None:
    def agent(*argv: str) -> Ran:  # stdout not a terminal (in-process: tests/support/inproc.py)
        return run_agent("--config", str(hostile_config), *argv)

    plain = agent("call", "sneaky\x1b]0;title\x07")
    assert (plain.returncode, plain.stdout) == (0, HOSTILE + "\n")
    as_json = agent("call", "--json", "sneaky\x1b]0;title\x07")
    assert json.loads(as_json.stdout)["content"][0]["text"] == HOSTILE


def test_a_piped_tool_listing_shows_control_characters_and_json_stays_exact(hostile_config: Path) -> None:
    listed = run_agent("--config", str(hostile_config), "tools")
    assert listed.returncode == 0, listed.stderr
    assert "sneaky\\x1b]0;title\\x07" in listed.stdout and SHOWN in listed.stdout
    assert not [piece for piece in RAW if piece in listed.stdout]
    found = run_agent("--config", str(hostile_config), "tools", "--search", "harmless")
    assert "sneaky\\x1b]0;title\\x07" in found.stdout and "\x1b" not in found.stdout
    as_json = json.loads(run_agent("--config", str(hostile_config), "tools", "--json").stdout)
    tools = {t["name"]: t for t in as_json["servers"][0]["tools"]}
    assert tools["sneaky\x1b]0;title\x07"]["description"] == f"Looks harmless. {HOSTILE}"


@pytest.mark.e2e
def test_run_on_a_terminal_shows_the_models_and_the_tools_escapes_as_text(
    hostile_config: Path, tmp_path: Path, fake_llm: FakeLLM
) -> None:
    fake_llm.script(
        [
            {"tool_calls": [{"name": "explode", "arguments": {}}]},
            {"text": f"answer {HOSTILE}"},
        ]
    )
    args = ["--config", str(hostile_config), "run", "--model", "anthropic:claude-sonnet-4-6", "go"]
    screen = _in_terminal(args, tmp_path, fake_llm.env())
    screen.expect("tool h.explode {} ")
    screen.expect("error: Error executing tool explode: boom A\\x1b]52;c;cHduZWQ=")  # the tool line
    screen.expect(f"answer {SHOWN}")  # the answer on stdout
    assert screen.wait_exit() == 0
    _no_raw_controls(screen)


@pytest.mark.e2e
def test_chat_on_a_terminal_shows_escapes_as_text_in_answers_tool_lines_last_and_tools(
    hostile_config: Path, tmp_path: Path, fake_llm: FakeLLM
) -> None:
    fake_llm.script(
        [
            {"tool_calls": [{"name": "sneaky_0_title_", "arguments": {}}]},
            {"text": f"answer {HOSTILE}"},
        ]
    )
    env = {**fake_llm.env(), "PROMPT_TOOLKIT_NO_CPR": "1"}
    args = ["--config", str(hostile_config), "chat", "--model", "anthropic:claude-sonnet-4-6"]
    screen = _in_terminal(args, tmp_path, env)
    screen.prompt()
    screen.line("go")
    screen.expect("✓ h.sneaky\\x1b]0;title() → A\\x1b]52;c;")  # the tool line
    screen.expect("answer A\\x1b]52;c;cHduZWQ=B")  # the streamed Markdown answer
    screen.prompt()
    screen.line("/last")
    screen.expect("result")
    screen.expect("A\\x1b]52;c;cHduZWQ=B\\x1b]0;pwned")
    screen.prompt()
    screen.line("/tools")
    screen.expect("Looks harmless. A\\x1b]52;")
    screen.prompt()
    screen.send("\x04")
    assert screen.wait_exit() == 0
    _no_raw_controls(screen)


def test_no_color_means_no_style_at_all(monkeypatch: pytest.MonkeyPatch) -> None:
    """rich alone keeps bold and dim under NO_COLOR; our console writes no SGR code at all."""
    import re

    monkeypatch.setenv("NO_COLOR", "1")
    out = io.StringIO()
    console = terminal_console(file=out, force_terminal=True, width=100)
    console.print(Text.assemble(("bold ", "bold"), ("dim", "dim red"), (" under", "underline reverse")))
    assert out.getvalue() == "bold dim under\n"
    assert not re.search(r"\x1b\[[0-9;]*m", out.getvalue())
