"""Fixtures for the agent loop's tests: one real MCP server (tests/support/mcp_server.py over
Streamable HTTP) for the whole session, whose ``slow`` tool records start / done / cancelled lines
in an events file, so tests can see what happened on the server side.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import pytest

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class LoopServer:
    url: str
    events: Path

    def lines(self) -> list[str]:
        try:
            return self.events.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return []

    async def wait_for(self, line: str, within: float = 10.0) -> None:
        """Wait until the server has written ``line`` to its events file."""
        with anyio.fail_after(within):
            # The signal is a line in a file another process writes: poll it.
            while line not in self.lines():  # noqa: ASYNC110
                await anyio.sleep(0.01)


@pytest.fixture(scope="session")
def loop_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopServer]:
    events = tmp_path_factory.mktemp("loop-server") / "events.txt"
    env = {**os.environ, "MCP_TEST_EVENTS": str(events), "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.mcp_server", "--transport", "http", "--port", "0"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # the readiness signal: "READY <url>"
        if not line.startswith("READY "):
            raise RuntimeError(f"the test MCP server did not start: {line!r}")
        yield LoopServer(line.split()[1], events)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
