"""One batch item's turn and its output line, the same whichever way the job runs (``--via live``
or ``--via batch-api``), so downstream tools do not care how it ran.

:func:`run_turn` consumes a turn's events (a failure of the turn is kept, not raised);
:func:`item_record` makes the output line of what it did. An item that a ``batch-api`` job went on
with after a restart adds what it did before (:class:`Prior`: usage, tool calls, last answer).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, assert_never

from agent.errors import AgentError, ServerError, ServerUnavailable
from agent.messages import Usage
from agent.records import error_json, tool_call_json

if TYPE_CHECKING:
    from agent.batch.io import Item
    from agent.core import Event, Final, ToolCallFinished

__all__ = ["Outcome", "Prior", "item_record", "run_turn"]

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Outcome:
    """What one turn did: its ``Final`` (if it got one), the calls that finished, its error."""

    final: Final | None = None
    finished: list[ToolCallFinished] = field(default_factory=list)
    error: BaseException | None = None


@dataclass(frozen=True, slots=True)
class Prior:
    """What an item did before a restart: its usage, its tool calls (as output JSON), its last answer."""

    usage: Usage = field(default_factory=Usage)
    tool_calls: tuple[dict[str, Any], ...] = ()
    answer: str = ""


async def run_turn(
    label: str, turn: Callable[[], AsyncIterator[Event]], on_event: Callable[[Event], None] | None = None
) -> Outcome:
    """Run ``turn()`` to its end; every event goes to ``on_event`` too. Never raises but
    cancellation: a failure (also of ``turn()`` itself) is the outcome's ``error``."""
    from agent.core import (
        Final,
        Retrying,
        StepStarted,
        TextDelta,
        ToolCallFinished,
        ToolCallStarted,
        TurnError,
        UsageUpdate,
    )

    outcome = Outcome()
    try:
        async for event in turn():
            if on_event is not None:
                on_event(event)
            if isinstance(event, ToolCallFinished):
                outcome.finished.append(event)
            elif isinstance(event, TurnError):
                outcome.error = event.error
            elif isinstance(event, Final):
                outcome.final = event
            elif isinstance(event, StepStarted | TextDelta | Retrying | ToolCallStarted | UsageUpdate):
                pass
            else:
                assert_never(event)
    except AgentError as exc:
        outcome.error = exc
    except Exception as exc:
        log.exception("batch: item %s failed unexpectedly", label)
        outcome.error = exc
    return outcome


def item_record(
    item: Item,
    model: str,
    outcome: Outcome,
    duration_ms: float,
    *,
    prior: Prior | None = None,
    batch_id: str | None = None,
) -> tuple[dict[str, Any], Usage]:
    """The item's output line and its usage (``batch_id``: the provider batch of its last step)."""
    final, error = outcome.final, outcome.error
    if final is None and error is None:
        error = AgentError("the turn ended without an answer")
    lost = next((f.failure for f in outcome.finished if isinstance(f.failure, ServerError)), None)
    if error is None and lost is not None:
        # A server that was down or lost during a call spoils the item (not a tool's own error).
        error = lost if isinstance(lost, ServerUnavailable) else ServerUnavailable(lost.server, lost.reason)
    prior = prior or Prior()
    usage = prior.usage + (final.usage if final else Usage())
    answer: str | None = (final.answer if final else "") or prior.answer
    if error is not None and not answer:
        answer = None
    stop_reason = final.stop_reason if final else "error"
    calls = [tool_call_json(done) for done in (final.tool_calls if final else outcome.finished)]
    record: dict[str, Any] = {
        "id": item.id,
        "line": item.line,
        "answer": answer,
        "error": error_json(error, stop_reason),
        "tool_calls": [*prior.tool_calls, *calls],
        "usage": asdict(usage),
        "steps": final.steps if final else 0,
        "stop_reason": stop_reason,
        "model": model,
        "duration_ms": round(duration_ms),
    }
    if batch_id is not None:
        record["batch_id"] = batch_id
    record.update(item.extra)
    return record, usage
