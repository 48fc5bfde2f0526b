"""Run the ``agent`` command line inside the test process, as a subprocess run would see it.

Each ``python -m agent`` a test starts pays the SDK imports again (1.5-2.5 s of CPU on these
machines); a test that needs no process of its own (no terminal, no signal, no crash, no
import check) calls ``agent.cli.main`` here instead: same argv, the environment given, stdin
a pipe (empty unless given), stdout and stderr captured, the exit code returned. What ``main``
changes in the process (log handlers, environment variables) is put back afterwards.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Ran:
    """What a finished run left: like ``subprocess.CompletedProcess`` with text output."""

    returncode: int
    stdout: str
    stderr: str


@contextlib.contextmanager
def _environment(env: Mapping[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def _logging_restored() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        for handler in root.handlers:
            if handler not in handlers:
                handler.close()
        root.handlers[:] = handlers
        root.setLevel(level)


def run_agent(*argv: str, env: Mapping[str, str] | None = None, input: str = "") -> Ran:
    """``agent ARGV`` in this process, in the current working directory, with no terminal;
    ``input`` is what a pipe gives on stdin."""
    from agent.cli import main

    out, err = io.StringIO(), io.StringIO()
    with (
        _environment(env or {}),
        _logging_restored(),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        stdin, sys.stdin = sys.stdin, io.TextIOWrapper(io.BytesIO(input.encode()), encoding="utf-8")
        try:
            code = main(list(argv))
        except SystemExit as exc:  # argparse's own errors
            code = exc.code if isinstance(exc.code, int) else 1
        finally:
            sys.stdin = stdin
    return Ran(code, out.getvalue(), err.getvalue())
