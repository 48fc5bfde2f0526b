"""The agent loop: send the turn with tools, run the tool calls, feed results back, repeat.

The loop renders nothing and reads no files: it emits typed events, and the commands decide what
to show. One turn, as events::

    StepStarted(1) TextDelta… UsageUpdate ToolCallStarted… ToolCallFinished…   (model asked for tools)
    StepStarted(2) TextDelta… UsageUpdate                                      (model answered)
    Final

The tool calls of one response run concurrently; their ``ToolCallStarted`` events come, in the
model's order, before any of them starts, and each ``ToolCallFinished`` the moment its call ends,
so in completion order (denied calls first: they are known before anything runs). The model still
gets the results in its own order. ``ToolCallFinished`` carries everything about its call (server,
tool, arguments, result, duration), so no consumer needs to remember the ``ToolCallStarted``.

:meth:`Agent.turn` is a coroutine that hands each event to a callback; :func:`events` turns that
into an async iterator, running the loop in a task of a task group the caller owns (the Session's),
so no cancel scope is held open across a ``yield`` and a consumer may stop iterating at any point
(``break``, cancellation, Ctrl-C): the loop is cancelled and waited for.

History stays valid whatever happens: after every turn, also a failed or cancelled one, it ends
with an assistant message and every tool call has its result. A turn that stops early (error,
step limit, cancellation) gets a short bracketed assistant note saying so, and calls that never
ran get an error result ("cancelled", "not run").
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import anyio

from agent.errors import AgentError, ProviderError
from agent.events import (
    Event,
    Final,
    Retrying,
    StepStarted,
    ToolCallFinished,
    ToolCallStarted,
    TurnError,
    UsageUpdate,
)
from agent.messages import (
    AssistantMessage,
    Message,
    ModelRequest,
    ModelResponse,
    StreamEvent,
    TextDelta,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    ToolSpec,
    Usage,
    UserMessage,
)
from agent.providers.base import Provider

if TYPE_CHECKING:
    from anyio.abc import TaskGroup

    from agent.tools import ToolEntry

__all__ = [
    "NO_ONE_TO_ASK",
    "Agent",
    "ApprovalFn",
    "Emit",
    "Event",
    "Final",
    "Prepare",
    "Retrying",
    "StepStarted",
    "TextDelta",
    "ToolCallFinished",
    "ToolCallStarted",
    "Tools",
    "TurnError",
    "UsageUpdate",
    "events",
]

log = logging.getLogger(__name__)

DENIED = "denied by the user"
# Approval "ask" with no one at a terminal to answer (a pipe, CI, a batch): nobody refused it.
NO_ONE_TO_ASK = (
    "not run: this tool needs the user's approval and no one was there to give it (no terminal); "
    "the user did not refuse it"
)
# A response that broke off is sent again up to this often, after 0.5, 1, 2 … 8 s (the SDKs'
# backoff for a 5xx, which they retry themselves before a response starts).
STREAM_RETRIES = 2
CANCELLED = "cancelled: the user interrupted the turn before this call finished"


# Asked before each call of a real tool: (server, tool, arguments) -> allowed? True runs it;
# False denies it (the model is told: DENIED); a text denies it with that text as the reason.
ApprovalFn = Callable[[str, str, Mapping[str, Any]], Awaitable[bool | str]]


class Tools(Protocol):
    """What the loop needs of the tools (a :class:`~agent.tools.Toolbox`, or the Session's
    :class:`~agent.tool_search.ToolOffer`): what to offer each step, what a name is, a call."""

    def specs_for(self, history: Sequence[Message]) -> Sequence[ToolSpec]:
        """The tools offered for the next model request, given the conversation so far."""
        ...

    def resolve(self, name: str) -> ToolEntry | None: ...

    async def call(self, name: str, arguments: object, *, call_id: str = "") -> ToolResultPart: ...

    async def run(
        self, name: str, arguments: object, *, call_id: str = ""
    ) -> tuple[ToolResultPart, AgentError | None]:
        """:meth:`call`, and the error behind an error result when it was ours or the server's."""
        ...

    async def refresh(self) -> None:
        """Catch up with the servers (one came back, its tools changed) before a model request."""
        ...


# Awaited before each model request with (history, system, tools); may shorten the history in
# place to fit the model's context window (agent/context.py).
Prepare = Callable[[list[Message], str, Sequence[ToolSpec]], Awaitable[None]]

# Takes each event of a turn; must not block.
Emit = Callable[[Event], None]

# Returns once the consumer has handled every event emitted so far.
Settle = Callable[[], Awaitable[None]]


def _unreadable(problem: str) -> str:
    return f"error: the tool was not run: {problem}. Call it again with the arguments as one JSON object."


def _error_result(call: ToolCallPart, text: str) -> ToolResultPart:
    return ToolResultPart(call.id, call.name, (TextPart(text),), is_error=True)


@dataclass(slots=True)
class _Plan:
    """One tool call of a response, with what the loop decided about it."""

    call: ToolCallPart
    entry: ToolEntry | None
    finished: ToolCallFinished | None = None

    def finish(
        self,
        result: ToolResultPart,
        duration_ms: float,
        *,
        denied: bool = False,
        failure: AgentError | None = None,
    ) -> ToolCallFinished:
        entry = self.entry
        self.finished = ToolCallFinished(
            self.call.id,
            self.call.name,
            entry.server if entry else None,
            entry.tool if entry else None,
            self.call.arguments,
            result,
            duration_ms,
            denied,
            failure,
        )
        return self.finished


class Agent:
    """Runs turns of one conversation against one provider and a toolbox of MCP tools.

    ``history`` is the conversation so far; a turn appends to it only complete, valid messages
    (every tool call has its result), also when the turn is cancelled or fails. ``approve`` is
    asked before each call of a real tool (not of a built-in one). Each step offers the model
    ``toolbox.specs_for(history)``.
    """

    def __init__(
        self,
        provider: Provider,
        toolbox: Tools,
        *,
        system: str,
        max_steps: int = 25,
        history: list[Message] | None = None,
        approve: ApprovalFn | None = None,
        prepare: Prepare | None = None,
    ) -> None:
        if max_steps < 1:
            raise ValueError("max_steps must be at least 1")
        self.provider = provider
        self.toolbox = toolbox
        self.system = system
        self.max_steps = max_steps
        self.approve = approve
        self.prepare = prepare
        self._history: list[Message] = history if history is not None else []

    @property
    def history(self) -> list[Message]:
        return self._history

    async def turn(
        self, prompt: str | None, emit: Emit, settle: Settle | None = None, *, steps_taken: int = 0
    ) -> None:
        """One user turn; the last event emitted is always a ``Final`` (after a ``TurnError`` too),
        unless the turn is cancelled: then the history is closed off as described in the module doc
        and no ``Final`` is sent.

        ``settle`` waits until the consumer has handled every event emitted so far; it is awaited
        before approval is asked, so that a UI has shown the text the question is about.

        ``prompt=None`` goes on with a turn saved part-way (``agent batch --via batch-api`` after a
        restart): the history ends with the user message the next model step answers (the prompt or
        tool results) and ``steps_taken`` model steps were taken already; they count against
        ``max_steps``. Step numbers and ``Final.steps`` count them all; the usage, answer and tool
        calls of ``Final`` cover the steps taken from here."""
        history = self._history
        if prompt is None:
            if not history or history[-1].role != "user":
                raise ValueError("going on with a turn needs a history that ends with a user message")
        else:
            if history and history[-1].role == "user":
                history.append(AssistantMessage.of("[the previous turn ended without an answer]"))
            history.append(UserMessage.of(prompt))
        note = "[the turn was cancelled before the model answered]"
        total = Usage()
        finished: list[ToolCallFinished] = []
        answer = ""
        step = steps_taken
        try:
            while True:
                step += 1
                emit(StepStarted(step))
                await self.toolbox.refresh()  # a server back, or its tools changed
                tools = self.toolbox.specs_for(history)
                if self.prepare is not None:
                    await self.prepare(history, self.system, tools)
                request = ModelRequest(self.system, tuple(history), tools)
                response, error = await self._request(request, emit)
                if error is not None or response is None:
                    error = error or ProviderError(
                        self.provider.name, "the response stream ended without a response"
                    )
                    note = f"[the turn stopped on an error: {error.message}]"
                    emit(TurnError(error))
                    emit(Final(answer, "error", step, total, tuple(finished)))
                    return

                total = total + response.usage
                emit(UsageUpdate(response.usage, total))
                message = response.message
                if message.text:
                    answer = message.text
                calls = message.tool_calls
                if not calls:
                    if not message.text.strip() and all(isinstance(p, TextPart) for p in message.parts):
                        # Providers reject an empty assistant message in the next request.
                        message = AssistantMessage.of("[no answer]")
                    history.append(message)
                    emit(Final(answer, response.stop_reason, step, total, tuple(finished)))
                    return
                if step >= self.max_steps:
                    limit = f"not run: the step limit ({self.max_steps}) was reached"
                    history.append(message)
                    history.append(UserMessage(tuple(_error_result(c, limit) for c in calls)))
                    note = f"[stopped: the step limit of {self.max_steps} model requests was reached]"
                    emit(
                        TurnError(
                            AgentError(
                                f"stopped after {step} step{'s' if step != 1 else ''} without a final answer",
                                hint="raise max_steps in the config (or --max-steps), or ask for less at once",
                            )
                        )
                    )
                    emit(Final(answer, "max_steps", step, total, tuple(finished)))
                    return

                plans = [_Plan(call, self.toolbox.resolve(call.name)) for call in calls]
                for plan in plans:
                    if plan.entry is None:  # named from what this step offered, built-in tools too
                        from agent.tools import unknown_tool

                        offered = [spec.name for spec in tools]
                        plan.finish(_error_result(plan.call, unknown_tool(plan.call.name, offered)), 0.0)
                    elif plan.call.arguments_error is not None:  # unreadable: never run, never asked about
                        plan.finish(_error_result(plan.call, _unreadable(plan.call.arguments_error)), 0.0)
                await self._ask_approval(plans, settle)
                for plan in plans:
                    entry = plan.entry
                    emit(
                        ToolCallStarted(
                            plan.call.id,
                            plan.call.name,
                            entry.server if entry else None,
                            entry.tool if entry else None,
                            plan.call.arguments,
                        )
                    )
                await self._run_tools(message, plans, emit)
                finished.extend(plan.finished for plan in plans if plan.finished is not None)
        finally:
            if history[-1].role == "user":
                history.append(AssistantMessage.of(note))

    async def _request(
        self, request: ModelRequest, emit: Emit
    ) -> tuple[ModelResponse | None, AgentError | None]:
        """One model request, sent again when its response broke off after it had started."""
        for attempt in range(1, STREAM_RETRIES + 2):
            response, error = await self._request_once(request, emit)
            broke_off = isinstance(error, ProviderError) and error.broke_off
            if error is None or not broke_off or attempt > STREAM_RETRIES:
                return response, error
            delay = min(0.5 * 2 ** (attempt - 1), 8.0)
            log.info("provider %s: %s; sending the request again in %g s", self.provider.name, error, delay)
            emit(Retrying(attempt, delay, error))
            await anyio.sleep(delay)
        raise AssertionError("unreachable")

    async def _request_once(
        self, request: ModelRequest, emit: Emit
    ) -> tuple[ModelResponse | None, AgentError | None]:
        """One model request, its text streamed out as it comes; the response, or the error."""
        response: ModelResponse | None = None
        try:
            async with _closing(self.provider.stream(request)) as stream:
                async for event in stream:
                    if isinstance(event, TextDelta):
                        emit(event)
                    else:
                        response = event.response
        except AgentError as exc:
            return None, exc
        except Exception as exc:
            log.exception("provider %s failed", self.provider.name)
            return None, ProviderError(self.provider.name, f"unexpected failure: {type(exc).__name__}: {exc}")
        return response, None

    async def _ask_approval(self, plans: Sequence[_Plan], settle: Settle | None) -> None:
        """Ask, in the model's order, about every call that names a real tool; mark the denied ones."""
        if self.approve is None:
            return
        waiting = [p for p in plans if p.entry is not None and not p.entry.builtin and p.finished is None]
        if settle is not None and waiting:
            await settle()
        for plan in plans:
            if plan.entry is None or plan.entry.builtin or plan.finished is not None:
                continue
            try:
                allowed = await self.approve(plan.entry.server, plan.entry.tool, plan.call.arguments)
            except Exception:
                log.exception("the approval hook failed; denying %s", plan.call.name)
                allowed = False
            if allowed is not True:
                reason = allowed if isinstance(allowed, str) and allowed else DENIED
                plan.finish(_error_result(plan.call, reason), 0.0, denied=True)

    async def _run_tools(self, message: Message, plans: Sequence[_Plan], emit: Emit) -> None:
        """Run the calls concurrently, each reported as it ends; then record the assistant message
        and the results, in the model's order.

        Whatever stops this (cancellation, Ctrl-C), the assistant message goes into the history
        with one result per call: calls that did not finish get a "cancelled" error result.
        """
        for plan in plans:
            if plan.finished is not None:  # denied or unreadable: known before anything runs
                emit(plan.finished)
        try:
            async with anyio.create_task_group() as tg:
                for plan in plans:
                    if plan.finished is None:
                        tg.start_soon(self._run_one, plan, emit)
        finally:
            for plan in plans:
                if plan.finished is None:
                    plan.finish(_error_result(plan.call, CANCELLED), 0.0)
            results = tuple(plan.finished.result for plan in plans if plan.finished is not None)
            self._history.append(message)
            self._history.append(UserMessage(results))

    async def _run_one(self, plan: _Plan, emit: Emit) -> None:
        call = plan.call
        started = time.perf_counter()
        failure: AgentError | None = None
        try:
            result, failure = await self.toolbox.run(call.name, call.arguments, call_id=call.id)
        except Exception as exc:
            log.exception("tool call %s failed unexpectedly", call.name)
            result = _error_result(call, f"error: {type(exc).__name__}: {exc}")
        emit(plan.finish(result, (time.perf_counter() - started) * 1000, failure=failure))


async def events(
    agent: Agent, prompt: str | None, task_group: TaskGroup, *, steps_taken: int = 0
) -> AsyncIterator[Event]:
    """The events of one turn as an async iterator; the turn runs in a task of ``task_group``.

    Stopping early (``break``, ``aclose``, cancellation) cancels the turn and waits for it, so
    the history is complete when this returns. An unexpected exception of the loop is raised here.
    """
    send, receive = anyio.create_memory_object_stream[Event | _Settled](math.inf)
    scope = anyio.CancelScope()
    done = anyio.Event()
    failure: list[Exception] = []

    async def settle() -> None:
        marker = _Settled()
        send.send_nowait(marker)
        await marker.reached.wait()

    async def produce() -> None:
        try:
            with scope:
                await agent.turn(prompt, send.send_nowait, settle, steps_taken=steps_taken)
        except anyio.BrokenResourceError:
            pass  # the consumer stopped listening
        except Exception as exc:
            failure.append(exc)
        finally:
            send.close()
            done.set()

    task_group.start_soon(produce)
    try:
        async for event in receive:
            if isinstance(event, _Settled):
                event.reached.set()  # the consumer is back for more: it handled everything before
            else:
                yield event
        if failure:
            raise failure[0]
    finally:
        if not done.is_set():
            scope.cancel()
            with anyio.CancelScope(shield=True):
                await done.wait()
        receive.close()


class _Settled:
    """A marker in the event stream: set when the consumer reaches it."""

    __slots__ = ("reached",)

    def __init__(self) -> None:
        self.reached = anyio.Event()


@contextlib.asynccontextmanager
async def _closing(stream: AsyncIterator[StreamEvent]) -> AsyncIterator[AsyncIterator[StreamEvent]]:
    """Close a provider stream (an async generator) when we are done with it, also on errors."""
    try:
        yield stream
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            # Shielded (briefly) so a cancelled turn still closes the HTTP response cleanly.
            with anyio.move_on_after(1, shield=True):
                await aclose()
