"""Saved chats: every chat is kept as it goes, and ``agent history`` lists them.

Each chat is one JSON file in ``user_data_dir()/chats/`` (``~/.local/share/agent/chats/`` on
Linux), named by its id (``20261201-140312-a1b2``: when it started, and four random hex digits),
written again after every turn: 0600 in a 0700 folder, atomically (a temporary file, fsync, then
a rename), so a crash or a kill leaves the previous version whole. The file is a transcript
(:func:`agent.messages.decode_transcript` reads it, so does ``--resume FILE``) with a few more
fields: ``id``, ``created``, ``updated`` and ``title`` (the first line of the first prompt).

``agent chat --continue`` goes on with the newest chat, ``--resume ID`` with one (an id, a unique
start of one, or a transcript file; no id: a numbered list to pick from).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from agent.config import Config, user_data_dir
from agent.errors import UsageError
from agent.messages import TRANSCRIPT_FORMAT, Message, UserMessage, dump_messages
from agent.options import HistoryOptions
from agent.private_files import open_private, private_dir
from agent.terminal import for_stream

__all__ = ["ChatInfo", "SavedChat", "chats_dir", "describe", "find_chat", "latest_chat", "list_chats", "main"]


def chats_dir() -> Path:
    return user_data_dir() / "chats"


@dataclass(frozen=True, slots=True)
class ChatInfo:
    """One saved chat, as ``agent history`` lists it."""

    id: str
    path: Path
    created: float  # seconds since the epoch
    updated: float
    model: str
    title: str
    messages: int

    @property
    def when(self) -> str:
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(self.updated))


class SavedChat:
    """The file one chat is kept in; :meth:`save` writes the whole conversation again."""

    def __init__(self, path: Path, *, created: float | None = None) -> None:
        self.path = path
        self.created = created if created is not None else time.time()

    @property
    def id(self) -> str:
        return self.path.stem

    @classmethod
    def new(cls) -> SavedChat:
        now = time.time()
        name = time.strftime("%Y%m%d-%H%M%S", time.localtime(now)) + "-" + secrets.token_hex(2)
        return cls(chats_dir() / f"{name}.json", created=now)

    def save(self, messages: list[Message], *, model: str) -> None:
        """Write the conversation (nothing while it is empty); atomic, 0600."""
        if not messages:
            return
        data = {
            "format": TRANSCRIPT_FORMAT,
            "version": 1,
            "id": self.id,
            "created": self.created,
            "updated": time.time(),
            "model": model,
            "title": _title(messages),
            "messages": dump_messages(messages),
        }
        private_dir(self.path.parent)
        temporary = self.path.with_name(f".{self.path.stem}.{os.getpid()}.tmp")
        try:
            with open_private(temporary, "wb") as fh:
                fh.write(json.dumps(data, ensure_ascii=False).encode())
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(temporary, self.path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()

    def load(self) -> list[Message]:
        from agent.transcript import load_transcript

        return load_transcript(str(self.path))


def _title(messages: list[Message]) -> str:
    for message in messages:
        if isinstance(message, UserMessage) and message.text.strip():
            return message.text.strip().splitlines()[0][:200]
    return ""


def _info(path: Path) -> ChatInfo | None:
    try:
        raw = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(raw, dict) or not isinstance(raw.get("messages"), list):
        return None
    updated = raw.get("updated")
    return ChatInfo(
        path.stem,
        path,
        float(raw.get("created") or 0),
        float(updated) if isinstance(updated, int | float) else path.stat().st_mtime,
        str(raw.get("model") or ""),
        str(raw.get("title") or ""),
        len(raw["messages"]),
    )


def list_chats() -> list[ChatInfo]:
    """Every saved chat, the most recently updated first."""
    folder = chats_dir()
    if not folder.is_dir():
        return []
    found = [info for path in folder.glob("*.json") if (info := _info(path)) is not None]
    return sorted(found, key=lambda info: (info.updated, info.id), reverse=True)


def find_chat(ref: str) -> tuple[list[Message], SavedChat]:
    """The messages of the chat ``ref`` names, and where the chat goes on being saved: a saved
    chat's id (or a unique start of one) goes on in its own file; a transcript file the user
    names is read, and the chat goes on in a new saved chat (the file is left as it was)."""
    from agent.transcript import load_transcript

    path = Path(ref).expanduser()
    chats = list_chats()
    exact = [c for c in chats if c.id == ref]
    starts = [c for c in chats if c.id.startswith(ref)] if ref else []
    chosen = exact[0] if exact else starts[0] if len(starts) == 1 and not path.is_file() else None
    if chosen is not None:
        saved = SavedChat(chosen.path, created=chosen.created)
        return saved.load(), saved
    if path.is_file():
        return load_transcript(ref), SavedChat.new()
    if len(starts) > 1:
        ids = ", ".join(c.id for c in starts[:5])
        raise UsageError(f"{ref!r} starts several saved chats: {ids}", hint="give more of the id")
    raise UsageError(f"no saved chat or file {ref!r}", hint="agent history lists the saved chats")


def latest_chat() -> ChatInfo | None:
    chats = list_chats()
    return chats[0] if chats else None


def describe(info: ChatInfo, width: int = 60) -> str:
    """One line: id, date, model, message count, title."""
    title = " ".join(info.title.split())
    title = title if len(title) <= width else title[: width - 1] + "…"
    return f"{info.id}  {info.when}  {info.model}  {info.messages:>3} msgs  {title}"


async def main(options: HistoryOptions, config: Config) -> int:
    """``agent history``: the saved chats, newest first."""
    if options.limit is not None and options.limit < 1:
        raise UsageError(
            f"-n must be at least 1, not {options.limit}", hint="leave it out to list every chat"
        )
    chats = list_chats()[: options.limit] if options.limit else list_chats()
    if options.json:
        rows = [
            {
                "id": c.id,
                "path": str(c.path),
                "created": c.created,
                "updated": c.updated,
                "model": c.model,
                "title": c.title,
                "messages": c.messages,
            }
            for c in chats
        ]
        print(json.dumps(rows, ensure_ascii=False, indent=2))
        return 0
    if not chats:
        print(f"no saved chats yet (they are kept in {chats_dir()})")
        return 0
    for info in chats:
        print(for_stream(describe(info), sys.stdout))
    print(
        for_stream(
            "continue the newest: agent chat --continue · one of them: agent chat --resume ID", sys.stdout
        )
    )
    return 0
