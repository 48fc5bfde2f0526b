"""A server's log messages (``notifications/message``): to our log file, and the loud ones to the UI.

Every message a server logs is written to the log file under the logger ``agent.server.NAME``,
at the matching level. Warnings and above also go to an optional :data:`LogHandler` (the chat
shows them as one dim line). What the server is asked to send follows ``-v``: the level of the
``agent.server`` logger (INFO without ``-v``, DEBUG with it; in an embedding program, whatever
it set) becomes ``logging/setLevel`` on a 2025 connection, or the per-request log-level opt-in
on a 2026-07-28 one (:func:`requested_level`).

Log data is the server's: it reaches the log file as JSON text, and a terminal only through
:func:`agent.terminal.visible` (the UI's job).
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import mcp_types
    from mcp import Client
    from mcp.client.session import LoggingFnT

__all__ = ["LogHandler", "ServerLog", "logging_callback", "requested_level", "set_level"]

log = logging.getLogger("agent.server")

McpLevel = Literal["debug", "info", "notice", "warning", "error", "critical", "alert", "emergency"]
_TO_PYTHON: dict[str, int] = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "notice": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
    "alert": logging.CRITICAL,
    "emergency": logging.CRITICAL,
}
_MAX_TEXT = 2000


@dataclass(frozen=True, slots=True)
class ServerLog:
    """One log message of a server: its MCP level (``warning``…), logger name and text."""

    server: str
    level: str
    text: str
    logger: str | None = None

    @property
    def severity(self) -> int:
        """The matching :mod:`logging` level."""
        return _TO_PYTHON.get(self.level, logging.INFO)


LogHandler = Callable[[ServerLog], None]


def requested_level() -> McpLevel:
    """The MCP level to ask servers for: follows the ``agent.server`` logger (``-v``)."""
    level = log.getEffectiveLevel()
    if level <= logging.DEBUG:
        return "debug"
    if level <= logging.INFO:
        return "info"
    return "warning"


def _text(data: Any) -> str:
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False, default=str)
    return text if len(text) <= _MAX_TEXT else text[: _MAX_TEXT - 1] + "…"


def logging_callback(server: str, on_log: LogHandler | None) -> LoggingFnT:
    """The SDK's ``logging_callback`` for one server."""
    logger = logging.getLogger(f"agent.server.{server}")

    async def callback(params: mcp_types.LoggingMessageNotificationParams) -> None:
        entry = ServerLog(server, params.level, _text(params.data), params.logger)
        where = f" [{entry.logger}]" if entry.logger else ""
        logger.log(entry.severity, "%s%s: %s", server, where, entry.text)
        if on_log is not None and entry.severity >= logging.WARNING:
            on_log(entry)

    return callback


async def set_level(client: Client) -> None:
    """Ask a 2025-era server that logs for :func:`requested_level` (a 2026-07-28 connection
    opts in per request instead, through the client's ``log_level``)."""
    from mcp.shared.exceptions import MCPDeprecationWarning, MCPError
    from mcp_types.version import MODERN_PROTOCOL_VERSIONS

    if client.protocol_version in MODERN_PROTOCOL_VERSIONS or client.server_capabilities.logging is None:
        return
    try:
        with warnings.catch_warnings():
            # Deprecated in the 2026-07-28 protocol, still how a 2025 server is told.
            warnings.simplefilter("ignore", MCPDeprecationWarning)
            await client.set_logging_level(requested_level())
    except MCPError as exc:
        log.info("logging/setLevel refused: %s", exc)
