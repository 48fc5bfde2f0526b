"""What ``agent batch`` shows on stderr: the progress bar (or plain notes when stderr is not a
terminal) and the closing summary of a run (done / failed / skipped, tokens, wall time).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from agent.messages import Usage
from agent.terminal import say, terminal_console

__all__ = ["Counts", "Display", "ProgressBar", "summary_text"]


@dataclass(slots=True)
class Counts:
    """What a run did, for the summary and the exit code."""

    done: int = 0
    failed: int = 0
    skipped: int = 0
    other_shards: int = 0
    usage: Usage = field(default_factory=Usage)


def summary_text(
    counts: Counts, wall: float, where: str, *, pauses: int, interrupted: bool, stopped_early: bool
) -> str:
    """The closing line on stderr: done / failed / skipped, tokens, wall time, where the results are."""
    c = counts
    parts = [f"{c.done} done", f"{c.failed} failed", f"{c.skipped} skipped (already in the output)"]
    if c.other_shards:
        parts.append(f"{c.other_shards} in other shards")
    tokens = f"{c.usage.total_tokens:,} tokens ({c.usage.input_tokens:,} in, {c.usage.output_tokens:,} out)"
    text = f"{', '.join(parts)} · {tokens} · {wall:.1f} s · results: {where}"
    if pauses:
        text += f" · {pauses} rate-limit pause(s)"
    if interrupted:
        text += "\n  interrupted: run the same command with --resume to finish"
    elif stopped_early:
        text += "\n  stopped early (--max-errors): run the same command with --resume to go on"
    return text


class Display:
    """The display when stderr is not a terminal: notes only, no progress."""

    def __init__(self) -> None:
        self._last_pause = 0.0

    def start(self, total: int | None) -> None:
        pass

    def advance(self, *, failed: bool, skipped: bool = False) -> None:
        pass

    def paused(self, seconds: float) -> None:
        now = time.monotonic()
        if now - self._last_pause > 1.0:
            self._last_pause = now
            self.note(f"rate limited: every worker pauses {seconds:.1f} s")

    def note(self, text: str) -> None:
        say(f"agent batch: {text}")

    def stop(self) -> None:
        pass


class ProgressBar(Display):
    """A rich progress bar on stderr."""

    def __init__(self) -> None:
        super().__init__()
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]batch"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("[red]{task.fields[failed]} failed[/] {task.fields[state]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=terminal_console(stderr=True),
            transient=False,
        )
        self._task = self._progress.add_task("batch", total=None, start=False, failed=0, state="")
        self._failed = 0

    def start(self, total: int | None) -> None:
        self._progress.update(self._task, total=total)
        self._progress.start_task(self._task)  # the clock starts with the first item, not the imports
        self._progress.start()

    def advance(self, *, failed: bool, skipped: bool = False) -> None:
        self._failed += failed
        self._progress.update(self._task, advance=1, failed=self._failed, state="")

    def paused(self, seconds: float) -> None:
        self._progress.update(self._task, state=f"[yellow]rate limited, paused {seconds:.0f}s")

    def note(self, text: str) -> None:
        self._progress.console.print(f"agent batch: {text}", markup=False, highlight=False)

    def stop(self) -> None:
        self._progress.stop()
