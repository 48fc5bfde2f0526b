"""The system prompt: the configured one, ``--system TEXT`` or ``@FILE``, or the shipped default."""

from __future__ import annotations

import contextlib
from pathlib import Path

from agent.config import Config
from agent.errors import ConfigError, UsageError

__all__ = ["DEFAULT_SYSTEM_PROMPT", "load_system_prompt", "system_prompt_option"]

DEFAULT_SYSTEM_PROMPT = """\
You are a helpful assistant running in a terminal. You can call tools from connected MCP servers.

- Use a tool when it gives a better answer than you could without it; say briefly what you are doing.
- When a tool fails, read its error, fix the arguments if you can, and otherwise explain what went wrong.
- Answer concisely. Use Markdown where it helps: lists, tables, code blocks.
"""


def load_system_prompt(config: Config) -> str:
    """The system prompt: ``system_prompt``, else ``system_prompt_file`` (relative to the config
    file), else the shipped ``prompts/system.md``, else the built-in default."""
    if config.system_prompt:
        return config.system_prompt
    if config.system_prompt_file:
        path = Path(config.system_prompt_file).expanduser()
        if not path.is_absolute() and config.source:
            path = Path(config.source).parent / path
        try:
            return path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise ConfigError(
                f"cannot read the system prompt file {str(path)!r}: {reason}",
                file=config.source,
                key="system_prompt_file",
                hint="fix the path (relative paths start at the config file's folder)",
            ) from None
    here = Path(__file__).resolve().parent
    for candidate in (here / "prompts" / "system.md", here.parent / "prompts" / "system.md"):
        with contextlib.suppress(OSError, UnicodeDecodeError):
            return candidate.read_text(encoding="utf-8")
    return DEFAULT_SYSTEM_PROMPT


def system_prompt_option(value: str) -> str:
    """``--system``: the text itself, or ``@FILE`` for a file's text (``@@`` for a text that starts with @)."""
    if value.startswith("@@") or not value.startswith("@"):
        return value.removeprefix("@") if value.startswith("@@") else value
    if not value[1:].strip():
        raise UsageError(
            "--system: no file name after @",
            hint="give --system @FILE to read the prompt from FILE, or the prompt itself as text",
        )
    path = Path(value[1:]).expanduser()
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise UsageError(
            f"--system: cannot read {str(path)!r}: {reason}",
            hint="give the prompt as text, or @FILE of a readable file",
        ) from None
