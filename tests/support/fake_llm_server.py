"""The fake model server (:class:`FakeLLM`): one loopback listener for all three model APIs, the
state a test reads (requests, stats, errors) and the choice of each request's answer from the
script. :mod:`tests.support.fake_llm` documents the endpoints and the script format."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Callable
from typing import Any

import anyio
import anyio.abc
import anyio.from_thread
import anyio.to_thread
from anyio.streams.buffered import BufferedByteReceiveStream

from tests.support.fake_llm_batch import BatchService, is_batch_path
from tests.support.fake_llm_http import read_request, send_bytes, send_json, send_sse
from tests.support.fake_llm_script import Fault, Script, SeenRequest, Turn
from tests.support.fake_llm_wire import API, Answer, Call, encode, error_body, stream_error

__all__ = ["FakeLLM"]

_API_PATHS: dict[str, API] = {
    "/v1/messages": "anthropic",
    "/v1/chat/completions": "chat",
    "/chat/completions": "chat",
    "/v1/responses": "responses",
    "/responses": "responses",
}


DEFAULT_MODELS = ("fake-model-a", "fake-model-b")


def _model_list(ids: list[str]) -> dict[str, Any]:
    """A model list both SDKs read: Anthropic's page (``has_more``, ``first_id``, ``created_at``,
    ``display_name``) and OpenAI's list (``object``, ``created``, ``owned_by``) in one body."""
    data = [
        {
            "id": model,
            "type": "model",
            "object": "model",
            "display_name": model,
            "created_at": "2026-01-01T00:00:00Z",
            "created": 1767225600,
            "owned_by": "fake",
        }
        for model in ids
    ]
    first, last = (ids[0], ids[-1]) if ids else (None, None)
    return {"object": "list", "data": data, "has_more": False, "first_id": first, "last_id": last}


class _ScriptExhausted(Exception):
    pass


class _ClientGone(Exception):
    pass


class FakeLLM:
    """The fake server. ``with FakeLLM(script) as fake:`` runs it in a background thread;
    ``await task_group.start(fake.serve)`` runs it in the current event loop instead."""

    def __init__(self, script: Any = None, *, port: int = 0) -> None:
        self._cond = threading.Condition()
        self._script = Script.parse(script)
        self._port = port
        self.base_url = ""
        self.errors: list[BaseException] = []
        self._portal_cm: contextlib.AbstractContextManager[anyio.from_thread.BlockingPortal] | None = None
        self._scope: anyio.CancelScope | None = None
        self._in_flight = 0
        self._batch_service = BatchService(self)
        self.models: list[str] = list(DEFAULT_MODELS)  # what GET /v1/models lists (tests may change it)
        self._reset_state()

    def _reset_state(self) -> None:
        self._requests: list[SeenRequest] = []
        self._fault_cursor = 0
        self._turn_cursor = 0
        self._ids = 0
        # In flight is a live gauge, kept: a past test's requests may still be running.
        self._max_in_flight = self._in_flight
        self._disconnects = 0
        self.models = list(DEFAULT_MODELS)
        self.unknown_models: set[str] = set()  # GET /v1/models/ID: 404 for these, 200 for any other
        self._batch_service.reset()

    # -- the test's side --

    def script(self, script: Any) -> None:
        """Replace the script (any form the module docstring describes)."""
        parsed = Script.parse(script)
        with self._cond:
            self._script = parsed
            self._fault_cursor = self._turn_cursor = 0

    def reset(self, script: Any = None) -> None:
        """Forget requests, stats and errors; set a new (default: empty) script."""
        parsed = Script.parse(script)
        with self._cond:
            self._script = parsed
            self._reset_state()
            self.errors = []

    @property
    def requests(self) -> list[SeenRequest]:
        with self._cond:
            return list(self._requests)

    @property
    def stats(self) -> dict[str, int]:
        """``requests`` (since the reset), ``in_flight``, ``max_in_flight``, ``disconnects`` (mid-answer)."""
        with self._cond:
            return self._stats_locked()

    @property
    def batches(self) -> list[dict[str, Any]]:
        """Every provider batch created (:mod:`tests.support.fake_llm_batch`), in creation order."""
        with self._cond:
            return [b.summary() for b in self._batch_service.batches.values()]

    def end_batches(self) -> None:
        """End, at their next status read, the batches the script holds (``batch.polls`` None)."""
        with self._cond:
            self._batch_service.end_held()

    def current_script(self) -> Script:
        with self._cond:
            return self._script

    def prompt_of(self, api: API, body: dict[str, Any]) -> str:
        """The first user text of a request body: the prompt of the batch item that sent it."""
        texts = SeenRequest(0, api, "", {}, body).conversation.user_texts
        return texts[0] if texts else ""

    def answer_whole(self, api: API, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Answer one request of a provider batch as a whole live request would be (no faults);
        it is recorded like one. The HTTP status and the JSON body."""
        with self._cond:
            seen = SeenRequest(len(self._requests), api, path, {}, body, received_at=anyio.current_time())
            self._requests.append(seen)
            script = self._script
            cursor = self._turn_cursor
            self._turn_cursor += 1
            self._cond.notify_all()
        too_long = _too_long(seen, script)
        if too_long:
            seen.status = 400
            return 400, error_body(api, 400, too_long)
        try:
            turn = self._pick_turn(seen, script, cursor)
        except _ScriptExhausted as exc:
            seen.status = 400
            return 400, error_body(api, 400, str(exc))
        except Exception as exc:
            self.errors.append(exc)
            seen.status = 500
            return 500, error_body(api, 500, f"fake_llm: the script failed: {exc!r}")
        seen.status = 200
        answer = encode(api, self._build_answer(api, seen, turn), stream=False)
        assert isinstance(answer, dict)
        return 200, answer

    def env(self, api_key: str = "test-key") -> dict[str, str]:
        """Environment variables that point both SDKs (and the agent) at this fake."""
        return {
            "ANTHROPIC_BASE_URL": self.base_url,
            "OPENAI_BASE_URL": self.base_url + "/v1",
            "ANTHROPIC_API_KEY": api_key,
            "OPENAI_API_KEY": api_key,
        }

    def wait_for_sync(self, predicate: Callable[[dict[str, int]], bool], timeout: float = 10.0) -> bool:
        """Block until ``predicate(stats)`` holds (woken by the server, no polling); False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: predicate(self._stats_locked()), timeout)

    async def wait_for(self, predicate: Callable[[dict[str, int]], bool], within: float = 10.0) -> bool:
        """:meth:`wait_for_sync` without blocking the event loop."""
        return await anyio.to_thread.run_sync(self.wait_for_sync, predicate, within, abandon_on_cancel=True)

    def _stats_locked(self) -> dict[str, int]:
        return {
            "requests": len(self._requests),
            "in_flight": self._in_flight,
            "max_in_flight": self._max_in_flight,
            "disconnects": self._disconnects,
            "batches": len(self._batch_service.batches),
            "batch_reads": sum(b.reads for b in self._batch_service.batches.values()),
        }

    # -- running --

    def __enter__(self) -> FakeLLM:
        self._portal_cm = anyio.from_thread.start_blocking_portal()
        portal = self._portal_cm.__enter__()
        try:
            portal.start_task(self.serve)
        except BaseException:
            self._portal_cm.__exit__(None, None, None)
            raise
        self._portal = portal
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._portal_cm is not None
        portal_cm, self._portal_cm = self._portal_cm, None
        try:
            if self._scope is not None:
                self._portal.call(self._scope.cancel)
        finally:
            portal_cm.__exit__(None, None, None)

    async def serve(self, *, task_status: anyio.abc.TaskStatus[str] = anyio.TASK_STATUS_IGNORED) -> None:
        """Listen on 127.0.0.1 (an ephemeral port unless given) until cancelled."""
        with anyio.CancelScope() as self._scope:
            listener = await anyio.create_tcp_listener(local_host="127.0.0.1", local_port=self._port)
            async with listener:
                port = listener.extra(anyio.abc.SocketAttribute.local_port)
                self.base_url = f"http://127.0.0.1:{port}"
                task_status.started(self.base_url)
                await listener.serve(self._connection)

    # -- HTTP --

    async def _connection(self, stream: anyio.abc.SocketStream) -> None:
        async with stream:
            reader = BufferedByteReceiveStream(stream)
            try:
                while True:
                    method, path, headers, body = await read_request(reader)
                    if not await self._dispatch(stream, reader, method, path, headers, body):
                        return
            except (
                anyio.EndOfStream,
                anyio.IncompleteRead,
                anyio.DelimiterNotFound,
                anyio.BrokenResourceError,
                anyio.ClosedResourceError,
                _ClientGone,
            ):
                return

    async def _dispatch(
        self,
        stream: anyio.abc.SocketStream,
        reader: BufferedByteReceiveStream,
        method: str,
        path: str,
        headers: dict[str, str],
        raw: bytes,
    ) -> bool:
        api = _API_PATHS.get(path)
        if api is not None and method == "POST":
            return await self._api(stream, reader, api, path, headers, raw)
        if is_batch_path(path):
            with self._cond:  # tests read the batches from their own thread
                status, data, content_type = self._batch_service.respond(method, path, headers, raw)
                self._cond.notify_all()
            await send_bytes(stream, status, data, content_type)
        elif path.split("?", 1)[0] in ("/v1/models", "/models") and method == "GET":
            await send_json(stream, 200, _model_list(self.models))
        elif path.startswith(("/v1/models/", "/models/")) and method == "GET":
            model = path.rsplit("/", 1)[1]
            if model in self.unknown_models:
                error = {"type": "not_found_error", "code": "model_not_found", "message": f"model: {model}"}
                await send_json(stream, 404, {"type": "error", "error": error})
            else:
                await send_json(stream, 200, _model_list([model])["data"][0])
        elif path == "/_fake/requests" and method == "GET":
            await send_json(stream, 200, [r.to_json() for r in self.requests])
        elif path == "/_fake/stats" and method == "GET":
            await send_json(stream, 200, self.stats)
        elif path in ("/_fake/script", "/_fake/reset") and method == "POST":
            try:
                script = json.loads(raw) if raw.strip() else None
                (self.script if path == "/_fake/script" else self.reset)(script)
            except ValueError as exc:
                await send_json(stream, 400, {"error": str(exc)})
            else:
                await send_json(stream, 200, {"ok": True})
        else:
            await send_json(stream, 404, {"error": f"fake_llm: no route {method} {path}"})
        return True

    # -- answering a model API request --

    def _next_id(self) -> int:
        self._ids += 1
        return self._ids

    def _pick_turn(self, seen: SeenRequest, script: Script, cursor: int) -> Turn:
        if script.respond is not None:
            return Turn.parse(script.respond(seen))
        index = seen.conversation.assistant_turns if script.by == "history" else cursor
        if index >= len(script.turns):
            if script.repeat_last and script.turns:
                return script.turns[-1]
            raise _ScriptExhausted(
                f"fake_llm: script exhausted: no turn {index} (the script has {len(script.turns)}); "
                "add turns or set repeat_last"
            )
        return script.turns[index]

    async def _api(
        self,
        stream: anyio.abc.SocketStream,
        reader: BufferedByteReceiveStream,
        api: API,
        path: str,
        headers: dict[str, str],
        raw: bytes,
    ) -> bool:
        try:
            body = json.loads(raw)
        except ValueError:
            await send_json(stream, 400, error_body(api, 400, "fake_llm: the body is not JSON"))
            return True
        with self._cond:
            seen = SeenRequest(
                len(self._requests), api, path, headers, body, received_at=anyio.current_time()
            )
            self._requests.append(seen)
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
            script = self._script
            fault = None
            if self._fault_cursor < len(script.faults):
                fault = script.faults[self._fault_cursor]
                self._fault_cursor += 1
            cursor = self._turn_cursor
            if fault is None or fault.status is None:
                self._turn_cursor += 1
            self._cond.notify_all()
        gone = False
        keep = False

        async def watch(scope: anyio.CancelScope) -> None:
            # A client sends nothing while it waits for or reads a response, so reading here only
            # tells when it hangs up; bytes that do come (its next request) go back to the reader.
            nonlocal gone
            try:
                data = await stream.receive()
            except (anyio.EndOfStream, anyio.BrokenResourceError, anyio.ClosedResourceError):
                gone = True
                scope.cancel()
            else:
                reader.feed_data(data)

        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(watch, tg.cancel_scope)
                try:
                    keep = await self._answer(stream, api, seen, script, fault, cursor)
                except (anyio.BrokenResourceError, anyio.ClosedResourceError):
                    gone = True
                tg.cancel_scope.cancel()
        finally:
            with self._cond:
                self._in_flight -= 1
                self._disconnects += gone
                self._cond.notify_all()
        if gone:
            raise _ClientGone
        return keep

    async def _answer(
        self,
        stream: anyio.abc.SocketStream,
        api: API,
        seen: SeenRequest,
        script: Script,
        fault: Fault | None,
        cursor: int,
    ) -> bool:
        delay = script.latency + (fault.delay if fault else 0.0)
        if fault is not None and fault.status is not None:
            if delay:
                await anyio.sleep(delay)
            seen.status = fault.status
            extra = {}
            if fault.retry_after is not None:
                extra = {
                    "retry-after": f"{fault.retry_after:g}",
                    "retry-after-ms": f"{fault.retry_after * 1000:g}",
                }
            extra.update(fault.headers or {})
            message = fault.message or f"fake_llm: scripted HTTP {fault.status}"
            await send_json(stream, fault.status, error_body(api, fault.status, message), extra)
            return True
        too_long = _too_long(seen, script)
        if too_long:
            seen.status = 400
            await send_json(stream, 400, error_body(api, 400, too_long))
            return True
        try:
            turn = self._pick_turn(seen, script, cursor)
        except _ScriptExhausted as exc:
            seen.status = 400
            await send_json(stream, 400, error_body(api, 400, str(exc)))
            return True
        except Exception as exc:
            self.errors.append(exc)
            seen.status = 500
            await send_json(stream, 500, error_body(api, 500, f"fake_llm: the script failed: {exc!r}"))
            return True
        answer = self._build_answer(api, seen, turn)
        delay += turn.delay
        if delay:
            await anyio.sleep(delay)
        if not seen.stream:
            seen.status = 200
            await send_json(stream, 200, encode(api, answer, stream=False))
            return True
        include_usage = bool((seen.body.get("stream_options") or {}).get("include_usage"))
        events = encode(api, answer, stream=True, include_usage=include_usage)
        assert isinstance(events, list)
        cut = fault.cut_after if fault and fault.cut_after is not None else turn.cut_after
        hang = fault.hang_after if fault and fault.hang_after is not None else turn.hang_after
        if fault is not None and fault.stream_error is not None:
            message = fault.message or f"fake_llm: scripted {fault.stream_error}"
            events = [*events[: fault.cut_after or 1], stream_error(api, fault.stream_error, message)]
            cut = None
        seen.status = 200
        return await send_sse(stream, events, turn.chunk_delay, cut, hang)

    def _build_answer(self, api: API, seen: SeenRequest, turn: Turn) -> Answer:
        conv = seen.conversation
        text = turn.text
        if turn.echo == "user":
            text = conv.last_user_text
        elif turn.echo == "tool_results":
            text = "\n".join(("error: " if r.is_error else "") + r.text for r in conv.last_tool_results)
        calls = []
        with self._cond:
            for call in turn.tool_calls:
                n = self._next_id()
                args = call.arguments if isinstance(call.arguments, str) else json.dumps(call.arguments)
                call_id = call.id or (f"toolu_fake{n:04d}" if api == "anthropic" else f"call_fake{n:04d}")
                calls.append(Call(call_id, f"fc_fake{n:04d}", call.name, args))
            ident = f"fake{self._next_id():04d}"
        usage = dict(turn.usage or {})
        out_default = max(1, (len(text) + sum(len(c.arguments) for c in calls)) // 4)
        return Answer(
            model=seen.model or "fake-model",
            text=text,
            calls=calls,
            stop=turn.stop_reason or ("tool_use" if calls else "end_turn"),
            input_tokens=usage.get("input_tokens", input_tokens(seen.body)),
            output_tokens=usage.get("output_tokens", out_default),
            cache_read_tokens=usage.get("cache_read_tokens", 0),
            cache_write_tokens=usage.get("cache_write_tokens", 0),
            chunk=turn.chunk,
            interleave=turn.interleave,
            ident=ident,
        )


def input_tokens(body: dict[str, Any]) -> int:
    """The fake's count of a request's input tokens: a quarter of its JSON (what usage reports too)."""
    return max(1, len(json.dumps(body)) // 4)


def _too_long(seen: SeenRequest, script: Script) -> str:
    """The API's refusal of a request over the script's context window (as the real APIs word it), or ""."""
    if script.context_window is None:
        return ""
    tokens = input_tokens(seen.body)
    if tokens <= script.context_window:
        return ""
    return f"prompt is too long: {tokens} tokens > {script.context_window} maximum"
