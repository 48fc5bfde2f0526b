"""The agent loop: send the turn with tools, run the tool calls, feed results back, repeat.

INTERFACE STUB written by the lead: the bodies are to be filled in; keep the event types and
the ``Agent`` signatures (ui.py, batch.py and the run command code against them). Remove this
paragraph when done.

The loop renders nothing: it yields typed events, and the UIs (ui.py, batch.py, the ``run``
command) decide what to show.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from agent.errors import AgentError
from agent.messages import Message, StopReason, ToolResultPart, Usage
from agent.providers.base import Provider

__all__ = [
    "Agent",
    "ApprovalFn",
    "Event",
    "Final",
    "StepStarted",
    "TextDelta",
    "ToolCallFinished",
    "ToolCallStarted",
    "TurnError",
    "UsageUpdate",
]


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


class Agent:
    """Runs turns of one conversation against one provider and a toolbox of MCP tools.

    ``history`` is the conversation so far; a turn appends to it only complete, valid messages
    (every tool call has its result), also when the turn is cancelled or fails.
    """

    def __init__(
        self,
        provider: Provider,
        toolbox: Any,  # agent.tools.Toolbox
        *,
        system: str,
        max_steps: int = 25,
        history: list[Message] | None = None,
        approve: ApprovalFn | None = None,
    ) -> None:
        raise NotImplementedError

    @property
    def history(self) -> list[Message]:
        raise NotImplementedError

    def run(self, prompt: str) -> AsyncIterator[Event]:
        """One user turn; the last event is always a ``Final`` (after a ``TurnError`` too)."""
        raise NotImplementedError
