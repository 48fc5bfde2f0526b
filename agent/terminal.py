"""Text that came from a server or a model, made harmless before it reaches a terminal.

A tool result, a tool's name or description, a server's error message or the model's answer can
hold escape sequences: on a terminal they clear the screen, change the window title, write the
clipboard (OSC 52) or fake output. :func:`visible` shows every control character (C0 other than
newline and tab, DEL, C1) as ``\\xNN`` text instead, so ``ESC ] 52 ; …`` prints as ``\\x1b]52;…``.

Terminals get this (:func:`for_stream` decides); a pipe or a file gets a command's results (a
tool's result, a resource, the model's answer) as they came, and ``--json`` is always exact.
Listings of what servers say about themselves (``agent tools``: names, descriptions) are made
visible for a pipe too: they are never data, and a pipe may end in a terminal (``| less -R``).
:func:`terminal_console` is a rich console that applies it to every string it is given (before
rich parses it: rich would drop BEL, BS and CR and measure ESC as zero wide) and to every piece
of text it renders, so a command that prints through rich needs nothing else.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable
from typing import IO, TYPE_CHECKING, Any

from agent.redact import RedactingFormatter

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderableType
    from rich.segment import Segment
    from rich.text import Text

__all__ = ["VisibleFormatter", "for_stream", "is_terminal", "no_color", "say", "terminal_console", "visible"]

# C0 controls except tab (09) and newline (0a), then DEL and the C1 controls (80-9f).
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def visible(text: str) -> str:
    """``text`` with every control character but newline and tab shown as ``\\xNN``.

    A carriage return before a newline (a Windows line end) is dropped rather than shown; a bare one
    is shown, since it would let later text overwrite the line.
    """
    if _CONTROLS.search(text) is None:
        return text
    return _CONTROLS.sub(lambda m: f"\\x{ord(m.group()):02x}", text.replace("\r\n", "\n"))


def is_terminal(stream: IO[str]) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty()) if isatty is not None else False
    except ValueError:  # a closed stream
        return False


def for_stream(text: str, stream: IO[str]) -> str:
    """``text`` as it should be written to ``stream``: :func:`visible` on a terminal, else exact."""
    return visible(text) if is_terminal(stream) else text


def say(text: str, stream: IO[str] | None = None, *, end: str = "\n") -> None:
    """Print ``text`` (which may hold a server's or a model's words) to ``stream`` (stderr)."""
    out = sys.stderr if stream is None else stream
    print(for_stream(text, out), end=end, file=out, flush=True)


class VisibleFormatter(RedactingFormatter):
    """Log lines for a terminal (``-v``): a record can quote a server's or a model's words."""

    def format(self, record: logging.LogRecord) -> str:
        return visible(super().format(record))


def no_color() -> bool:
    """``NO_COLOR`` is set (to anything but empty, https://no-color.org)."""
    import os

    return bool(os.environ.get("NO_COLOR"))


def terminal_console(**kwargs: Any) -> Console:
    """A rich ``Console``; when it writes to a terminal, all the text it renders is :func:`visible`.

    Rich's own styling and cursor movement are control segments, which pass untouched; the text
    segments (anything a renderable holds, at any depth: tables, Markdown, live areas) are cleaned.
    With ``NO_COLOR`` it writes no style at all: rich itself drops only the colours and keeps bold,
    dim and underline, which are escape codes too. Not to a terminal, rich writes none anyway.
    The one place every command's console is made.
    """
    from rich.console import Console
    from rich.segment import Segment

    class _VisibleConsole(Console):
        def render_str(self, text: str, **kwargs: Any) -> Text:
            # Before rich parses it: rich drops BEL, BS and CR from text, and measures ESC as zero
            # wide, so cleaning only the rendered segments lost characters and broke wrapping.
            return super().render_str(visible(text) if self.is_terminal else text, **kwargs)

        def render(
            self, renderable: RenderableType, options: ConsoleOptions | None = None
        ) -> Iterable[Segment]:
            segments = super().render(renderable, options)
            if not self.is_terminal:
                yield from segments
                return
            for segment in segments:
                if segment.control is None and _CONTROLS.search(segment.text) is not None:
                    yield Segment(visible(segment.text), segment.style)
                else:
                    yield segment

    if no_color():
        kwargs["color_system"] = None
    return _VisibleConsole(**kwargs)
