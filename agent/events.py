"""The events of one turn, as :mod:`agent.core` emits them: a closed union that every consumer
(chat, run, batch) matches exhaustively (``assert_never``), so a new kind of event fails type
checking where it is not handled instead of being dropped.

Re-exported by :mod:`agent.core`, where they are documented in the order a turn sends them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from agent.errors import AgentError
from agent.messages import StopReason, TextDelta, ToolResultPart, Usage

__all__ = [
    "Event",
    "Final",
    "Retrying",
    "StepStarted",
    "TextDelta",
    "ToolCallFinished",
    "ToolCallStarted",
    "TurnError",
    "UsageUpdate",
]

_SUMMARY_WIDTH = 200


@dataclass(frozen=True, slots=True)
class StepStarted:
    """A model request is about to be sent (step counts from 1)."""

    step: int
    kind: Literal["step"] = "step"


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
    """One tool call is over (ran, failed, was denied or cancelled): all there is to know of it."""

    call_id: str
    name: str  # the provider-facing name
    server: str | None  # None for an unknown tool
    tool: str | None  # the server's own tool name
    arguments: Mapping[str, Any]
    result: ToolResultPart
    duration_ms: float
    denied: bool = False
    failure: AgentError | None = None  # why the call failed when it was not the tool's own error
    kind: Literal["tool_end"] = "tool_end"

    @property
    def is_error(self) -> bool:
        return self.result.is_error

    @property
    def label(self) -> str:
        """``server.tool``, or the model's name for a tool no server offers."""
        return f"{self.server}.{self.tool}" if self.server and self.tool else self.name

    @property
    def summary(self) -> str:
        """The result's text on one line, cut to about 200 characters."""
        text = " ".join(self.result.text.split())
        return text if len(text) <= _SUMMARY_WIDTH else text[: _SUMMARY_WIDTH - 1] + "…"


@dataclass(frozen=True, slots=True)
class UsageUpdate:
    usage: Usage  # this step's usage
    total: Usage  # the turn's running total
    kind: Literal["usage"] = "usage"


@dataclass(frozen=True, slots=True)
class Retrying:
    """The model's response broke off after it had started (a cut stream, an error event inside
    it); the request is sent again after ``delay`` seconds. Text streamed for it is void."""

    attempt: int  # 1 for the first retry
    delay: float
    error: AgentError
    kind: Literal["retrying"] = "retrying"


@dataclass(frozen=True, slots=True)
class TurnError:
    """The turn stopped on an error (provider failure after retries, etc.)."""

    error: AgentError
    kind: Literal["error"] = "error"


@dataclass(frozen=True, slots=True)
class Final:
    """The turn is over. ``answer`` is the last assistant text; ``tool_calls`` are the calls that
    ended, in the order the model asked for them."""

    answer: str
    stop_reason: StopReason
    steps: int
    usage: Usage
    tool_calls: tuple[ToolCallFinished, ...] = field(default_factory=tuple)
    kind: Literal["final"] = "final"


# A closed union: consumers match it exhaustively (``assert_never``).
Event = (
    StepStarted | TextDelta | Retrying | ToolCallStarted | ToolCallFinished | UsageUpdate | TurnError | Final
)
