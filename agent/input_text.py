"""Text we are given as bytes (stdin, a prompt argument): UTF-8, or a usage error that says where.

Invalid bytes are the input's fault, not the provider's: without this, Python reads them as
surrogates and the first model request fails with an encoding error far from the cause.
"""

from __future__ import annotations

from agent.errors import UsageError

__all__ = ["utf8_argument", "utf8_input"]

_HINT = "give UTF-8 text; to convert, e.g.: iconv -f latin1 -t utf-8"


def utf8_input(data: bytes, where: str, *, offset: int = 0) -> str:
    """``data`` decoded as UTF-8; else a :class:`UsageError` naming ``where`` and the first bad
    byte's offset (``offset``: where ``data`` starts in the whole input)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = data[exc.start : exc.start + 1].hex()
        raise UsageError(
            f"{where} is not UTF-8 text: invalid byte 0x{bad} at byte offset {offset + exc.start}", hint=_HINT
        ) from None


def utf8_argument(text: str, where: str) -> str:
    """A command-line word as given (Python keeps undecodable bytes of argv as surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        import os

        utf8_input(os.fsencode(text), where)
    return text
