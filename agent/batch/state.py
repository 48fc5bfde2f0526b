"""The state file of an ``agent batch --via batch-api`` job: ``OUT.state`` next to the output.

It holds what a restart needs to go on without asking any model twice: the provider batches
submitted (id, model, round, last known status) and, per unfinished item, its conversation so far,
the steps taken, usage, tool calls and last answer, and the request it waits for (``custom_id`` in
``batch``, or none yet). Finished items are in the output and leave the state at its next write.

Every write is atomic (a temporary file, ``fsync``, ``rename``, ``fsync`` of the folder), so a kill
at any moment leaves the previous state or the new one, never a torn file. An item's entry always
describes one consistent point: its history up to a model request, and where that request is.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from agent.errors import UsageError
from agent.messages import Usage

__all__ = [
    "STATE_FORMAT",
    "BatchRecord",
    "ItemState",
    "JobState",
    "encode_state",
    "load_state",
    "state_path",
    "write_state",
]

STATE_FORMAT = "agent-batch-state"
_VERSION = 1


@dataclass(slots=True)
class BatchRecord:
    """One provider batch of the job."""

    id: str
    model: str  # PROVIDER:MODEL: which provider's API holds it
    round: int
    requests: int
    bytes: int
    submitted_at: float  # seconds since the epoch
    status: str = "submitted"  # the provider's word, as last seen
    counts: dict[str, int] = field(default_factory=dict)
    ended: bool = False
    collected: bool = False  # its results were read and every item of it moved on


@dataclass(slots=True)
class ItemState:
    """One unfinished item: what it is, its conversation so far, and the request it waits for."""

    seq: int  # its number in the job: custom ids are ``i<seq>-s<step>``
    id: str | int
    line: int
    model: str  # PROVIDER:MODEL
    system: str | None
    extra: dict[str, Any]
    history: list[Any]  # messages as JSON (agent.messages.dump_messages)
    steps: int = 0  # model responses received
    usage: Usage = field(default_factory=Usage)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    answer: str = ""
    started_at: float = field(default_factory=time.time)
    batch: str | None = None  # the provider batch its next request is in; None: not submitted yet
    custom_id: str | None = None


@dataclass(slots=True)
class JobState:
    """The whole job."""

    input: str
    output: str
    round: int = 0
    next_seq: int = 0
    batches: list[BatchRecord] = field(default_factory=list)
    items: dict[str, ItemState] = field(default_factory=dict)  # by id as text

    def batch(self, batch_id: str) -> BatchRecord | None:
        return next((b for b in self.batches if b.id == batch_id), None)


def state_path(output: Path) -> Path:
    """``OUT.state`` next to the output ``OUT``."""
    return output.with_name(output.name + ".state")


def encode_state(state: JobState) -> bytes:
    """The state file's bytes (in the event loop, the only writer of the state)."""
    data = {"format": STATE_FORMAT, "version": _VERSION, **asdict(state)}
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def write_state(raw: bytes, path: Path) -> None:
    """Write encoded state atomically (blocking: call it in a worker thread)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(raw)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def load_state(path: Path) -> JobState:
    """The state a job wrote; a ``UsageError`` naming the file when it is not one."""
    try:
        data = json.loads(path.read_bytes())
        if not isinstance(data, dict) or data.get("format") != STATE_FORMAT:
            raise ValueError("not an agent batch state file")
        if data.get("version") != _VERSION:
            raise ValueError(f"state version {data.get('version')!r}, this agent reads {_VERSION}")
        items = {
            key: ItemState(**{**raw, "usage": Usage(**raw["usage"])}) for key, raw in data["items"].items()
        }
        return JobState(
            input=data["input"],
            output=data["output"],
            round=data["round"],
            next_seq=data["next_seq"],
            batches=[BatchRecord(**raw) for raw in data["batches"]],
            items=items,
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else str(exc)
        raise UsageError(
            f"cannot read the batch state {str(path)!r}: {reason}",
            hint="it is written by agent batch --via batch-api next to its output",
        ) from None
