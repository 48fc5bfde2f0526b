"""The agent loop: send the turn with tools, run the tool calls, feed results back, repeat.

The loop renders nothing: it yields typed events, and the UIs (ui.py, batch.py, the ``run``
command) decide what to show. One turn, as events::

    StepStarted(1) TextDelta… UsageUpdate ToolCallStarted… ToolCallFinished…   (model asked for tools)
    StepStarted(2) TextDelta… UsageUpdate                                      (model answered)
    Final

The tool calls of one response run concurrently in a task group; their ``ToolCallStarted`` events
come before the calls start and their ``ToolCallFinished`` events, in the model's order, once all
of them are done. No cancel scope is held open across a ``yield``, so a consumer may stop
iterating at any point (``break``, cancellation, Ctrl-C) without upsetting anyio.

A UI that wants each result the moment its call finishes (the chat) passes ``on_tool_finished``:
it is called synchronously, in completion order, with the very ``ToolCallFinished`` that the
event stream yields later, so a UI can match the two by identity or ``call_id``. Denied calls are
reported that way too, when the calls start; calls cut off by a cancelled turn are not (the turn
ends without their events as well). The callback must not block; an exception from it is logged
and does not affect the turn.

History stays valid whatever happens: after every turn, also a failed or cancelled one, it ends
with an assistant message and every tool call has its result. A turn that stops early (error,
step limit, cancellation) gets a short bracketed assistant note saying so, and calls that never
ran get an error result ("cancelled", "not run").
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import anyio

from agent import messages
from agent.errors import AgentError, ConfigError, ProviderError
from agent.messages import (
    AssistantMessage,
    Message,
    ModelRequest,
    ModelResponse,
    StopReason,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    Usage,
    UserMessage,
)
from agent.providers.base import Provider

if TYPE_CHECKING:
    from agent.config import Config
    from agent.tools import Toolbox, ToolEntry

__all__ = [
    "DEFAULT_SYSTEM_PROMPT",
    "Agent",
    "ApprovalFn",
    "Event",
    "Final",
    "FinishedFn",
    "StepStarted",
    "TextDelta",
    "ToolCallFinished",
    "ToolCallStarted",
    "TurnError",
    "UsageUpdate",
    "load_system_prompt",
    "tool_call_record",
]

log = logging.getLogger(__name__)

DEFAULT_SYSTEM_PROMPT = """\
You are a helpful assistant running in a terminal. You can call tools from connected MCP servers.

- Use a tool when it gives a better answer than you could without it; say briefly what you are doing.
- When a tool fails, read its error, fix the arguments if you can, and otherwise explain what went wrong.
- Answer concisely. Use Markdown where it helps: lists, tables, code blocks.
"""

DENIED = "denied by the user"
CANCELLED = "cancelled: the user interrupted the turn before this call finished"


@dataclass(frozen=True, slots=True)
class StepStarted:
    """A model request is about to be sent (step counts from 1)."""

    step: int
    kind: Literal["step"] = "step"


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str
    kind: Literal["text"] = "text"


@dataclass(frozen=True, slots=True)
class ToolCallStarted:
    call_id: str
    name: str  # the provider-facing name
    server: str | None  # None for an unknown tool
    tool: str | None  # the server's own tool name
    arguments: Mapping[str, Any]
    kind: Literal["tool_start"] = "tool_start"


@dataclass(frozen=True, slots=True)
class ToolCallFinished:
    call_id: str
    name: str
    result: ToolResultPart
    duration_ms: float
    denied: bool = False
    kind: Literal["tool_end"] = "tool_end"


@dataclass(frozen=True, slots=True)
class UsageUpdate:
    usage: Usage  # this step's usage
    total: Usage  # the turn's running total
    kind: Literal["usage"] = "usage"


@dataclass(frozen=True, slots=True)
class TurnError:
    """The turn stopped on an error (provider failure after retries, etc.)."""

    error: AgentError
    kind: Literal["error"] = "error"


@dataclass(frozen=True, slots=True)
class Final:
    """The turn is over. ``answer`` is the last assistant text."""

    answer: str
    stop_reason: StopReason
    steps: int
    usage: Usage
    tool_calls: tuple[ToolCallFinished, ...] = field(default_factory=tuple)
    kind: Literal["final"] = "final"


Event = StepStarted | TextDelta | ToolCallStarted | ToolCallFinished | UsageUpdate | TurnError | Final

# Asked before each tool call when approval is "ask": (server, tool, arguments) -> allowed?
ApprovalFn = Callable[[str, str, Mapping[str, Any]], Awaitable[bool]]

# Told of each tool call the moment it finishes (see the module doc); must not block.
FinishedFn = Callable[[ToolCallFinished], None]


def load_system_prompt(config: Config) -> str:
    """The system prompt: ``system_prompt``, else ``system_prompt_file`` (relative to the config
    file), else the shipped ``prompts/system.md``, else the built-in default."""
    if config.system_prompt:
        return config.system_prompt
    if config.system_prompt_file:
        path = Path(config.system_prompt_file).expanduser()
        if not path.is_absolute() and config.source:
            path = Path(config.source).parent / path
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise ConfigError(
                f"cannot read the system prompt file {str(path)!r}: {reason}",
                file=config.source,
                key="system_prompt_file",
                hint="fix the path (relative paths start at the config file's folder)",
            ) from None
    here = Path(__file__).resolve().parent
    for candidate in (here / "prompts" / "system.md", here.parent / "prompts" / "system.md"):
        with contextlib.suppress(OSError, UnicodeDecodeError):
            return candidate.read_text(encoding="utf-8")
    return DEFAULT_SYSTEM_PROMPT


def tool_call_record(started: ToolCallStarted | None, finished: ToolCallFinished) -> dict[str, Any]:
    """One finished tool call as JSON: the shape of ``agent run --json`` and batch output lines."""
    return {
        "name": finished.name,
        "server": started.server if started else None,
        "tool": started.tool if started else None,
        "arguments": dict(started.arguments) if started else {},
        "is_error": finished.result.is_error,
        "denied": finished.denied,
        "duration_ms": round(finished.duration_ms, 1),
    }


def _error_result(call: ToolCallPart, text: str) -> ToolResultPart:
    return ToolResultPart(call.id, call.name, (TextPart(text),), is_error=True)


@dataclass(slots=True)
class _Plan:
    """One tool call of a response, with what the loop decided about it."""

    call: ToolCallPart
    entry: ToolEntry | None
    finished: ToolCallFinished | None = None


class Agent:
    """Runs turns of one conversation against one provider and a toolbox of MCP tools.

    ``history`` is the conversation so far; a turn appends to it only complete, valid messages
    (every tool call has its result), also when the turn is cancelled or fails. ``approve`` is
    asked before each call; ``on_tool_finished`` hears of each call as it finishes (module doc).
    """

    def __init__(
        self,
        provider: Provider,
        toolbox: Toolbox,
        *,
        system: str,
        max_steps: int = 25,
        history: list[Message] | None = None,
        approve: ApprovalFn | None = None,
        on_tool_finished: FinishedFn | None = None,
    ) -> None:
        if max_steps < 1:
            raise ValueError("max_steps must be at least 1")
        self.provider = provider
        self.toolbox = toolbox
        self.system = system
        self.max_steps = max_steps
        self.approve = approve
        self.on_tool_finished = on_tool_finished
        self._history: list[Message] = history if history is not None else []

    @property
    def history(self) -> list[Message]:
        return self._history

    async def run(self, prompt: str) -> AsyncIterator[Event]:
        """One user turn; the last event is always a ``Final`` (after a ``TurnError`` too).

        When the consumer is cancelled (or stops iterating) the generator stops where it is:
        in-flight tool calls are cancelled and the history is closed off as described above;
        no ``Final`` is sent then.
        """
        history = self._history
        if history and history[-1].role == "user":
            history.append(AssistantMessage.of("[the previous turn ended without an answer]"))
        history.append(UserMessage.of(prompt))
        note = "[the turn was cancelled before the model answered]"
        total = Usage()
        finished: list[ToolCallFinished] = []
        answer = ""
        step = 0
        try:
            while True:
                step += 1
                yield StepStarted(step)
                request = ModelRequest(self.system, tuple(history), self.toolbox.specs)
                response: ModelResponse | None = None
                error: AgentError | None = None
                try:
                    async with _closing(self.provider.stream(request)) as stream:
                        async for event in stream:
                            if isinstance(event, messages.TextDelta):
                                yield TextDelta(event.text)
                            else:
                                response = event.response
                    if response is None:
                        error = ProviderError(
                            self.provider.name, "the response stream ended without a response"
                        )
                except AgentError as exc:
                    error = exc
                except Exception as exc:
                    log.exception("provider %s failed", self.provider.name)
                    error = ProviderError(
                        self.provider.name, f"unexpected failure: {type(exc).__name__}: {exc}"
                    )
                if error is not None or response is None:
                    assert error is not None
                    note = f"[the turn stopped on an error: {error.message}]"
                    yield TurnError(error)
                    yield Final(answer, "error", step, total, tuple(finished))
                    return

                total = total + response.usage
                yield UsageUpdate(response.usage, total)
                message = response.message
                if message.text:
                    answer = message.text
                calls = message.tool_calls
                if not calls:
                    if not message.text.strip() and all(isinstance(p, TextPart) for p in message.parts):
                        # Providers reject an empty assistant message in the next request.
                        message = AssistantMessage.of("[no answer]")
                    history.append(message)
                    yield Final(answer, response.stop_reason, step, total, tuple(finished))
                    return
                if step >= self.max_steps:
                    limit = f"not run: the step limit ({self.max_steps}) was reached"
                    history.append(message)
                    history.append(UserMessage(tuple(_error_result(c, limit) for c in calls)))
                    note = f"[stopped: the step limit of {self.max_steps} model requests was reached]"
                    yield TurnError(
                        AgentError(
                            f"stopped after {step} step{'s' if step != 1 else ''} without a final answer",
                            hint="raise max_steps in the config (or --max-steps), or ask for less at once",
                        )
                    )
                    yield Final(answer, "max_steps", step, total, tuple(finished))
                    return

                plans = [_Plan(call, self.toolbox.resolve(call.name)) for call in calls]
                await self._ask_approval(plans)
                for plan in plans:
                    entry = plan.entry
                    yield ToolCallStarted(
                        plan.call.id,
                        plan.call.name,
                        entry.server if entry else None,
                        entry.tool if entry else None,
                        plan.call.arguments,
                    )
                await self._run_tools(message, plans)
                for plan in plans:
                    assert plan.finished is not None
                    finished.append(plan.finished)
                    yield plan.finished
        finally:
            if history[-1].role == "user":
                history.append(AssistantMessage.of(note))

    async def _ask_approval(self, plans: Sequence[_Plan]) -> None:
        """Ask, in the model's order, about every call that names a real tool; mark the denied ones."""
        if self.approve is None:
            return
        for plan in plans:
            if plan.entry is None:
                continue
            try:
                allowed = await self.approve(plan.entry.server, plan.entry.tool, plan.call.arguments)
            except Exception:
                log.exception("the approval hook failed; denying %s", plan.call.name)
                allowed = False
            if not allowed:
                result = _error_result(plan.call, DENIED)
                plan.finished = ToolCallFinished(plan.call.id, plan.call.name, result, 0.0, denied=True)

    async def _run_tools(self, message: Message, plans: Sequence[_Plan]) -> None:
        """Run the calls concurrently, then record the assistant message and the results in order.

        Whatever stops this (cancellation, Ctrl-C), the assistant message goes into the history
        with one result per call: calls that did not finish get a "cancelled" error result.
        """
        for plan in plans:
            if plan.finished is not None:  # denied: known before anything runs
                self._report(plan.finished)
        try:
            async with anyio.create_task_group() as tg:
                for plan in plans:
                    if plan.finished is None:
                        tg.start_soon(self._run_one, plan)
        finally:
            for plan in plans:
                if plan.finished is None:
                    plan.finished = ToolCallFinished(
                        plan.call.id, plan.call.name, _error_result(plan.call, CANCELLED), 0.0
                    )
            results = tuple(plan.finished.result for plan in plans if plan.finished is not None)
            self._history.append(message)
            self._history.append(UserMessage(results))

    async def _run_one(self, plan: _Plan) -> None:
        call = plan.call
        started = time.perf_counter()
        try:
            result = await self.toolbox.call(call.name, call.arguments, call_id=call.id)
        except Exception as exc:
            log.exception("tool call %s failed unexpectedly", call.name)
            result = _error_result(call, f"error: {type(exc).__name__}: {exc}")
        plan.finished = ToolCallFinished(call.id, call.name, result, (time.perf_counter() - started) * 1000)
        self._report(plan.finished)

    def _report(self, finished: ToolCallFinished) -> None:
        """Tell ``on_tool_finished`` of one finished call; its failure is logged, never raised."""
        if self.on_tool_finished is None:
            return
        try:
            self.on_tool_finished(finished)
        except Exception:
            log.exception("the on_tool_finished callback failed for %s", finished.name)


@contextlib.asynccontextmanager
async def _closing(
    stream: AsyncIterator[messages.StreamEvent],
) -> AsyncIterator[AsyncIterator[messages.StreamEvent]]:
    """Close a provider stream (an async generator) when we are done with it, also on errors."""
    try:
        yield stream
    finally:
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            # Shielded (briefly) so a cancelled turn still closes the HTTP response cleanly.
            with anyio.move_on_after(1, shield=True):
                await aclose()
