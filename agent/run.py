"""``agent run PROMPT|-``: answer one prompt, using the servers' tools as needed, and exit.

stdout gets the final answer and nothing else (nothing at all when the turn failed), or with
``--json`` always one JSON object: ``answer``, ``steps``, ``tool_calls``, ``usage``,
``stop_reason``, ``error`` (``null`` or ``{"type", "message", "hint"?}``, as in a batch line),
``model``; also when no turn ran (no usable server, no API key: ``answer`` null, ``steps`` 0), so
the command composes with pipes. stderr gets the rest,
one line each: a server that could not be used, each tool call (tool, short arguments, duration,
ok / error / denied; printed the moment the call finishes, so the calls of one response, which run
at once, show in the order they finish), and the error that stopped the turn, if any.

Exit codes: 0 the model gave its answer; 1 the turn failed (provider error after retries, the step
limit reached); 2 usage or configuration error (empty prompt, bad ``--max-steps``, no API key);
3 servers were selected and none of them could be used (the model is not asked at all then:
an answer without the tools the user chose would mislead); 130 interrupted. A server that fails
while others work is reported on stderr and the run goes on with the rest.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, assert_never

import anyio

from agent.config import Config
from agent.errors import EXIT_FAILURE, EXIT_OK, AgentError, ServerError, UsageError, without_error_prefix
from agent.options import RunOptions
from agent.terminal import for_stream, say, visible

if TYPE_CHECKING:
    from agent.core import Event, ToolCallFinished
    from agent.mcp.elicitation import ElicitationAnswer, ElicitationRequest
    from agent.mcp.server_log import ServerLog
    from agent.session import Answer, Session
    from agent.tools import ToolProgress

__all__ = ["main"]

log = logging.getLogger(__name__)

_ARGS_WIDTH = 60
_ERROR_WIDTH = 100


def _read_prompt(raw: str) -> str:
    from agent.input_text import utf8_argument, utf8_input

    prompt = utf8_input(sys.stdin.buffer.read(), "stdin") if raw == "-" else utf8_argument(raw, "the prompt")
    if not prompt.strip():
        where = "stdin was empty" if raw == "-" else "the prompt is empty"
        raise UsageError(where, hint='give a prompt: agent run "QUESTION", or pipe one into agent run -')
    return prompt


def _short(value: Any, width: int) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


async def _ask(server: str, tool: str, arguments: Mapping[str, Any], hints: tuple[str, ...]) -> Answer:
    """Approval "ask" on the terminal: the question on stderr, answered by one key, no Enter
    (:func:`agent.approval.choose_key`, as in chat): y, n, or a (always for this tool, for the
    rest of the run). Ctrl-D is no; Ctrl-C interrupts the run as it does anywhere else (exit 130)."""
    from agent.approval import choose_key

    said = f" [{', '.join(hints)}]" if hints else ""
    call = f"{server}.{tool} {_short(dict(arguments), _ARGS_WIDTH)}{said}"
    question = f"agent: allow {call}? [y]es / [n]o / [a]lways for {tool} in this run: "
    try:
        reply = await choose_key(visible(question), "yna", on_stderr=True)
    except EOFError:
        return "n"
    except KeyboardInterrupt:
        # The terminal was raw, so Ctrl-C came as a key: make it the signal it would have been.
        signal.raise_signal(signal.SIGINT)
        return "n"
    return "a" if reply == "a" else "y" if reply == "y" else "n"


def _tool_line(done: ToolCallFinished) -> str:
    args = _short(dict(done.arguments), _ARGS_WIDTH)
    if done.denied:
        outcome = "denied"
    elif done.is_error:
        outcome = "error: " + _short(without_error_prefix(done.result.text) or "(no message)", _ERROR_WIDTH)
    else:
        outcome = "ok"
    return f"  tool {done.label} {args} {done.duration_ms:.0f} ms {outcome}"


async def _elicit(request: ElicitationRequest) -> ElicitationAnswer:
    """A server's form or URL request, asked on stderr, answered on stdin (:mod:`agent.elicit_ui`)."""
    import webbrowser

    from agent.elicit_ui import ask_user

    async def ask(question: str) -> str:
        def read() -> str:
            say(question, end="")
            line = sys.stdin.readline()
            if not line:
                raise EOFError
            return line

        answer: str = await anyio.to_thread.run_sync(read, abandon_on_cancel=True)
        return answer

    async def open_url(url: str) -> bool:
        opened: bool = await anyio.to_thread.run_sync(webbrowser.open, url)
        return opened

    return await ask_user(request, ask, lambda line: say(f"agent: {line}"), open_url)


def _progress(report: ToolProgress) -> None:
    say(f"  progress {report.server}.{report.tool}: {report.text}")


def _server_log(entry: ServerLog) -> None:
    say(f"agent: {entry.server} {entry.level}: {_short(entry.text, _ERROR_WIDTH)}")


def _warn(error: ServerError) -> None:
    hint = f" ({error.hint})" if error.hint else ""
    say(f"agent: {error.message}{hint}")


def _notice(text: str) -> None:
    say(f"agent: {text}")


async def _run(session: Session, prompt: str, *, as_json: bool) -> int:
    from agent.core import (
        Final,
        Retrying,
        StepStarted,
        TextDelta,
        ToolCallFinished,
        ToolCallStarted,
        TurnError,
        UsageUpdate,
    )
    from agent.records import turn_record

    error: AgentError | None = None
    code = EXIT_OK
    event: Event
    async for event in session.turn(prompt, []):
        if isinstance(event, ToolCallFinished):
            # Each call's line the moment it finishes (the calls of one response run at once).
            say(_tool_line(event))
        elif isinstance(event, TurnError):
            error = event.error
            code = error.exit_code
            say(f"agent: {error}")
        elif isinstance(event, Final):
            if event.stop_reason == "max_tokens":
                print(
                    "agent: the answer was cut off at the model's output limit (max_tokens)", file=sys.stderr
                )
            if event.stop_reason in ("error", "max_steps") and code == EXIT_OK:
                code = EXIT_FAILURE
            if as_json:
                print(json.dumps(turn_record(event, error, session.model), ensure_ascii=False))
            elif event.stop_reason not in ("error", "max_steps"):
                print(for_stream(event.answer, sys.stdout))
        elif isinstance(event, Retrying):
            print(
                f"agent: the answer broke off; asking again in {event.delay:g} s", file=sys.stderr, flush=True
            )
        elif isinstance(event, StepStarted | TextDelta | ToolCallStarted | UsageUpdate):
            pass
        else:
            assert_never(event)
    return code


async def main(options: RunOptions, config: Config) -> int:
    """``agent run``: one prompt, one answer."""
    try:
        return await _main(options, config)
    except AgentError as exc:
        if options.json:  # stdout gets its one JSON object also when no turn ran; stderr the error
            from agent.records import failed_run_record

            print(json.dumps(failed_run_record(exc, options.model or config.model), ensure_ascii=False))
        raise


async def _main(options: RunOptions, config: Config) -> int:
    from agent.elicit_ui import declined
    from agent.session import Session, SessionOptions
    from agent.session_servers import RUN_GRACE

    prompt = _read_prompt(options.prompt)
    interactive = options.prompt != "-" and sys.stdin.isatty() and sys.stderr.isatty()
    wanted = SessionOptions(
        servers=options.servers,
        adhoc=options.adhoc,
        model=options.model,
        max_steps=options.max_steps,
        allow_login=interactive,
        ask=_ask if interactive else None,
        elicitation=_elicit if interactive else declined,
        on_server_failed=_warn,
        on_notice=_notice,
        on_progress=_progress,
        on_server_log=_server_log,
        system=options.system,
        connect_grace=RUN_GRACE,
    )
    async with Session.open(config, wanted) as session:
        return await _run(session, prompt, as_json=options.json)
