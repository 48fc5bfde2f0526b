"""The collector is off while a command starts, and on again once its Session is ready."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from agent.config import Config, ServerSettings
from agent.session import Session, SessionOptions
from agent.startup import pause_collector, resume_collector


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
