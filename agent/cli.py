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

from agent import __version__, options

if TYPE_CHECKING:
    from agent.config import Config

__all__ = ["Invocation", "build_parser", "main", "parse"]

_EXIT_CODES = """exit codes:
  0    success
  1    failure: a tool or the model reported an error, or the task failed
  2    usage or configuration error (bad flag, bad config, bad JSON arguments)
  3    an MCP server could not be used (unreachable, login needed or failed)
  130  interrupted (Ctrl-C)
  143  stopped by SIGTERM (129: SIGHUP), cleaned up as for Ctrl-C
"""


def _common(parser: argparse.ArgumentParser) -> None:
    """Options every command takes, before or after the command name."""
    group = parser.add_argument_group("global options")
    group.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS, help="config file (TOML)")
    group.add_argument(
        "--mcp-config",
        metavar="FILE",
        default=argparse.SUPPRESS,
        help='add servers from a Claude-style {"mcpServers": …} JSON file',
    )
    group.add_argument(
        "--trust-project",
        action="store_true",
        default=argparse.SUPPRESS,
        help="use ./agent.toml for this run even if it is not trusted (see: agent trust)",
    )
    group.add_argument(
        "-v", "--verbose", action="count", default=argparse.SUPPRESS, help="show log records on stderr"
    )


def _servers(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--server",
        "-s",
        metavar="NAME",
        action="append",
        help="use only this configured server (repeatable)",
    )
    parser.add_argument(
        "--url",
        metavar="URL",
        action=_Adhoc,
        dest="adhoc",
        help="use the MCP server at URL (repeatable; with --server: those only, else instead of the configured ones)",
    )
    parser.add_argument(
        "--stdio",
        metavar='"CMD ARGS"',
        action=_Adhoc,
        dest="adhoc",
        help="start this command as a stdio MCP server (repeatable; split as a shell would)",
    )
    parser.add_argument(
        "--name",
        metavar="NAME",
        action="append",
        dest="adhoc_names",
        help="name the server of a --url or --stdio (one --name per --url / --stdio, in order)",
    )


class _Adhoc(argparse.Action):
    """``--url`` / ``--stdio``: one list of both, in the order given (``--name`` pairs by order)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        import shlex

        value = str(values)
        found = list(getattr(namespace, self.dest, None) or [])
        if option_string == "--stdio":
            try:
                command = tuple(shlex.split(value))
            except ValueError as exc:
                parser.error(f"--stdio {value!r}: {exc}")
            if not command:
                parser.error("--stdio needs a command, e.g. --stdio 'python3 server.py'")
            found.append(options.AdhocServer(command=command))
        else:
            found.append(options.AdhocServer(url=value))
        setattr(namespace, self.dest, found)


def _model(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", "-m", metavar="PROVIDER:MODEL", help="model to use, e.g. anthropic:claude-sonnet-4-6"
    )


def _system(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--system", metavar="TEXT|@FILE", help="the system prompt for this run (@FILE: read it from FILE)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="agent",
        description="Talk to a language model that can use the tools of MCP servers.",
        epilog=_EXIT_CODES + "\nWith no command, `agent` starts `agent chat`.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"agent {__version__}")
    _common(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(name: str, help_text: str | None, description: str) -> argparse.ArgumentParser:
        kwargs: dict[str, Any] = {"description": description, "epilog": _EXIT_CODES}
        if help_text is not None:
            kwargs["help"] = help_text
        p = sub.add_parser(name, formatter_class=argparse.RawDescriptionHelpFormatter, **kwargs)
        _common(p)
        return p

    p = add("chat", "interactive chat (the default)", "Chat with the model in the terminal.")
    _model(p)
    _servers(p)
    p.add_argument(
        "--resume",
        "-r",
        metavar="ID|FILE",
        nargs="?",
        const="",
        help="go on with a saved chat (agent history lists them) or a /save file; no ID: pick from a list",
    )
    p.add_argument(
        "--continue", "-c", dest="continue_last", action="store_true", help="go on with the newest chat"
    )
    _system(p)

    p = add("run", "answer one prompt and exit", "Answer one prompt, using tools as needed, and exit.")
    p.add_argument("prompt", metavar="PROMPT", help="the prompt, or - to read it from stdin")
    _model(p)
    _servers(p)
    p.add_argument("--max-steps", type=int, metavar="N", help="stop after N model requests")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the answer")
    _system(p)

    p = add("batch", "run many prompts from a file", "Run a file of prompts, resumably, N at a time.")
    p.add_argument(
        "input", metavar="INPUT", nargs="?", help="text file (a prompt a line), JSONL file, or - for stdin"
    )
    p.add_argument("-o", "--output", metavar="OUTPUT", help="JSONL results (default: next to INPUT)")
    p.add_argument(
        "--concurrency",
        "-c",
        type=int,
        metavar="N",
        help="conversations at once (batch-api: items running tools at once); default 4, batch-api 16",
    )
    p.add_argument(
        "--via",
        choices=("live", "batch-api"),
        default="live",
        help="live: request by request (minutes); batch-api: the provider's Batch API in rounds (half price, hours)",
    )
    p.add_argument(
        "--poll", type=float, metavar="SECONDS", help="batch-api: seconds between status polls (60)"
    )
    p.add_argument(
        "--status", metavar="OUTPUT", help="show the rounds and provider batches of a batch-api job"
    )
    p.add_argument("--cancel", metavar="OUTPUT", help="cancel the provider batches of a batch-api job")
    p.add_argument("--resume", action="store_true", help="run only the items without a result in OUTPUT")
    p.add_argument(
        "--retry-failed",
        action="store_true",
        help="with --resume: run the failed items again too (once each)",
    )
    p.add_argument("--max-errors", type=int, metavar="K", help="stop after K failed items")
    p.add_argument("--shard", metavar="I/N", help="run only shard I of N (by id), e.g. 0/4")
    p.add_argument("--max-steps", type=int, metavar="N", help="stop each item after N model requests")
    _model(p)
    _servers(p)

    p = add("tools", "list the servers' tools", "List each server's tools with descriptions and parameters.")
    _servers(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p.add_argument(
        "--search",
        metavar="QUERY",
        help="show the tools the model's search_tools finds for QUERY, best first",
    )
    p.add_argument(
        "--limit", type=int, metavar="N", help="with --search: how many (default: tools.search_limit)"
    )

    p = add("call", "call one tool directly", "Call one tool and print its result.")
    p.add_argument("tool", metavar="TOOL", help="tool name, or SERVER.TOOL")
    p.add_argument("arguments", metavar="JSON", nargs="?", default="{}", help="arguments as a JSON object")
    _servers(p)
    p.add_argument("--json", action="store_true", help="print the raw result as JSON")

    p = add("history", "list saved chats", "List the saved chats, newest first (agent chat --resume ID).")
    p.add_argument("--limit", "-n", type=int, metavar="N", help="only the newest N")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = add(
        "resources", "list the servers' resources", "List each server's resources and resource templates."
    )
    _servers(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p = add("read", "print a resource", "Print a text resource; write any resource to a file with -o.")
    p.add_argument("uri", metavar="URI")
    _servers(p)
    p.add_argument("-o", "--output", metavar="FILE", help="write the content to FILE (needed for binary)")
    p = add("prompts", "list the servers' prompts", "List each server's prompts and their arguments.")
    _servers(p)
    p.add_argument("--json", action="store_true", help="print JSON")
    p = add("prompt", "print a prompt's messages", "Get a prompt with its arguments and print its messages.")
    p.add_argument("name", metavar="NAME", help="prompt name, or SERVER.NAME")
    p.add_argument("arguments", metavar="KEY=VALUE", nargs="*", help="the prompt's arguments")
    _servers(p)
    p.add_argument("--json", action="store_true", help="print the messages as JSON")

    p = add(
        "login", "log in to an OAuth-protected server", "Log in to a server (OAuth) and store the tokens."
    )
    p.add_argument("target", metavar="NAME|URL")
    p = add("logout", "forget a server's tokens", "Revoke (where supported) and delete a server's tokens.")
    p.add_argument("target", metavar="NAME|URL")
    add("auth", "show login status per server", "Show, per server, whether you are logged in (no tokens).")
    p = add(
        "trust",
        "trust a project's config file",
        "Show what a project config (./agent.toml) would do, and trust it as it is now. A project "
        "config is used only once trusted; when it changes, it needs trust again.",
    )
    p.add_argument("path", metavar="PATH", nargs="?", help="the file (default: ./agent.toml)")

    p = add("conformance-client", None, "Client driven by the MCP conformance suite (for CI).")
    p.add_argument("url", metavar="URL")
    return parser


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


def parse(argv: Sequence[str] | None = None) -> Invocation:
    """Parse a command line (default ``sys.argv[1:]``).

    Bare ``agent`` is ``agent chat`` and takes every chat option (``agent -m openai:gpt-4o``). A
    first word that is no command is refused with how to ask one question (``agent run``)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    at = _first_word(argv)
    if at is None and not {"-h", "--help", "--version"} & set(argv):
        argv, at = ["chat", *argv], 0
    elif at is not None and argv[at] not in _COMMAND_NAMES:
        parser.error(
            f"{argv[at]!r} is not a command; to ask one question: agent run {_shell_quote(argv[at])} "
            "(or start a chat with: agent)"
        )
    if at is None or {"-h", "--help", "--version"} & set(argv[:at]):
        args = parser.parse_args(argv)
    else:
        # Options may come after the positional arguments too (agent call TOOL --json ARGS): the
        # command's parser takes every word but the command name (it knows the global options too).
        command = _subparser(parser, argv[at])
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
