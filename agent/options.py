"""Typed options of each command, as the command line gives them (``agent.cli`` fills them in).

Nothing below the CLI sees an ``argparse.Namespace``: a command takes its options object and
the loaded config. Kept import-free so that parsing costs nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "AdhocServer",
    "BatchOptions",
    "CallOptions",
    "ChatOptions",
    "ConformanceOptions",
    "HistoryOptions",
    "LoginOptions",
    "ModelsOptions",
    "PromptOptions",
    "ReadOptions",
    "ResourcesOptions",
    "RunOptions",
    "ToolsOptions",
    "TrustOptions",
]


@dataclass(frozen=True, slots=True)
class AdhocServer:
    """A server for this run only: ``--url URL`` or ``--stdio "CMD ARGS"`` (split as a shell
    would), with the ``--name`` given for it (None: named from the URL or the command)."""

    url: str | None = None
    command: tuple[str, ...] = ()
    name: str | None = None


@dataclass(frozen=True, slots=True)
class ModelsOptions:
    json: bool = False


@dataclass(frozen=True, slots=True)
class ChatOptions:
    model: str | None = None
    servers: tuple[str, ...] | None = None
    adhoc: tuple[AdhocServer, ...] = ()  # --url / --stdio servers, with their --name
    resume: str | None = None  # a saved chat's id or a transcript file; "": pick one from a list
    continue_last: bool = False  # --continue: the newest saved chat
    system: str | None = None  # --system TEXT or @FILE


@dataclass(frozen=True, slots=True)
class RunOptions:
    prompt: str  # the prompt, or "-" to read it from stdin
    model: str | None = None
    servers: tuple[str, ...] | None = None
    adhoc: tuple[AdhocServer, ...] = ()  # --url / --stdio servers, with their --name
    max_steps: int | None = None
    json: bool = False
    system: str | None = None  # --system TEXT or @FILE


@dataclass(frozen=True, slots=True)
class HistoryOptions:
    limit: int | None = None  # the newest N
    json: bool = False


@dataclass(frozen=True, slots=True)
class BatchOptions:
    input: str | None  # a file, or "-" for stdin (None only with status / cancel)
    output: str | None = None  # None: next to the input ("-": stdout)
    concurrency: int | None = None  # None: 4 live, 16 batch-api (items running tools at once)
    resume: bool = False
    retry_failed: bool = False  # with resume: the failed items run again too
    max_errors: int | None = None
    shard: str | None = None  # "I/N"
    max_steps: int | None = None
    model: str | None = None
    servers: tuple[str, ...] | None = None
    adhoc: tuple[AdhocServer, ...] = ()  # --url / --stdio servers, with their --name
    via: str = "live"  # "live" or "batch-api" (the providers' Batch APIs, in rounds)
    poll: float | None = None  # batch-api: seconds between status polls
    status: str | None = None  # OUT: show that batch-api job's rounds and provider batches
    cancel: str | None = None  # OUT: cancel that batch-api job's provider batches


@dataclass(frozen=True, slots=True)
class ToolsOptions:
    servers: tuple[str, ...] | None = None
    adhoc: tuple[AdhocServer, ...] = ()  # --url / --stdio servers, with their --name
    json: bool = False
    search: str | None = None  # show what the model's search_tools finds for these words
    limit: int | None = None  # with search: how many (default: tools.search_limit)


@dataclass(frozen=True, slots=True)
class CallOptions:
    tool: str  # TOOL or SERVER.TOOL
    arguments: str = "{}"  # a JSON object
    servers: tuple[str, ...] | None = None
    adhoc: tuple[AdhocServer, ...] = ()  # --url / --stdio servers, with their --name
    json: bool = False


@dataclass(frozen=True, slots=True)
class ResourcesOptions:  # `agent resources` and `agent prompts`
    servers: tuple[str, ...] | None = None
    adhoc: tuple[AdhocServer, ...] = ()  # --url / --stdio servers, with their --name
    json: bool = False


@dataclass(frozen=True, slots=True)
class ReadOptions:
    uri: str
    servers: tuple[str, ...] | None = None
    adhoc: tuple[AdhocServer, ...] = ()  # --url / --stdio servers, with their --name
    output: str | None = None  # -o FILE: write the content there (needed for binary content)


@dataclass(frozen=True, slots=True)
class PromptOptions:
    name: str  # NAME or SERVER.NAME
    arguments: tuple[str, ...] = ()  # key=value words
    servers: tuple[str, ...] | None = None
    adhoc: tuple[AdhocServer, ...] = ()  # --url / --stdio servers, with their --name
    json: bool = False


@dataclass(frozen=True, slots=True)
class LoginOptions:
    target: str = ""  # a server name or URL (`agent auth` takes none)


@dataclass(frozen=True, slots=True)
class ConformanceOptions:
    url: str


@dataclass(frozen=True, slots=True)
class TrustOptions:
    path: str | None = None  # None: ./agent.toml
