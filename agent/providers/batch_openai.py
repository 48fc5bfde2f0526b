"""OpenAI's Batch API through the SDK's ``files`` and ``batches``: the requests go up as one JSONL
file (``purpose="batch"``), a batch runs them against ``/v1/responses`` or
``/v1/chat/completions``, and the results come back as an output file (answered requests) and an
error file (failed and, after expiry, unfinished ones).

Each line is ``{"custom_id", "method": "POST", "url", "body"}`` with ``body`` built by the live
adapter's ``request_body``; a result's ``response.body`` is read by its ``response_from_json``. A
batch holds at most 50,000 requests and its input file at most 200 MB.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from agent.errors import ProviderError
from agent.messages import ModelRequest
from agent.providers._common import SDKAdapter, status_error
from agent.providers.batch import BatchLimits, BatchResult, BatchStatus, check_custom_id, result_error

if TYPE_CHECKING:
    from openai import AsyncOpenAI

__all__ = ["OpenAIBatchAPI"]

LIMITS = BatchLimits(max_requests=50_000, max_bytes=200 * 1000 * 1000)
_ENDED = frozenset({"failed", "completed", "expired", "cancelled"})
Endpoint = Literal["/v1/responses", "/v1/chat/completions"]


class OpenAIBatchAPI:
    """The Batch API for one model of the Responses or Chat Completions adapter."""

    def __init__(self, adapter: SDKAdapter, endpoint: Endpoint, limits: BatchLimits = LIMITS) -> None:
        self._adapter = adapter
        self._client: AsyncOpenAI = adapter._client  # type: ignore[assignment]
        self._endpoint: Endpoint = endpoint
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
        line = {
            "custom_id": check_custom_id(custom_id),
            "method": "POST",
            "url": self._endpoint,
            "body": self._adapter.request_body(request),
        }
        return json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode()

    async def submit(self, lines: Sequence[bytes], *, metadata: Mapping[str, str]) -> BatchStatus:
        data = b"".join(line + b"\n" for line in lines)
        with self._adapter._errors():
            uploaded = await self._client.files.create(file=("requests.jsonl", data), purpose="batch")
            batch = await self._client.batches.create(
                input_file_id=uploaded.id,
                endpoint=self._endpoint,
                completion_window="24h",
                metadata=dict(metadata),
            )
        return _status(batch.to_dict())

    async def status(self, batch_id: str) -> BatchStatus:
        with self._adapter._errors():
            batch = await self._client.batches.retrieve(batch_id)
        return _status(batch.to_dict())

    async def cancel(self, batch_id: str) -> BatchStatus:
        with self._adapter._errors():
            batch = await self._client.batches.cancel(batch_id)
        return _status(batch.to_dict())

    async def results(self, batch_id: str) -> AsyncIterator[BatchResult]:
        with self._adapter._errors():
            batch = (await self._client.batches.retrieve(batch_id)).to_dict()
            for file_id in (batch.get("output_file_id"), batch.get("error_file_id")):
                if not file_id:
                    continue
                content = await self._client.files.content(str(file_id))
                for raw in content.content.splitlines():
                    if raw.strip():
                        yield self._result(json.loads(raw))

    async def aclose(self) -> None:
        await self._adapter.aclose()

    def _result(self, entry: Mapping[str, Any]) -> BatchResult:
        custom_id = str(entry.get("custom_id"))
        who = self._adapter._who
        response = entry.get("response") or {}
        status = response.get("status_code")
        if isinstance(status, int) and status < 400:
            try:
                return BatchResult(custom_id, response=self._adapter.response_from_json(response.get("body")))
            except ProviderError as exc:
                return BatchResult(custom_id, error=exc)
        if isinstance(status, int):
            body = response.get("body") or {}
            inner = body.get("error") if isinstance(body, dict) else None
            message = str((inner or {}).get("message") or f"HTTP {status}")
            return BatchResult(custom_id, error=status_error(who, status, body, message))
        error = entry.get("error") or {}
        code = str(error.get("code") or "error")
        reason = str(error.get("message") or "no answer")
        return BatchResult(custom_id, error=result_error(who.name, who.model, code, reason))


def _status(batch: Mapping[str, Any]) -> BatchStatus:
    status = str(batch.get("status"))
    counts = {k: int(v) for k, v in (batch.get("request_counts") or {}).items()}
    errors = (batch.get("errors") or {}).get("data") or []
    error = "; ".join(str(e.get("message")) for e in errors if isinstance(e, dict)) or None
    return BatchStatus(str(batch["id"]), status, status in _ENDED, counts, error)
