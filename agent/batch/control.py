"""``agent batch --status OUTPUT`` and ``agent batch --cancel OUTPUT``: a batch-api job seen from
outside, through its state file (:mod:`agent.batch.state`) and the providers' Batch APIs.

``--status`` prints the job (rounds, unfinished items, lines in the output) and one row per
provider batch with its status and the provider's counts, asking the provider about every batch
not yet read. ``--cancel`` asks the provider to cancel every batch that has not ended; requests
that had not run come back as canceled, and ``--resume`` then writes those items as failed.
Neither writes the state file (a job may be running): the running job, or ``--resume``, does.
No MCP server is connected.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from agent.batch.state import BatchRecord, JobState, load_state, state_path
from agent.errors import EXIT_FAILURE, EXIT_OK, AgentError, UsageError

if TYPE_CHECKING:
    from agent.config import Config
    from agent.options import BatchOptions

__all__ = ["control_job", "status_text"]


async def control_job(options: BatchOptions, config: Config) -> int:
    """``--status`` or ``--cancel`` (exit 0; 1 when a provider could not be asked)."""
    from agent.session import Session, SessionOptions

    target = options.status or options.cancel
    assert target is not None
    path = state_path(Path(target))
    if not path.is_file():
        raise UsageError(
            f"no batch-api job writes to {target!r} ({path.name} not found)",
            hint="give the -o OUTPUT of a job started with --via batch-api",
        )
    job = load_state(path)
    failed = False
    async with Session.open(config, SessionOptions(needs_model=False, use_servers=False)) as session:
        for record in job.batches:
            if record.collected or (record.ended and options.cancel is not None):
                continue
            try:
                api = session.batch_api_for(record.model)
                status = await (
                    api.cancel(record.id) if options.cancel is not None else api.status(record.id)
                )
            except AgentError as exc:
                failed = True
                print(f"agent batch: batch {record.id}: {exc.message}", file=sys.stderr)
                continue
            record.status, record.counts, record.ended = status.status, dict(status.counts), status.ended
            if options.cancel is not None:
                print(f"cancel requested: {record.model} batch {record.id} ({status.status})")
        if options.cancel is None:
            print(status_text(job, _lines(Path(target))), end="")
        else:
            print("run the job again with --resume to write what had finished; the rest become failed items")
    return EXIT_FAILURE if failed else EXIT_OK


def status_text(job: JobState, lines: int) -> str:
    """The job and its provider batches, as ``--status`` prints them."""
    waiting = Counter(item.batch for item in job.items.values())
    unsubmitted = waiting.pop(None, 0)
    head = (
        f"job {job.output}: round {job.round}, {len(job.items)} item(s) unfinished"
        f" ({unsubmitted} not yet submitted), {lines} line(s) in the output\n"
    )
    rows: list[tuple[str, ...]] = [("round", "batch", "model", "requests", "status", "waiting", "counts")]
    rows += [_row(record, waiting.get(record.id, 0)) for record in job.batches]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    table = "".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n" for row in rows
    )
    return head + table


def _row(record: BatchRecord, waiting: int) -> tuple[str, ...]:
    counts = ", ".join(f"{k} {v}" for k, v in record.counts.items() if v)
    status = record.status + (" (read)" if record.collected else "")
    return (str(record.round), record.id, record.model, str(record.requests), status, str(waiting), counts)


def _lines(output: Path) -> int:
    try:
        with output.open("rb") as fh:
            return sum(1 for line in fh if line.strip())
    except OSError:
        return 0
