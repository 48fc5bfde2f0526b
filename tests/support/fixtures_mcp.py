"""MCP test servers, started once per test run and shared by the xdist workers (see
tests/support/mcp_server.py for the tools).

Fixtures:
    mcp_http_url        URL of the test server over Streamable HTTP (a subprocess on 127.0.0.1)
    mcp_sse_url         URL of the test server over legacy SSE
    mcp_hostile_url     URL of the test server with ``--hostile`` over Streamable HTTP
    mcp_odd_url         URL of the test server with ``--odd-tools`` over Streamable HTTP
    mcp_mute_url        URL of the test server with ``--hang-listing`` over Streamable HTTP
    mcp_events_file     the file the servers append ``started/cancelled/done TAG`` lines to
    mcp_stdio_settings  ServerSettings that launch the test server over stdio (sys.executable)
    write_config        ``write_config(servers, path=...)`` writes an agent.toml and returns its path;
                        the default ./agent.toml is also named by ``$AGENT_CONFIG``, so it is used
                        as a config the user chose (a project file needs trust: tests/test_trust.py)

Helpers: :func:`stdio_settings` (extra server flags, env), :func:`toml_config` (the TOML text),
:class:`RestartableServer` (an HTTP server a test kills and starts again on the same port).
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import pytest

from agent.config import ServerSettings

REPO_ROOT = Path(__file__).resolve().parents[2]
_READY_TIMEOUT = 60.0


def stdio_settings(*flags: str, env: Mapping[str, str] | None = None, **kwargs: Any) -> ServerSettings:
    """Settings that run ``python -m tests.support.mcp_server --transport stdio FLAGS``."""
    return ServerSettings(
        command=sys.executable,
        args=["-m", "tests.support.mcp_server", "--transport", "stdio", *flags],
        cwd=str(REPO_ROOT),
        env=dict(env or {}),
        **kwargs,
    )


def start_server(
    argv: list[str], what: str, env: Mapping[str, str] | None = None
) -> tuple[subprocess.Popen[str], str]:
    """Start a server (in its own process group, from the repository's root) that prints one line
    ``READY <url>`` once it accepts connections; return it and the URL."""
    proc = subprocess.Popen(
        argv,
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        if not sel.select(_READY_TIMEOUT):
            _stop(proc)
            raise RuntimeError(f"{what} did not print READY")
    line = proc.stdout.readline().strip()
    if not line.startswith("READY "):
        _stop(proc)
        raise RuntimeError(f"{what} failed to start: {line!r}")
    return proc, line.split(" ", 1)[1]


def _start(transport: str, events: Path, *flags: str) -> tuple[subprocess.Popen[str], str]:
    argv = [sys.executable, "-m", "tests.support.mcp_server", "--transport", transport, "--port", "0"]
    return start_server([*argv, *flags], f"MCP test server ({transport})", {"MCP_TEST_EVENTS": str(events)})


def _stop(proc: subprocess.Popen[str]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


# --- servers shared by every xdist worker ------------------------------------------------------
# The session's read-only HTTP servers are started once for the whole run, not once per worker: the
# first worker to need one starts it (under a file lock) in the folder the main pytest process made
# (``$MCP_TEST_SHARED``, tests/conftest.py), and the main process stops them all at the end
# (:func:`stop_shared_servers`). Tests tell their calls apart by unique tags, never by the server.
SHARED_ENV = "MCP_TEST_SHARED"
_STARTED: list[subprocess.Popen[str]] = []  # kept: a collected Popen of a live process warns


def _shared() -> Path:
    return Path(os.environ[SHARED_ENV])


def shared_server(key: str, start: Callable[[], tuple[subprocess.Popen[str], str]]) -> str:
    """The URL of the run's one server called ``key``; ``start`` (in its own process group) makes
    it, in the first worker that asks."""
    from filelock import FileLock

    folder = _shared()
    record = folder / f"{key}.server"
    with FileLock(folder / f"{key}.lock"):
        if record.exists():
            return record.read_text(encoding="utf-8").split()[1]
        proc, url = start()
        _STARTED.append(proc)
        record.write_text(f"{proc.pid} {url}\n", encoding="utf-8")  # its process group, its URL
        return url


def _shared_server(key: str, *flags: str, transport: str = "http") -> str:
    return shared_server(key, lambda: _start(transport, _shared() / "events.txt", *flags))


def release_shared_servers() -> None:
    """Let go of the servers this process started for the run (at its end): the main process
    stops them (:func:`stop_shared_servers`); a worker's Popen must not wait for them, nor warn
    at exit that they still run."""
    for proc in _STARTED:
        if proc.stdout is not None:
            proc.stdout.close()
        if proc.poll() is None:
            proc.returncode = 0  # handed over to the main process, not ours to wait for
    _STARTED.clear()


def stop_shared_servers(folder: Path) -> None:
    """Stop every server the workers started in ``folder`` (the main process, at the end)."""
    for record in folder.glob("*.server"):
        pgid = int(record.read_text(encoding="utf-8").split()[0])
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)


@pytest.fixture(scope="session")
def mcp_events_file() -> Path:
    path = _shared() / "events.txt"
    path.touch()
    return path


@pytest.fixture(scope="session")
def mcp_http_url(mcp_events_file: Path) -> str:
    return _shared_server("http")


@pytest.fixture(scope="session")
def mcp_sse_url(mcp_events_file: Path) -> str:
    return _shared_server("sse", transport="sse")


@pytest.fixture(scope="session")
def mcp_hostile_url(mcp_events_file: Path) -> str:
    """The test server with ``--hostile`` (tools that send escape sequences), over Streamable HTTP."""
    return _shared_server("hostile", "--hostile")


@pytest.fixture(scope="session")
def mcp_odd_url(mcp_events_file: Path) -> str:
    """The test server with ``--odd-tools`` (a broken output, a task-only tool, a broken schema)."""
    return _shared_server("odd", "--odd-tools")


@pytest.fixture(scope="session")
def mcp_mute_url(mcp_events_file: Path) -> str:
    """The test server with ``--hang-listing`` (``tools/list`` never answers), over Streamable HTTP."""
    return _shared_server("mute", "--hang-listing")


@pytest.fixture(scope="session")
def mcp_stdio_settings(mcp_events_file: Path) -> ServerSettings:
    return stdio_settings(env={"MCP_TEST_EVENTS": str(mcp_events_file)})


def _toml_value(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json.dumps(str(value))


def toml_config(servers: Mapping[str, ServerSettings | Mapping[str, Any]], **top: Any) -> str:
    """TOML text for an agent config with these servers (and top-level keys)."""
    lines = [f"{key} = {_toml_value(value)}" for key, value in top.items()]
    for name, server in servers.items():
        data = (
            server.model_dump(exclude_defaults=True, exclude_none=True)
            if isinstance(server, ServerSettings)
            else dict(server)
        )
        lines.append(f"\n[servers.{name}]")
        lines.extend(f"{key} = {_toml_value(value)}" for key, value in data.items())
    return "\n".join(lines) + "\n"


@pytest.fixture
def write_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Path]:
    """``write_config(servers, path=None, **top)``: write a config file (default ./agent.toml, then
    named by ``$AGENT_CONFIG`` too: explicit, so no trust question)."""

    def write(
        servers: Mapping[str, ServerSettings | Mapping[str, Any]], path: Path | None = None, **top: Any
    ) -> Path:
        target = path or tmp_path / "agent.toml"
        target.write_text(toml_config(servers, **top), encoding="utf-8")
        if path is None:
            monkeypatch.setenv("AGENT_CONFIG", str(target))
        return target

    return write


class RestartableServer:
    """The test server over Streamable HTTP in a subprocess that a test can kill and start again
    on the same port (``async with RestartableServer() as server``; ``await server.kill()``,
    ``await server.start()``). Readiness is the server's ``READY`` line."""

    def __init__(self, *flags: str) -> None:
        self.flags = flags
        self.port = 0
        self.url = ""
        self._proc: anyio.abc.Process | None = None

    async def start(self) -> None:
        proc = await anyio.open_process(
            [
                sys.executable,
                "-m",
                "tests.support.mcp_server",
                "--transport",
                "http",
                "--port",
                str(self.port),
                *self.flags,
            ],
            cwd=REPO_ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        assert proc.stdout is not None
        buffer = b""
        with anyio.fail_after(_READY_TIMEOUT):
            while b"\n" not in buffer:
                buffer += await proc.stdout.receive()
        line = buffer.split(b"\n", 1)[0].decode()
        if not line.startswith("READY "):
            raise RuntimeError(f"the restartable MCP test server did not start: {line!r}")
        self.url = line.split(" ", 1)[1]
        self.port = int(self.url.rsplit(":", 1)[1].split("/", 1)[0])
        self._proc = proc

    async def kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        with anyio.CancelScope(shield=True):
            await proc.wait()
            await proc.aclose()

    async def __aenter__(self) -> RestartableServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.kill()
