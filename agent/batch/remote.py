"""``agent batch --via batch-api``: the tool loop in rounds of provider batches.

Every item runs the ordinary agent loop (:meth:`agent.session.Session.turn`: the same approval
policy, tool calls, step limit and events as ``--via live``), with one difference: its model answers
come from provider batches. Its provider (:class:`_RoundProvider`) parks each model request; once
every live item is parked or finished, the engine submits the parked requests (grouped by model,
split by the API's limits) as provider batches, records them in the state file, polls until one
ends, and hands each item its result. The items then run their tool calls locally (at most
``--concurrency`` items at once) and park their next request, or finish and are written at once.
That repeats until every item has its line.

Resume: the state file (:mod:`agent.batch.state`) holds each unfinished item's history up to its
pending request and the provider batch that holds it (if submitted). A restarted job goes on with
each item from there (``prompt=None``, ``steps_taken``): a request already submitted is only
waited for (its results are read again), never sent again. Items the output already holds are
dropped from the state. Tool calls of an item whose results arrived but whose next request was not
yet submitted run again after a restart.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from pathlib import Path
from typing import IO, TYPE_CHECKING

import anyio

from agent.batch.io import Item
from agent.batch.item import Outcome, Prior, item_record, run_turn
from agent.batch.state import BatchRecord, ItemState, JobState, encode_state, write_state
from agent.errors import AgentError, ProviderError
from agent.messages import (
    AssistantMessage,
    ModelRequest,
    ModelResponse,
    ResponseDone,
    StreamEvent,
    TextDelta,
    TextPart,
    Usage,
    dump_messages,
    load_messages,
)
from agent.providers.batch import BatchResult, BatchStatus, result_error
from agent.records import tool_call_json

if TYPE_CHECKING:
    from anyio.abc import ObjectReceiveStream, TaskGroup

    from agent.batch import _Batch
    from agent.core import Event
    from agent.providers.batch import BatchAPI

__all__ = ["RoundEngine"]

log = logging.getLogger(__name__)


class _Live:
    """One item in this process: its saved state, and where its turn stands."""

    def __init__(self, state: ItemState, item: Item, *, submitted: bool) -> None:
        self.state = state
        self.item = item
        self.submitted = submitted  # its first request is in a provider batch already (a resumed job)
        self.request: ModelRequest | None = None  # parked, not yet submitted
        self.asks = 0  # model requests made in this process
        self.steps_seen = 0  # StepStarted events its consumer has handled
        self.asking = False
        self.parked = False
        self.answered = anyio.Event()
        self.result: BatchResult | None = None
        self.base_steps = state.steps
        self.prior = Prior(state.usage, tuple(state.tool_calls), state.answer)
        self.usage = Usage()  # of the steps taken in this process
        self.calls: list[dict[str, object]] = []  # tool calls finished in this process, as output JSON
        self.holding = False  # holds one of the --concurrency slots (its tools are running)
        self.last_batch: str | None = state.batch


class _RoundProvider:
    """The provider an item's agent loop talks to: each request is parked for the next round."""

    def __init__(self, engine: RoundEngine, live: _Live, api: BatchAPI) -> None:
        self._engine = engine
        self._live = live
        self._api = api

    @property
    def name(self) -> str:
        return self._api.name

    @property
    def model(self) -> str:
        return self._api.model

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        response = await self._engine.ask(self._live, request)
        for part in response.message.parts:
            if isinstance(part, TextPart):
                yield TextDelta(part.text)
        yield ResponseDone(response)

    async def aclose(self) -> None:
        pass


class RoundEngine:
    """One run of a batch-api job (see the module doc)."""

    def __init__(self, run: _Batch, state: JobState, path: Path, *, poll: float) -> None:
        self.run = run
        self.state = state
        self.path = path
        self.poll = poll
        self.live: dict[str, _Live] = {}
        self.total = 0
        self.parked = 0
        self.finished = 0
        self.fed = False
        self._changed = anyio.Event()
        self._slots = anyio.Semaphore(run.opts.concurrency)

    # -- the job ------------------------------------------------------------------------------

    async def run_job(self, in_fh: IO[bytes], done: set[str]) -> None:
        """Go on with the items of the state, start the input's new ones, run rounds to the end."""
        for key in done & self.state.items.keys():
            del self.state.items[key]  # written before a kill, not yet dropped from the state
        send, receive = anyio.create_memory_object_stream[Item](0)
        async with anyio.create_task_group() as tg:
            for state in list(self.state.items.values()):
                item = Item(state.id, state.line, "", state.system, state.model, state.extra)
                known = state.batch is not None and self.state.batch(state.batch) is not None
                self._start(tg, _Live(state, item, submitted=known))
            tg.start_soon(self.run.feed, in_fh, send, done)
            tg.start_soon(self._take_new, receive, tg)
            await self._rounds()
            tg.cancel_scope.cancel()  # stopped early: what waits stays in the state for --resume
        await self.save()

    async def _take_new(self, receive: ObjectReceiveStream[Item], tg: TaskGroup) -> None:
        async with receive:
            async for item in receive:
                if item.key not in self.live:  # else: an item of the state, under way already
                    self._new_item(item, tg)
        self.fed = True
        self._poke()

    def _new_item(self, item: Item, tg: TaskGroup) -> None:
        session = self.run.session
        assert session is not None
        spec = item.model or self.run.opts.model
        try:
            api = session.batch_api_for(spec)
        except AgentError as exc:
            self.total += 1
            tg.start_soon(self._fail_at_once, item, spec, exc)
            return
        state = ItemState(
            self.state.next_seq, item.id, item.line, f"{api.name}:{api.model}", item.system, item.extra, []
        )
        self.state.next_seq += 1
        self.state.items[item.key] = state
        self._start(tg, _Live(state, item, submitted=False))

    async def _fail_at_once(self, item: Item, spec: str, error: AgentError) -> None:
        record, usage = item_record(item, spec, Outcome(error=error), 0)
        await self.run.finish(record, usage)
        self.finished += 1
        self._poke()

    def _start(self, tg: TaskGroup, live: _Live) -> None:
        self.live[live.item.key] = live
        self.total += 1
        tg.start_soon(self._item, live)

    async def _item(self, live: _Live) -> None:
        session = self.run.session
        assert session is not None
        state = live.state
        history = load_messages(state.history)
        prompt = None if history else live.item.prompt
        provider = _RoundProvider(self, live, session.batch_api_for(state.model))

        def on_event(event: Event) -> None:
            from agent.core import StepStarted, ToolCallFinished, UsageUpdate

            if isinstance(event, StepStarted):
                live.steps_seen += 1
                self._check(live)
            elif isinstance(event, UsageUpdate):
                live.usage = live.usage + event.usage
            elif isinstance(event, ToolCallFinished):
                live.calls.append(tool_call_json(event))

        outcome = await run_turn(
            str(state.id),
            lambda: session.turn(
                prompt,
                history,
                model=state.model,
                system=state.system,
                provider=provider,
                steps_taken=live.base_steps,
            ),
            on_event,
        )
        duration = (time.time() - state.started_at) * 1000
        record, usage = item_record(
            live.item, state.model, outcome, duration, prior=live.prior, batch_id=live.last_batch
        )
        self._release(live)
        await self.run.finish(record, usage)
        self.state.items.pop(live.item.key, None)
        self.finished += 1
        self._poke()

    # -- parking ------------------------------------------------------------------------------

    async def ask(self, live: _Live, request: ModelRequest) -> ModelResponse:
        """Park ``request`` until a provider batch answers it; the response, or its error raised."""
        self._release(live)
        if live.submitted:
            live.submitted = False  # already in a provider batch (saved before a restart): wait only
        else:
            live.request = request
        live.asks += 1
        live.asking = True
        self._check(live)
        await live.answered.wait()
        live.answered = anyio.Event()
        result, live.result = live.result, None
        assert result is not None
        await self._slots.acquire()
        live.holding = True
        if result.error is not None:
            raise result.error
        assert result.response is not None
        return result.response

    def _check(self, live: _Live) -> None:
        """Parked: it asked, and its consumer has seen every event before the request."""
        if live.asking and live.steps_seen == live.asks and not live.parked:
            live.parked = True
            self.parked += 1
            self._poke()

    def _deliver(self, live: _Live, result: BatchResult) -> None:
        live.result = result
        live.asking = live.parked = False
        self.parked -= 1
        live.answered.set()

    def _release(self, live: _Live) -> None:
        if live.holding:
            live.holding = False
            self._slots.release()

    def _poke(self) -> None:
        self._changed.set()

    async def _quiet(self) -> None:
        """Until every item is parked or finished (and the input is read)."""
        while not (self.fed and self.parked + self.finished == self.total):
            await self._changed.wait()
            self._changed = anyio.Event()

    # -- rounds -------------------------------------------------------------------------------

    async def _rounds(self) -> None:
        while True:
            await self._quiet()
            if self.finished == self.total or self.run.feeding.cancel_called:
                return
            queued = [live for live in self.live.values() if live.parked and live.request is not None]
            if queued:
                await self._submit(queued)
            if self.parked:
                await self._wait_for_results()

    async def _submit(self, queued: list[_Live]) -> None:
        session = self.run.session
        assert session is not None
        self.state.round += 1
        for live in queued:
            self._snapshot(live)
        await self.save()  # before any batch exists: a restart resubmits what was not submitted
        groups: dict[str, list[_Live]] = defaultdict(list)
        for live in queued:
            groups[live.state.model].append(live)
        for spec, lives in groups.items():
            api = session.batch_api_for(spec)
            for chunk in self._chunks(api, lives):
                await self._submit_one(api, spec, chunk)

    def _chunks(self, api: BatchAPI, lives: list[_Live]) -> list[list[tuple[_Live, str, bytes]]]:
        """The requests as encoded lines, in chunks within the API's limits; a request too big for
        any batch fails its item."""
        limits = api.limits
        chunks: list[list[tuple[_Live, str, bytes]]] = []
        current: list[tuple[_Live, str, bytes]] = []
        size = 0
        for live in lives:
            assert live.request is not None
            custom_id = f"i{live.state.seq}-s{live.state.steps + 1}"
            line = api.encode(custom_id, live.request)
            if len(line) + 1 > limits.max_bytes:
                live.request = None
                error = ProviderError(
                    api.name,
                    f"the request is {len(line):,} bytes; a provider batch takes at most {limits.max_bytes:,}",
                    model=api.model,
                    hint="run this item with --via live",
                )
                self._deliver(live, BatchResult(custom_id, error=error))
                continue
            if current and (len(current) >= limits.max_requests or size + len(line) + 1 > limits.max_bytes):
                chunks.append(current)
                current, size = [], 0
            current.append((live, custom_id, line))
            size += len(line) + 1
        if current:
            chunks.append(current)
        return chunks

    async def _submit_one(self, api: BatchAPI, spec: str, chunk: list[tuple[_Live, str, bytes]]) -> None:
        lines = [line for _, _, line in chunk]
        metadata = {"agent_output": Path(self.state.output).name[:500], "agent_round": str(self.state.round)}
        status = await api.submit(lines, metadata=metadata)
        record = BatchRecord(
            status.id,
            spec,
            self.state.round,
            len(lines),
            sum(len(line) + 1 for line in lines),
            time.time(),
            status.status,
            dict(status.counts),
        )
        self.state.batches.append(record)
        for live, custom_id, _ in chunk:
            live.state.batch, live.state.custom_id = status.id, custom_id
            live.request = None
        await self.save()
        log.info("batch: round %d: submitted %d request(s) as batch %s", record.round, len(lines), status.id)
        self.run.display.note(
            f"round {record.round}: {len(lines)} request(s) submitted to {api.name} as batch {status.id}"
        )

    def _snapshot(self, live: _Live) -> None:
        """The item's state at this request: history, steps, usage, calls, answer; not submitted."""
        assert live.request is not None
        state = live.state
        state.history = dump_messages(live.request.messages)
        state.steps = live.base_steps + live.asks - 1
        state.usage = live.prior.usage + live.usage
        state.tool_calls = [*live.prior.tool_calls, *live.calls]
        texts = [m.text for m in live.request.messages if isinstance(m, AssistantMessage) and m.text]
        state.answer = texts[-1] if texts else live.prior.answer
        state.batch = state.custom_id = None

    async def _wait_for_results(self) -> None:
        """Poll the batches parked items wait for until one or more end; hand out their results."""
        session = self.run.session
        assert session is not None
        waited = {live.state.batch for live in self.live.values() if live.parked and live.state.batch}
        records = [r for r in self.state.batches if r.id in waited]
        if not records:
            raise AgentError(
                "internal error: items wait for no provider batch", hint="run again with --resume"
            )
        while True:
            ended: list[tuple[BatchRecord, BatchStatus]] = []
            for record in records:
                status = await session.batch_api_for(record.model).status(record.id)
                if status.status != record.status:
                    log.info("batch: batch %s is %s", record.id, status.status)
                record.status, record.counts, record.ended = status.status, dict(status.counts), status.ended
                if status.ended:
                    ended.append((record, status))
            if ended:
                for record, status in ended:
                    await self._collect(record, status)
                return
            await anyio.sleep(self.poll)

    async def _collect(self, record: BatchRecord, status: BatchStatus) -> None:
        session = self.run.session
        assert session is not None
        api = session.batch_api_for(record.model)
        waiting = {
            live.state.custom_id: live
            for live in self.live.values()
            if live.parked and live.state.batch == record.id and live.state.custom_id
        }
        async for result in api.results(record.id):
            live = waiting.pop(result.custom_id, None)
            if live is not None:
                live.last_batch = record.id
                self._deliver(live, result)
        for custom_id, live in waiting.items():
            reason = status.error or "the provider returned no result for this request"
            live.last_batch = record.id
            self._deliver(
                live, BatchResult(custom_id, error=result_error(api.name, api.model, status.status, reason))
            )
        record.collected = True
        self.run.display.note(f"round {record.round}: batch {record.id} {status.status}; results read")

    async def save(self) -> None:
        raw = encode_state(self.state)  # here: the loop is the only writer of the state
        await anyio.to_thread.run_sync(write_state, raw, self.path)
