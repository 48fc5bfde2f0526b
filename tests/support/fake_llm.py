"""One loopback HTTP server that fakes the Anthropic Messages, OpenAI Chat Completions and OpenAI
Responses APIs, streaming SSE exactly as the real services do, scripted by the test.

Endpoints (one base URL serves every SDK: give it as ``base_url`` to anthropic *and* openai)::

    POST /v1/messages                              Anthropic Messages (SSE or JSON)
    POST /v1/chat/completions  (or /chat/completions)  Chat Completions (SSE chunks + usage + [DONE], or JSON)
    POST /v1/responses         (or /responses)     Responses (SSE events, or JSON)
    GET  /_fake/requests   every recorded request, as JSON       (for out-of-process use)
    GET  /_fake/stats      {"requests", "in_flight", "max_in_flight", "disconnects"}
    POST /_fake/script     replace the script (JSON body, the format below)
    POST /_fake/reset      forget requests and stats; the body, if any, is the new script

In process (tests): the ``fake_llm`` fixture (tests/support/fixtures_llm.py) gives a running
:class:`FakeLLM`, reset for every test::

    fake_llm.script([{"tool_calls": [{"name": "add", "arguments": {"a": 1, "b": 2}}]}, {"echo": "tool_results"}])
    ... point a provider / the agent at fake_llm.base_url (or use fake_llm.env()) ...
    assert fake_llm.requests[1].conversation.last_tool_results[0].text == "3"

Out of process (e2e tests of the ``agent`` program, or by hand)::

    python -m tests.support.fake_llm --script FILE.json     # prints "READY http://127.0.0.1:PORT"

or, from a test, ``with FakeLLMProcess(script) as fake: ...`` (same ``requests`` / ``stats`` /
``script`` methods, over the control endpoints).

Script format (JSON; in process also the Python objects below)
--------------------------------------------------------------
A script is a dict; a bare list is short for ``{"turns": [...]}``, a bare string for one text turn::

    {
      "turns": [TURN, ...],      # the model's answers
      "by": "history",           # how a request picks its turn:
                                 #   "history" (default): turn i answers a request whose conversation
                                 #   already holds i assistant turns, so concurrent conversations
                                 #   (batch) each walk the same script, and a retried request gets
                                 #   the same answer again;
                                 #   "sequence": the n-th request (faults excluded) gets turn n.
      "repeat_last": false,      # past the end, repeat the last turn (else: HTTP 400 "script exhausted")
      "faults": [FAULT|null, ...],  # consumed one per request, in arrival order, before any turn is
                                 #   picked; null lets that request through. Works in both modes.
      "latency": 0.0             # seconds to wait before answering every request
    }

    TURN = {
      "text": "Hello",                      # assistant text (may be combined with tool_calls)
      "tool_calls": [{"name": "add", "arguments": {"a": 1}}, ...],
                                            # arguments: an object, or a string sent verbatim
                                            # (to fake invalid JSON); optional "id"
      "echo": "user" | "tool_results",      # text = the last user text / the texts of the tool
                                            #   results just sent, one a line ("error: " before failed ones)
      "stop_reason": "end_turn" | "tool_use" | "max_tokens" | "refusal",   # default: from the content
      "usage": {"input_tokens": 10, "output_tokens": 5, "cache_read_tokens": 0, "cache_write_tokens": 0},
      "delay": 0.0,          # seconds before the response starts
      "chunk_delay": 0.0,    # seconds between streamed events
      "chunk": 8,            # characters per text / argument fragment
      "interleave": false,   # Chat Completions: interleave the fragments of several tool calls
      "cut_after": null,     # close the connection after N SSE events (a mid-stream cut)
      "hang_after": null     # after N SSE events send nothing more until the client goes away
    }

    FAULT = {
      "status": 429,         # answer with this HTTP status and the API's error body, instead of a turn
      "retry_after": 0.001,  # seconds; sent as retry-after and retry-after-ms (the SDKs treat 0 as
                             #   "not given" and back off ~0.5 s, so tests use a tiny positive value)
      "message": "...",      # the error message (default: a made-up one naming the status)
      "delay": 0.0,          # extra seconds before this answer
      "cut_after": 3,        # without status: stream the turn but cut it after 3 events
      "hang_after": 1,       # without status: stream the turn, then hang after 1 event
      "stream_error": "overloaded_error"   # without status: after cut_after (default 1) events,
                             #   an error event inside the 200 stream (Anthropic "event: error",
                             #   Responses "error", Chat Completions {"error": …}), then the end
    }

In process a script may also be a callable ``f(request: SeenRequest) -> TURN | str | Turn`` (or
a ``Script(respond=f, ...)``), deciding from what the SDK sent: ``request.conversation`` has
``last_user_text``, ``last_tool_results`` (call_id, text, is_error, images), ``tool_calls``,
``tools``, ``system`` and ``assistant_turns`` for all three APIs alike (the OpenAI APIs have no
is_error flag: a result text starting with ``"Error: "`` counts as an error). An exception in the
callable answers HTTP 500 and is kept in ``FakeLLM.errors``; the fixture fails the test with it.

Every request is recorded (:class:`SeenRequest`: api, path, headers, JSON body, the status
answered), so a test can assert what the SDK sent. ``stats`` counts requests in flight and the
most seen at once (batch concurrency), and client disconnects in mid-stream (cancellation).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import anyio
import anyio.abc
import anyio.from_thread
import anyio.to_thread
from anyio.streams.buffered import BufferedByteReceiveStream

from tests.support.fake_llm_script import Fault, Script, SeenRequest, ToolCall, Turn
from tests.support.fake_llm_wire import API, Answer, Call, encode, error_body, stream_error

__all__ = [
    "FakeLLM",
    "FakeLLMProcess",
    "Fault",
    "Script",
    "SeenRequest",
    "ToolCall",
    "Turn",
]

REPO_ROOT = Path(__file__).resolve().parents[2]


# --- the server -------------------------------------------------------------------------------

_API_PATHS: dict[str, API] = {
    "/v1/messages": "anthropic",
    "/v1/chat/completions": "chat",
    "/chat/completions": "chat",
    "/v1/responses": "responses",
    "/responses": "responses",
}
_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
}


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
        self._reset_state()

    def _reset_state(self) -> None:
        self._requests: list[SeenRequest] = []
        self._fault_cursor = 0
        self._turn_cursor = 0
        self._ids = 0
        # In flight is a live gauge, kept: a past test's requests may still be running.
        self._max_in_flight = self._in_flight
        self._disconnects = 0

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
                    head = await reader.receive_until(b"\r\n\r\n", 1 << 20)
                    line, *lines = head.decode("latin-1").split("\r\n")
                    method, target, _ = line.split(" ", 2)
                    headers = {}
                    for h in lines:
                        name, _, value = h.partition(":")
                        headers[name.strip().lower()] = value.strip()
                    length = int(headers.get("content-length") or 0)
                    body = await reader.receive_exactly(length) if length else b""
                    if not await self._dispatch(
                        stream, reader, method, target.split("?", 1)[0], headers, body
                    ):
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

    @staticmethod
    async def _send_json(
        stream: anyio.abc.SocketStream, status: int, body: Any, extra: Mapping[str, str] | None = None
    ) -> None:
        data = json.dumps(body).encode()
        head = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}", "content-type: application/json"]
        head += [f"{k}: {v}" for k, v in (extra or {}).items()]
        head.append(f"content-length: {len(data)}")
        await stream.send(("\r\n".join(head) + "\r\n\r\n").encode() + data)

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
        if path == "/_fake/requests" and method == "GET":
            await self._send_json(stream, 200, [r.to_json() for r in self.requests])
        elif path == "/_fake/stats" and method == "GET":
            await self._send_json(stream, 200, self.stats)
        elif path in ("/_fake/script", "/_fake/reset") and method == "POST":
            try:
                script = json.loads(raw) if raw.strip() else None
                (self.script if path == "/_fake/script" else self.reset)(script)
            except ValueError as exc:
                await self._send_json(stream, 400, {"error": str(exc)})
            else:
                await self._send_json(stream, 200, {"ok": True})
        else:
            await self._send_json(stream, 404, {"error": f"fake_llm: no route {method} {path}"})
        return True

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
            await self._send_json(stream, 400, error_body(api, 400, "fake_llm: the body is not JSON"))
            return True
        with self._cond:
            seen = SeenRequest(len(self._requests), api, path, headers, body)
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
            message = fault.message or f"fake_llm: scripted HTTP {fault.status}"
            await self._send_json(stream, fault.status, error_body(api, fault.status, message), extra)
            return True
        try:
            turn = self._pick_turn(seen, script, cursor)
        except _ScriptExhausted as exc:
            seen.status = 400
            await self._send_json(stream, 400, error_body(api, 400, str(exc)))
            return True
        except Exception as exc:
            self.errors.append(exc)
            seen.status = 500
            await self._send_json(stream, 500, error_body(api, 500, f"fake_llm: the script failed: {exc!r}"))
            return True
        answer = self._build_answer(api, seen, turn)
        delay += turn.delay
        if delay:
            await anyio.sleep(delay)
        if not seen.stream:
            seen.status = 200
            await self._send_json(stream, 200, encode(api, answer, stream=False))
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
        return await self._stream(stream, events, turn.chunk_delay, cut, hang)

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
            input_tokens=usage.get("input_tokens", max(1, len(json.dumps(seen.body)) // 4)),
            output_tokens=usage.get("output_tokens", out_default),
            cache_read_tokens=usage.get("cache_read_tokens", 0),
            cache_write_tokens=usage.get("cache_write_tokens", 0),
            chunk=turn.chunk,
            interleave=turn.interleave,
            ident=ident,
        )

    async def _stream(
        self,
        stream: anyio.abc.SocketStream,
        events: list[bytes],
        chunk_delay: float,
        cut: int | None,
        hang: int | None,
    ) -> bool:
        head = (
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\n"
            b"cache-control: no-cache\r\ntransfer-encoding: chunked\r\nrequest-id: req_fake\r\n\r\n"
        )
        limit = min(x for x in (cut, hang, len(events)) if x is not None)
        chunks = [b"%x\r\n%s\r\n" % (len(e), e) for e in events[:limit]]
        if limit == len(events):
            chunks.append(b"0\r\n\r\n")
        if not chunk_delay:
            await stream.send(head + b"".join(chunks))
        else:
            await stream.send(head)
            for i, chunk in enumerate(chunks):
                if i:
                    await anyio.sleep(chunk_delay)
                await stream.send(chunk)
        if hang is not None and cut is None and hang < len(events):
            await anyio.sleep_forever()  # until the client leaves (the watcher cancels this)
        return limit == len(events)  # after a cut, close the connection


# --- out of process ---------------------------------------------------------------------------


class FakeLLMProcess:
    """The fake in a subprocess (``python -m tests.support.fake_llm``), for tests of the real
    ``agent`` program. The script must be JSON (no callables)."""

    def __init__(self, script: Any = None) -> None:
        self._script = script
        self._proc: subprocess.Popen[str] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self.base_url = ""

    def __enter__(self) -> FakeLLMProcess:
        self._tmp = tempfile.TemporaryDirectory(prefix="fake_llm_")
        path = Path(self._tmp.name) / "script.json"
        path.write_text(json.dumps(self._script if self._script is not None else {}), encoding="utf-8")
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "tests.support.fake_llm", "--script", str(path)],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline().strip()
        if not line.startswith("READY "):
            self.__exit__()
            raise RuntimeError(f"fake_llm subprocess did not start: {line!r}")
        self.base_url = line.split(" ", 1)[1]
        return self

    def __exit__(self, *exc: object) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            if self._proc.stdout is not None:
                self._proc.stdout.close()
            self._proc = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        import httpx2

        with httpx2.Client(base_url=self.base_url, timeout=10) as client:
            response = client.request(method, path, json=body)
            response.raise_for_status()
            return response.json()

    def script(self, script: Any) -> None:
        self._call("POST", "/_fake/script", script)

    def reset(self, script: Any = None) -> None:
        self._call("POST", "/_fake/reset", script)

    @property
    def requests(self) -> list[SeenRequest]:
        return [SeenRequest.from_json(r) for r in self._call("GET", "/_fake/requests")]

    @property
    def stats(self) -> dict[str, int]:
        result: dict[str, int] = self._call("GET", "/_fake/stats")
        return result

    env = FakeLLM.env


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.support.fake_llm", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--script", metavar="FILE.json", help="the script (see the module docstring)")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: any free one)")
    args = parser.parse_args(argv)
    script = json.loads(Path(args.script).read_text(encoding="utf-8")) if args.script else None
    fake = FakeLLM(script, port=args.port)

    async def run() -> None:
        async with anyio.create_task_group() as tg:
            url = await tg.start(fake.serve)
            print(f"READY {url}", flush=True)
            with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                async for _ in signals:
                    tg.cancel_scope.cancel()
                    break

    anyio.run(run)
    return 0


if __name__ == "__main__":
    sys.exit(_main())
