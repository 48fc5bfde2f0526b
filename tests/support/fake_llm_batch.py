"""The providers' Batch APIs as the fake speaks them (see :mod:`tests.support.fake_llm`), driven by
the same scripted turns as the live endpoints::

    POST /v1/messages/batches                 Anthropic: create ({"requests": [{custom_id, params}]})
    GET  /v1/messages/batches/ID              Anthropic: retrieve (one poll)
    GET  /v1/messages/batches/ID/results      Anthropic: the results, JSONL
    POST /v1/messages/batches/ID/cancel       Anthropic: cancel
    POST /v1/files                            OpenAI: upload (multipart; purpose=batch)
    GET  /v1/files/ID/content                 OpenAI: a file's bytes (input, output, error files)
    POST /v1/batches                          OpenAI: create ({input_file_id, endpoint, ...})
    GET  /v1/batches/ID                       OpenAI: retrieve (one poll)
    POST /v1/batches/ID/cancel                OpenAI: cancel
    POST /_fake/batches/end                   end every batch held by the script (polls None)
    GET  /_fake/batches                       every batch: id, api, custom ids, polls, status

A batch answers "in progress" for the script's ``batch.polls`` reads, then ends: only then is
each of its requests answered, exactly as a live request of that API would be (it is recorded in
``requests`` with the path ``batch:<endpoint>``), unless its prompt is listed in ``batch.expire``
or ``batch.error``. A cancelled batch ends at its next read with every request canceled
(Anthropic) or without results (OpenAI, whose error file then lists nothing for them).
"""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tests.support.fake_llm_neutral import API

if TYPE_CHECKING:
    from tests.support.fake_llm_server import FakeLLM

__all__ = ["BatchService", "Reply", "is_batch_path"]

Reply = tuple[int, bytes, str]  # status, body, content type

_PREFIXES = ("/v1/messages/batches", "/v1/batches", "/v1/files", "/_fake/batches")
_ENDPOINTS: dict[str, API] = {"/v1/responses": "responses", "/v1/chat/completions": "chat"}


def is_batch_path(path: str) -> bool:
    return path.startswith(_PREFIXES)


@dataclass
class FakeBatch:
    id: str
    kind: str  # "anthropic" or "openai"
    requests: list[tuple[str, API, dict[str, Any]]]  # custom_id, the API it asks, the body
    polls: int | None
    endpoint: str = "/v1/messages"
    metadata: dict[str, str] = field(default_factory=dict)
    input_file_id: str | None = None
    created_at: float = field(default_factory=time.time)
    reads: int = 0
    cancelled: bool = False
    ended: bool = False
    results: list[tuple[str, str, dict[str, Any] | None, str]] = field(default_factory=list)
    output_file_id: str | None = None
    error_file_id: str | None = None

    def summary(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "api": self.kind,
            "custom_ids": [c for c, _, _ in self.requests],
            "reads": self.reads,
            "cancelled": self.cancelled,
            "ended": self.ended,
            "metadata": self.metadata,
        }


class BatchService:
    """The batches and files of one fake server."""

    def __init__(self, fake: FakeLLM) -> None:
        self._fake = fake
        self.reset()

    def reset(self) -> None:
        self.batches: dict[str, FakeBatch] = {}
        self.files: dict[str, bytes] = {}
        self._ids = itertools.count(1)

    def end_held(self) -> None:
        for batch in self.batches.values():
            if batch.polls is None:
                batch.polls = 0

    def respond(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> Reply:
        """The answer to one request: status, body, content type (the caller holds the fake's lock)."""
        parts = path.strip("/").split("/")
        route = (method, *parts)
        if route == ("POST", "_fake", "batches", "end"):
            self.end_held()
            return _json(200, {"ok": True})
        elif route == ("GET", "_fake", "batches"):
            return _json(200, [b.summary() for b in self.batches.values()])
        elif route == ("POST", "v1", "messages", "batches"):
            return _json(200, self._anthropic(self._create_anthropic(json.loads(raw))))
        elif parts[:3] == ["v1", "messages", "batches"] and len(parts) >= 4 and parts[3] in self.batches:
            batch = self.batches[parts[3]]
            if route[-1] == "cancel" and method == "POST":
                batch.cancelled = True
                return _json(200, self._anthropic(batch))
            elif route[-1] == "results":
                lines = [_anthropic_result(r) for r in batch.results]
                return 200, _jsonl(lines), "application/binary"
            else:
                self._read(batch)
                return _json(200, self._anthropic(batch))
        elif route == ("POST", "v1", "files"):
            return _json(200, self._upload(headers, raw))
        elif route[:3] == ("GET", "v1", "files") and len(parts) == 4 and parts[3] == "content":
            if parts[2] not in self.files:
                return _json(404, {"error": {"message": "no such file", "type": "invalid_request_error"}})
            else:
                return 200, self.files[parts[2]], "application/octet-stream"
        elif route == ("POST", "v1", "batches"):
            return _json(200, self._openai(self._create_openai(json.loads(raw))))
        elif parts[:2] == ["v1", "batches"] and len(parts) >= 3 and parts[2] in self.batches:
            batch = self.batches[parts[2]]
            if route[-1] == "cancel" and method == "POST":
                batch.cancelled = True
            else:
                self._read(batch)
            return _json(200, self._openai(batch))
        else:
            return _json(404, {"error": {"message": f"fake_llm: no route {method} {path}"}})

    # -- creating and ending --

    def _new(self, kind: str, requests: list[tuple[str, API, dict[str, Any]]], **more: Any) -> FakeBatch:
        script = self._fake.current_script()
        polls = script.batch.polls_for(len(self.batches))
        prefix = "msgbatch_fake" if kind == "anthropic" else "batch_fake"
        batch = FakeBatch(f"{prefix}{next(self._ids):04d}", kind, requests, polls, **more)
        self.batches[batch.id] = batch
        return batch

    def _create_anthropic(self, body: dict[str, Any]) -> FakeBatch:
        requests = [(r["custom_id"], "anthropic", r["params"]) for r in body["requests"]]
        return self._new("anthropic", requests)  # type: ignore[arg-type]

    def _upload(self, headers: dict[str, str], raw: bytes) -> dict[str, Any]:
        fields = _multipart(headers.get("content-type", ""), raw)
        file_id = f"file-fake{next(self._ids):04d}"
        self.files[file_id] = fields["file"]
        return {
            "id": file_id,
            "object": "file",
            "bytes": len(fields["file"]),
            "created_at": int(time.time()),
            "filename": "requests.jsonl",
            "purpose": fields.get("purpose", b"").decode(),
            "status": "processed",
        }

    def _create_openai(self, body: dict[str, Any]) -> FakeBatch:
        endpoint = body["endpoint"]
        lines = [json.loads(line) for line in self.files[body["input_file_id"]].splitlines() if line.strip()]
        requests = [(line["custom_id"], _ENDPOINTS[line["url"]], line["body"]) for line in lines]
        return self._new(
            "openai",
            requests,
            endpoint=endpoint,
            metadata=dict(body.get("metadata") or {}),
            input_file_id=body["input_file_id"],
        )

    def _read(self, batch: FakeBatch) -> None:
        batch.reads += 1
        if batch.ended:
            return
        if batch.cancelled or (batch.polls is not None and batch.reads > batch.polls):
            self._end(batch)

    def _end(self, batch: FakeBatch) -> None:
        """Answer every request (or cancel, expire, fail it) as the script says."""
        batch.ended = True
        script = self._fake.current_script().batch
        for custom_id, api, body in batch.requests:
            if batch.cancelled:
                batch.results.append((custom_id, "canceled", None, ""))
                continue
            prompt = self._fake.prompt_of(api, body)
            if prompt in script.expire:
                batch.results.append((custom_id, "expired", None, ""))
            elif prompt in script.error:
                message = f"fake_llm: scripted batch error for {prompt!r}"
                batch.results.append((custom_id, "errored", {"status": 400}, message))
            else:
                status, answer = self._fake.answer_whole(api, f"batch:{batch.endpoint}", body)
                kind = "succeeded" if status == 200 else "errored"
                message = "" if status == 200 else str(answer.get("error", {}).get("message", ""))
                batch.results.append((custom_id, kind, {"status": status, "body": answer}, message))
        if batch.kind == "openai":
            answered = [_openai_line(r) for r in batch.results if r[1] == "succeeded"]
            failed = [_openai_line(r) for r in batch.results if r[1] in ("errored", "expired")]
            if answered:
                batch.output_file_id = f"file-fake{next(self._ids):04d}"
                self.files[batch.output_file_id] = _jsonl(answered)
            if failed:
                batch.error_file_id = f"file-fake{next(self._ids):04d}"
                self.files[batch.error_file_id] = _jsonl(failed)

    # -- the batch objects --

    def _anthropic(self, batch: FakeBatch) -> dict[str, Any]:
        counts = dict.fromkeys(("processing", "succeeded", "errored", "canceled", "expired"), 0)
        if batch.ended:
            for _, kind, _, _ in batch.results:
                counts[kind] += 1
        else:
            counts["processing"] = len(batch.requests)
        status = "ended" if batch.ended else "canceling" if batch.cancelled else "in_progress"
        base = self._fake.base_url
        return {
            "id": batch.id,
            "type": "message_batch",
            "processing_status": status,
            "request_counts": counts,
            "created_at": _iso(batch.created_at),
            "expires_at": _iso(batch.created_at + 86400),
            "ended_at": _iso(time.time()) if batch.ended else None,
            "archived_at": None,
            "cancel_initiated_at": _iso(time.time()) if batch.cancelled else None,
            "results_url": f"{base}/v1/messages/batches/{batch.id}/results" if batch.ended else None,
        }

    def _openai(self, batch: FakeBatch) -> dict[str, Any]:
        kinds = [kind for _, kind, _, _ in batch.results]
        if not batch.ended:
            status = "cancelling" if batch.cancelled else "in_progress"
        elif batch.cancelled:
            status = "cancelled"
        else:
            status = "expired" if "expired" in kinds else "completed"
        now = int(time.time())
        return {
            "id": batch.id,
            "object": "batch",
            "endpoint": batch.endpoint,
            "errors": None,
            "input_file_id": batch.input_file_id,
            "completion_window": "24h",
            "status": status,
            "output_file_id": batch.output_file_id,
            "error_file_id": batch.error_file_id,
            "created_at": int(batch.created_at),
            "in_progress_at": int(batch.created_at),
            "expires_at": int(batch.created_at) + 86400,
            "completed_at": now if status == "completed" else None,
            "expired_at": now if status == "expired" else None,
            "cancelled_at": now if status == "cancelled" else None,
            "request_counts": {
                "total": len(batch.requests),
                "completed": kinds.count("succeeded"),
                "failed": kinds.count("errored") + kinds.count("expired"),
            },
            "metadata": batch.metadata,
        }


def _anthropic_result(result: tuple[str, str, dict[str, Any] | None, str]) -> dict[str, Any]:
    custom_id, kind, answer, message = result
    if kind == "succeeded":
        assert answer is not None
        return {"custom_id": custom_id, "result": {"type": "succeeded", "message": answer["body"]}}
    if kind == "errored":
        error = {"type": "invalid_request_error", "message": message}
        return {
            "custom_id": custom_id,
            "result": {"type": "errored", "error": {"type": "error", "error": error}},
        }
    return {"custom_id": custom_id, "result": {"type": kind}}


def _openai_line(result: tuple[str, str, dict[str, Any] | None, str]) -> dict[str, Any]:
    custom_id, kind, answer, message = result
    line: dict[str, Any] = {
        "id": f"batch_req_{custom_id}",
        "custom_id": custom_id,
        "response": None,
        "error": None,
    }
    if kind == "expired":
        line["error"] = {
            "code": "batch_expired",
            "message": "This request could not be executed before the completion window expired.",
        }
    else:
        assert answer is not None
        status = answer["status"]
        body = answer.get("body") or {"error": {"message": message, "type": "invalid_request_error"}}
        line["response"] = {"status_code": status, "request_id": f"req_{custom_id}", "body": body}
    return line


def _json(status: int, body: Any) -> Reply:
    return status, json.dumps(body).encode(), "application/json"


def _jsonl(lines: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


def _iso(when: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(when))


def _multipart(content_type: str, raw: bytes) -> dict[str, bytes]:
    """The fields of a ``multipart/form-data`` body, by name."""
    boundary = content_type.partition("boundary=")[2].strip('"')
    fields: dict[str, bytes] = {}
    for part in raw.split(b"--" + boundary.encode()):
        head, sep, body = part.partition(b"\r\n\r\n")
        if not sep:
            continue
        disposition = head.decode("latin-1")
        name = disposition.partition('name="')[2].partition('"')[0]
        fields[name] = body.removesuffix(b"\r\n")
    return fields
