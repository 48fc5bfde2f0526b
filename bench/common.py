"""What the bench scripts share: starting and stopping the loopback servers they measure against,
reading a process's CPU time, and an environment in which compiled modules are cached."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable


def start(argv: Sequence[str], env: Mapping[str, str] | None = None) -> tuple[subprocess.Popen[str], str]:
    """Start a server that prints ``READY <url>``; return it and the URL."""
    proc = subprocess.Popen(
        list(argv), cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("READY "):
        proc.kill()
        raise SystemExit(f"server {argv} did not start: {line!r}")
    return proc, line.split()[1]


def stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) the process has used so far, from /proc (Linux); NaN once gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cache_bytecode(env: dict[str, str], folder: Path) -> dict[str, str]:
    """``env`` with compiled modules cached in ``folder`` (the project's environment untouched),
    even where PYTHONDONTWRITEBYTECODE is set: start-ups as users see them, not fresh compiles."""
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(folder / "pycache")
    return env
