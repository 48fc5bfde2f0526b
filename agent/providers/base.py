"""The provider seam: what the agent loop needs from a model, and nothing of any SDK.

A provider streams one model response for a :class:`~agent.messages.ModelRequest`: zero or
more :class:`~agent.messages.TextDelta` events, then exactly one
:class:`~agent.messages.ResponseDone`. It retries 429 / 5xx / connection errors itself (the SDKs
do, honouring ``retry-after``) and raises :class:`~agent.errors.ProviderError` subclasses for
what is left. Adapters import their SDK lazily, so choosing one provider never imports another.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Protocol

from agent.messages import ModelRequest, StreamEvent

__all__ = ["Provider"]


class Provider(Protocol):
    """One configured model of one provider."""

    @property
    def name(self) -> str:
        """The provider's config name, e.g. ``anthropic`` or ``ollama``."""
        ...

    @property
    def model(self) -> str:
        """The model id sent to the API."""
        ...

    def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        """Stream one response; the last event is a ``ResponseDone``."""
        ...

    async def aclose(self) -> None:
        """Release the HTTP client."""
        ...
