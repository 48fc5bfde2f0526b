"""SIGTERM and SIGHUP end a command the way Ctrl-C does: by cancelling it.

Cancelling unwinds everything in order: a tool call in flight is cancelled on its server too
(MCP cancellation), every session closes, every stdio server is ended (stdin closed, then its
process group gets SIGTERM, then SIGKILL after 2 s: also one that ignores the end of its stdin),
and the command's ``finally`` blocks run. The exit code is then the shell's for that signal:
143 for SIGTERM, 129 for SIGHUP. (``agent batch`` watches its own signals, see agent/batch.)
"""

from __future__ import annotations

import signal
from collections.abc import Awaitable, Callable
from typing import Any

import anyio

__all__ = ["STOP_SIGNALS", "Stopped", "run_stoppable"]

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


class Stopped(Exception):
    """The command was cancelled by ``signum``; exit with ``128 + signum``."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.exit_code = 128 + signum


async def run_stoppable(func: Callable[..., Awaitable[int]], *args: Any) -> int:
    """``await func(*args)``; a SIGTERM or SIGHUP meanwhile cancels it and raises :class:`Stopped`
    once it has unwound."""
    code: list[int] = []
    caught: list[int] = []
    failure: list[BaseException] = []

    async with anyio.create_task_group() as tg:

        async def command() -> None:
            try:
                code.append(await func(*args))
            except Exception as exc:  # raised as is below, not inside an exception group
                failure.append(exc)
            tg.cancel_scope.cancel()

        async def watch() -> None:
            with anyio.open_signal_receiver(*STOP_SIGNALS) as signals:
                async for signum in signals:
                    caught.append(signum)
                    tg.cancel_scope.cancel()
                    return

        tg.start_soon(watch)
        tg.start_soon(command)
    if caught:
        raise Stopped(caught[0])
    if failure:
        raise failure[0]
    return code[0]
