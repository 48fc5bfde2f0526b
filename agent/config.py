"""Configuration: a TOML file plus environment overrides, validated by pydantic-settings.

Where the file comes from, first match wins:

1. ``--config PATH`` (must exist),
2. ``$AGENT_CONFIG`` (must exist),
3. ``./agent.toml``: a project's file, used only once the user trusts it (``trust=`` of
   :func:`load_config`, :mod:`agent.trust`); an untrusted one is skipped as if it were not there,
4. ``config.toml`` in the user config folder (``platformdirs.user_config_dir("agent")``).

``--config`` and ``$AGENT_CONFIG`` are explicit, and the user config is the user's own: those are
trusted. A project file is someone else's until trusted: it could start commands, send an API key
to its own base URL, or read environment variables.

No file at all is fine: the defaults apply. ``${VAR}`` (or ``${VAR:-default}``) in any string of
the file is replaced from the environment; ``$${`` writes a literal ``${``. Environment variables
``AGENT_<KEY>`` override top-level keys, with ``__`` for nesting
(``AGENT_SERVERS__DOCS__TIMEOUT=30``). ``--mcp-config FILE`` adds servers from a Claude-style
``{"mcpServers": {...}}`` JSON file.

Every problem is a :class:`~agent.errors.ConfigError` naming the file, the key and what is allowed.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from agent.errors import ConfigError
from agent.mcp_json import read_mcp_json
from agent.paths import user_config_dir, user_data_dir, user_log_dir

__all__ = [
    "DEFAULT_MODEL",
    "PROJECT_CONFIG",
    "Approval",
    "Config",
    "OAuthSettings",
    "ProjectFile",
    "ProviderSettings",
    "ServerSettings",
    "ToolFilter",
    "ToolSearchSettings",
    "TrustDecision",
    "approval_mode",
    "find_config_file",
    "load_config",
    "model_spec_problem",
    "project_config_file",
    "read_project_file",
    "user_config_dir",
    "user_data_dir",
    "user_log_dir",
]

DEFAULT_MODEL = "anthropic:claude-sonnet-4-6"
Approval = Literal["always", "never", "ask", "ask-unless-read-only"]
_VAR = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ToolFilter(_Strict):
    """Which of a server's tools are offered. Names are the server's own tool names."""

    include: list[str] | None = None
    exclude: list[str] = Field(default_factory=list)
    pin: list[str] = Field(default_factory=list)  # always offered, also when tool search is on

    def allows(self, name: str) -> bool:
        if self.include is not None and name not in self.include:
            return False
        return name not in self.exclude


class OAuthSettings(_Strict):
    """OAuth client settings for one server. All optional: discovery and registration fill the gaps."""

    scope: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    client_metadata_url: str | None = None
    grant: Literal["authorization_code", "client_credentials", "cross_app_access", "jwt_bearer"] = (
        "authorization_code"
    )
    token_endpoint_auth_method: Literal["none", "client_secret_basic", "client_secret_post"] | None = None
    private_key_file: str | None = None
    callback_port: int | None = Field(default=None, ge=0, le=65535)
    login_timeout: float = Field(default=300.0, gt=0)
    # DPoP (RFC 9449), tokens bound to a key: true always, false never, unset when both servers ask
    dpop: bool | None = None
    # grant = "cross_app_access" (enterprise-managed authorization, SEP-990)
    issuer: str | None = None
    idp_token_endpoint: str | None = None
    idp_client_id: str | None = None
    idp_client_secret: str | None = None
    id_token_env: str | None = None
    id_token_command: list[str] | None = None
    # grant = "jwt_bearer" (workload identity, RFC 7523 §2.1): the workload's own signed JWT
    assertion_file: str | None = None
    assertion_command: list[str] | None = None


class ServerSettings(_Strict):
    """One MCP server: either ``url`` (Streamable HTTP or legacy SSE) or ``command`` (stdio)."""

    url: str | None = None
    transport: Literal["http", "sse"] = "http"
    headers: dict[str, str] = Field(default_factory=dict)
    auth: Literal["oauth", "none"] | None = None
    oauth: OAuthSettings = Field(default_factory=OAuthSettings)
    command: str | None = None
    args: list[str] = Field(default_factory=list)
    env: dict[str, str] = Field(default_factory=dict)
    cwd: str | None = None
    timeout: float = Field(default=120.0, gt=0)
    enabled: bool = True
    tools: ToolFilter = Field(default_factory=ToolFilter)
    approval: Approval | dict[str, Approval] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> ServerSettings:
        if (self.url is None) == (self.command is None):
            raise ValueError("a server needs exactly one of 'url' (remote) or 'command' (stdio)")
        if self.url is not None:
            scheme = urlsplit(self.url).scheme
            if scheme not in ("http", "https"):
                raise ValueError(f"url must start with http:// or https://, not {self.url!r}")
        return self

    @property
    def kind(self) -> Literal["http", "sse", "stdio"]:
        return "stdio" if self.command is not None else self.transport


class ProviderSettings(_Strict):
    """A model provider. Built-in names: ``anthropic``, ``openai``, ``openai-chat``."""

    type: Literal["anthropic", "openai", "openai-chat"]
    base_url: str | None = None
    api_key_env: str | None = None
    model: str | None = None
    max_tokens: int = Field(default=8192, gt=0)
    headers: dict[str, str] = Field(default_factory=dict)
    max_retries: int = Field(default=4, ge=0)
    timeout: float = Field(default=600.0, gt=0)
    # `agent batch --via batch-api`: lower the API's own limits per provider batch (a gateway's)
    batch_max_requests: int | None = Field(default=None, gt=0)
    batch_max_bytes: int | None = Field(default=None, gt=0)
    # tokens a request may hold (agent/context.py): for every model of this provider, or by model
    context_window: int | None = Field(default=None, gt=0)
    context_windows: dict[str, int] = Field(default_factory=dict)


class ToolSearchSettings(_Strict):
    """When the model gets a ``search_tools`` tool instead of every tool (agent/tool_search.py)."""

    search: Literal["auto", "always", "never"] = "auto"
    search_threshold: int = Field(default=64, ge=0)  # tools
    search_threshold_tokens: int = Field(default=20_000, ge=0)  # of tool definitions, ~4 chars a token
    search_limit: int = Field(default=8, ge=1, le=50)  # tools a search returns unless the model asks


class Config(BaseSettings):
    """The whole configuration. ``source`` is the file it came from, if any."""

    model_config = SettingsConfigDict(
        env_prefix="AGENT_",
        env_nested_delimiter="__",
        extra="forbid",
        frozen=True,
    )

    model: str = DEFAULT_MODEL
    system_prompt: str | None = None
    system_prompt_file: str | None = None
    max_steps: int = Field(default=25, gt=0)
    max_tool_result_tokens: int = Field(default=25_000, gt=0)
    approval: Approval = "always"
    token_store: Literal["file", "keyring"] = "file"
    tools: ToolSearchSettings = Field(default_factory=ToolSearchSettings)
    servers: dict[str, ServerSettings] = Field(default_factory=dict)
    providers: dict[str, ProviderSettings] = Field(default_factory=dict)
    source: str | None = Field(default=None, exclude=True)

    @field_validator("model")
    @classmethod
    def _model_spec(cls, value: str) -> str:
        problem = model_spec_problem(value)
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("servers")
    @classmethod
    def _server_names(cls, value: dict[str, ServerSettings]) -> dict[str, ServerSettings]:
        for name in value:
            if not re.fullmatch(r"[A-Za-z0-9_-]+", name):
                raise ValueError(f"server name {name!r} may hold only letters, digits, '_' and '-'")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Environment beats the file (which arrives as init kwargs).
        return (env_settings, init_settings)

    @property
    def enabled_servers(self) -> dict[str, ServerSettings]:
        return {name: s for name, s in self.servers.items() if s.enabled}


def model_spec_problem(spec: str) -> str | None:
    """What is wrong with a ``PROVIDER:MODEL`` / ``PROVIDER`` / ``MODEL`` spec, or None: an empty
    spec, or an empty side of the colon, would otherwise quietly mean a default model."""
    if not spec.strip():
        return "the model is empty; give PROVIDER:MODEL, e.g. " + DEFAULT_MODEL
    if any(ch.isspace() for ch in spec.strip()):
        return f"a model has no spaces: {spec.strip()!r}; give PROVIDER:MODEL, e.g. {DEFAULT_MODEL}"
    if ":" in spec:
        provider, model = spec.split(":", 1)
        if not model.strip():
            return f"no model name after {provider.strip() + ':'!r}; give PROVIDER:MODEL, or the provider alone for its default model"
        if not provider.strip():
            return f"no provider before ':' in {spec!r}; give PROVIDER:MODEL, e.g. {DEFAULT_MODEL}"
    return None


PROJECT_CONFIG = "agent.toml"  # looked for in the working directory


@dataclass(frozen=True, slots=True)
class ProjectFile:
    """A config file found in the working directory, read once: what the trust decision sees.

    ``raw`` is the parsed TOML before any ``${VAR}`` is expanded (nothing of the environment has
    been read for it); ``sha256`` is of ``data``, the bytes that are used if it is trusted."""

    path: Path  # absolute
    data: bytes
    raw: dict[str, Any]
    sha256: str


TrustDecision = Callable[[ProjectFile], bool]


def find_config_file(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The config file to read, by the lookup order above; ``None`` when there is none.

    A project file (``./agent.toml``) is returned whether trusted or not: :func:`load_config`
    decides whether it is used."""
    found = _find(explicit, project=True)
    return found[0] if found is not None else None


def project_config_file(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The working directory's config file when it is the one the lookup would pick, else ``None``
    (``--config`` or ``$AGENT_CONFIG`` come first)."""
    found = _find(explicit, project=True)
    return found[0] if found is not None and found[1] else None


def _find(explicit: str | os.PathLike[str] | None, *, project: bool) -> tuple[Path, bool] | None:
    """The file by the lookup order, and whether it is a project file (``project=False``: skip those)."""
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigError("config file not found", file=str(path), hint="check the --config path")
        return path, False
    env_path = os.environ.get("AGENT_CONFIG")
    if env_path:
        path = Path(env_path).expanduser()
        if not path.is_file():
            raise ConfigError(
                "config file not found", file=str(path), hint="$AGENT_CONFIG names a file that does not exist"
            )
        return path, False
    local = Path(PROJECT_CONFIG)
    if project and local.is_file():
        return local, True
    user = user_config_dir() / "config.toml"
    return (user, False) if user.is_file() else None


def _expand(value: Any, env: Mapping[str, str], key: str, file: str | None) -> Any:
    if isinstance(value, str):

        def sub(match: re.Match[str]) -> str:
            if match.group(0) == "$${":
                return "${"
            name, default = match.group(1), match.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            raise ConfigError(
                f"environment variable {name} is not set",
                file=file,
                key=key,
                hint=f"export {name}=... or write ${{{name}:-default}}",
            )

        return _VAR.sub(sub, value)
    if isinstance(value, dict):
        return {k: _expand(v, env, f"{key}.{k}" if key else k, file) for k, v in value.items()}
    if isinstance(value, list):
        return [_expand(v, env, f"{key}[{i}]", file) for i, v in enumerate(value)]
    return value


def _read_toml(path: Path) -> dict[str, Any]:
    return _parse_toml(_read_bytes(path), path)


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", file=str(path)) from None


def _parse_toml(data: bytes, path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError("not UTF-8 text", file=str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", file=str(path)) from None


def read_project_file(path: Path) -> ProjectFile:
    """Read and parse a project config for a trust decision (nothing is expanded or validated)."""
    import hashlib

    data = _read_bytes(path)
    return ProjectFile(path.resolve(), data, _parse_toml(data, path), hashlib.sha256(data).hexdigest())


_SHOWN_PROBLEMS = 5  # a config error names this many problems at once


def _describe(error: Mapping[str, Any]) -> tuple[str, str]:
    """The dotted key and a readable message for one pydantic error."""
    loc = [str(p) for p in error.get("loc", ()) if not str(p).startswith("function-after")]
    # Drop pydantic's union branch names (e.g. 'literal['always','never','ask']').
    loc = [p for p in loc if not p.startswith(("literal[", "dict[", "str", "int", "float", "bool"))]
    key = ".".join(loc) or "(top level)"
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    if kind == "extra_forbidden":
        return key, "unknown key"
    if kind == "literal_error" and "expected" in ctx:
        return key, f"must be one of {ctx['expected']}, got {error.get('input')!r}"
    msg = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    return key, msg


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    mcp_config: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    trust: TrustDecision | None = None,
) -> Config:
    """Find, read, expand and validate the configuration.

    A project file (``./agent.toml``) is used only when ``trust`` says yes to it (no ``trust``: never);
    otherwise the lookup goes on as if it were not there. It is read once: the bytes ``trust``
    judged are the bytes used."""
    environ = os.environ if env is None else env
    found = _find(path, project=True)
    file = found[0] if found is not None else None
    raw: dict[str, Any] = {}
    if found is not None and found[1]:
        project = read_project_file(found[0])
        if trust is not None and trust(project):
            raw = project.raw
        else:
            found = _find(path, project=False)
            file = found[0] if found is not None else None
            raw = _read_toml(file) if file else {}
    elif file is not None:
        raw = _read_toml(file)
    where = str(file) if file else None
    raw = _expand(raw, environ, "", where)
    extra: dict[str, Any] = {}
    mcp_path: Path | None = None
    if mcp_config is not None:
        mcp_path = Path(mcp_config).expanduser()
        extra = _expand(read_mcp_json(mcp_path), environ, "mcpServers", str(mcp_path))
        raw.setdefault("servers", {})
        if not isinstance(raw["servers"], dict):
            raise ConfigError("expected a table", file=where, key="servers")
        both = sorted(set(raw["servers"]) & set(extra))
        if both:  # neither is dropped silently
            raise ConfigError(
                f"server {both[0]!r} is also in {where}",
                file=str(mcp_path),
                key=f"mcpServers.{both[0]}",
                hint="rename one of them, or leave it out of one file",
            )
        raw["servers"] = {**raw["servers"], **extra}
    try:
        return Config(**raw, source=where)
    except ValidationError as exc:
        mcp = (str(mcp_path), set(extra)) if mcp_path is not None else None
        problems = [_source(*_describe(error), where, mcp) for error in exc.errors()]
        source, key, msg = problems[0]
        rest = [f"{f'{s}: ' if s and s != source else ''}{k}: {m}" for s, k, m in problems[1:_SHOWN_PROBLEMS]]
        hidden = len(problems) - 1 - len(rest)
        hint = "also " + "; ".join(rest) + (f"; and {hidden} more" if hidden else "") if rest else None
        raise ConfigError(msg, file=source, key=key, hint=hint) from None


def _source(
    key: str, msg: str, file: str | None, mcp: tuple[str, set[str]] | None
) -> tuple[str | None, str, str]:
    """Where a bad value came from, as ``(source, key, message)``: an ``AGENT_*`` variable (which
    beats the files), the ``--mcp-config`` file (its key spelled as there), or the config file."""
    parts = key.split(".")
    for depth in range(len(parts), 0, -1):
        name = "AGENT_" + "__".join(parts[:depth]).upper()
        found = sorted(
            v
            for v in os.environ
            if v.upper() == name or (depth == len(parts) and v.upper().startswith(name + "__"))
        )
        if found:
            return f"environment variable {', '.join(found)}", key, msg
    if mcp is not None and len(parts) > 1 and parts[0] == "servers" and parts[1] in mcp[1]:
        return mcp[0], ".".join(["mcpServers", *parts[1:]]), msg
    if mcp is not None and parts == ["servers"] and any(f"{n!r}" in msg for n in mcp[1]):
        return mcp[0], "mcpServers", msg
    return file, key, msg


def approval_mode(config: Config, servers: Mapping[str, ServerSettings], server: str, tool: str) -> Approval:
    """The approval mode for one tool: the server's per-tool or whole-server setting, else the global one.

    A server's ``approval`` may be one mode or a table ``tool -> mode`` (``"*"`` for the rest).
    ``servers`` are the servers in use (``--url`` ones included); the config's are looked at next.
    """
    settings = servers.get(server) or config.servers.get(server)
    chosen = settings.approval if settings is not None else None
    if isinstance(chosen, dict):
        chosen = chosen.get(tool, chosen.get("*"))
    return chosen or config.approval
