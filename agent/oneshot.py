"""``agent run PROMPT|-``: answer one prompt, using the servers' tools as needed, and exit.

stdout gets the final answer and nothing else (nothing at all when the turn failed), or with
``--json`` always one JSON object: ``answer``, ``steps``, ``tool_calls``, ``usage``,
``stop_reason``, ``error``, ``model``; so the command composes with pipes. stderr gets the rest,
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

import argparse
import json
import logging
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import anyio

from agent.config import Config, ServerSettings, approval_mode
from agent.errors import EXIT_FAILURE, EXIT_OK, ServerError, UsageError

if TYPE_CHECKING:
    from agent.core import Agent, Final, ToolCallFinished, ToolCallStarted

__all__ = ["main"]

log = logging.getLogger(__name__)

_ARGS_WIDTH = 60
_ERROR_WIDTH = 100


def _read_prompt(raw: str) -> str:
    prompt = sys.stdin.read() if raw == "-" else raw
    if not prompt.strip():
        where = "stdin was empty" if raw == "-" else "the prompt is empty"
        raise UsageError(where, hint='give a prompt: agent run "QUESTION", or pipe one into agent run -')
    return prompt


def _short(value: Any, width: int) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _approver(config: Config, servers: Mapping[str, ServerSettings], interactive: bool) -> Any:
    """Approval for a one-shot run: "ask" asks on the terminal when there is one, else denies."""

    async def approve(server: str, tool: str, arguments: Mapping[str, Any]) -> bool:
        mode = approval_mode(config, servers, server, tool)
        if mode != "ask":
            return mode == "always"
        if not interactive:
            print(
                f"agent: {server}.{tool} needs approval and there is no terminal to ask; denied",
                file=sys.stderr,
            )
            return False
        question = f"agent: allow {server}.{tool} {_short(dict(arguments), _ARGS_WIDTH)}? [y/N] "

        def ask() -> str:
            print(question, end="", file=sys.stderr, flush=True)
            return sys.stdin.readline()

        answer = await anyio.to_thread.run_sync(ask, abandon_on_cancel=True)
        return answer.strip().lower() in ("y", "yes")

    return approve


def _tool_line(started: ToolCallStarted | None, done: ToolCallFinished) -> str:
    where = f"{started.server}.{started.tool}" if started and started.server else done.name
    args = _short(dict(started.arguments), _ARGS_WIDTH) if started else ""
    if done.denied:
        outcome = "denied"
    elif done.result.is_error:
        outcome = "error: " + _short(done.result.text or "(no message)", _ERROR_WIDTH)
    else:
        outcome = "ok"
    return f"  tool {where} {args} {done.duration_ms:.0f} ms {outcome}"


def _report(final: Final, calls: list[dict[str, Any]], error: str | None, model: str) -> dict[str, Any]:
    usage = final.usage
    return {
        "answer": final.answer,
        "steps": final.steps,
        "tool_calls": calls,
        "usage": {
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "cache_read_tokens": usage.cache_read_tokens,
            "cache_write_tokens": usage.cache_write_tokens,
        },
        "stop_reason": final.stop_reason,
        "error": error,
        "model": model,
    }


async def _run(agent: Agent, prompt: str, *, as_json: bool, model: str) -> int:
    from agent.core import Final, ToolCallFinished, ToolCallStarted, TurnError, tool_call_record

    started: dict[str, ToolCallStarted] = {}
    shown: set[str] = set()  # calls whose line was printed as they finished
    calls: list[dict[str, Any]] = []
    error: str | None = None
    code = EXIT_OK

    def show(done: ToolCallFinished) -> None:
        """A call's line on stderr the moment it finishes (calls of one response run at once)."""
        shown.add(done.call_id)
        print(_tool_line(started.get(done.call_id), done), file=sys.stderr, flush=True)

    agent.on_tool_finished = show
    async for event in agent.run(prompt):
        if isinstance(event, ToolCallStarted):
            started[event.call_id] = event
        elif isinstance(event, ToolCallFinished):
            start = started.get(event.call_id)
            if event.call_id in shown:
                shown.discard(event.call_id)
            else:
                print(_tool_line(start, event), file=sys.stderr, flush=True)
            calls.append(tool_call_record(start, event))
        elif isinstance(event, TurnError):
            error = str(event.error)
            code = event.error.exit_code
            print(f"agent: {error}", file=sys.stderr, flush=True)
        elif isinstance(event, Final):
            if event.stop_reason == "max_tokens":
                print(
                    "agent: the answer was cut off at the model's output limit (max_tokens)", file=sys.stderr
                )
            if event.stop_reason in ("error", "max_steps") and code == EXIT_OK:
                code = EXIT_FAILURE
            if as_json:
                print(json.dumps(_report(event, calls, error, model), ensure_ascii=False))
            elif event.stop_reason not in ("error", "max_steps"):
                print(event.answer)
    return code


async def main(args: argparse.Namespace, config: Config) -> int:
    """``agent run``: one prompt, one answer."""
    from agent.config import select_servers
    from agent.core import Agent, load_system_prompt
    from agent.mcp.manager import ServerManager
    from agent.providers.registry import make_provider
    from agent.tools import Toolbox

    prompt = _read_prompt(args.prompt)
    max_steps = args.max_steps if args.max_steps is not None else config.max_steps
    if max_steps < 1:
        raise UsageError(f"--max-steps must be at least 1, not {max_steps}")
    servers = select_servers(config, getattr(args, "server", None), getattr(args, "url", None))
    system = load_system_prompt(config)
    spec = getattr(args, "model", None) or config.model
    provider = make_provider(config, spec)
    interactive = args.prompt != "-" and sys.stdin.isatty() and sys.stderr.isatty()
    try:
        async with ServerManager(servers, auth_factory=_auth_factory(config, interactive)) as manager:
            for state in manager.states.values():
                if state.status == "failed" and state.error is not None:
                    hint = f" ({state.error.hint})" if state.error.hint else ""
                    print(f"agent: {state.error.message}{hint}", file=sys.stderr, flush=True)
            if servers and not manager.connected:
                reason = "could not be used" if len(servers) == 1 else "none of these servers could be used"
                raise ServerError(", ".join(servers), reason, hint="the lines above say why")
            toolbox = await Toolbox.load(manager, max_result_tokens=config.max_tool_result_tokens)
            agent = Agent(
                provider,
                toolbox,
                system=system,
                max_steps=max_steps,
                approve=_approver(config, servers, interactive),
            )
            return await _run(
                agent, prompt, as_json=bool(args.json), model=f"{provider.name}:{provider.model}"
            )
    finally:
        with anyio.CancelScope(shield=True):
            await provider.aclose()


def _auth_factory(config: Config, interactive: bool) -> Any:
    """OAuth for remote servers; a login (browser) only when someone is at the terminal."""
    from agent.mcp.oauth import auth_factory_for

    return auth_factory_for(config, allow_login=interactive)
