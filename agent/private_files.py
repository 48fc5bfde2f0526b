"""Files agent writes for itself are private: 0600 files in 0700 folders, whatever the umask.

Logs, server logs, chat history, notes, trust records and tokens can hold what a user typed, what
a server answered, or credentials. Every folder agent writes its own files into goes through
:func:`private_dir` (made 0700, and tightened to 0700 when it already exists with looser modes),
and every such file through :func:`private_file` or :func:`open_private` (0600, tightened too).

Files the user names (``-o FILE``, ``/save FILE``) are theirs: :func:`open_user_file` creates them
0600, but leaves the mode of a file that already exists as it is.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import IO, Any

__all__ = ["open_private", "open_user_file", "private_dir", "private_file"]

_DIR_MODE = 0o700
_FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """``path`` as a folder agent owns: made (missing parents too) 0700, or tightened to 0700."""
    missing = []
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing.append(folder)
    for folder in reversed(missing):
        folder.mkdir(mode=_DIR_MODE, exist_ok=True)
        # mkdir's mode passes through the umask, which can only take bits away: set it exactly.
        os.chmod(folder, _DIR_MODE)
    _tighten(path, _DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """``path`` as a file agent owns: its folder private, the file created or tightened to 0600."""
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | _NOFOLLOW, _FILE_MODE)
    try:
        os.fchmod(fd, _FILE_MODE)
    finally:
        os.close(fd)
    return path


def open_private(path: Path, mode: str = "a", **kwargs: Any) -> IO[Any]:
    """Open a file agent owns for writing (``"a"``, ``"w"``, ``"ab"``, ``"wb"``): 0600 in a 0700 folder."""
    private_dir(path.parent)
    fd = os.open(path, _flags(mode) | _NOFOLLOW, _FILE_MODE)
    try:
        os.fchmod(fd, _FILE_MODE)
        return os.fdopen(fd, mode, **kwargs)
    except BaseException:
        os.close(fd)
        raise


def open_user_file(path: Path, mode: str = "w", **kwargs: Any) -> IO[Any]:
    """Open a file the user named for writing: a new file is 0600, an existing one keeps its mode."""
    fd = os.open(path, _flags(mode), _FILE_MODE)
    try:
        return os.fdopen(fd, mode, **kwargs)
    except BaseException:
        os.close(fd)
        raise


_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def _flags(mode: str) -> int:
    if mode.startswith("a"):
        return os.O_WRONLY | os.O_CREAT | os.O_APPEND
    if mode.startswith("w"):
        return os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    raise ValueError(f"not a mode for writing: {mode!r}")


def _tighten(path: Path, wanted: int) -> None:
    current = stat.S_IMODE(os.stat(path).st_mode)
    if current & ~wanted:
        os.chmod(path, current & wanted)
