"""agent/signals.py: SIGTERM and SIGHUP stop a command as Ctrl-C does, with the shell's exit codes."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import anyio
import pytest

from agent.mcp.connection import server_log_path
from tests.support.fixtures_mcp import REPO_ROOT, stdio_settings


async def _wait_for_line(path: Path, line: str) -> None:
    """The server appends ``started TAG`` to its events file; polled, bounded by fail_after."""
    with anyio.fail_after(60):
        while line not in (await anyio.Path(path).read_text()).splitlines():  # noqa: ASYNC110
            await anyio.sleep(0.02)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGTERM, 143), (signal.SIGHUP, 129)])
async def test_a_signal_cancels_the_call_on_the_server_and_ends_a_server_that_lingers(
    signum: int, code: int, write_config: Callable[..., Path], tmp_path: Path
) -> None:
    events = tmp_path / "events.txt"
    events.touch()
    settings = stdio_settings("--linger", env={"MCP_TEST_EVENTS": str(events)})
    config = write_config({"stubborn": settings})
    tag = f"sig{signum}"
    argv = ["--config", str(config), "call", "slow", f'{{"seconds": 60, "tag": "{tag}"}}']
    async with await anyio.open_process(
        [sys.executable, "-m", "agent", *argv], cwd=REPO_ROOT, stdout=subprocess.DEVNULL
    ) as agent:
        await _wait_for_line(events, f"started {tag}")
        agent.send_signal(signum)
        with anyio.fail_after(30):
            assert await agent.wait() == code
        assert agent.stderr is not None
        err = (await agent.stderr.receive()).decode()
    assert f"stopped by {signal.Signals(signum).name}" in err and "Traceback" not in err
    await _wait_for_line(events, f"cancelled {tag}")  # MCP cancellation reached the server
    pid = int(re.findall(r"test server starting \(pid (\d+)\)", server_log_path("stubborn").read_text())[-1])
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # ignored its stdin's end and SIGTERM: ended with SIGKILL
