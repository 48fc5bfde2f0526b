"""Whatever the umask, what agent writes for itself is 0600 in 0700 folders (looser ones are
tightened), a file the user names is created 0600, and no log or message holds a URL's credentials."""

from __future__ import annotations

import json
import os
import stat
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from agent.batch import run_batch
from agent.cli import parse
from agent.config import Config, user_data_dir, user_log_dir
from agent.errors import EXIT_OK, ServerConnectError
from agent.mcp.token_store import FileTokenStore, StoredLogin, token_dir
from agent.private_files import open_private, open_user_file, private_dir, private_file
from agent.redact import redact_url, redact_urls
from tests.support.fake_llm import FakeLLM
from tests.support.fixtures_mcp import stdio_settings
from tests.support.http_edge import refused_port
from tests.support.inproc import Ran, run_agent
from tests.test_chat_e2e import Screen


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The loosest umask there is, for this test (and the processes it starts)."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def _agent(*argv: str) -> Ran:
    """``agent ARGV`` under ``umask 000`` (in this process: tests/support/inproc.py)."""
    old = os.umask(0)
    try:
        return run_agent(*argv)
    finally:
        os.umask(old)


# --- the building blocks -----------------------------------------------------------------------


@pytest.mark.usefixtures("open_umask")
def test_private_files_and_folders_ignore_the_umask_and_tighten_what_is_loose(tmp_path: Path) -> None:
    made = private_file(tmp_path / "a" / "b" / "log.txt")
    assert (mode(made), mode(made.parent), mode(made.parent.parent)) == (0o600, 0o700, 0o700)

    loose = tmp_path / "loose"
    loose.mkdir(mode=0o777)
    (loose / "old.log").write_text("x")
    (loose / "old.log").chmod(0o644)
    with open_private(loose / "old.log", "a", encoding="utf-8") as fh:
        fh.write("y")
    assert (mode(loose), mode(loose / "old.log")) == (0o700, 0o600)
    assert (loose / "old.log").read_text() == "xy"
    assert mode(private_dir(loose)) == 0o700


@pytest.mark.usefixtures("open_umask")
def test_a_file_the_user_names_is_created_private_and_an_existing_one_keeps_its_mode(tmp_path: Path) -> None:
    with open_user_file(tmp_path / "new.json", "w") as fh:
        fh.write("{}")
    assert mode(tmp_path / "new.json") == 0o600
    shared = tmp_path / "shared.json"
    shared.write_text("old")
    shared.chmod(0o644)
    with open_user_file(shared, "w") as fh:
        fh.write("new")
    assert (mode(shared), shared.read_text()) == (0o644, "new")


# --- every file agent writes, from the real program -----------------------------------------------


@pytest.mark.e2e
def test_logs_server_logs_and_notes_are_private_under_umask_000(
    tmp_path: Path, write_config: Callable[..., Path]
) -> None:
    user_log_dir().parent.mkdir(parents=True, exist_ok=True)
    user_log_dir().mkdir(mode=0o777, exist_ok=True)  # left loose by an older version
    os.chmod(user_log_dir(), 0o777)
    # The demo server (its notes) and the test server (its stderr log); a stdio server gets only
    # a safe set of environment variables, so the notes' folder is passed on explicitly.
    demo = {"command": sys.executable, "args": ["-m", "agent.demo_server"]}
    demo["env"] = {"XDG_DATA_HOME": os.environ["XDG_DATA_HOME"]}
    config = write_config({"s": stdio_settings(), "demo": demo}, path=tmp_path / "stdio.toml")
    noted = _agent(
        "--config", str(config), "call", "write_note", json.dumps({"name": "n", "text": "private"})
    )
    assert noted.returncode == 0, noted.stderr
    for path in (
        user_log_dir() / "agent.log",
        user_log_dir() / "servers" / "s.log",
        user_data_dir() / "notes" / "n.txt",
    ):
        assert mode(path) == 0o600, path
        assert mode(path.parent) == 0o700, path.parent
    assert mode(user_log_dir()) == 0o700


@pytest.mark.e2e
def test_chat_history_and_a_saved_transcript_are_private_under_umask_000(
    tmp_path: Path, fake_llm: FakeLLM, mcp_http_url: str
) -> None:
    fake_llm.script({"turns": [{"echo": "user"}], "repeat_last": True})
    env = {**os.environ, **fake_llm.env(), "TERM": "xterm-256color", "PROMPT_TOOLKIT_NO_CPR": "1"}
    args = ["chat", "--url", mcp_http_url, "--model", "anthropic:claude-sonnet-4-6"]
    (tmp_path / "saved").mkdir()  # /save makes no folders
    screen = Screen(args, tmp_path, env, umask=0)
    screen.prompt()
    screen.line("my secret plan")
    screen.expect("my secret plan")
    screen.prompt()
    screen.line("/save saved/chat.json")
    screen.expect("saved ")
    screen.prompt()
    screen.send("\x04")
    assert screen.wait_exit() == 0
    history = user_data_dir() / "history"
    assert "my secret plan" in history.read_text()
    assert (mode(history), mode(history.parent)) == (0o600, 0o700)
    assert mode(tmp_path / "saved" / "chat.json") == 0o600


@pytest.mark.usefixtures("open_umask")
def test_a_token_record_is_private_and_its_loose_folder_tightened() -> None:
    token_dir().mkdir(parents=True)
    token_dir().chmod(0o777)
    store = FileTokenStore("https://example.test/mcp")
    store.save(StoredLogin(server_url="https://example.test/mcp", tokens={"access_token": "a"}))
    assert (mode(store.path), mode(token_dir())) == (0o600, 0o700)


@pytest.mark.usefixtures("open_umask")
async def test_batch_output_is_created_private(
    fake_llm: FakeLLM, mcp_http_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_KEY", "test-key")
    config = Config(
        model="fake:m",
        providers={"fake": {"type": "anthropic", "base_url": fake_llm.base_url, "api_key_env": "FAKE_KEY"}},
    )
    fake_llm.script({"turns": [{"echo": "user"}], "repeat_last": True})
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("one\n")
    assert (
        await run_batch(
            parse(["batch", str(prompts), "--url", mcp_http_url, "-o", str(tmp_path / "out.jsonl")]).options,
            config,
        )
        == EXIT_OK
    )
    assert mode(tmp_path / "out.jsonl") == 0o600


# --- credentials in URLs ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:pw@h.test/mcp", "https://***@h.test/mcp"),
        ("https://h.test/mcp?token=abc&x=1", "https://h.test/mcp?token=***&x=1"),
        (
            "https://h.test/?access_token=a&api_key=b&apikey=c&client_secret=d&password=e&X-Amz-Signature=f&code=g",
            "https://h.test/?access_token=***&api_key=***&apikey=***&client_secret=***&password=***"
            "&X-Amz-Signature=***&code=***",
        ),
        (
            "https://h.test/auth?code_challenge=c&state=s&page=2",
            "https://h.test/auth?code_challenge=c&state=s&page=2",
        ),
        ("http://127.0.0.1:8000/mcp", "http://127.0.0.1:8000/mcp"),
    ],
)
def test_a_urls_credentials_are_redacted(url: str, shown: str) -> None:
    assert redact_url(url) == shown
    assert redact_urls(f"failed at {url}: refused") == f"failed at {shown}: refused"


def test_a_server_error_never_holds_a_urls_credentials() -> None:
    error = ServerConnectError("s", "cannot connect to https://u:pw@h.test/mcp?token=SECRET")
    assert "SECRET" not in str(error) and "pw" not in str(error)
    assert "https://***@h.test/mcp?token=***" in error.message


@pytest.mark.e2e
def test_a_secret_in_a_server_url_reaches_neither_stderr_nor_the_log(
    tmp_path: Path, write_config: Callable[..., Path]
) -> None:
    url = f"http://someone:PASSWORD1@127.0.0.1:{refused_port()}/mcp?token=TOKEN1&page=2"
    config = write_config({"s": {"url": url}}, path=tmp_path / "secret.toml")
    failed = _agent("-v", "--config", str(config), "tools")
    assert failed.returncode == 3
    log = (user_log_dir() / "agent.log").read_text()
    for text in (failed.stderr, failed.stdout, log):
        assert "PASSWORD1" not in text and "TOKEN1" not in text
    assert "http://***@127.0.0.1:" in failed.stderr and "token=***&page=2" in failed.stderr
    assert "token=***" in log
