"""Credentials in URLs never reach a log or a message.

A server URL can carry a secret: ``https://user:pass@host/mcp`` or ``…/mcp?token=…``. Wherever a URL
is logged or shown in a message, :func:`redact_url` (one URL) or :func:`redact_urls` (every URL in a
text) replace the userinfo and the values of query parameters whose names look like secrets
(token, key, secret, password, signature, code: ``access_token``, ``api_key``, ``apikey``,
``X-Amz-Signature``) with ``***``. The URL agent connects to is unchanged; only what is written
about it. :class:`RedactingFormatter` does it for every log record.
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote_plus, urlsplit, urlunsplit

__all__ = ["MASK", "RedactingFormatter", "redact_url", "redact_urls", "secret_name"]

MASK = "***"
_SECRET_WORDS = ("token", "key", "secret", "password", "passwd", "signature", "code", "credential")
_URL = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s'\"<>`]+")


def secret_name(name: str) -> bool:
    """Whether a query parameter (or header) name looks like it holds a secret."""
    flat = re.sub(r"[^a-z]", "", name.lower())
    return flat.endswith(_SECRET_WORDS) or "token" in flat or "secret" in flat or "password" in flat


def redact_url(url: str) -> str:
    """``url`` with its userinfo and the values of secret-looking query parameters as ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    netloc = parts.netloc
    if "@" in netloc:
        netloc = MASK + "@" + netloc.rpartition("@")[2]
    pieces = parts.query.split("&") if parts.query else []
    query = "&".join(_redact_pair(piece) for piece in pieces)
    if netloc == parts.netloc and query == parts.query:
        return url
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _redact_pair(piece: str) -> str:
    name, equals, _ = piece.partition("=")
    return f"{name}={MASK}" if equals and secret_name(unquote_plus(name)) else piece


def redact_urls(text: str) -> str:
    """``text`` with every URL in it passed through :func:`redact_url`."""
    if "://" not in text:
        return text
    return _URL.sub(_redact_match, text)


def _redact_match(match: re.Match[str]) -> str:
    url = match.group()
    bare = url.rstrip(".,:;!?)]}")  # punctuation after a URL in a sentence is not part of it
    return redact_url(bare) + url[len(bare) :]


class RedactingFormatter(logging.Formatter):
    """A log formatter that redacts the credentials of every URL in the line it formats."""

    def format(self, record: logging.LogRecord) -> str:
        return redact_urls(super().format(record))
