"""Start-up: the provider SDK imported ahead in a worker thread; the collector off while a
command starts, and on again once its Session is ready."""

from __future__ import annotations

import gc
import importlib
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import anyio
import pytest

from agent.config import Config, ServerSettings
from agent.session import Session, SessionOptions
from agent.startup import import_ahead, pause_collector, resume_collector


@pytest.fixture
def collector() -> Iterator[None]:
    yield
    resume_collector()
    gc.enable()


async def test_the_collector_is_off_while_a_session_opens_and_on_once_it_is_ready(
    collector: None, mcp_http_url: str
) -> None:
    pause_collector()
    assert not gc.isenabled()
    config = Config(servers={"test": ServerSettings(url=mcp_http_url)})
    async with Session.open(config, SessionOptions(needs_model=False)) as session:
        assert session.toolbox.entries
        assert gc.isenabled()


def test_a_collector_the_program_turned_off_stays_off(collector: None) -> None:
    gc.disable()
    pause_collector()
    resume_collector()
    assert not gc.isenabled()
    gc.enable()
    pause_collector()
    resume_collector()
    assert gc.isenabled()
    gc.disable()
    resume_collector()  # a pause is resumed once: the program's own gc.disable() stands
    assert not gc.isenabled()


async def test_modules_are_imported_ahead_in_a_worker_thread_and_a_failure_is_left_to_the_import(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "ahead_ok.py").write_text(
        "import threading\nTHREAD = threading.get_ident()\n", encoding="utf-8"
    )
    (tmp_path / "ahead_bad.py").write_text("raise RuntimeError('broken SDK')\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    done = anyio.Event()
    await import_ahead(["ahead_ok", "ahead_bad"], done)
    assert done.is_set()
    assert threading.get_ident() != sys.modules["ahead_ok"].THREAD
    assert "ahead_bad" not in sys.modules
    with pytest.raises(RuntimeError, match="broken SDK"):  # raised again where it is needed
        importlib.import_module("ahead_bad")
    del sys.modules["ahead_ok"]
