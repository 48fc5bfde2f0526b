"""Fixtures for the agent loop's tests.

``loop_server``: the session's real MCP test server over Streamable HTTP (``mcp_http_url`` from
fixtures_mcp.py) together with its events file, where the ``slow`` tool writes ``started TAG`` /
``done TAG`` / ``cancelled TAG``, so a test can see what happened on the server side.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import anyio
import pytest


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
def loop_server(mcp_http_url: str, mcp_events_file: Path) -> LoopServer:
    return LoopServer(mcp_http_url, mcp_events_file)
