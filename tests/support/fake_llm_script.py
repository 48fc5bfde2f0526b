"""The script and the record of the fake model server (:mod:`tests.support.fake_llm`, whose
docstring documents the script format): what the fake answers, and what it was sent."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from functools import cached_property
from typing import Any, Literal

from tests.support.fake_llm_neutral import API, Conversation
from tests.support.fake_llm_wire import read_conversation

__all__ = ["BatchScript", "Fault", "Respond", "Script", "SeenRequest", "ToolCall", "Turn"]


# --- the script -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: Mapping[str, Any] | str = field(default_factory=dict)
    id: str | None = None


@dataclass(frozen=True)
class Turn:
    text: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    echo: Literal["user", "tool_results"] | None = None
    stop_reason: Literal["end_turn", "tool_use", "max_tokens", "refusal"] | None = None
    usage: Mapping[str, int] | None = None
    delay: float = 0.0
    chunk_delay: float = 0.0
    chunk: int = 8
    interleave: bool = False
    cut_after: int | None = None
    hang_after: int | None = None

    @classmethod
    def parse(cls, raw: Turn | str | Mapping[str, Any]) -> Turn:
        if isinstance(raw, Turn):
            return raw
        if isinstance(raw, str):
            return cls(text=raw)
        data = dict(raw)
        _check_keys(data, cls, "turn")
        calls = []
        for call in data.pop("tool_calls", None) or ():
            if isinstance(call, ToolCall):
                calls.append(call)
            elif isinstance(call, list | tuple):
                calls.append(ToolCall(call[0], call[1] if len(call) > 1 else {}))
            else:
                _check_keys(call, ToolCall, "tool call")
                calls.append(ToolCall(**call))
        return cls(tool_calls=tuple(calls), **data)


@dataclass(frozen=True)
class Fault:
    status: int | None = None
    retry_after: float | None = None
    headers: Mapping[str, str] | None = None
    message: str | None = None
    delay: float = 0.0
    cut_after: int | None = None
    hang_after: int | None = None
    stream_error: str | None = None

    @classmethod
    def parse(cls, raw: Fault | Mapping[str, Any] | None) -> Fault | None:
        if raw is None or isinstance(raw, Fault):
            return raw
        _check_keys(raw, cls, "fault")
        return cls(**raw)


@dataclass(frozen=True)
class BatchScript:
    """How the fake's provider batches behave (both Batch APIs).

    ``polls``: status reads that answer "in progress" before a batch ends, for every batch, or a
    list by batch in creation order (the last repeats); ``None`` holds a batch until the test
    calls ``end_batches()``. ``expire`` / ``error``: items (by their first user text, the prompt)
    whose requests come back expired / errored instead of answered.
    """

    polls: int | list[int | None] | None = 0
    expire: tuple[str, ...] = ()
    error: tuple[str, ...] = ()

    @classmethod
    def parse(cls, raw: BatchScript | Mapping[str, Any] | None) -> BatchScript:
        if raw is None:
            return cls()
        if isinstance(raw, BatchScript):
            return raw
        _check_keys(raw, cls, "batch")
        data = dict(raw)
        for key in ("expire", "error"):
            data[key] = tuple(data.get(key) or ())
        return cls(**data)

    def polls_for(self, index: int) -> int | None:
        """The polls batch number ``index`` (from 0) takes; None: held until ended by the test."""
        if isinstance(self.polls, list):
            return self.polls[min(index, len(self.polls) - 1)] if self.polls else 0
        return self.polls


Respond = Callable[["SeenRequest"], "Turn | str | Mapping[str, Any]"]


@dataclass
class Script:
    turns: list[Turn] = field(default_factory=list)
    respond: Respond | None = None
    by: Literal["history", "sequence"] = "history"
    repeat_last: bool = False
    faults: list[Fault | None] = field(default_factory=list)
    latency: float = 0.0
    context_window: int | None = None  # refuse requests of more input tokens (len(body) / 4)
    batch: BatchScript = field(default_factory=BatchScript)

    @classmethod
    def parse(cls, raw: Any) -> Script:
        if raw is None:
            return cls()
        if isinstance(raw, Script):
            return raw
        if callable(raw):
            return cls(respond=raw)
        if isinstance(raw, str | Turn):
            raw = [raw]
        if isinstance(raw, list | tuple):
            raw = {"turns": list(raw)}
        data = dict(raw)
        _check_keys(data, cls, "script")
        if data.get("by", "history") not in ("history", "sequence"):
            raise ValueError(f"fake_llm script: 'by' must be 'history' or 'sequence', not {data['by']!r}")
        data["turns"] = [Turn.parse(t) for t in data.get("turns") or ()]
        data["faults"] = [Fault.parse(f) for f in data.get("faults") or ()]
        data["batch"] = BatchScript.parse(data.get("batch"))
        return cls(**data)


def _check_keys(data: Mapping[str, Any], cls: type, what: str) -> None:
    known = {f.name for f in fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"fake_llm {what}: unknown key(s) {sorted(unknown)}; known: {sorted(known)}")


# --- what was sent ----------------------------------------------------------------------------


_SEEN_FIELDS = ("index", "api", "path", "headers", "body", "status", "received_at")


@dataclass
class SeenRequest:
    """One request as the fake received it."""

    index: int
    api: API
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    status: int = 0  # the HTTP status answered (0 while answering)
    received_at: float = 0.0  # the fake's clock (anyio.current_time()) when the request arrived

    @cached_property
    def conversation(self) -> Conversation:
        return read_conversation(self.api, self.body)

    @property
    def model(self) -> str:
        return str(self.body.get("model", ""))

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in _SEEN_FIELDS}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> SeenRequest:
        return cls(**{k: raw[k] for k in _SEEN_FIELDS})
