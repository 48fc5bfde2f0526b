"""Anthropic Message Batches (``/v1/messages/batches``) through the SDK's ``messages.batches``.

Each request is ``{"custom_id", "params"}`` with ``params`` built by the live adapter's
``request_body``, so a batch asks exactly what ``agent run`` would. A batch holds at most 100,000
requests or 256 MB; it ends within 24 hours (``processing_status`` ``ended``), and each result is
``succeeded`` (the ``message``, read by the adapter's ``response_from_json``), ``errored``,
``canceled`` or ``expired``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from agent.errors import ProviderError
from agent.messages import ModelRequest
from agent.providers._common import status_error
from agent.providers.batch import BatchLimits, BatchResult, BatchStatus, check_custom_id, result_error

if TYPE_CHECKING:
    from anthropic import AsyncAnthropic

    from agent.providers.anthropic import AnthropicProvider

__all__ = ["AnthropicBatchAPI"]

LIMITS = BatchLimits(
    max_requests=100_000, max_bytes=256 * 1024 * 1024 - 64 * 1024
)  # a margin for the envelope


class AnthropicBatchAPI:
    """Message Batches for one Anthropic model (the adapter's client, key and settings)."""

    def __init__(self, adapter: AnthropicProvider, limits: BatchLimits = LIMITS) -> None:
        self._adapter = adapter
        self._client: AsyncAnthropic = adapter._client
        self.limits = limits

    @property
    def name(self) -> str:
        return self._adapter.name

    @property
    def model(self) -> str:
        return self._adapter.model

    async def check_model(self) -> None:
        await self._adapter.check_model()  # the adapter's own client: GET /v1/models/ID

    def encode(self, custom_id: str, request: ModelRequest) -> bytes:
        line = {"custom_id": check_custom_id(custom_id), "params": self._adapter.request_body(request)}
        return json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode()

    async def submit(self, lines: Sequence[bytes], *, metadata: Mapping[str, str]) -> BatchStatus:
        requests: list[Any] = [json.loads(line) for line in lines]
        with self._adapter._errors():
            batch = await self._client.messages.batches.create(requests=requests)
        return _status(batch.to_dict())

    async def status(self, batch_id: str) -> BatchStatus:
        with self._adapter._errors():
            batch = await self._client.messages.batches.retrieve(batch_id)
        return _status(batch.to_dict())

    async def cancel(self, batch_id: str) -> BatchStatus:
        with self._adapter._errors():
            batch = await self._client.messages.batches.cancel(batch_id)
        return _status(batch.to_dict())

    async def results(self, batch_id: str) -> AsyncIterator[BatchResult]:
        with self._adapter._errors():
            lines = await self._client.messages.batches.results(batch_id)
            async for entry in lines:
                yield self._result(entry.to_dict())

    async def aclose(self) -> None:
        await self._adapter.aclose()

    def _result(self, entry: Mapping[str, Any]) -> BatchResult:
        custom_id = str(entry.get("custom_id"))
        result = entry.get("result") or {}
        kind = result.get("type")
        who = self._adapter._who
        if kind == "succeeded":
            try:
                return BatchResult(
                    custom_id, response=self._adapter.response_from_json(result.get("message"))
                )
            except ProviderError as exc:
                return BatchResult(custom_id, error=exc)
        if kind == "errored":
            body = result.get("error") or {}
            inner: dict[str, Any] = body["error"] if isinstance(body.get("error"), dict) else body
            message = str(inner.get("message") or "the request failed")
            error = status_error(who, None, inner, message, str(inner.get("type") or "error"))
            return BatchResult(custom_id, error=error)
        reason = {
            "expired": "the batch reached its 24 hour limit before this request ran",
            "canceled": "the batch was canceled before this request ran",
        }.get(str(kind), f"unknown result type {kind!r}")
        return BatchResult(custom_id, error=result_error(who.name, who.model, str(kind), reason))


def _status(batch: Mapping[str, Any]) -> BatchStatus:
    status = str(batch.get("processing_status"))
    counts = {k: int(v) for k, v in (batch.get("request_counts") or {}).items()}
    return BatchStatus(str(batch["id"]), status, status == "ended", counts)
