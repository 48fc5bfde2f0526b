"""One mapping of every failed API call to an ``agent.errors`` type (:func:`api_errors`), with
who was asked (:class:`ProviderIdentity`) and what the API said (status, message, Retry-After).
Imports no SDK: the adapter passes its SDK module in.
"""

from __future__ import annotations

import contextlib
import email.utils
import math
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from types import ModuleType

from agent.errors import (
    AgentError,
    ModelNotFoundError,
    ProviderAuthError,
    ProviderError,
    ProviderRateLimitError,
    ProviderUnavailableError,
)

__all__ = [
    "ProviderIdentity",
    "api_errors",
    "connection_error",
    "error_from_event",
    "retry_after",
    "status_error",
    "unexpected_response",
]


class ProviderIdentity:
    """Who we are talking to, for error messages: config name, model, key variable, URL, retries."""

    __slots__ = ("api_key_env", "base_url", "max_retries", "model", "name")

    def __init__(
        self, name: str, model: str, api_key_env: str | None, base_url: str | None, max_retries: int
    ) -> None:
        self.name = name
        self.model = model
        self.api_key_env = api_key_env
        self.base_url = base_url
        self.max_retries = max_retries

    def in_stream(self) -> ProviderIdentity:
        """The same, for failures inside a started response stream: the SDKs do not retry those."""
        return ProviderIdentity(self.name, self.model, self.api_key_env, self.base_url, 0)

    @property
    def key_hint(self) -> str:
        if self.api_key_env:
            return f"check {self.api_key_env}"
        return f"check the API key of provider {self.name!r} (api_key_env in [providers.{self.name}])"

    @property
    def after_retries(self) -> str:
        n = self.max_retries
        return f" after {n} retr{'y' if n == 1 else 'ies'}" if n else ""


def _api_message(body: object, fallback: str) -> str:
    """The API's own error message from an error body (``{"error": {"message": …}}`` or the inner object)."""
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        if isinstance(inner, Mapping) and isinstance(inner.get("message"), str) and inner["message"]:
            return str(inner["message"])
        if isinstance(inner, str) and inner:
            return inner
    if isinstance(body, str) and body.strip():
        return body.strip()[:500]
    return fallback


def retry_after(headers: Mapping[str, str]) -> float | None:
    """The seconds a response asks us to wait: ``retry-after-ms``, else ``retry-after`` (seconds or
    an HTTP date), as the SDKs read them; None when neither says."""
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        try:
            seconds = float(headers.get(name, "")) * scale
        except ValueError:
            continue
        if math.isfinite(seconds):
            return max(seconds, 0.0)
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


def status_error(
    who: ProviderIdentity,
    status: int | None,
    body: object,
    fallback: str,
    error_type: str | None = None,
    *,
    wait: float | None = None,
) -> ProviderError:
    """The error for an HTTP error ``status``, or (``status`` None, ``error_type`` set) for an error
    reported inside a started response; ``wait`` is the response's ``retry-after``."""
    message = _api_message(body, fallback)
    kind: type[ProviderError]
    hint: str | None
    if status == 401 or error_type == "authentication_error":
        kind = ProviderAuthError
        text = f"API key rejected (HTTP 401: {message})"
        hint = who.key_hint
    elif status == 403 or error_type == "permission_error":
        kind = ProviderAuthError
        text = f"access denied (HTTP 403: {message})"
        hint = f"{who.key_hint}, and that the key may use model {who.model!r}"
    elif status == 429 or error_type == "rate_limit_error":
        kind = ProviderRateLimitError
        text = f"rate limited{who.after_retries} (HTTP 429: {message})"
        hint = "wait a little and try again, or run fewer requests at once"
    elif (status or 0) >= 500 or error_type in ("api_error", "overloaded_error", "server_error"):
        kind = ProviderUnavailableError
        text = f"the service failed{who.after_retries} ({_shown(status, error_type)}: {message})"
        hint = "the provider may be down or overloaded; try again later"
    elif status == 404:
        kind = ModelNotFoundError
        text = f"model {who.model!r} not found (HTTP 404: {message})"
        hint = "check the model name (agent models lists them) and the provider's base_url"
    else:
        kind = ProviderError
        text = f"request refused ({_shown(status, error_type)}: {message})"
        hint = None
    # An error inside a started response (no HTTP status) broke it off; the SDK sends it again never.
    broke_off = status is None and kind is ProviderUnavailableError
    return kind(
        who.name, text, model=who.model, status=status, retry_after=wait, hint=hint, broke_off=broke_off
    )


def _shown(status: int | None, error_type: str | None) -> str:
    return f"HTTP {status}" if status else (error_type or "error")


def connection_error(
    who: ProviderIdentity, detail: str, *, timed_out: bool = False, broke_off: bool = False
) -> ProviderUnavailableError:
    where = who.base_url or "the API"
    what = "timed out" if timed_out else "failed"
    return ProviderUnavailableError(
        who.name,
        f"connection to {where} {what}{who.after_retries}: {detail}",
        model=who.model,
        hint="check the network and the provider's base_url",
        broke_off=broke_off,
    )


def unexpected_response(who: ProviderIdentity, body: object) -> ProviderError:
    """A whole response that is not the JSON the API documents."""
    return ProviderError(who.name, f"unexpected response: {str(body)[:200]}", model=who.model)


def _openai_kind(kind: str | None) -> str | None:
    """An OpenAI error type/code in the terms :func:`status_error` knows."""
    if not kind:
        return None
    if "rate_limit" in kind or kind == "requests":
        return "rate_limit_error"
    if kind in ("server_error", "api_error", "internal_error", "overloaded", "service_unavailable"):
        return "api_error"
    if kind in ("invalid_api_key", "authentication_error"):
        return "authentication_error"
    return kind


def error_from_event(who: ProviderIdentity, code: str | None, message: str) -> ProviderError:
    """An error reported inside a started response: a Responses ``error`` event or
    ``response.failed``, an error object in a Chat Completions stream, an Anthropic ``error`` event."""
    return status_error(who, None, {"message": message}, message, _openai_kind(code) or "error")


@contextlib.contextmanager
def api_errors(who: ProviderIdentity, sdk: ModuleType) -> Iterator[None]:
    """Inside, every failure comes out as an ``agent.errors`` type naming ``who``.

    ``sdk`` is the ``anthropic`` or the ``openai`` module (the two SDKs share one exception tree);
    their exceptions, httpx2's and any other are mapped, our own :class:`AgentError` passes.
    Every request path of every adapter runs inside one, so no SDK type leaves ``agent/providers/``.
    """
    try:
        yield
    except AgentError:
        raise
    except Exception as exc:
        raise _sdk_error(who, sdk, exc) from exc


def _sdk_error(who: ProviderIdentity, sdk: ModuleType, exc: Exception) -> ProviderError:
    import httpx2

    if isinstance(exc, sdk.APIStatusError):
        if exc.status_code < 400:  # an Anthropic error event inside a 200 stream
            return status_error(who, None, exc.body, exc.message, getattr(exc, "type", None) or "error")
        wait = retry_after(exc.response.headers)
        return status_error(who, exc.status_code, exc.body, exc.message, wait=wait)
    if isinstance(exc, sdk.APITimeoutError | httpx2.TimeoutException):
        return connection_error(who, "no answer in time", timed_out=True)
    if isinstance(exc, sdk.APIConnectionError):
        cause = exc.__cause__
        # A body cut short (the OpenAI SDK wraps it too) broke off a response that had started.
        cut = isinstance(cause, httpx2.RemoteProtocolError | httpx2.ReadError)
        detail = (str(cause) or type(cause).__name__) if cause else exc.message
        return connection_error(who, detail, broke_off=cut)
    if isinstance(exc, sdk.APIError):  # an OpenAI error object inside a 200 stream
        body = exc.body if isinstance(exc.body, Mapping) else {}
        code = body.get("type") or body.get("code")
        return error_from_event(who, str(code) if code else None, exc.message)
    if isinstance(exc, httpx2.TransportError):
        detail = f"the response stream broke off ({exc or type(exc).__name__})"
        return connection_error(who, detail, broke_off=True)
    return ProviderError(who.name, f"unexpected failure: {type(exc).__name__}: {exc}", model=who.model)
