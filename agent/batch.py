"""``agent batch``: many prompts, N conversations at once, resumable, nothing lost.

One run: read the input as a stream (``agent.batch_io``), skip what the output already holds
(``--resume``) and what belongs to other shards (``--shard I/N``), hand each remaining item to one
of N workers, and append one JSONL line per finished item. Every worker runs its item as its own
:class:`~agent.core.Agent` (its own history) over one shared :class:`~agent.mcp.manager.ServerManager`
and :class:`~agent.tools.Toolbox`, so MCP sessions and OAuth tokens are opened and refreshed once.
Providers are made once per model and shared.

Rate limits: a provider error 429 that is left after the SDK's own retries pauses every worker
until a shared resume time, and the request is sent again (:mod:`agent.batch_providers`).

Stopping: ``--max-errors K`` stops starting items after K failures. SIGINT stops starting items and
lets those in flight finish and be written; a second SIGINT, or SIGTERM, abandons the ones in
flight (they have no line, so ``--resume`` runs them). Exit codes: 0 all items succeeded, 1 some
failed (or a usage problem in the input), 2 usage or configuration error, 3 an MCP server could
not be used, 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict
from itertools import islice
from typing import IO, TYPE_CHECKING, Any

import anyio
from anyio.abc import ObjectReceiveStream, ObjectSendStream

from agent.batch_io import (
    Item,
    ResultWriter,
    count_lines,
    detect_format,
    error_json,
    failed_record,
    open_files,
    parse_options,
    read_items,
    shard_of,
    tool_calls_json,
)
from agent.batch_providers import Providers, SharedBackoff
from agent.batch_report import Counts, Display, ProgressBar, summary_text
from agent.config import approval_mode
from agent.errors import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    AgentError,
    ServerError,
)
from agent.messages import Usage

if TYPE_CHECKING:
    from agent.batch_io import Options
    from agent.config import Config, ServerSettings
    from agent.core import ApprovalFn
    from agent.tools import Toolbox

__all__ = ["SharedBackoff", "main", "run_batch"]

log = logging.getLogger(__name__)


def _approver(config: Config, servers: Mapping[str, ServerSettings]) -> ApprovalFn:
    """Approval with no one to ask: "always" runs the call, "never" and "ask" deny it.

    The rule is the one ``agent run`` uses: the server's per-tool setting (``"*"`` for the rest) or
    its whole-server setting, else the global ``approval``.
    """

    async def approve(server: str, tool: str, arguments: Mapping[str, Any]) -> bool:
        mode = approval_mode(config, servers, server, tool)
        if mode == "ask":
            log.info("batch: %s.%s needs approval, which a batch cannot ask for; denied", server, tool)
        return mode == "always"

    return approve


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
        self.providers = Providers(config, opts.model, backoff, display.paused)
        self.approve: ApprovalFn | None = None
        self.system = ""
        self.toolbox: Toolbox | None = None
        self.feeding = anyio.CancelScope()  # cancelled: start no more items
        self.everything = anyio.CancelScope()  # cancelled: abandon the items in flight too
        self.started = False
        self.interrupted = False
        self.stopped_for_errors = False
        self.in_flight = 0

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
                if signum == signal.SIGINT and first and self.started:
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
        log.info("batch: item %s %s", record["id"], "failed" if failed else "done")
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

    async def run_item(self, item: Item) -> tuple[dict[str, Any], Usage]:
        from agent.core import Agent, Final, ToolCallFinished, ToolCallStarted, TurnError

        assert self.toolbox is not None
        began = time.perf_counter()
        started: dict[str, ToolCallStarted] = {}
        finished: list[ToolCallFinished] = []
        final: Final | None = None
        error: BaseException | None = None
        spec = item.model or self.providers.default
        try:
            provider = self.providers.get(spec)
            spec = f"{provider.name}:{provider.model}"
            agent = Agent(
                provider,
                self.toolbox,
                system=item.system if item.system is not None else self.system,
                max_steps=self.opts.max_steps,
                approve=self.approve,
            )
            async for event in agent.run(item.prompt):
                if isinstance(event, ToolCallStarted):
                    started[event.call_id] = event
                elif isinstance(event, ToolCallFinished):
                    finished.append(event)
                elif isinstance(event, TurnError):
                    error = event.error
                elif isinstance(event, Final):
                    final = event
        except AgentError as exc:
            error = exc
        except Exception as exc:
            log.exception("batch: item %s failed unexpectedly", item.id)
            error = exc
        if final is None and error is None:
            error = AgentError("the turn ended without an answer")
        usage = final.usage if final else Usage()
        answer = final.answer if final is not None else None
        if error is not None and not answer:
            answer = None
        stop_reason = final.stop_reason if final else "error"
        record: dict[str, Any] = {
            "id": item.id,
            "line": item.line,
            "answer": answer,
            "error": error_json(error, stop_reason),
            "tool_calls": tool_calls_json(final.tool_calls if final else tuple(finished), started),
            "usage": asdict(usage),
            "steps": final.steps if final else 0,
            "stop_reason": stop_reason,
            "model": spec,
            "duration_ms": round((time.perf_counter() - began) * 1000),
            **item.extra,
        }
        return record, usage

    async def worker(self, items: ObjectReceiveStream[Item]) -> None:
        async with items:
            async for item in items:
                self.in_flight += 1
                try:
                    record, usage = await self.run_item(item)
                finally:
                    self.in_flight -= 1
                await self.finish(record, usage)

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
        if item.problem is not None:
            self.display.note(item.problem)
            await self.finish(failed_record(item, "BadInput", item.problem), Usage())
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


async def run_batch(args: argparse.Namespace, config: Config, *, backoff: SharedBackoff | None = None) -> int:
    """``main`` with the rate-limit backoff as a parameter (tests use a short one)."""
    opts = parse_options(args, config)
    from agent.core import load_system_prompt

    system = load_system_prompt(config)
    display: Display = ProgressBar() if sys.stderr.isatty() else Display()
    files = open_files(opts)
    if files.scan.truncated_bytes:
        log.info("batch: cut a half-written last line (%d bytes) off the output", files.scan.truncated_bytes)
    if files.scan.unreadable:
        display.note(f"{files.scan.unreadable} unreadable line(s) in the output; their items run again")
    writer = ResultWriter(files.output, sync=opts.output is not None, name=str(opts.output or "stdout"))
    batch = _Batch(opts, config, writer, display, backoff or SharedBackoff())
    batch.system = system
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
        files.close()
        with anyio.CancelScope(shield=True):
            await batch.providers.aclose()
    if failure is not None:
        raise _user_error(failure)
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
    from agent.config import select_servers
    from agent.mcp.manager import ServerManager
    from agent.tools import Toolbox

    opts, config = batch.opts, batch.config
    batch.providers.get(None)  # a bad default model is a usage error before anything starts
    from agent.mcp.oauth import auth_factory_for

    servers = select_servers(config, opts.servers, opts.url)
    batch.approve = _approver(config, servers)
    # A browser login only with someone at the terminal (and stdin free to paste a URL into).
    interactive = opts.input != "-" and sys.stdin.isatty() and sys.stderr.isatty()
    async with ServerManager(
        servers, auth_factory=auth_factory_for(config, allow_login=interactive)
    ) as manager:
        failed = [s for s in manager.states.values() if s.status == "failed"]
        if failed:
            state = failed[0]
            raise state.error or ServerError(state.name, "could not connect")
        batch.toolbox = await Toolbox.load(manager, max_result_tokens=config.max_tool_result_tokens)
        total = (
            count_lines(opts.input) if isinstance(batch.display, ProgressBar) and opts.input != "-" else None
        )
        batch.display.start(None if opts.shard else total)
        batch.started = True
        if batch.interrupted:
            return
        send, receive = anyio.create_memory_object_stream[Item](0)
        async with anyio.create_task_group() as tg:
            tg.start_soon(batch.feed, in_fh, send, done)
            async with receive:
                for _ in range(opts.concurrency):
                    tg.start_soon(batch.worker, receive.clone())


async def main(args: argparse.Namespace, config: Config) -> int:
    """``agent batch``: see the module docstring; exit codes 0, 1, 2, 3, 130."""
    return await run_batch(args, config)
