"""One pause for every user of the providers when a provider rate-limits (``agent batch``).

A provider error 429 that is left after the SDK's own retries pauses every worker
(:class:`SharedBackoff`), for at least the ``retry-after`` the provider asked for: each waits for
the shared resume time before its next model request, and the request that failed is sent again
(:class:`PacedProvider`). Items are not failed for a
rate limit unless one request is refused ``attempts`` times in a row. Providers are asked for
whole (non-streamed) responses.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING

import anyio

from agent.errors import ProviderRateLimitError
from agent.messages import ModelRequest, StreamEvent

if TYPE_CHECKING:
    from agent.providers.base import Provider

__all__ = ["PacedProvider", "SharedBackoff"]


class SharedBackoff:
    """One pause for the whole batch when the provider rate-limits.

    ``hit`` after a 429 sets a resume time for everyone, no sooner than the provider's
    ``retry-after``; ``wait`` (before every model request) sleeps until then. The pause doubles
    from ``start`` up to ``limit`` while 429s keep coming after a pause has ended, and halves
    after each success. A 429 for a request that was sent before the current pause began does
    not lengthen it, unless its ``retry-after`` asks for longer.
    """

    def __init__(self, *, start: float = 1.0, limit: float = 60.0, attempts: int = 10) -> None:
        self.start = start
        self.limit = limit
        self.attempts = attempts
        self.pauses = 0
        self._delay = 0.0
        self._resume_at = 0.0

    async def wait(self) -> None:
        # A deadline, not an event: another worker's 429 may move it later while we sleep.
        while (left := self._resume_at - anyio.current_time()) > 0:  # noqa: ASYNC110
            await anyio.sleep(left)

    def hit(self, retry_after: float | None = None) -> float:
        """Record a 429; the seconds until requests go out again."""
        now = anyio.current_time()
        if now < self._resume_at:  # sent before this pause began: only the provider may lengthen it
            self._resume_at = max(self._resume_at, now + (retry_after or 0.0))
            return self._resume_at - now
        self._delay = self.start if self._delay < self.start else min(self._delay * 2, self.limit)
        self._resume_at = now + max(self._delay, retry_after or 0.0)
        self.pauses += 1
        return self._resume_at - now

    def ok(self) -> None:
        self._delay = self._delay / 2 if self._delay > self.start else 0.0


class PacedProvider:
    """A provider whose requests wait for the shared backoff and are sent again after a 429."""

    def __init__(self, inner: Provider, backoff: SharedBackoff, on_pause: Callable[[float], None]) -> None:
        self._inner = inner
        self._backoff = backoff
        self._on_pause = on_pause

    @property
    def name(self) -> str:
        return self._inner.name

    @property
    def model(self) -> str:
        return self._inner.model

    async def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        refused = 0
        while True:
            await self._backoff.wait()
            started = False
            events = self._inner.stream(request)
            try:
                async for event in events:
                    started = True
                    yield event
            except ProviderRateLimitError as exc:
                refused += 1
                if started or refused >= self._backoff.attempts:
                    raise
                pause = self._backoff.hit(exc.retry_after)
                self._on_pause(pause)
                continue
            finally:
                closer = getattr(events, "aclose", None)
                if closer is not None:
                    await closer()
            self._backoff.ok()
            return

    async def aclose(self) -> None:
        await self._inner.aclose()
