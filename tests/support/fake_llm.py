"""One loopback HTTP server that fakes the Anthropic Messages, OpenAI Chat Completions and OpenAI
Responses APIs, streaming SSE exactly as the real services do, scripted by the test.

Endpoints (one base URL serves every SDK: give it as ``base_url`` to anthropic *and* openai)::

    POST /v1/messages                              Anthropic Messages (SSE or JSON)
    POST /v1/chat/completions  (or /chat/completions)  Chat Completions (SSE chunks + usage + [DONE], or JSON)
    POST /v1/responses         (or /responses)     Responses (SSE events, or JSON)
    /v1/messages/batches…, /v1/files…, /v1/batches…   both Batch APIs (tests/support/fake_llm_batch.py)
    GET  /v1/models            (or /models)        the model list, as both APIs give it (``FakeLLM.models``)
    GET  /v1/models/ID         (or /models/ID)     that model, or 404 if in ``FakeLLM.unknown_models``
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
      "latency": 0.0,            # seconds to wait before answering every request
      "context_window": null,    # tokens (a quarter of the request's JSON): a request over it gets
                                 #   HTTP 400 "prompt is too long: N tokens > W maximum", as the real
                                 #   APIs refuse one (none: no limit)
      "batch": {"polls": 0, "expire": [], "error": []}   # provider batches: status reads "in
                                 #   progress" before one ends (a list: by batch; null: held until
                                 #   end_batches()), prompts whose requests expire / error
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
      "headers": {"retry-after": "3"},   # more response headers, exactly as given
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

Where the parts live: this module is the public face (every name tests import), the subprocess
and the command line; :mod:`~tests.support.fake_llm_server` the server and its state;
:mod:`~tests.support.fake_llm_http` the HTTP framing; :mod:`~tests.support.fake_llm_script` the
script and the request record; :mod:`~tests.support.fake_llm_wire` picks the API's codec
(:mod:`~tests.support.fake_llm_anthropic`, :mod:`~tests.support.fake_llm_openai`) over the
provider-neutral types of :mod:`~tests.support.fake_llm_neutral`.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from tests.support.fake_llm_script import Fault, Script, SeenRequest, ToolCall, Turn
from tests.support.fake_llm_server import FakeLLM

if TYPE_CHECKING:
    import httpx2

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


# --- out of process ---------------------------------------------------------------------------


class FakeLLMProcess:
    """The fake in a subprocess (``python -m tests.support.fake_llm``), for tests of the real
    ``agent`` program. The script must be JSON (no callables)."""

    def __init__(self, script: Any = None) -> None:
        self._script = script
        self._proc: subprocess.Popen[str] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._http: httpx2.Client | None = None
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
        import httpx2

        from tests.support.tls import tls_context

        # One client for the control calls: a new one per call would load the CA bundle each time.
        self._http = httpx2.Client(
            base_url=self.base_url,
            timeout=10,
            verify=tls_context(),
            limits=httpx2.Limits(max_keepalive_connections=0),
        )
        return self

    def __exit__(self, *exc: object) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None
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
        assert self._http is not None, "use FakeLLMProcess as a context manager"
        response = self._http.request(method, path, json=body)
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

    @property
    def batches(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call("GET", "/_fake/batches")
        return result

    def end_batches(self) -> None:
        self._call("POST", "/_fake/batches/end")

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
