"""Trust in a project's config file: ``./agent.toml`` is used only once the user trusts it.

A config found in the working directory came with the folder (a cloned repository, a download):
it could start commands (stdio servers, ``id_token_command``, ``assertion_command``), read
files and send them (``assertion_file``), send an API key to a base URL of
its choosing, read environment variables into URLs and headers, and turn off approval. So before
it is used, the user sees what it would do and says yes or no, once: the answer is remembered by
the file's absolute path and the SHA-256 of its content, and a changed file is asked about again.

* On a terminal (stdin and stderr), :func:`gate` shows :func:`summary` and asks ``[y/N]``.
* Without one, the file is skipped, with one line on stderr naming ``agent trust [PATH]`` and
  ``--trust-project`` (this run only, nothing remembered).
* ``agent trust [PATH]`` (:func:`trust_command`) shows the same summary and trusts the file.

``--config PATH``, ``$AGENT_CONFIG`` and the user config file are the user's own and never asked
about. Records live in ``trust/projects.json`` in the user data folder, 0600 in a 0700 folder,
replaced atomically.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from agent.config import (
    PROJECT_CONFIG,
    ProjectFile,
    TrustDecision,
    project_config_file,
    read_project_file,
    user_data_dir,
)
from agent.errors import ConfigError
from agent.private_files import open_private, private_dir
from agent.terminal import for_stream, is_terminal

__all__ = ["gate", "remember", "summary", "trust_command", "trust_file"]

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")
_KEY_ENV = {"anthropic": "ANTHROPIC_API_KEY", "openai": "OPENAI_API_KEY", "openai-chat": "OPENAI_API_KEY"}
_BUILTIN_PROVIDERS = frozenset(_KEY_ENV)
_HOW = f"`agent trust {PROJECT_CONFIG}` trusts it; --trust-project uses it for this run only"


def trust_file() -> Path:
    """Where the answers are kept."""
    return user_data_dir() / "trust" / "projects.json"


# -- records ---------------------------------------------------------------------------------------


def _records() -> dict[str, dict[str, Any]]:
    try:
        data = json.loads(trust_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    files = data.get("files") if isinstance(data, dict) else None
    return {k: v for k, v in files.items() if isinstance(v, dict)} if isinstance(files, dict) else {}


def _answer(project: ProjectFile) -> bool | None:
    """The remembered answer for this file with this content; ``None``: not asked yet (or changed)."""
    record = _records().get(str(project.path))
    if record is None or record.get("sha256") != project.sha256:
        return None
    return record.get("trusted") is True


def remember(project: ProjectFile, trusted: bool) -> None:
    """Record the answer for this path and content (an earlier one for the path is replaced)."""
    path = trust_file()
    records = _records()
    records[str(project.path)] = {
        "sha256": project.sha256,
        "trusted": trusted,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    private_dir(path.parent)
    fd, temp = tempfile.mkstemp(prefix=".projects.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        with open_private(Path(temp), "w", encoding="utf-8") as fh:
            json.dump({"version": 1, "files": records}, fh, indent=2, sort_keys=True)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(temp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)


# -- what a file would do --------------------------------------------------------------------------


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _table(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value] if value is not None else []


def _variables(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield from _VAR.findall(value)
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _variables(item)
    elif isinstance(value, list):
        for item in value:
            yield from _variables(item)


# Every config field the summary speaks of (``*`` is any name): what runs a command, reads a file
# or an environment variable, sends a credential, chooses where we connect, or changes approval.
# The rest are harmless (limits, timeouts, filters). tests/test_trust.py walks the schema: a new
# field must be put in one of these two sets, and the shown ones must appear in the summary.
SHOWN = frozenset({
    "model", "approval", "system_prompt", "system_prompt_file",
    "servers.*.url", "servers.*.headers", "servers.*.command", "servers.*.args", "servers.*.env",
    "servers.*.cwd", "servers.*.approval",
    "servers.*.oauth.client_secret", "servers.*.oauth.client_metadata_url",
    "servers.*.oauth.private_key_file", "servers.*.oauth.issuer", "servers.*.oauth.idp_token_endpoint",
    "servers.*.oauth.idp_client_secret", "servers.*.oauth.id_token_env",
    "servers.*.oauth.id_token_command", "servers.*.oauth.assertion_file",
    "servers.*.oauth.assertion_command",
    "providers.*.type", "providers.*.base_url", "providers.*.api_key_env", "providers.*.headers",
})  # fmt: skip
HARMLESS = frozenset({
    "max_steps", "max_tool_result_tokens", "token_store", "tools.search", "tools.search_threshold",
    "tools.search_threshold_tokens", "tools.search_limit",
    "servers.*.transport", "servers.*.auth", "servers.*.timeout", "servers.*.enabled",
    "servers.*.tools.include", "servers.*.tools.exclude", "servers.*.tools.pin",
    "servers.*.oauth.scope", "servers.*.oauth.client_id", "servers.*.oauth.grant",
    "servers.*.oauth.token_endpoint_auth_method", "servers.*.oauth.callback_port",
    "servers.*.oauth.login_timeout", "servers.*.oauth.dpop", "servers.*.oauth.idp_client_id",
    "providers.*.model", "providers.*.max_tokens", "providers.*.max_retries", "providers.*.timeout",
    "providers.*.batch_max_requests", "providers.*.batch_max_bytes", "providers.*.context_window",
    "providers.*.context_windows",
})  # fmt: skip
_OAUTH_COMMANDS = ("id_token_command", "assertion_command")  # what they print is sent to log in
_OAUTH_FILES = ("private_key_file", "assertion_file")  # signs the login; sent to log in
_OAUTH_URLS = ("issuer", "idp_token_endpoint", "client_metadata_url")


def _oauth_lines(name: str, oauth: Mapping[str, Any]) -> Iterator[str]:
    for key in _OAUTH_COMMANDS:
        if key in oauth:
            command = " ".join(_text(p) for p in _list(oauth[key]))
            yield f"runs command: {command}  [server {name} oauth.{key}]"
    for key in _OAUTH_FILES:
        if key in oauth:
            yield f"reads file: {_text(oauth[key])}  [server {name} oauth.{key}]"
    if "id_token_env" in oauth:
        variable = _text(oauth["id_token_env"])
        yield f"reads environment variable: ${variable} (sent as an ID token)  [server {name} oauth.id_token_env]"
    for key in _OAUTH_URLS:
        if key in oauth:
            yield f"connects to: {_text(oauth[key])}  [server {name} oauth.{key}]"
    if "client_secret" in oauth:
        yield f"sends its client_secret to: the server's authorization server  [server {name} oauth]"
    if "idp_client_secret" in oauth:
        to = _text(oauth.get("idp_token_endpoint", "the identity provider"))
        yield f"sends its idp_client_secret to: {to}  [server {name} oauth]"


def summary(raw: Mapping[str, Any]) -> list[str]:
    """What a config would do, one line each, from the parsed file before anything is expanded.

    Commands it runs, URLs it connects to, where API keys go, the approval it sets, the
    environment variables and files it reads. The lines quote the file: show them with
    :func:`agent.terminal.for_stream`."""
    lines: list[str] = []
    for name, server in _table(raw.get("servers")).items():
        server = _table(server)
        if server.get("enabled") is False:
            continue
        if "command" in server:
            command = " ".join(_text(part) for part in [server["command"], *_list(server.get("args"))])
            where = f" (in {_text(server['cwd'])})" if "cwd" in server else ""
            env = _table(server.get("env"))
            extra = f" with env {', '.join(env)}" if env else ""
            lines.append(f"runs command: {command}{where}{extra}  [server {name}]")
        if "url" in server:
            headers = _table(server.get("headers"))
            extra = f" with headers {', '.join(headers)}" if headers else ""
            lines.append(f"connects to: {_text(server['url'])}{extra}  [server {name}]")
        lines.extend(_oauth_lines(name, _table(server.get("oauth"))))
    for name, provider in _table(raw.get("providers")).items():
        provider = _table(provider)
        kind = _text(provider.get("type", "?"))
        base_url = provider.get("base_url")
        key_env = provider.get("api_key_env")
        if key_env is None and (name in _BUILTIN_PROVIDERS or base_url is None):
            key_env = _KEY_ENV.get(kind)
        to = _text(base_url) if base_url is not None else f"the {kind} default endpoint"
        key = f"the API key in ${_text(key_env)}" if key_env else "no API key"
        headers = _table(provider.get("headers"))
        extra = f" with headers {', '.join(headers)}" if headers else ""
        lines.append(f"sends {key} to: {to}{extra}  [provider {name}]")
    if "model" in raw:
        lines.append(f"uses model: {_text(raw['model'])}")
    approvals = [f"approval = {_text(raw.get('approval', 'always'))} for every tool"]
    for name, server in _table(raw.get("servers")).items():
        if "approval" in _table(server):
            approvals.append(f"server {name}: {_text(_table(server)['approval'])}")
    lines.append("sets " + "; ".join(approvals))
    if "system_prompt_file" in raw:
        lines.append(f"reads file: {_text(raw['system_prompt_file'])}  [system_prompt_file]")
    if "system_prompt" in raw:
        lines.append("sets its own system prompt")
    variables = sorted(set(_variables(raw)) | set(_token_variables(raw)))
    if variables:
        lines.append("reads environment variables: " + ", ".join(f"${v}" for v in variables))
    return lines


def _token_variables(raw: Mapping[str, Any]) -> Iterator[str]:
    for server in _table(raw.get("servers")).values():
        if _table(server).get("enabled") is not False:
            variable = _table(_table(server).get("oauth")).get("id_token_env")
            if isinstance(variable, str):
                yield variable


def _show(project: ProjectFile, stream: IO[str], heading: str) -> None:
    print(for_stream(heading, stream), file=stream)
    for line in summary(project.raw):
        print(for_stream(f"  {line}", stream), file=stream)


# -- the decision ----------------------------------------------------------------------------------


def gate(
    *, trust_project: bool = False, stdin: IO[str] | None = None, stderr: IO[str] | None = None
) -> TrustDecision:
    """The trust decision for :func:`agent.config.load_config` (module doc).

    ``trust_project`` (``--trust-project``) says yes for this run without remembering it."""

    def decide(project: ProjectFile) -> bool:
        if trust_project:
            return True
        err = sys.stderr if stderr is None else stderr
        inp = sys.stdin if stdin is None else stdin
        answer = _answer(project)
        if answer is not None:
            if not answer:
                _skip(err, project, "you chose not to trust it")
            return answer
        changed = str(project.path) in _records()
        if not (is_terminal(inp) and is_terminal(err)):
            _skip(err, project, "it changed since you answered" if changed else "it is not trusted yet")
            return False
        what = "has changed since you last answered" if changed else "is a project config"
        _show(project, err, f"{project.path} {what}. Using it, agent:")
        err.write(for_stream("Trust this file and use it? [y/N] ", err))
        err.flush()
        reply = inp.readline().strip().lower()
        trusted = reply in ("y", "yes")
        remember(project, trusted)
        if not trusted:
            _skip(err, project, "not trusted")
        return trusted

    return decide


def _skip(err: IO[str], project: ProjectFile, why: str) -> None:
    line = f"agent: ignoring {project.path} ({why}): {_HOW}"
    print(for_stream(line, err), file=err, flush=True)


def trust_command(path: str | None, stdout: IO[str] | None = None) -> int:
    """``agent trust [PATH]``: show what the file would do and trust it as it is now."""
    out = sys.stdout if stdout is None else stdout
    target = Path(path).expanduser() if path else project_config_file() or Path(PROJECT_CONFIG)
    if not target.is_file():
        raise ConfigError("config file not found", file=str(target), hint="agent trust [PATH]")
    project = read_project_file(target)
    _show(project, out, f"{project.path}, once trusted, makes agent:")
    remember(project, True)
    print(for_stream(f"trusted: {project.path} (sha256 {project.sha256[:12]}…)", out), file=out)
    return 0
