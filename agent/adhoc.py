"""Servers given on the command line for one run: ``--url URL`` and ``--stdio "CMD ARGS"``
(each repeatable), named by ``--name`` or from the URL / the command.

A ``--url`` of a configured server keeps that server's settings (approval, timeout, auth,
include/exclude) and name. Two servers of one name are refused, never one silently dropped.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import PurePath
from urllib.parse import urlsplit

from pydantic import ValidationError

from agent.config import Config, ServerSettings
from agent.errors import ConfigError
from agent.options import AdhocServer

__all__ = ["adhoc_server", "adhoc_servers", "server_for_url", "stdio_server_name", "url_server_name"]

_NAME = re.compile(r"[A-Za-z0-9_-]+")
# Launchers whose first word says little: the server is named after what they start.
_LAUNCHERS = frozenset(
    ("npx", "uvx", "uv", "pipx", "bunx", "bun", "node", "deno", "docker", "podman", "env", "sh", "bash")
)
_LAUNCHER_WORDS = frozenset(("run", "exec", "x", "tool", "--"))


def server_for_url(config: Config, url: str) -> tuple[str, ServerSettings] | None:
    """The configured server at ``url`` (enabled or not), so that ``--url`` with a known server's
    URL keeps its settings: approval, timeout, auth, include/exclude. URLs are compared with the
    scheme and host in lower case, the default port made explicit and a trailing slash dropped."""
    wanted = _same_url_key(url)
    for name, settings in config.servers.items():
        if settings.url is not None and _same_url_key(settings.url) == wanted:
            return name, settings
    return None


def _same_url_key(url: str) -> tuple[str, str, int | None, str, str] | str:
    try:
        parts = urlsplit(url.strip())
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    except ValueError:
        return url
    return (parts.scheme.lower(), (parts.hostname or "").lower(), port, parts.path.rstrip("/"), parts.query)


def adhoc_server(url: str, *, timeout: float = 120.0) -> tuple[str, ServerSettings]:
    """A server for ``--url URL`` with no config file: named after the URL's host, port and path
    (``http://127.0.0.1:8000/mcp`` is ``localhost-8000-mcp``). A path ending in ``/sse`` is the
    legacy HTTP+SSE transport's usual endpoint: that one is reached over SSE."""
    transport = "sse" if urlsplit(url).path.rstrip("/").endswith("/sse") else "http"
    return url_server_name(url), _settings("--url", url=url, timeout=timeout, transport=transport)


def url_server_name(url: str) -> str:
    """A server name made of a URL's host (loopback: ``localhost``), port and path."""
    parts = urlsplit(url)
    host = parts.hostname or "server"
    if host in ("127.0.0.1", "::1") or host.startswith("127."):
        host = "localhost"
    try:
        port = f"-{parts.port}" if parts.port else ""
    except ValueError:
        port = ""
    return _clean(f"{host}{port}{parts.path}")


_PYTHON = re.compile(r"python[0-9.]*|pypy[0-9.]*")


def stdio_server_name(argv: Sequence[str]) -> str:
    """A server name from a command line: the program's name (``python3 server.py`` is
    ``server``), or for a launcher (npx, uvx, uv run, docker run…) the first thing it starts
    (``npx -y @modelcontextprotocol/server-everything`` is ``server-everything``)."""
    words = list(argv)
    program = PurePath(words[0]).name if words else ""
    if _PYTHON.fullmatch(program) and len(words) > 1:
        rest = words[1:]
        if rest[0] == "-m" and len(rest) > 1:
            return _clean(rest[1])
        return _clean(PurePath(rest[0]).stem) if not rest[0].startswith("-") else "python"
    if program in _LAUNCHERS:
        for i, word in enumerate(words[1:], 1):
            if word.startswith("-") or word in _LAUNCHER_WORDS:
                continue
            if _PYTHON.fullmatch(PurePath(word).name):  # uv run python -m pkg: named by pkg
                return stdio_server_name(words[i:])
            return _clean(PurePath(word.split("@", 1)[0] if not word.startswith("@") else word).name)
    return _clean(PurePath(program).stem if program.endswith((".py", ".js", ".ts")) else program)


def _clean(text: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-")
    return name[:64].strip("-") or "server"


def _settings(option: str, **fields: object) -> ServerSettings:
    try:
        return ServerSettings.model_validate(fields)
    except ValidationError as exc:
        msg = str(exc.errors()[0].get("msg", "invalid value")).removeprefix("Value error, ")
        raise ConfigError(msg, key=option) from None


def adhoc_servers(config: Config, specs: Sequence[AdhocServer]) -> dict[str, ServerSettings]:
    """The servers of ``--url`` / ``--stdio`` (with their ``--name``), in order; refuses two of one
    name (say which options gave them, and to tell them apart with ``--name``)."""
    chosen: dict[str, ServerSettings] = {}
    given_by: dict[str, str] = {}
    for spec in specs:
        if spec.url is not None:
            known = server_for_url(config, spec.url)
            name, settings = known if known is not None else adhoc_server(spec.url)
            shown = f"--url {spec.url}"
        else:
            settings = _settings("--stdio", command=spec.command[0], args=list(spec.command[1:]))
            name, shown = stdio_server_name(spec.command), f"--stdio {' '.join(spec.command)!r}"
        if spec.name is not None:
            if not _NAME.fullmatch(spec.name):
                raise ConfigError(
                    f"server name {spec.name!r} may hold only letters, digits, '_' and '-'", key="--name"
                )
            name = spec.name
        if name in chosen:
            raise ConfigError(
                f"two servers named {name!r}: {given_by[name]} and {shown}",
                key="--name" if spec.name is not None else shown.split()[0],
                hint="give each --url / --stdio its own --name (in the same order), or drop the repeated one",
            )
        chosen[name], given_by[name] = settings, shown
    return chosen
