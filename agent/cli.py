"""Command line: argument parsing into typed options per command (:mod:`agent.options`), and
the dispatch to the command's module. Nothing else.

Kept import-light on purpose: ``agent --help`` and ``--version`` must not import the MCP SDK or
any provider SDK (each costs seconds). A command's module is imported only when it runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from agent import options
from agent.cli_parser import build_parser

if TYPE_CHECKING:
    from agent.config import Config

__all__ = ["Invocation", "build_parser", "main", "parse"]


def _setup_logging(verbose: int) -> None:
    import logging

    from agent.config import user_log_dir
    from agent.private_files import private_file
    from agent.redact import RedactingFormatter

    root = logging.getLogger()
    # Without -v, DEBUG records are not even created (they cost CPU per tool call).
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    line = "%(asctime)s %(levelname)s %(name)s: %(message)s"
    fmt = RedactingFormatter(line)  # no credentials of a URL in any log line
    try:
        path = private_file(user_log_dir() / "agent.log")
        handler: logging.Handler = logging.FileHandler(path, encoding="utf-8")
        handler.setLevel(logging.DEBUG if verbose else logging.INFO)
        handler.setFormatter(fmt)
        root.addHandler(handler)
    except OSError:
        pass
    if verbose:
        from agent.terminal import VisibleFormatter, is_terminal

        err = logging.StreamHandler(sys.stderr)
        err.setLevel(logging.DEBUG if verbose > 1 else logging.INFO)
        err.setFormatter(VisibleFormatter(line) if is_terminal(sys.stderr) else fmt)
        root.addHandler(err)
    # The HTTP stack logs a line per request: costly in a batch, and noise unless asked for.
    http_level = logging.WARNING if not verbose else logging.INFO if verbose < 3 else logging.DEBUG
    for noisy in ("httpcore2", "httpx2", "anthropic._base_client", "openai._base_client"):
        logging.getLogger(noisy).setLevel(http_level)


@dataclass(frozen=True, slots=True)
class Invocation:
    """One parsed command line: the command, its typed options, and the global options."""

    command: str
    options: Any  # the command's options object from agent.options
    config: str | None = None
    mcp_config: str | None = None
    verbose: int = 0
    trust_project: bool = False  # use ./agent.toml this run, trusted or not


def _servers_of(args: argparse.Namespace) -> dict[str, Any]:
    names = getattr(args, "server", None)
    adhoc: list[options.AdhocServer] = getattr(args, "adhoc", None) or []
    given: list[str] = getattr(args, "adhoc_names", None) or []
    if given:
        if len(given) != len(adhoc):
            raise _Refused(
                f"{len(given)} --name for {len(adhoc)} --url / --stdio: give one --name per server, in order"
            )
        adhoc = [options.AdhocServer(s.url, s.command, name) for s, name in zip(adhoc, given, strict=True)]
    return {"servers": tuple(names) if names else None, "adhoc": tuple(adhoc)}


class _Refused(Exception):
    """A command line that parsed but does not make sense (reported as argparse reports errors)."""


def _options(command: str, args: argparse.Namespace) -> Any:
    """The typed options of ``command`` from its parsed flags."""
    model = getattr(args, "model", None)
    if model is not None:
        from agent.config import model_spec_problem  # the command loads the config next anyway

        problem = model_spec_problem(model)
        if problem:
            raise _Refused(f"--model: {problem}")
    if command == "chat":
        return options.ChatOptions(
            model=args.model,
            resume=args.resume,
            continue_last=args.continue_last,
            system=args.system,
            **_servers_of(args),
        )
    if command == "run":
        return options.RunOptions(
            args.prompt,
            model=args.model,
            max_steps=args.max_steps,
            json=args.json,
            system=args.system,
            **_servers_of(args),
        )
    if command == "history":
        return options.HistoryOptions(limit=args.limit, json=args.json)
    if command == "models":
        return options.ModelsOptions(json=args.json)
    if command == "batch":
        return options.BatchOptions(
            args.input,
            output=args.output,
            concurrency=args.concurrency,
            resume=args.resume,
            retry_failed=args.retry_failed,
            max_errors=args.max_errors,
            shard=args.shard,
            max_steps=args.max_steps,
            model=args.model,
            via=args.via,
            poll=args.poll,
            status=args.status,
            cancel=args.cancel,
            **_servers_of(args),
        )
    if command == "tools":
        return options.ToolsOptions(json=args.json, search=args.search, limit=args.limit, **_servers_of(args))
    if command == "call":
        return options.CallOptions(args.tool, args.arguments or "{}", json=args.json, **_servers_of(args))
    if command in ("resources", "prompts"):
        return options.ResourcesOptions(json=args.json, **_servers_of(args))
    if command == "read":
        return options.ReadOptions(args.uri, output=args.output, **_servers_of(args))
    if command == "prompt":
        return options.PromptOptions(args.name, tuple(args.arguments), json=args.json, **_servers_of(args))
    if command in ("login", "logout"):
        return options.LoginOptions(args.target)
    if command == "auth":
        return options.LoginOptions()
    if command == "conformance-client":
        return options.ConformanceOptions(args.url)
    if command == "trust":
        return options.TrustOptions(args.path)
    raise AssertionError(f"no options for {command!r}")


_COMMAND_NAMES = frozenset(
    (
        *("chat", "run", "batch", "tools", "call", "resources", "read", "prompts", "prompt", "history"),
        "models",
        *("login", "logout", "auth", "trust", "conformance-client"),
    )
)
# Options that take a value as the next word (of the global and chat options); --resume's is optional.
_VALUE_OPTIONS = frozenset(
    (
        *("--config", "--mcp-config", "--model", "-m", "--server", "-s", "--url", "--stdio", "--name"),
        *("--system", "--resume", "-r"),
    )
)


def _first_word(argv: Sequence[str]) -> int | None:
    """Where the first word is that is not an option or an option's value: the command, if any."""
    value_next = False
    for at, token in enumerate(argv):
        if value_next and not (token.startswith("-") and token != "-"):
            value_next = False
        elif token == "--":
            return None
        elif token.startswith("-") and token != "-":
            value_next = token in _VALUE_OPTIONS
        else:
            return at
    return None


def _not_a_command(word: str) -> str:
    """The error for a first word that is no command: a near miss of one (``agent tool``) is a
    typo, so name that command; anything else is taken for a question (``agent run``)."""
    import difflib

    shown = sorted(_COMMAND_NAMES - {"conformance-client"})
    close = difflib.get_close_matches(word.lower(), shown, n=1, cutoff=0.75) if " " not in word else []
    if close:
        return f"{word!r} is not a command; did you mean: agent {close[0]}? (commands: {', '.join(shown)})"
    return (
        f"{word!r} is not a command; to ask one question: agent run {_shell_quote(word)} "
        "(or start a chat with: agent)"
    )


def parse(argv: Sequence[str] | None = None) -> Invocation:
    """Parse a command line (default ``sys.argv[1:]``).

    Bare ``agent`` is ``agent chat`` and takes every chat option (``agent -m openai:gpt-4o``). A
    first word that is no command is refused with how to ask one question (``agent run``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    at = _first_word(argv)
    if at is None and not {"-h", "--help", "--version"} & set(argv):
        argv, at = ["chat", *argv], 0
    # Running a command needs only its own parser (help and errors about the command: all of them).
    named = (
        at is not None and argv[at] in _COMMAND_NAMES and not {"-h", "--help", "--version"} & set(argv[:at])
    )
    parser = build_parser(argv[at] if named and at is not None else None)
    if at is not None and argv[at] not in _COMMAND_NAMES:
        parser.error(_not_a_command(argv[at]))
    if at is None or {"-h", "--help", "--version"} & set(argv[:at]):
        args = parser.parse_args(argv)
    else:
        # Options may come after the positional arguments too (agent call TOOL --json ARGS): the
        # command's parser takes every word but the command name (it knows the global options too).
        command = _subparser(parser, argv[at])
        _refuse_repeats(command, argv[:at] + argv[at + 1 :])
        args = command.parse_intermixed_args(argv[:at] + argv[at + 1 :], argparse.Namespace(command=argv[at]))
    try:
        typed = _options(args.command, args)
    except _Refused as exc:
        (_subparser(parser, args.command) if args.command else parser).error(str(exc))
    return Invocation(
        args.command,
        typed,
        config=getattr(args, "config", None),
        mcp_config=getattr(args, "mcp_config", None),
        verbose=getattr(args, "verbose", 0) or 0,
        trust_project=getattr(args, "trust_project", False),
    )


def _refuse_repeats(parser: argparse.ArgumentParser, words: Sequence[str]) -> None:
    """An option of one value given twice is refused (argparse would keep the last silently);
    the repeatable ones (--server, --url, --stdio, --name, -v) are appended."""
    once = {
        name: action
        for action in parser._actions  # argparse has no public list of its options
        if type(action) is argparse._StoreAction
        for name in action.option_strings
    }
    given: dict[argparse.Action, str] = {}
    for word in words:
        if word == "--":
            break
        name = word.split("=", 1)[0]
        action = once.get(name)
        if action is None:
            continue
        if action in given:
            twice = f"{name} is" if given[action] == name else f"{given[action]} and {name} are one option,"
            parser.error(f"{twice} given twice: give it once")
        given[action] = name


def _subparser(parser: argparse.ArgumentParser, command: str) -> argparse.ArgumentParser:
    for action in parser._actions:  # argparse keeps no public handle on its subparsers
        if isinstance(action, argparse._SubParsersAction):
            found: argparse.ArgumentParser = action.choices[command]
            return found
    raise AssertionError("no subcommands")


def _shell_quote(text: str) -> str:
    import shlex

    return shlex.quote(text)


Command = Callable[[Any, "Config"], Awaitable[int]]


def _command(name: str) -> Command:
    """The command's ``async def main(options, config) -> int``, imported now (not at start-up)."""
    if name == "chat":
        from agent.chat import main as chat

        return chat
    if name == "run":
        from agent.run import main as run

        return run
    if name == "batch":
        from agent.batch import main as batch

        return batch
    if name == "tools":
        from agent.call import tools_main

        return tools_main
    if name == "call":
        from agent.call import call_main

        return call_main
    if name in ("resources", "read", "prompts", "prompt"):
        from agent import resources_cmd

        found: Command = getattr(resources_cmd, f"{name}_main")
        return found
    if name == "history":
        from agent.history import main as history

        return history
    if name == "models":
        from agent.models_cmd import main as models

        return models
    if name == "login":
        from agent.login import login_main

        return login_main
    if name == "logout":
        from agent.login import logout_main

        return logout_main
    if name == "auth":
        from agent.login import auth_main

        return auth_main
    from agent.conformance import main as conformance

    return conformance


def _fail(message: str, code: int) -> int:
    from agent.terminal import say

    say(f"agent: {message}")  # an error's message can quote a server's or a model's words
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """The ``agent`` console script."""
    from agent.startup import pause_collector, resume_collector

    pause_collector()  # until the command is ready (agent/startup.py)
    try:
        return _main(argv)
    finally:
        resume_collector()


def _main(argv: Sequence[str] | None) -> int:
    invocation = parse(argv)
    _setup_logging(invocation.verbose)

    from agent.errors import EXIT_INTERRUPTED, AgentError
    from agent.signals import Stopped, run_stoppable

    try:
        from agent.config import load_config
        from agent.trust import gate, trust_command

        if invocation.command == "trust":
            return trust_command(invocation.options.path)
        trust = gate(trust_project=invocation.trust_project)
        config = load_config(invocation.config, mcp_config=invocation.mcp_config, trust=trust)
        func = _command(invocation.command)

        import anyio

        if invocation.command == "batch":  # batch watches its own signals
            code: int = anyio.run(func, invocation.options, config)
        else:
            code = anyio.run(run_stoppable, func, invocation.options, config)
        return code
    except Stopped as exc:
        return _fail(f"stopped by {exc}", exc.exit_code)
    except AgentError as exc:
        return _fail(str(exc), exc.exit_code)
    except KeyboardInterrupt:
        return _fail("interrupted", EXIT_INTERRUPTED)
    finally:
        sys.stdout.flush()
