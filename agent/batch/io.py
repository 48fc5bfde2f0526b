"""The files and flags of ``agent batch``: input items, output lines (the display on stderr is
``agent.batch.report``).

Input (``read_items``): a text file with one prompt a line, or JSONL with one object a line
(``{"id": …, "prompt": …}`` plus optional ``system``, ``model`` and any other fields, which are
carried to the output). The format is taken from the suffix (``.jsonl``/``.ndjson``: JSONL,
``.txt``: text) and otherwise from the first non-blank line (``{`` starts JSONL). Blank lines are
skipped. The input is never held whole: items are produced one at a time.

Ids: a JSONL item's ``id`` (a string or an integer), else its line number (1-based) — so in a text
file the id is the line number. Ids are compared as text (``7`` and ``"7"`` are the same id). They
must not change between a run and its ``--resume``: give explicit ids in JSONL if the file may be
edited. A line that cannot be used becomes a failed item (``error.type`` ``"BadInput"``) with the
line number in its message; its id is its ``id`` if one could be read, else its line number.

Output (``ResultWriter``): JSONL, one line per finished item, each written whole and flushed (in
the operating system's hands: a killed process loses none) before the item counts as done, in
completion order; ``fsync``ed at most once a second and at the end (a power loss can take the
lines of the last second, whose items ``--resume`` runs again). ``scan_output`` reads an existing
output for ``--resume``: the ids that have a complete line, and a half-written last line cut away.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal

import anyio

from agent.batch.state import state_path
from agent.errors import AgentError, UsageError
from agent.messages import Usage
from agent.options import AdhocServer
from agent.private_files import open_user_file

if TYPE_CHECKING:
    from agent.config import Config
    from agent.options import BatchOptions

__all__ = [
    "OUTPUT_FIELDS",
    "Files",
    "Item",
    "Options",
    "OutputScan",
    "ResultWriter",
    "count_lines",
    "default_output",
    "detect_format",
    "failed_record",
    "id_key",
    "open_files",
    "parse_options",
    "parse_shard",
    "read_items",
    "scan_output",
    "shard_of",
]

log = logging.getLogger(__name__)

Format = Literal["txt", "jsonl"]

# Fields every output line has; an input field of the same name is carried as ``input_<name>``.
OUTPUT_FIELDS = ("id", "line", "answer", "error", "tool_calls", "usage", "steps", "stop_reason", "model")
_RESERVED = frozenset((*OUTPUT_FIELDS, "duration_ms", "batch_id"))
# Fields of a JSONL item that steer the run and are not carried.
_CONTROL = frozenset(("id", "prompt", "system", "model"))


@dataclass(frozen=True, slots=True)
class Item:
    """One input line. ``problem`` is set (and ``prompt`` empty) for a line that cannot be run."""

    id: str | int
    line: int
    prompt: str = ""
    system: str | None = None
    model: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None

    @property
    def key(self) -> str:
        return id_key(self.id)


def id_key(value: str | int) -> str:
    """An id as compared for resume, duplicates and sharding."""
    return str(value)


def shard_of(key: str, shards: int) -> int:
    """The shard of an id: a stable hash (BLAKE2b, the same on every machine and run) mod ``shards``."""
    digest = hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shards


def parse_shard(text: str) -> tuple[int, int]:
    """``"I/N"`` as ``(I, N)`` with ``0 <= I < N``."""
    index, sep, count = text.partition("/")
    try:
        if not sep:
            raise ValueError
        i, n = int(index), int(count)
    except ValueError:
        raise UsageError(f"--shard {text!r}: expected I/N, e.g. 0/4", hint="I counts from 0") from None
    if n < 1 or not 0 <= i < n:
        raise UsageError(f"--shard {text!r}: need 0 <= I < N", hint=f"shards of {n} are 0/{n} … {n - 1}/{n}")
    return i, n


def detect_format(name: str) -> Format | None:
    """The format a file's name tells, or ``None`` to decide from its first non-blank line."""
    suffix = Path(name).suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return "jsonl"
    if suffix == ".txt":
        return "txt"
    return None


def default_output(input_path: str) -> Path:
    """``prompts.txt`` -> ``prompts.results.jsonl``, in the same folder."""
    path = Path(input_path)
    return path.with_name(f"{path.stem}.results.jsonl")


def _jsonl_item(text: str, line: int) -> Item:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        return Item(line, line, problem=f"line {line}: not valid JSON: {exc.msg} (column {exc.colno})")
    if not isinstance(raw, dict):
        return Item(line, line, problem=f"line {line}: expected a JSON object with a 'prompt'")
    item_id: str | int = line
    raw_id = raw.get("id")
    if raw_id is not None:
        if isinstance(raw_id, bool) or not isinstance(raw_id, str | int) or raw_id == "":
            return Item(line, line, problem=f"line {line}: 'id' must be a non-empty string or an integer")
        item_id = raw_id
    extra = {(f"input_{k}" if k in _RESERVED else k): v for k, v in raw.items() if k not in _CONTROL}
    prompt = raw.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        return Item(item_id, line, extra=extra, problem=f"line {line}: 'prompt' must be a non-empty string")
    for name in ("system", "model"):
        value = raw.get(name)
        if value is not None and not isinstance(value, str):
            return Item(item_id, line, extra=extra, problem=f"line {line}: {name!r} must be a string")
    return Item(item_id, line, prompt, raw.get("system"), raw.get("model") or None, extra)


def read_items(stream: IO[bytes], fmt: Format | None) -> Iterator[Item]:
    """The items of an input stream, one at a time, blank lines skipped."""
    offset = 0  # of the line in the input, in bytes
    for number, raw in enumerate(stream, start=1):
        offset += len(raw)
        try:
            text = raw.decode("utf-8").strip()
        except UnicodeDecodeError as exc:
            at = offset - len(raw) + exc.start
            problem = f"line {number}: not UTF-8 text: invalid byte 0x{raw[exc.start : exc.start + 1].hex()} at byte offset {at}"
            yield Item(number, number, problem=problem)
            continue
        if not text:
            continue
        if number == 1:
            text = text.removeprefix("\ufeff")
        if fmt is None:
            fmt = "jsonl" if text.startswith("{") else "txt"
        yield _jsonl_item(text, number) if fmt == "jsonl" else Item(number, number, text)


@dataclass(slots=True)
class OutputScan:
    """What an existing output holds: ``done`` ids, the count of lines, what was repaired."""

    done: set[str] = field(default_factory=set)
    lines: int = 0
    truncated_bytes: int = 0
    unreadable: int = 0
    retried: int = 0  # failed lines taken out to run their items again (--retry-failed)


def scan_output(path: Path, *, retry_failed: bool = False) -> OutputScan:
    """Read the ids of an output's complete lines; cut a half-written last line away.

    A line is complete when it ends in a newline and holds a JSON object with an ``id``. The last
    line without a newline is what a kill in the middle of a write leaves: it is truncated off the
    file, so its item runs again and the next line starts clean. Other unreadable lines are
    counted and ignored (their items run again). With ``retry_failed`` the lines of failed items
    (``error`` not null) are taken out of the file first (rewritten atomically), so their items
    run again and each id keeps one line.
    """
    scan = OutputScan()
    if not path.exists():
        return scan
    if retry_failed:
        scan.retried = _drop_failed_lines(path)
    with path.open("r+b") as fh:
        good_end = 0
        for raw in fh:
            if not raw.endswith(b"\n"):
                break
            good_end += len(raw)
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                scan.unreadable += 1
                continue
            item_id = record.get("id") if isinstance(record, dict) else None
            if isinstance(item_id, str | int) and not isinstance(item_id, bool):
                scan.done.add(id_key(item_id))
                scan.lines += 1
            else:
                scan.unreadable += 1
        size = fh.seek(0, os.SEEK_END)
        if size > good_end:
            scan.truncated_bytes = size - good_end
            fh.truncate(good_end)
            fh.flush()
            os.fsync(fh.fileno())
    return scan


def _drop_failed_lines(path: Path) -> int:
    """Rewrite ``path`` without the complete lines of failed items; how many were dropped."""
    kept: list[bytes] = []
    dropped = 0
    with path.open("rb") as fh:
        for raw in fh:
            try:
                record = json.loads(raw) if raw.endswith(b"\n") else None
            except (json.JSONDecodeError, UnicodeDecodeError):
                record = None
            if isinstance(record, dict) and record.get("error") is not None:
                dropped += 1
            else:
                kept.append(raw)
    if dropped:
        fresh = path.with_name(f".{path.name}.retry")
        with fresh.open("wb") as out:
            out.writelines(kept)
            out.flush()
            os.fsync(out.fileno())
        os.replace(fresh, path)
    return dropped


SYNC_INTERVAL = 1.0  # seconds between two fsyncs of the output


class ResultWriter:
    """Appends result lines; each is written whole and flushed before ``write`` returns, which
    is all ``--resume`` after a kill needs. ``fsync`` (only against a crash of the whole machine)
    runs at most every :data:`SYNC_INTERVAL` seconds, in a worker thread, and once more at the
    end (:meth:`sync`): one per line cost ~2 % of a batch's CPU.

    Workers call ``write`` concurrently; an ``fsync`` covers every line written before it, so lines
    that finish together share one (group commit) and the event loop never waits on the disk.
    """

    def __init__(self, fh: IO[bytes], *, sync: bool = True, name: str = "the output") -> None:
        self._fh = fh
        self._name = name
        self._sync = sync
        self._written = 0
        self._synced = 0
        self._next_sync = 0.0  # time.monotonic() when the next fsync is due
        self._lock = anyio.Lock()
        self.lines = 0
        try:
            self._end: int | None = fh.seek(0, os.SEEK_END)  # where the last whole line ends
        except (OSError, ValueError):  # a pipe, a terminal, /dev/full: nothing to cut back
            self._end = None

    async def write(self, record: dict[str, Any]) -> None:
        """Append one line; a failed write (ENOSPC, EIO, EFBIG…) is cut back to the last whole
        line, so ``--resume`` continues from there, and raised as one AgentError naming the file."""
        data = (json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str) + "\n").encode()
        try:
            view = memoryview(data)
            while view:  # an unbuffered file may take part of it
                view = view[self._fh.write(view) or 0 :]
            self._fh.flush()
        except OSError as exc:
            self._cut_back()
            raise AgentError(
                f"cannot write the results to {self._name}: {exc.strerror or exc}",
                hint="free some space or choose another -o, then run again with --resume",
            ) from None
        if self._end is not None:
            self._end += len(data)
        self.lines += 1
        self._written += 1
        if not self._sync or time.monotonic() < self._next_sync:
            return
        mine = self._written
        async with self._lock:
            if self._synced >= mine:
                return
            upto = self._written
            try:
                await anyio.to_thread.run_sync(os.fsync, self._fh.fileno())
            except OSError as exc:
                raise self._failed(exc) from None
            self._synced = upto
            self._next_sync = time.monotonic() + SYNC_INTERVAL

    def sync(self) -> None:
        """``fsync`` the lines written since the last one: at the end of a run."""
        if not self._sync or self._synced >= self._written:
            return
        try:
            os.fsync(self._fh.fileno())
        except OSError as exc:
            raise self._failed(exc) from None
        self._synced = self._written

    def _failed(self, exc: OSError) -> AgentError:
        return AgentError(
            f"cannot write the results to {self._name}: {exc.strerror or exc}",
            hint="free some space or choose another -o, then run again with --resume",
        )

    def _cut_back(self) -> None:
        """Drop the part of a line a failed write left, where the file allows it."""
        if self._end is None:
            return
        try:
            self._fh.truncate(self._end)
        except (OSError, ValueError) as exc:
            log.info("batch: could not cut the half-written line off %s: %s", self._name, exc)


@dataclass(slots=True)
class Options:
    """The checked flags of one run."""

    input: str
    output: Path | None  # None: stdout
    concurrency: int
    resume: bool
    retry_failed: bool
    max_errors: int | None
    shard: tuple[int, int] | None
    max_steps: int
    model: str
    servers: tuple[str, ...] | None
    adhoc: tuple[AdhocServer, ...]  # --url / --stdio servers
    via: Literal["live", "batch-api"] = "live"
    poll: float = 60.0  # batch-api: seconds between status polls


def parse_options(args: BatchOptions, config: Config) -> Options:
    """Check the flags and the paths before anything starts; every problem is a UsageError (exit 2)."""
    if args.input is None:
        raise UsageError("agent batch needs an INPUT file", hint="give a .txt or .jsonl file, or - for stdin")
    remote = args.via == "batch-api"
    if args.poll is not None and not args.poll > 0:
        raise UsageError(f"--poll must be more than 0 seconds, not {args.poll}")
    for flag, value in (("--concurrency", args.concurrency), ("--max-errors", args.max_errors)):
        if value is not None and value < 1:
            raise UsageError(f"{flag} must be at least 1, not {value}")
    if args.max_steps is not None and args.max_steps < 1:
        raise UsageError(f"--max-steps must be at least 1, not {args.max_steps}")
    if args.input != "-":
        source = Path(args.input)
        if not source.is_file():
            what = "is a folder" if source.is_dir() else "not found"
            raise UsageError(
                f"input file {args.input!r} {what}", hint="give a .txt or .jsonl file, or - for stdin"
            )
    if args.output == "-" or (args.output is None and args.input == "-"):
        output = None
    else:
        output = Path(args.output) if args.output else default_output(args.input)
    if output is None and args.resume:
        raise UsageError("--resume needs an output file to continue", hint="pass -o FILE")
    if args.retry_failed and not args.resume:
        raise UsageError("--retry-failed goes with --resume", hint="pass --resume --retry-failed")
    if output is None and remote:
        raise UsageError(
            "--via batch-api needs an output file", hint="pass -o FILE: the job's state file lives next to it"
        )
    if remote and output is not None and not args.resume and state_path(output).exists():
        raise UsageError(
            f"a batch-api job of {str(output)!r} is under way ({state_path(output).name})",
            hint="pass --resume to go on with it, or see it with --status / stop it with --cancel",
        )
    if output is not None:
        if args.input != "-" and output.resolve() == Path(args.input).resolve():
            raise UsageError(f"the output {str(output)!r} is the input file", hint="choose another -o")
        if not output.parent.is_dir():
            raise UsageError(f"the output's folder {str(output.parent)!r} does not exist")
        if not args.resume and output.is_file() and output.stat().st_size > 0:
            raise UsageError(
                f"the output {str(output)!r} already holds results",
                hint="pass --resume to run only the items it lacks, or choose another -o",
            )
    return Options(
        input=args.input,
        output=output,
        concurrency=args.concurrency or (16 if remote else 4),
        resume=bool(args.resume),
        retry_failed=bool(args.retry_failed),
        max_errors=args.max_errors,
        shard=parse_shard(args.shard) if args.shard else None,
        max_steps=args.max_steps or config.max_steps,
        model=args.model or config.model,
        servers=args.servers,
        adhoc=args.adhoc,
        via="batch-api" if remote else "live",
        poll=args.poll or 60.0,
    )


@dataclass(slots=True)
class Files:
    """The open input and output of a run, and what the output held already."""

    input: IO[bytes]
    output: IO[bytes]
    scan: OutputScan
    owned: tuple[IO[bytes], ...]

    def close(self) -> None:
        """Close what we opened; the output is unbuffered, so closing it writes nothing more
        (a full disk has already been reported by the write that failed)."""
        for fh in self.owned:
            try:
                fh.close()
            except OSError as exc:
                log.info("batch: closing %s: %s", getattr(fh, "name", "a file"), exc)


def open_files(opts: Options) -> Files:
    """Open the input and the output (for appending); with ``--resume``, scan and repair the output."""
    scan = OutputScan()
    if opts.output is not None and opts.resume:
        scan = scan_output(opts.output, retry_failed=opts.retry_failed)
    owned: list[IO[bytes]] = []
    source = sys.stdin.buffer if opts.input == "-" else open(opts.input, "rb")  # noqa: SIM115
    if opts.input != "-":
        owned.append(source)
    sink = sys.stdout.buffer if opts.output is None else open_user_file(opts.output, "ab", buffering=0)
    if opts.output is not None:
        owned.append(sink)
    return Files(source, sink, scan, tuple(owned))


def failed_record(item: Item, error_type: str, message: str) -> dict[str, Any]:
    """The output line of an item that could not be run at all (a bad input line)."""
    return {
        "id": item.id,
        "line": item.line,
        "answer": None,
        "error": {"type": error_type, "message": message},
        "tool_calls": [],
        "usage": asdict(Usage()),
        "steps": 0,
        "stop_reason": None,
        "model": item.model,
        "duration_ms": 0,
        **item.extra,
    }


def count_lines(path: str) -> int:
    with open(path, "rb") as fh:
        return sum(1 for line in fh if line.strip())
