"""Conversations saved to a file (``/save``) and loaded again (``agent chat --resume FILE``)."""

from __future__ import annotations

import json
from pathlib import Path

from agent.errors import UsageError
from agent.messages import Message, message_from_dict, message_to_dict

__all__ = ["TRANSCRIPT_FORMAT", "load_transcript", "save_transcript"]

TRANSCRIPT_FORMAT = "agent-transcript"


def save_transcript(file: str, messages: list[Message], *, model: str) -> Path:
    """Write the conversation as JSON (see :func:`load_transcript`); returns the path written."""
    path = Path(file).expanduser()
    data = {
        "format": TRANSCRIPT_FORMAT,
        "version": 1,
        "model": model,
        "messages": [message_to_dict(m) for m in messages],
    }
    text = json.dumps(data, indent=2, ensure_ascii=False)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n", encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {str(path)!r}: {exc.strerror}", hint="choose another file") from None
    return path


def load_transcript(file: str) -> list[Message]:
    """The messages of a transcript written by ``/save`` (or a bare JSON list of messages)."""
    path = Path(file).expanduser()
    hint = "give a file written by /save in the chat"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"transcript {str(path)!r} not found", hint=hint) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"cannot read transcript {str(path)!r}: {exc}", hint=hint) from None
    items = raw.get("messages") if isinstance(raw, dict) else raw
    if not isinstance(items, list):
        raise UsageError(f"transcript {str(path)!r} holds no 'messages' list", hint=hint)
    try:
        return [message_from_dict(item) for item in items]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UsageError(f"transcript {str(path)!r} is malformed: {exc}", hint=hint) from None
