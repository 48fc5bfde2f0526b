"""The command line's grammar: every command, its options and their help (:func:`build_parser`).

Import-light, as :mod:`agent.cli`: ``agent --help`` imports no SDK.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any

from agent import __version__, options

__all__ = ["build_parser"]

_EXIT_CODES = """exit codes:
  0    success
  1    failure: the model's provider failed (after retries) or the step limit
       came before an answer (a tool error the model then answered is no
       failure: exit 0); `agent call`: the tool reported an error or no
       server offers it; `agent batch`: some items failed
  2    usage or configuration error (bad flag, bad config, bad JSON arguments,
       input that is not UTF-8, unknown model)
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
        help="use this configured server (repeatable); any --server, --url or --stdio: only those",
    )
    parser.add_argument(
        "--url",
        metavar="URL",
        action=_Adhoc,
        dest="adhoc",
        help="use the MCP server at URL (repeatable)",
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


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole grammar; with ``command``, only that command's parser under the top level (what
    parsing one command line needs: building all of them costs about 10 ms of start-up)."""
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

    for name, help_text, description, define in _COMMANDS:
        if command is None or name == command:
            define(add(name, help_text, description))
    return parser


def _cmd_chat(p: argparse.ArgumentParser) -> None:
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


def _cmd_run(p: argparse.ArgumentParser) -> None:
    p.add_argument("prompt", metavar="PROMPT", help="the prompt, or - to read it from stdin")
    _model(p)
    _servers(p)
    p.add_argument("--max-steps", type=int, metavar="N", help="stop after N model requests")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the answer")
    _system(p)


def _cmd_batch(p: argparse.ArgumentParser) -> None:
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


def _cmd_tools(p: argparse.ArgumentParser) -> None:
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


def _cmd_call(p: argparse.ArgumentParser) -> None:
    p.add_argument("tool", metavar="TOOL", help="tool name, or SERVER.TOOL")
    p.add_argument("arguments", metavar="JSON", nargs="?", default="{}", help="arguments as a JSON object")
    _servers(p)
    p.add_argument("--json", action="store_true", help="print the raw result as JSON")


def _cmd_models(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print JSON")


def _cmd_history(p: argparse.ArgumentParser) -> None:
    p.add_argument("--limit", "-n", type=int, metavar="N", help="only the newest N")
    p.add_argument("--json", action="store_true", help="print JSON")


def _cmd_resources(p: argparse.ArgumentParser) -> None:
    _servers(p)
    p.add_argument("--json", action="store_true", help="print JSON")


def _cmd_read(p: argparse.ArgumentParser) -> None:
    p.add_argument("uri", metavar="URI")
    _servers(p)
    p.add_argument("-o", "--output", metavar="FILE", help="write the content to FILE (needed for binary)")


def _cmd_prompts(p: argparse.ArgumentParser) -> None:
    _servers(p)
    p.add_argument("--json", action="store_true", help="print JSON")


def _cmd_prompt(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME", help="prompt name, or SERVER.NAME")
    p.add_argument("arguments", metavar="KEY=VALUE", nargs="*", help="the prompt's arguments")
    _servers(p)
    p.add_argument("--json", action="store_true", help="print the messages as JSON")


def _cmd_login(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", metavar="NAME|URL")


def _cmd_logout(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", metavar="NAME|URL")


def _cmd_auth(p: argparse.ArgumentParser) -> None:
    pass


def _cmd_trust(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", metavar="PATH", nargs="?", help="the file (default: ./agent.toml)")


def _cmd_conformance_client(p: argparse.ArgumentParser) -> None:
    p.add_argument("url", metavar="URL")


# Each command: (name, help in the command list (None: not listed), description, its arguments).
_COMMANDS: tuple[tuple[str, str | None, str, Callable[[argparse.ArgumentParser], None]], ...] = (
    ("chat", "interactive chat (the default)", "Chat with the model in the terminal.", _cmd_chat),
    ("run", "answer one prompt and exit", "Answer one prompt, using tools as needed, and exit.", _cmd_run),
    ("batch", "run many prompts from a file", "Run a file of prompts, resumably, N at a time.", _cmd_batch),
    (
        "tools",
        "list the servers' tools",
        "List each server's tools with descriptions and parameters.",
        _cmd_tools,
    ),
    ("call", "call one tool directly", "Call one tool and print its result.", _cmd_call),
    (
        "models",
        "list each provider's models",
        "List, per provider, the models its API lists and the ones the config names. A provider "
        "without an API key is shown as such.",
        _cmd_models,
    ),
    (
        "history",
        "list saved chats",
        "List the saved chats, newest first (agent chat --resume ID).",
        _cmd_history,
    ),
    (
        "resources",
        "list the servers' resources",
        "List each server's resources and resource templates.",
        _cmd_resources,
    ),
    ("read", "print a resource", "Print a text resource; write any resource to a file with -o.", _cmd_read),
    ("prompts", "list the servers' prompts", "List each server's prompts and their arguments.", _cmd_prompts),
    (
        "prompt",
        "print a prompt's messages",
        "Get a prompt with its arguments and print its messages.",
        _cmd_prompt,
    ),
    (
        "login",
        "log in to an OAuth-protected server",
        "Log in to a server (OAuth) and store the tokens.",
        _cmd_login,
    ),
    (
        "logout",
        "revoke and delete a server's tokens",
        "Revoke (where supported) and delete a server's tokens.",
        _cmd_logout,
    ),
    (
        "auth",
        "show login status per server",
        "Show, per server, whether you are logged in (no tokens).",
        _cmd_auth,
    ),
    (
        "trust",
        "trust a project's config file",
        "Show what a project config (./agent.toml) would do, and trust it as it is now. A project "
        "config is used only once trusted; when it changes, it needs trust again.",
        _cmd_trust,
    ),
    (
        "conformance-client",
        None,
        "Client driven by the MCP conformance suite (for CI).",
        _cmd_conformance_client,
    ),
)
