"""What a command asks of its :class:`~agent.session.Session`: its options, the approval
question's shape, and the servers those options select."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from agent.adhoc import adhoc_servers
from agent.config import Config, ServerSettings
from agent.errors import ConfigError, ServerError
from agent.options import AdhocServer

if TYPE_CHECKING:
    from agent.mcp.elicitation import ElicitationHandler
    from agent.mcp.manager import ServerState
    from agent.mcp.server_log import ServerLog
    from agent.providers.pacing import SharedBackoff
    from agent.tools import ToolProgress

__all__ = ["Answer", "AskFn", "SessionOptions", "select_servers"]

# The user's answer to an approval question: yes, no, always (this tool, this session).
Answer = Literal["y", "n", "a"]
# (server, tool, arguments, hints: the tool's annotations in words, e.g. ("read-only",)) -> answer
AskFn = Callable[[str, str, Mapping[str, Any], tuple[str, ...]], Awaitable[Answer]]


@dataclass(frozen=True, slots=True)
class SessionOptions:
    """What a command wants of its Session."""

    servers: Sequence[str] | None = None  # --server NAME…; None: every enabled one
    adhoc: Sequence[AdhocServer] = ()  # --url / --stdio: used with the --server ones alone
    model: str | None = None  # PROVIDER:MODEL; None: the config's
    needs_model: bool = True  # False for `tools` and `call`: no provider is made
    use_servers: bool = True  # False: connect no MCP server (`agent batch --status` / `--cancel`)
    max_steps: int | None = None  # None: the config's
    allow_login: bool = False  # someone is at the terminal: a browser login may start
    ask: AskFn | None = None  # approval "ask" asks this; None: such calls are denied
    streaming: bool = True  # False: whole responses (batch)
    backoff: SharedBackoff | None = None  # batch: one shared 429 pause, requests sent again
    on_pause: Callable[[float], None] | None = None  # told of each shared pause (seconds)
    on_server_state: Callable[[ServerState], Any] | None = None  # connect progress
    on_server_failed: Callable[[ServerError], None] | None = None  # a server that could not be used
    elicitation: ElicitationHandler | None = None  # a server's mid-call form questions
    on_notice: Callable[[str], None] | None = None  # one-line notes for the user (denied: no one to ask)
    open_browser: Callable[[str], Awaitable[bool]] | None = None  # the login's browser (None: the system's)
    on_progress: Callable[[ToolProgress], None] | None = None  # a server's progress on a running call
    on_server_log: Callable[[ServerLog], None] | None = None  # a server's log message, warning or above
    system: str | None = None  # --system TEXT or @FILE: replaces the configured system prompt
    connect_grace: float | None = None  # open with the servers ready by then; None: wait for all


def select_servers(
    config: Config, names: Sequence[str] | None = None, adhoc: Sequence[AdhocServer] = ()
) -> dict[str, ServerSettings]:
    """The servers a command uses: the ``--url`` / ``--stdio`` ones and the ``--server`` ones when
    any is given (a configured server's URL keeps its settings), else every enabled one, else
    (none enabled) the bundled demo server (:func:`agent.demo_server.default_servers`). A server
    given twice is refused, not silently used once."""
    chosen = adhoc_servers(config, adhoc)
    demo: dict[str, ServerSettings] = {}
    if not config.enabled_servers and (names or not chosen):
        # No server enabled: the bundled demo server, so a first run has tools (and `-s demo`).
        from agent.demo_server import default_servers

        demo = default_servers()
    if not names:
        return chosen or config.enabled_servers or demo
    pool = {**demo, **config.servers}
    repeated = next((n for i, n in enumerate(names) if n in names[:i] or n in chosen), None)
    if repeated is not None:
        raise ConfigError(f"server {repeated!r} is given twice", key="--server", hint="name each server once")
    unknown = [n for n in names if n not in pool]
    if unknown:
        known = ", ".join(sorted(pool))
        raise ConfigError(
            f"unknown server {unknown[0]!r}",
            key="--server",  # a flag of the command line: no config file is to blame
            hint=f"known servers: {known}",
        )
    off = next((n for n in names if n in config.servers and not config.servers[n].enabled), None)
    if off is not None:
        raise disabled_server(config, off)
    return {**chosen, **{n: pool[n] for n in names}}


def disabled_server(config: Config, name: str) -> ConfigError:
    """The error for naming a configured server that has ``enabled = false``: where, and how to
    turn it on (it is not started, so it would only show up as "could not be used")."""
    return ConfigError(
        f"server {name!r} is disabled",
        file=config.source,
        key=f"servers.{name}.enabled",
        hint=f"set enabled = true in [servers.{name}] to use it",
    )
