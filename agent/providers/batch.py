"""The provider Batch API seam: what ``agent batch --via batch-api`` needs of a provider's batch
service, and nothing of any SDK.

A batch is a set of whole model requests, each under a ``custom_id`` the caller chooses, that the
provider runs within 24 hours at about half the price. A :class:`BatchAPI` encodes one request as
the line the provider takes (built by the same ``request_body`` the live adapter sends), submits
lines as one provider batch, tells a batch's status, reads its results back as neutral
:class:`BatchResult` (a ``ModelResponse`` or the ``ProviderError`` the provider gave for that
request: errored, expired, canceled), and cancels. :class:`BatchLimits` are the API's own limits
(requests and bytes per batch), which the caller splits by.

Implementations: :mod:`agent.providers.batch_anthropic` (Message Batches),
:mod:`agent.providers.batch_openai` (the Batch API over ``/v1/files``, for Chat Completions and
Responses).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from agent.errors import ProviderError
from agent.messages import ModelRequest, ModelResponse

__all__ = ["BatchAPI", "BatchLimits", "BatchResult", "BatchStatus", "check_custom_id", "result_error"]


@dataclass(frozen=True, slots=True)
class BatchLimits:
    """How much one provider batch may hold: requests, and bytes of encoded lines."""

    max_requests: int
    max_bytes: int

    def lowered(self, max_requests: int | None, max_bytes: int | None) -> BatchLimits:
        """These limits, lowered (never raised) to the configured ones."""
        return BatchLimits(
            min(self.max_requests, max_requests or self.max_requests),
            min(self.max_bytes, max_bytes or self.max_bytes),
        )


@dataclass(frozen=True, slots=True)
class BatchStatus:
    """A provider batch as its API last described it."""

    id: str
    status: str  # the provider's own word: in_progress, ended, completed, expired, cancelled…
    ended: bool  # no request of it will run any more: its results can be read
    counts: Mapping[str, int] = field(default_factory=dict)  # the provider's tallies by outcome
    error: str | None = None  # why the whole batch failed (OpenAI: input validation)


@dataclass(frozen=True, slots=True)
class BatchResult:
    """One request's outcome: a response, or the provider's reason it has none."""

    custom_id: str
    response: ModelResponse | None = None
    error: ProviderError | None = None


class BatchAPI(Protocol):
    """One provider's batch service, for one configured model."""

    @property
    def name(self) -> str:
        """The provider's config name."""
        ...

    @property
    def model(self) -> str:
        """The model id sent in every request."""
        ...

    limits: BatchLimits

    async def check_model(self) -> None:
        """Raise ModelNotFoundError now if the provider does not know the model (before a submit)."""
        ...

    def encode(self, custom_id: str, request: ModelRequest) -> bytes:
        """One request as the JSON line the provider takes (its length counts against ``max_bytes``)."""
        ...

    async def submit(self, lines: Sequence[bytes], *, metadata: Mapping[str, str]) -> BatchStatus:
        """Create one provider batch of these encoded lines; its id and first status."""
        ...

    async def status(self, batch_id: str) -> BatchStatus: ...

    def results(self, batch_id: str) -> AsyncIterator[BatchResult]:
        """The outcome of every request of an ended batch (in the provider's order)."""
        ...

    async def cancel(self, batch_id: str) -> BatchStatus: ...

    async def aclose(self) -> None: ...


def check_custom_id(custom_id: str) -> str:
    """A custom id both APIs take (``[A-Za-z0-9_-]{1,64}``, Anthropic's rule)."""
    if not 1 <= len(custom_id) <= 64 or not all(
        c.isascii() and (c.isalnum() or c in "-_") for c in custom_id
    ):
        raise ValueError(f"invalid batch custom_id {custom_id!r}")
    return custom_id


def result_error(provider: str, model: str, kind: str, message: str) -> ProviderError:
    """The error of one request that a provider batch did not answer (errored, expired, canceled)."""
    return ProviderError(
        provider, f"the provider batch did not answer this request ({kind}): {message}", model=model
    )
