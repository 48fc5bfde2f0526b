"""``agent batch``: many prompts, N conversations at once, resumable, nothing lost.

One run: read the input as a stream (:mod:`agent.batch.io`), skip what the output already holds
(``--resume``) and what belongs to other shards (``--shard I/N``), hand each remaining item to one
of N workers, and append one JSONL line per finished item. Every item is its own conversation
(its own history) over one shared :class:`~agent.session.Session`, so MCP sessions and OAuth
tokens are opened and refreshed once, and providers are made once per model.

Rate limits: a provider error 429 that is left after the SDK's own retries pauses every worker
until a shared resume time (at least the server's ``Retry-After``), and the request is sent again
(:mod:`agent.providers.pacing`, a Session option).

``--via batch-api`` runs the same items in rounds of provider batches instead
(:mod:`agent.batch.remote`, state in :mod:`agent.batch.state`; ``--status`` / ``--cancel``:
:mod:`agent.batch.control`); a signal stops it at once, since the work goes on at the provider.

Stopping: ``--max-errors K`` stops starting items after K failures. SIGINT stops starting items and
lets those in flight finish and be written; a second SIGINT, or SIGTERM, abandons the ones in
flight (they have no line, so ``--resume`` runs them). A model the provider does not know (404,
:class:`~agent.errors.ModelNotFoundError`) stops the run at its first answer, with no line for the
items it touched: every item would fail alike (``--via live``; an item's own ``model`` fails only
that item). Exit codes: 0 all items succeeded, 1 some failed (or a usage problem in the input),
2 usage or configuration error (an unknown model too), 3 an MCP server could not be used,
130 interrupted.
"""

from __future__ import annotations

import logging
import signal
import sys
import time
from collections.abc import Iterator
from itertools import islice
from typing import IO, TYPE_CHECKING, Any

import anyio
from anyio.abc import ObjectReceiveStream, ObjectSendStream

from agent.batch.io import (
    Item,
    ResultWriter,
    count_lines,
    detect_format,
    failed_record,
    open_files,
    parse_options,
    read_items,
    shard_of,
)
from agent.batch.item import Outcome, item_record, run_turn
from agent.batch.report import Counts, Display, ProgressBar, summary_text
from agent.batch.state import JobState, load_state, state_path
from agent.errors import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    AgentError,
    ModelNotFoundError,
    ServerError,
)
from agent.messages import Usage
from agent.options import BatchOptions
from agent.providers.pacing import SharedBackoff

if TYPE_CHECKING:
    from agent.batch.io import Options
    from agent.config import Config
    from agent.session import Session

__all__ = ["SharedBackoff", "main", "run_batch"]

log = logging.getLogger(__name__)


class _Batch:
    """The state of one run: counters, the stop and abandon switches, the shared parts."""

    def __init__(
        self, opts: Options, config: Config, writer: ResultWriter, display: Display, backoff: SharedBackoff
    ) -> None:
        self.opts = opts
        self.config = config
        self.writer = writer
        self.display = display
        self.backoff = backoff
        self.counts = Counts()
        self.session: Session | None = None
        self.feeding = anyio.CancelScope()  # cancelled: start no more items
        self.everything = anyio.CancelScope()  # cancelled: abandon the items in flight too
        self.started = False
        self.interrupted = False
        self.stopped_for_errors = False
        self.in_flight = 0
        self.no_model: ModelNotFoundError | None = None  # the batch's model is unknown: stopped

    # -- stopping ---------------------------------------------------------------------------

    def stop_feeding(self) -> None:
        self.feeding.cancel()

    def abandon(self) -> None:
        self.feeding.cancel()
        self.everything.cancel()

    async def watch_signals(self) -> None:
        try:
            receiver = anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM)
            signals = receiver.__enter__()
        except (NotImplementedError, ValueError, RuntimeError):
            return  # not the main thread, or no signal support: Ctrl-C raises KeyboardInterrupt
        try:
            async for signum in signals:
                first = not self.interrupted
                self.interrupted = True
                if self.opts.via == "batch-api" and self.started:
                    # The model work is at the provider: nothing is lost by stopping at once.
                    self.display.note(
                        "stopping: the provider batches go on; run again with --resume to collect "
                        "them (or --cancel OUTPUT to cancel them)"
                    )
                    self.abandon()
                elif signum == signal.SIGINT and first and self.started:
                    self.display.note(
                        f"stopping: finishing {self.in_flight} item(s) in flight "
                        "(Ctrl-C again to abandon them; --resume runs them later)"
                    )
                    self.stop_feeding()
                else:
                    self.abandon()
        finally:
            receiver.__exit__(None, None, None)

    # -- items ------------------------------------------------------------------------------

    async def finish(self, record: dict[str, Any], usage: Usage) -> None:
        """Write one item's line; count it; stop feeding after too many failures."""
        with anyio.CancelScope(shield=True):
            await self.writer.write(record)
        failed = record["error"] is not None
        self.counts.usage = self.counts.usage + usage
        log.debug("batch: item %s %s", record["id"], "failed" if failed else "done")
        if failed:
            self.count_failure()
        else:
            self.counts.done += 1
            self.display.advance(failed=False)

    def count_failure(self) -> None:
        """One more failed item; stop feeding at ``--max-errors``."""
        self.counts.failed += 1
        self.display.advance(failed=True)
        limit = self.opts.max_errors
        if limit is not None and self.counts.failed >= limit and not self.stopped_for_errors:
            self.stopped_for_errors = True
            self.display.note(f"stopping: {self.counts.failed} failed item(s) (--max-errors {limit})")
            self.stop_feeding()

    async def run_item(self, item: Item) -> tuple[dict[str, Any], Usage] | None:
        """The item's line and usage; None when the batch's own model proved unknown (the item
        gets no line, so --resume runs it, and the batch stops: every item would fail alike)."""
        session = self.session
        assert session is not None
        began = time.perf_counter()
        spec = item.model or self.opts.model
        try:
            provider = session.provider_for(spec)
        except AgentError as exc:
            return item_record(item, spec, Outcome(error=exc), 0)
        spec = f"{provider.name}:{provider.model}"
        outcome = await run_turn(
            str(item.id), lambda: session.turn(item.prompt, [], model=spec, system=item.system)
        )
        default = session.provider
        if (
            isinstance(outcome.error, ModelNotFoundError)
            and provider.model == default.model
            and provider.name == default.name
        ):
            self.stop_for_model(outcome.error)
            return None
        return item_record(item, spec, outcome, (time.perf_counter() - began) * 1000)

    def stop_for_model(self, error: ModelNotFoundError) -> None:
        """The batch's model is unknown to its provider: stop at once, the run exits 2."""
        if self.no_model is None:
            self.no_model = error
            self.abandon()

    async def worker(self, items: ObjectReceiveStream[Item]) -> None:
        async with items:
            async for item in items:
                if item.problem is not None:
                    # Written by a worker, not the feeder: with one worker, lines follow the input.
                    self.display.note(item.problem)
                    await self.finish(failed_record(item, "BadInput", item.problem), Usage())
                    continue
                self.in_flight += 1
                try:
                    done = await self.run_item(item)
                finally:
                    self.in_flight -= 1
                if done is not None:
                    await self.finish(*done)

    async def feed(self, stream: IO[bytes], out: ObjectSendStream[Item], done: set[str]) -> None:
        """Read the input, skip what is done or another shard's, hand the rest to the workers."""
        fmt = detect_format(self.opts.input) if self.opts.input != "-" else None
        chunk = 1 if self.opts.input == "-" else 64  # a pipe: never wait for lines not yet written
        items = read_items(stream, fmt)
        seen: set[str] = set()
        async with out:
            with self.feeding:
                while batch := await anyio.to_thread.run_sync(_take, items, chunk, abandon_on_cancel=True):
                    for item in batch:
                        await self._feed_one(item, out, done, seen)

    async def _feed_one(
        self, item: Item, out: ObjectSendStream[Item], done: set[str], seen: set[str]
    ) -> None:
        key = item.key
        if self.opts.shard is not None and shard_of(key, self.opts.shard[1]) != self.opts.shard[0]:
            self.counts.other_shards += 1
            return
        if key in seen:
            self.display.note(f"line {item.line}: duplicate id {item.id!r}; not run (ids must be unique)")
            self.count_failure()
            return
        seen.add(key)
        if key in done:
            done.discard(key)  # ``seen`` remembers it now: hold each id once
            self.counts.skipped += 1
            self.display.advance(failed=False, skipped=True)
            return
        await out.send(item)


def _take(items: Iterator[Item], n: int) -> list[Item]:
    return list(islice(items, n))


def _user_error(exc: BaseException) -> BaseException:
    """The first AgentError inside task-group wrappers, so a user sees a message, not a traceback."""
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _user_error(inner)
            if isinstance(found, AgentError):
                return found
    return exc


async def run_batch(args: BatchOptions, config: Config, *, backoff: SharedBackoff | None = None) -> int:
    """``main`` with the rate-limit backoff as a parameter (tests use a short one)."""
    opts = parse_options(args, config)
    display: Display = ProgressBar() if sys.stderr.isatty() else Display()
    files = open_files(opts)
    if files.scan.truncated_bytes:
        log.info("batch: cut a half-written last line (%d bytes) off the output", files.scan.truncated_bytes)
    if files.scan.unreadable:
        display.note(f"{files.scan.unreadable} unreadable line(s) in the output; their items run again")
    if files.scan.retried:
        display.note(f"{files.scan.retried} failed item(s) taken out of the output to run again")
    writer = ResultWriter(files.output, sync=opts.output is not None, name=str(opts.output or "stdout"))
    batch = _Batch(opts, config, writer, display, backoff or SharedBackoff())
    began = time.perf_counter()
    failure: BaseException | None = None
    try:
        async with anyio.create_task_group() as watcher:
            watcher.start_soon(batch.watch_signals)
            try:
                with batch.everything:
                    await _run(batch, files.input, files.scan.done)
            except BaseException as exc:  # re-raised after the watcher is gone
                failure = exc
            finally:
                watcher.cancel_scope.cancel()
    finally:
        display.stop()
        try:
            writer.sync()
        except AgentError as exc:
            failure = failure or exc
        files.close()
    if failure is not None:
        raise _user_error(failure)
    if batch.no_model is not None:
        error = batch.no_model
        error.hint = f"{error.hint}; no item was written for it: fix --model, then run again with --resume"
        raise error
    where = str(opts.output) if opts.output is not None else "stdout"
    wall = time.perf_counter() - began
    display.note(
        summary_text(
            batch.counts,
            wall,
            where,
            pauses=batch.backoff.pauses,
            interrupted=batch.interrupted,
            stopped_early=batch.stopped_for_errors,
        )
    )
    if batch.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_FAILURE if batch.counts.failed else EXIT_OK


async def _run(batch: _Batch, in_fh: IO[bytes], done: set[str]) -> None:
    from agent.elicit_ui import declined
    from agent.session import Session, SessionOptions

    opts = batch.opts
    # A browser login only with someone at the terminal (and stdin free to paste a URL into).
    interactive = opts.input != "-" and sys.stdin.isatty() and sys.stderr.isatty()
    wanted = SessionOptions(
        servers=opts.servers,
        adhoc=opts.adhoc,
        model=opts.model,
        max_steps=opts.max_steps,
        allow_login=interactive,
        streaming=False,
        backoff=batch.backoff,
        on_pause=batch.display.paused,
        on_server_failed=lambda error: batch.display.note(_server_line(error)),
        elicitation=declined,  # nobody can answer a server's question in a batch
    )
    job: JobState | None = None
    if opts.via == "batch-api":
        assert opts.output is not None
        path = state_path(opts.output)
        job = load_state(path) if path.exists() else JobState(opts.input, str(opts.output))
    async with Session.open(batch.config, wanted) as session:
        batch.session = session
        total = (
            count_lines(opts.input) if isinstance(batch.display, ProgressBar) and opts.input != "-" else None
        )
        batch.display.start(None if opts.shard else total)
        batch.started = True
        if batch.interrupted:
            return
        if job is not None:
            from agent.batch.remote import RoundEngine

            # An unknown model: exit 2 before anything is submitted, not every item failed later.
            await session.batch_api_for(None).check_model()
            await RoundEngine(batch, job, path, poll=opts.poll).run_job(in_fh, done)
            return
        send, receive = anyio.create_memory_object_stream[Item](0)
        async with anyio.create_task_group() as tg:
            tg.start_soon(batch.feed, in_fh, send, done)
            async with receive:
                for _ in range(opts.concurrency):
                    tg.start_soon(batch.worker, receive.clone())


def _server_line(error: ServerError) -> str:
    return f"{error.message} ({error.hint})" if error.hint else error.message


async def main(options: BatchOptions, config: Config) -> int:
    """``agent batch``: see the module docstring; exit codes 0, 1, 2, 3, 130."""
    if options.status is not None or options.cancel is not None:
        from agent.batch.control import control_job

        return await control_job(options, config)
    return await run_batch(options, config)
