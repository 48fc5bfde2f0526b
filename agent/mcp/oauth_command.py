"""A credential the user's own command prints (``assertion_command``, ``id_token_command``)."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

from agent.errors import AuthError

__all__ = ["command_output"]

_COMMAND_TIMEOUT = 60.0


def command_output(
    server: str, command: Sequence[str], setting: str, what: str, hint: str | None = None
) -> str:
    """What ``command`` (the ``setting`` of ``server``, run with no shell) prints, stripped; an
    AuthError naming the command when it cannot run, fails, or prints nothing (``what`` says
    what it should have printed)."""
    try:
        done = subprocess.run(  # the user's own command, no shell
            list(command), capture_output=True, text=True, timeout=_COMMAND_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise AuthError(server, f"cannot run {setting} {command[0]!r}: {exc}") from None
    value = done.stdout.strip()
    if done.returncode != 0 or not value:
        detail = done.stderr.strip().splitlines()[-1:] or [f"exit status {done.returncode}"]
        raise AuthError(server, f"{setting} {command[0]!r} printed no {what} ({detail[0]})", hint=hint)
    return value
