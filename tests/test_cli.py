"""The command line: fast help, lazy imports, documented exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from agent import __version__
from agent.cli import build_parser, main

_HEAVY = ("mcp", "mcp_types", "anthropic", "openai", "httpx2", "rich", "prompt_toolkit", "pydantic", "numpy")


def _modules_after(argv: list[str]) -> set[str]:
    """Run `agent ARGV` in a fresh interpreter and return the top-level modules it imported."""
    code = (
        "import sys, json\n"
        "from agent.cli import main\n"
        "try:\n"
        f"    main({argv!r})\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["--version"],
        ["tools", "--help"],
        ["call", "--help"],
        ["run", "--help"],
        ["chat", "--help"],
        ["models", "--help"],
    ],
)
def test_help_and_version_import_no_sdk(argv: list[str]) -> None:
    loaded = _modules_after(argv)
    assert not loaded & set(_HEAVY), f"{argv} imported {sorted(loaded & set(_HEAVY))}"


def test_version_prints_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"agent {__version__}"


def test_help_documents_every_command_and_exit_codes() -> None:
    text = build_parser().format_help()
    for command in ("chat", "run", "batch", "tools", "call", "login", "logout", "auth"):
        assert command in text
    for code in ("0", "1", "2", "3", "130"):
        assert f"\n  {code} " in text


def test_unknown_flag_is_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["tools", "--no-such-flag"])
    assert exc.value.code == 2
    assert "--no-such-flag" in capsys.readouterr().err


def test_missing_config_file_exits_2_naming_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", "nope.toml", "tools"]) == 2
    err = capsys.readouterr().err
    assert "nope.toml" in err and "not found" in err


def test_bad_config_names_file_and_key(capsys: pytest.CaptureFixture[str]) -> None:
    with open("agent.toml", "w") as fh:
        fh.write('[servers.x]\nurl = "http://127.0.0.1:9/mcp"\ncolour = "blue"\n')
    assert main(["--trust-project", "tools"]) == 2
    err = capsys.readouterr().err
    assert "agent.toml" in err and "servers.x.colour" in err and "unknown key" in err


def test_bare_agent_takes_every_chat_option() -> None:
    from agent.cli import parse
    from agent.options import AdhocServer, ChatOptions

    invocation = parse(["-m", "openai:gpt-4o", "-s", "demo", "--url", "http://127.0.0.1:9/mcp", "-v"])
    assert invocation.command == "chat" and invocation.verbose == 1
    assert invocation.options == ChatOptions(
        model="openai:gpt-4o", servers=("demo",), adhoc=(AdhocServer(url="http://127.0.0.1:9/mcp"),)
    )
    assert parse(["--resume", "chat.json"]).options == ChatOptions(resume="chat.json")
    assert parse([]).command == "chat"


def test_a_prompt_is_not_a_command_and_says_how_to_ask_it(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["-m", "anthropic:claude-test", "what time is it?"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "'what time is it?' is not a command" in err
    assert "agent run 'what time is it?'" in err
    assert "conformance-client" not in err  # hidden commands stay hidden


@pytest.mark.parametrize(("typo", "command"), [("tool", "tools"), ("histroy", "history"), ("Chat", "chat")])
def test_a_mistyped_command_names_the_command(
    typo: str, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main([typo])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"{typo!r} is not a command; did you mean: agent {command}?" in err
    assert "agent run" not in err and "conformance-client" not in err


@pytest.mark.parametrize("model", ["anthropic:", "", ":gpt-4o"])
def test_an_empty_model_name_is_a_usage_error(model: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["run", "hi", "-m", model])
    assert exc.value.code == 2
    assert "--model: " in capsys.readouterr().err


def test_options_are_taken_after_the_positional_arguments() -> None:
    from agent.cli import parse
    from agent.options import CallOptions, RunOptions

    assert parse(["call", "echo", "--json", '{"text": "x"}']).options == CallOptions(
        "echo", '{"text": "x"}', json=True
    )
    assert parse(["run", "the prompt", "-m", "openai:x", "--json"]).options == RunOptions(
        "the prompt", model="openai:x", json=True
    )
    # Global options go before the command, after it, or after its arguments.
    late = parse(["run", "-", "--config", "c.toml", "-v"])
    assert (late.config, late.verbose, late.options.prompt) == ("c.toml", 1, "-")


def test_url_and_stdio_repeat_in_order_with_their_names() -> None:
    from agent.cli import parse
    from agent.options import AdhocServer

    invocation = parse(
        [
            "tools",
            "--url",
            "http://127.0.0.1:9/a",
            "--stdio",
            "python3 'my server.py' --fast",
            "--url",
            "http://h/b",
        ]
    )
    assert invocation.options.adhoc == (
        AdhocServer(url="http://127.0.0.1:9/a"),
        AdhocServer(command=("python3", "my server.py", "--fast")),
        AdhocServer(url="http://h/b"),
    )
    named = parse(["chat", "--stdio", "srv", "--name", "one", "--url", "http://h/b", "--name", "two"])
    assert [(s.name, s.command or s.url) for s in named.options.adhoc] == [
        ("one", ("srv",)),
        ("two", "http://h/b"),
    ]


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (
            ["tools", "--url", "http://h/a", "--url", "http://h/b", "--name", "x"],
            "1 --name for 2 --url / --stdio",
        ),
        (["tools", "--stdio", "unclosed 'quote"], '--stdio "unclosed \'quote": No closing quotation'),
        (["tools", "--stdio", "  "], "--stdio needs a command"),
        (["run", "x", "-m", "a", "-m", "b"], "-m is given twice: give it once"),
        (["--config", "a.toml", "run", "x", "--model=a", "--config", "b.toml"], "--config is given twice"),
        (["run", "x", "--model=a", "-m", "b"], "--model and -m are one option, given twice"),
    ],
)
def test_options_that_do_not_add_up_are_usage_errors(
    argv: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert said in capsys.readouterr().err


def test_the_exit_codes_in_help_say_what_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    # A tool error the model answered after exits 0 (tests/test_run.py: test_json_report_fields),
    # so the help must not say that any tool error fails the command.
    with pytest.raises(SystemExit):
        main(["run", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "a tool or the model reported an error" not in text
    assert "the step limit came before an answer" in text
    assert "a tool error the model then answered is no failure: exit 0" in text
