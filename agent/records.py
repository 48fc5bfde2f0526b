"""The JSON shapes of what a turn did: ``agent run --json`` objects and ``agent batch`` lines."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from agent.errors import AgentError

if TYPE_CHECKING:
    from agent.core import Final, ToolCallFinished
    from agent.messages import Usage

__all__ = ["error_json", "failed_run_record", "tool_call_json", "turn_record", "usage_json"]


def tool_call_json(done: ToolCallFinished) -> dict[str, Any]:
    """One finished tool call."""
    return {
        "name": done.name,
        "server": done.server,
        "tool": done.tool,
        "arguments": dict(done.arguments),
        "is_error": done.is_error,
        "denied": done.denied,
        "duration_ms": round(done.duration_ms, 1),
    }


def usage_json(usage: Usage) -> dict[str, int]:
    return asdict(usage)


def error_json(error: BaseException | None, stop_reason: str | None) -> dict[str, str] | None:
    """A batch item's ``error`` field: ``{"type", "message"}`` and ``"hint"`` when there is one."""
    if error is None:
        return None
    kind = "MaxStepsReached" if stop_reason == "max_steps" else type(error).__name__
    if not isinstance(error, AgentError):
        return {"type": kind, "message": str(error)}
    out = {"type": kind, "message": error.message}
    if error.hint:
        out["hint"] = error.hint
    return out


def turn_record(final: Final, error: BaseException | None, model: str | None) -> dict[str, Any]:
    """``agent run --json``: the answer and what it took; ``error`` as in a batch line."""
    return {
        "answer": final.answer,
        "steps": final.steps,
        "tool_calls": [tool_call_json(done) for done in final.tool_calls],
        "usage": usage_json(final.usage),
        "stop_reason": final.stop_reason,
        "error": error_json(error, final.stop_reason),
        "model": model,
    }


def failed_run_record(error: BaseException, model: str | None) -> dict[str, Any]:
    """``agent run --json`` when no turn ran (a server that could not be used, no API key, an
    empty prompt): the same keys, no answer, and the error."""
    from agent.events import Final
    from agent.messages import Usage

    return turn_record(Final("", "error", 0, Usage()), error, model) | {"answer": None}
