"""``--mcp-config FILE``: the servers of a Claude-style JSON file (``{"mcpServers": {...}}``), in
the schema of our config's ``[servers]`` (read by :func:`agent.config.load_config`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agent.errors import ConfigError

__all__ = ["read_mcp_json"]


def read_mcp_json(path: Path) -> dict[str, Any]:
    """Servers from a Claude-style ``{"mcpServers": {name: {...}}}`` file, in our schema."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("MCP config file not found", file=str(path)) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"not valid JSON: {exc}", file=str(path)) from None
    servers = raw.get("mcpServers") if isinstance(raw, dict) else None
    if not isinstance(servers, dict):
        raise ConfigError("expected an object with a 'mcpServers' object", file=str(path), key="mcpServers")
    out: dict[str, Any] = {}
    for name, entry in servers.items():
        if not isinstance(entry, dict):
            raise ConfigError("expected an object", file=str(path), key=f"mcpServers.{name}")
        server: dict[str, Any] = {}
        for key in ("command", "args", "env", "cwd", "url", "headers", "timeout"):
            if key in entry:
                server[key] = entry[key]
        kind = entry.get("type") or entry.get("transport")
        if kind == "sse":
            server["transport"] = "sse"
        elif kind not in (None, "stdio", "http", "streamable-http", "streamableHttp", "streamable_http"):
            raise ConfigError(
                f"unknown server type {kind!r}",
                file=str(path),
                key=f"mcpServers.{name}.type",
                hint="use 'stdio', 'http' or 'sse'",
            )
        if entry.get("disabled"):
            server["enabled"] = False
        out[name] = server
    return out
