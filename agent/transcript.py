"""Conversations saved to a file (``/save``) and loaded again (``agent chat --resume FILE``).

The encoding is :func:`agent.messages.encode_transcript` (one pydantic TypeAdapter); this module
adds the file and the user-facing errors.
"""

from __future__ import annotations

import json
from pathlib import Path

from agent.errors import UsageError
from agent.messages import Message, decode_transcript, encode_transcript
from agent.private_files import open_user_file

__all__ = ["load_transcript", "save_transcript"]


def save_transcript(file: str, messages: list[Message], *, model: str) -> Path:
    """Write the conversation as JSON (see :func:`load_transcript`); returns the path written. The
    file's folder must exist: a mistyped one is an error, never created."""
    path = Path(file).expanduser()
    data = encode_transcript(messages, model=model)
    folder = path.parent
    if not folder.is_dir():  # a typo must not make folders: say so instead
        what = "is not a folder" if folder.exists() else "does not exist"
        raise UsageError(
            f"cannot write {str(path)!r}: the folder {str(folder)!r} {what}",
            hint="create it first, or choose another file",
        )
    try:
        with open_user_file(path, "wb") as fh:  # a new file is 0600: a conversation is private
            fh.write(data)
    except OSError as exc:
        raise UsageError(f"cannot write {str(path)!r}: {exc.strerror}", hint="choose another file") from None
    return path


def load_transcript(file: str) -> list[Message]:
    """The messages of a transcript written by ``/save`` (or a bare JSON list of messages)."""
    path = Path(file).expanduser()
    hint = "give a file written by /save in the chat"
    try:
        return decode_transcript(path.read_bytes())
    except FileNotFoundError:
        raise UsageError(f"transcript {str(path)!r} not found", hint=hint) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"cannot read transcript {str(path)!r}: {exc}", hint=hint) from None
    except ValueError as exc:
        raise UsageError(f"transcript {str(path)!r} is malformed: {exc}", hint=hint) from None
