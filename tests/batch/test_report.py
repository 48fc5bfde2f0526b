"""What ``agent batch`` prints on stderr: the closing summary and the plain (non-terminal) display."""

from __future__ import annotations

import pytest

from agent.batch.report import Counts, Display, summary_text
from agent.messages import Usage


def test_the_summary_names_every_count_the_tokens_and_where_the_results_are() -> None:
    counts = Counts(done=7, failed=2, skipped=3, other_shards=5, usage=Usage(1200, 34))
    text = summary_text(counts, 12.34, "out.jsonl", pauses=0, interrupted=False, stopped_early=False)
    assert text == (
        "7 done, 2 failed, 3 skipped (already in the output), 5 in other shards · "
        "1,234 tokens (1,200 in, 34 out) · 12.3 s · results: out.jsonl"
    )


@pytest.mark.parametrize(
    ("interrupted", "stopped_early", "advice"),
    [(True, False, "interrupted: run the same command with --resume"), (False, True, "--max-errors")],
)
def test_an_unfinished_run_says_how_to_go_on(interrupted: bool, stopped_early: bool, advice: str) -> None:
    text = summary_text(Counts(), 1.0, "-", pauses=2, interrupted=interrupted, stopped_early=stopped_early)
    first, second = text.split("\n")
    assert first.endswith("2 rate-limit pause(s)")
    assert advice in second


def test_the_plain_display_notes_a_rate_limit_pause_once_not_per_worker(
    capsys: pytest.CaptureFixture[str],
) -> None:
    display = Display()
    for _ in range(5):  # every worker hits the same pause at once
        display.paused(2.0)
    assert capsys.readouterr().err == "agent batch: rate limited: every worker pauses 2.0 s\n"
