"""Fixtures for the fake model APIs (tests/support/fake_llm.py documents the script format).

* ``fake_llm``: the in-process fake (a thread of the test process, one per session), reset for
  every test. Set the answers with ``fake_llm.script(...)``, read ``fake_llm.requests`` and
  ``fake_llm.stats``. It also serves a real ``agent`` subprocess: pass ``env=fake_llm.env()``.
* ``fake_llm_process``: the same fake as a subprocess (``python -m tests.support.fake_llm``),
  one per session, reset for every test; same methods, over HTTP.

A test fails if the script itself raised (a bug in the test's callable), even when the agent
coped with the HTTP 500 that the fake answered.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.fake_llm import FakeLLM, FakeLLMProcess


@pytest.fixture(scope="session")
def _fake_llm_server() -> Iterator[FakeLLM]:
    with FakeLLM() as fake:
        yield fake


@pytest.fixture
def fake_llm(_fake_llm_server: FakeLLM) -> Iterator[FakeLLM]:
    _fake_llm_server.reset()
    yield _fake_llm_server
    errors = list(_fake_llm_server.errors)
    _fake_llm_server.reset()
    if errors:
        pytest.fail(f"the fake LLM's script raised: {errors[0]!r}")


@pytest.fixture(scope="session")
def _fake_llm_subprocess() -> Iterator[FakeLLMProcess]:
    with FakeLLMProcess() as fake:
        yield fake


@pytest.fixture
def fake_llm_process(_fake_llm_subprocess: FakeLLMProcess) -> Iterator[FakeLLMProcess]:
    _fake_llm_subprocess.reset()
    yield _fake_llm_subprocess
    _fake_llm_subprocess.reset()
