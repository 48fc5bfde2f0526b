"""The Session's watch over its servers once it is open: servers still connecting when the first
turn starts, tools left out for a broken schema, and more tools than a provider takes.

- A slow server does not hold the others back: with ``SessionOptions.connect_grace`` the
  Session opens once every server's first attempt ended, or the grace passed and one server is
  usable (:meth:`agent.mcp.manager.ServerManager`'s ``grace``). Each server still connecting
  then gets one line; its tools join before the next model request (the toolbox catches up
  whenever the manager's tools change), under the names they were always going to have. One
  that fails after all is reported like a server that failed at the start.
- A tool left out because its input schema is not valid JSON Schema is said once per run,
  naming the server and the tool (:mod:`agent.mcp.schema_check`).
- Tool search keeps requests within a provider's tool limit; only pinned tools can break it,
  and then the error names the limit, the count and the servers' ``include``/``exclude``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from agent.errors import ConfigError, ServerError

if TYPE_CHECKING:
    from agent.config import ServerSettings
    from agent.mcp.manager import ServerManager, ServerState
    from agent.tool_search import ToolSearch

__all__ = ["CHAT_GRACE", "RUN_GRACE", "LateServers", "check_tool_limit", "dropped_note", "no_server_usable"]

# How long chat and `agent run` wait for slow servers once one is usable (seconds). Chat starts
# soon: typing the first prompt takes a while, and a server ready by then is in its first request.
# `agent run` sends its prompt at once, so it waits longer for every server's tools; neither waits
# for the full connect timeout (120 s) of a server that hangs. `agent tools`, `call` and `batch`
# wait for every server: a listing, a named tool, and items that must all see the same tools.
CHAT_GRACE = 3.0
RUN_GRACE = 10.0


def dropped_note(notice: Callable[[str], None]) -> Callable[[str, str, str], None]:
    """The one line said when a server's tool is left out for a broken input schema."""

    def note(server: str, tool: str, reason: str) -> None:
        notice(f"server {server!r}: tool {tool!r} left out, the model cannot use it: {reason}")

    return note


class LateServers:
    """Passes a manager's state changes on (``on_state``), and tells of the servers that were
    still connecting when the Session opened: one line each then, and its failure if it fails."""

    def __init__(
        self,
        on_state: Callable[[ServerState], Any] | None,
        on_failed: Callable[[ServerError], None] | None,
        on_notice: Callable[[str], None] | None,
    ) -> None:
        self._on_state = on_state
        self._on_failed = on_failed
        self._on_notice = on_notice
        self.on_ready: Callable[[str], object] | None = None  # told of each late server now connected
        self.pending: set[str] = set()

    def opened(self, manager: ServerManager) -> None:
        """The Session opened: the servers still connecting get their line."""
        for name, state in manager.states.items():
            if state.status == "connecting":
                self.pending.add(name)
                if self._on_notice is not None:
                    self._on_notice(
                        f"server {name} is still connecting; its tools are added when it is ready"
                    )

    def __call__(self, state: ServerState) -> Any:
        if state.name in self.pending and state.status in ("connected", "failed"):
            self.pending.discard(state.name)
            if state.status == "connected":
                if self.on_ready is not None:
                    self.on_ready(state.name)
            elif state.error is not None and self._on_failed is not None:
                self._on_failed(state.error)
        return self._on_state(state) if self._on_state is not None else None


def check_tool_limit(
    search: ToolSearch,
    servers: Mapping[str, ServerSettings],
    max_tools: int | None,
    provider: str,
    *,
    also: Sequence[str] = (),
) -> None:
    """Raise when the tools every request must carry (the pinned ones, ``search_tools`` and the
    agent's own tools named in ``also``: ``read_resource``, ``load_skill``, ...) exceed what
    ``provider`` takes; with tool search on, nothing else can."""
    if max_tools is None:
        return
    count = len(search.pinned) + 1 + len(also)
    if count <= max_tools:
        return
    builtins = ", ".join(("search_tools", *also[:-1])) + (f" and {also[-1]}" if also else "")
    filters = [
        f"{name}: include={settings.tools.include or 'all'}, exclude={settings.tools.exclude or 'none'}"
        for name, settings in servers.items()
    ]
    raise ConfigError(
        f"{len(search.pinned)} pinned tools and {builtins} make "
        f"{count} tools for every request, "
        f"more than {provider} takes ({max_tools}); include/exclude in use: {'; '.join(filters)}",
        key="servers.NAME.tools.pin",
        hint=f"pin at most {max_tools - 1 - len(also)} tools in all ([servers.NAME.tools] pin = [...])",
    )


def no_server_usable(manager: ServerManager) -> tuple[ServerError, bool]:
    """The error that stops a command when no selected server could be used, and whether the
    failed servers are still to be reported (not when that error is the one server's own)."""
    failed = [s.error for s in manager.states.values() if s.status == "failed" and s.error is not None]
    if len(manager.states) == 1 and len(failed) == 1:
        error = failed[0]  # the session ends here: its state's copy is not shown again
        note = "the one server in use could not be used"  # `call SERVER.TOOL` uses one of several given
        error.hint = f"{error.hint} ({note})" if error.hint else note
        return error, False
    names = ", ".join(manager.states)
    return ServerError(names, "none of these servers could be used", hint="the lines above say why"), True
