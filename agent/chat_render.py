"""What the terminal chat shows: streamed Markdown, compact tool calls, a spinner, usage and cost.

:class:`TurnView` turns the loop's events (:mod:`agent.core`) into output. On a terminal it keeps
one transient rich ``Live`` area at the bottom: the tail of the answer being streamed (rendered as
Markdown) and a spinner line. Finished pieces (an answer segment, a tool call line) are printed
above it for good. Without a terminal (piped output) or with ``TERM=dumb`` it writes plain text as
it arrives. ``NO_COLOR`` is honoured by rich itself.

A tool call's line is printed when its ``ToolCallFinished`` event arrives, which the loop sends
the moment the call finishes, so the calls of one response, which run at once, show in the order
they finish, not in the model's order. Every print happens on the event loop's thread, through the
console, which puts it above the live area (the streamed text was printed for good when the
calls started), and approval questions are all asked before any call runs, so a result line
never lands inside a question.

Nothing here reads input; :mod:`agent.chat` owns the prompt and the turn.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, assert_never

import anyio
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.live import Live
from rich.markdown import Markdown
from rich.segment import Segment
from rich.spinner import Spinner
from rich.text import Text

from agent.core import (
    Event,
    Final,
    Retrying,
    StepStarted,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
    TurnError,
    UsageUpdate,
)
from agent.errors import AgentError, without_error_prefix
from agent.messages import Usage
from agent.terminal import for_stream

if TYPE_CHECKING:
    from agent.mcp.manager import ServerState
    from agent.tools import ToolProgress

__all__ = [
    "CallRecord",
    "ChatMarkdown",
    "ConnectStatus",
    "TurnView",
    "call_line",
    "error_line",
    "estimate_cost",
    "format_usage",
    "render_call_detail",
    "short_args",
    "tool_count",
]

# USD per million tokens (input, output) for well-known models, matched by the longest prefix of
# the model id. An estimate only: prices change; unknown models show tokens without a cost.
_PRICES: dict[str, tuple[float, float]] = {
    "claude-opus-4-5": (5.0, 25.0),
    "claude-opus-4-1": (15.0, 75.0),
    "claude-opus-4-2025": (15.0, 75.0),
    "claude-sonnet-4": (3.0, 15.0),
    "claude-3-7-sonnet": (3.0, 15.0),
    "claude-3-5-sonnet": (3.0, 15.0),
    "claude-haiku-4-5": (1.0, 5.0),
    "claude-3-5-haiku": (0.8, 4.0),
    "gpt-5-nano": (0.05, 0.4),
    "gpt-5-mini": (0.25, 2.0),
    "gpt-5": (1.25, 10.0),
    "gpt-4.1-nano": (0.1, 0.4),
    "gpt-4.1-mini": (0.4, 1.6),
    "gpt-4.1": (2.0, 8.0),
    "gpt-4o-mini": (0.15, 0.6),
    "gpt-4o": (2.5, 10.0),
    "o4-mini": (1.1, 4.4),
    "o3-mini": (1.1, 4.4),
    "o3": (2.0, 8.0),
}
_CACHE_READ = 0.1  # cache reads cost this fraction of the input price
_CACHE_WRITE = 1.25  # cache writes cost this multiple of the input price
_TICK = 0.08  # seconds between refreshes of the live area


def estimate_cost(model: str, usage: Usage) -> float | None:
    """An estimate in USD of ``usage`` on ``model``, or ``None`` for a model not in the table."""
    model = model.rpartition(":")[2].rpartition("/")[2]
    best = max((p for p in _PRICES if model.startswith(p)), key=len, default=None)
    if best is None:
        return None
    price_in, price_out = _PRICES[best]
    return (
        usage.input_tokens * price_in
        + usage.output_tokens * price_out
        + usage.cache_read_tokens * price_in * _CACHE_READ
        + usage.cache_write_tokens * price_in * _CACHE_WRITE
    ) / 1_000_000


def _tokens(n: int) -> str:
    return f"{n / 1000:.1f}k" if n >= 10_000 else f"{n:,}"


def format_usage(model: str, usage: Usage, *, steps: int = 0, seconds: float | None = None) -> str:
    """One line like ``1,234 in · 56 out · ≈$0.0045 · 2 steps · 3.1 s``; empty without tokens."""
    bits: list[str] = []
    if usage.total_tokens:
        bits.append(f"{_tokens(usage.input_tokens)} in · {_tokens(usage.output_tokens)} out")
        if usage.cache_read_tokens:
            bits.append(f"{_tokens(usage.cache_read_tokens)} cached")
        cost = estimate_cost(model, usage)
        if cost is not None:
            bits.append(f"≈${cost:.4f}" if cost < 1 else f"≈${cost:.2f}")
    if steps > 1:
        bits.append(f"{steps} steps")
    if seconds is not None and bits:
        bits.append(f"{seconds:.1f} s")
    return " · ".join(bits)


def tool_count(n: int) -> str:
    """``1 tool``, ``7 tools``."""
    return f"{n} tool" if n == 1 else f"{n} tools"


def error_line(exc: AgentError) -> str:
    """An error as one line: what failed, then what to do."""
    text = " ".join(without_error_prefix(exc.message).split())
    if exc.hint:
        text += f" — {' '.join(exc.hint.split())}"
    return f"error: {text}"


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def short_args(arguments: Mapping[str, Any], limit: int = 60) -> str:
    """``key=value, …`` with JSON values, cut to about ``limit`` characters."""
    parts = []
    for key, value in arguments.items():
        shown = json.dumps(value, ensure_ascii=False, default=str)
        parts.append(f"{key}={_clip(shown, 40)}")
    return _clip(", ".join(parts), limit)


@dataclass(slots=True)
class CallRecord:
    """One finished tool call, kept for ``/last``."""

    label: str  # server.tool
    arguments: Mapping[str, Any]
    text: str
    is_error: bool
    duration_ms: float
    denied: bool = False
    cancelled: bool = False

    @property
    def withheld(self) -> str | None:
        """``denied`` or ``cancelled`` for a call that did not run to its end, else None."""
        return "denied" if self.denied else "cancelled" if self.cancelled else None


def call_label(started: ToolCallStarted | None, name: str) -> str:
    if started is not None and started.server and started.tool:
        return f"{started.server}.{started.tool}"
    return name


def render_call_detail(record: CallRecord) -> RenderableType:
    """The full detail of one call: tool, arguments, duration, status and the whole result."""
    status = record.withheld or ("error" if record.is_error else "ok")
    head = Text.assemble(
        ("tool  ", "dim"),
        (record.label, "bold"),
        (f"  {status}", "red" if record.is_error else "green"),
        (f"  {record.duration_ms:.0f} ms", "dim"),
    )
    args = json.dumps(record.arguments, indent=2, ensure_ascii=False, default=str)
    return Group(
        head, Text("arguments", style="dim"), Text(args), Text("result", style="dim"), Text(record.text)
    )


def call_line(record: CallRecord) -> Text:
    """``✓ demo.calculate(expression="2+2") → 4  12 ms``: one line per call; ⊘ for a call that was
    denied or cancelled."""
    if record.withheld:
        mark, style, outcome = "⊘", "yellow", record.withheld
    elif record.is_error:
        mark, style, outcome = "✗", "red", _clip(record.text, 60) or "error"
    else:
        mark, style, outcome = "✓", "green", _clip(record.text, 60) or "(no output)"
    return Text.assemble(
        (f"  {mark} ", style),
        (record.label, "bold"),
        (f"({short_args(record.arguments)})", "dim"),
        (" → ", "dim"),
        (outcome, style if record.is_error or record.withheld else ""),
        (f"  {record.duration_ms:.0f} ms", "dim"),
    )


class ChatMarkdown(Markdown):
    """Markdown where a single newline is a line break, as the model wrote it (CommonMark would
    join the lines into one paragraph). A chat answer is text to read as written: an address, a
    poem, lines of steps or values lose their shape when joined, and piped output (the raw text)
    keeps them; the terminal wraps long lines anyway, so nothing is lost by not reflowing."""

    def __init__(self, markup: str) -> None:
        super().__init__(markup)
        for token in self.parsed:
            for child in token.children or ():
                if child.type == "softbreak":
                    child.type = "hardbreak"


class ConnectStatus:
    """A transient line naming the servers still connecting; updated by the manager's ``on_state``."""

    def __init__(self, console: Console, servers: Iterable[str], *, enabled: bool) -> None:
        self.pending = list(servers)
        self._live: Live | None = None
        if enabled and self.pending:
            self._live = Live(self._text(), console=console, auto_refresh=False, transient=True)
            self._live.start(refresh=True)

    def _text(self) -> Text:
        return Text(f"⠿ connecting to {', '.join(self.pending)}…", style="dim")

    def update(self, state: ServerState) -> None:
        if state.status != "connecting" and state.name in self.pending:
            self.pending.remove(state.name)
        if self._live is not None:
            self._live.update(self._text(), refresh=True)

    def stop(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


class _Tail:
    """Renders only the last ``lines`` lines of a renderable, so a live area never outgrows the screen."""

    def __init__(self, renderable: RenderableType, lines: int) -> None:
        self.renderable = renderable
        self.lines = max(1, lines)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        # Two columns short of the width: an echoed "^C" must not wrap the line under the cursor,
        # or the live area can no longer erase itself.
        narrower = options.update_width(max(10, options.max_width - 2))
        rendered = console.render_lines(self.renderable, narrower, pad=False)[-self.lines :]
        new_line = Segment.line()
        for line in rendered:
            yield from line
            yield new_line


class TurnView:
    """Shows one turn. Call :meth:`handle` for each event; run :meth:`animate` beside it on a
    terminal; :meth:`pause` before asking the user anything; :meth:`close` at the end."""

    def __init__(self, console: Console, *, model: str, fancy: bool) -> None:
        self.console = console
        self.model = model
        self.fancy = fancy
        self.text = ""  # the answer segment being streamed
        self.status: str | None = "thinking"
        self.running: dict[str, ToolCallStarted] = {}
        self.started_at: dict[str, float] = {}  # call id -> when it started (monotonic)
        self.progress_of: dict[str, str] = {}  # call id -> the server's latest progress, in words
        self.usage = Usage()
        self.last_call: CallRecord | None = None  # the last call shown
        self.started = time.monotonic()
        self._live: Live | None = None
        self._spinner = Spinner("dots", style="cyan")
        self._cancel_shown = False
        self._closed = False

    # -- the live area -------------------------------------------------------------------------

    def _renderable(self) -> RenderableType:
        parts: list[RenderableType] = []
        height = max(3, self.console.height - 3)
        if self.text:
            parts.append(_Tail(ChatMarkdown(self.text), height))
        if self.status:
            self._spinner.update(text=Text(self.status, style="dim"))
            parts.append(self._spinner)
        return Group(*parts)

    def _ensure_live(self) -> None:
        if self.fancy and self._live is None and not self._closed:
            self._live = Live(
                console=self.console,
                auto_refresh=False,
                transient=True,
                redirect_stdout=False,
                redirect_stderr=False,
                get_renderable=self._renderable,
            )
            self._live.start()

    def refresh(self) -> None:
        if self._live is not None:
            self._live.refresh()

    async def animate(self) -> None:
        """Refresh the live area a dozen times a second (spinner and streamed text) until cancelled."""
        self._ensure_live()
        while True:
            self.refresh()
            await anyio.sleep(_TICK)

    def pause(self) -> None:
        """Put the answer so far on screen for good and remove the live area (before a question)."""
        self._flush_text()
        if self._live is not None:
            self._live.stop()
            self._live = None

    def resume(self) -> None:
        self._ensure_live()

    # -- events --------------------------------------------------------------------------------

    def _print(self, renderable: RenderableType | str, **kwargs: Any) -> None:
        self.console.print(renderable, **kwargs)

    def _flush_text(self) -> None:
        if not self.text:
            return
        if self.fancy:
            self._print(ChatMarkdown(self.text))
        elif not self.text.endswith("\n"):
            self.console.file.write("\n")
            self.console.file.flush()
        self.text = ""

    def handle(self, event: Event) -> None:
        if isinstance(event, StepStarted):
            self.status = "thinking"
        elif isinstance(event, TextDelta):
            self.status = None
            self.text += event.text
            if not self.fancy:
                self.console.file.write(for_stream(event.text, self.console.file))
                self.console.file.flush()
        elif isinstance(event, Retrying):
            # The partial answer is void: dropped from the live area (a plain terminal keeps it,
            # and the line below says it starts over).
            if not self.fancy and self.text:
                self.console.file.write("\n")
            self.text = ""
            self.status = f"the answer broke off; asking again in {event.delay:g} s"
            if not self.fancy:
                self._print(Text(self.status, style="dim"))
        elif isinstance(event, ToolCallStarted):
            self._flush_text()
            self.running[event.call_id] = event
            self.started_at[event.call_id] = time.monotonic()
            self._set_tool_status()
        elif isinstance(event, ToolCallFinished):
            self._show_call(event)
        elif isinstance(event, UsageUpdate):
            self.usage = event.total
        elif isinstance(event, TurnError):
            self._flush_text()
            self.status = None
            self._print(Text(error_line(event.error), style="red"), soft_wrap=True)
        elif isinstance(event, Final):
            self._final(event)
        else:
            assert_never(event)
        self._ensure_live()

    def progress(self, report: ToolProgress) -> None:
        """A running call's progress (message, n/total) goes into the spinner line."""
        if report.call_id in self.running:
            self.progress_of[report.call_id] = report.text
            self._set_tool_status()

    def _set_tool_status(self) -> None:
        if self.running:
            names = ", ".join(
                call_label(s, s.name) + (f": {self.progress_of[i]}" if i in self.progress_of else "")
                for i, s in self.running.items()
            )
            self.status = f"running {names}"
        else:
            self.status = "thinking"

    def _show_call(self, event: ToolCallFinished) -> None:
        """A call's line, the moment it finishes (events come in completion order)."""
        self.running.pop(event.call_id, None)
        self.started_at.pop(event.call_id, None)
        self.progress_of.pop(event.call_id, None)
        self.last_call = CallRecord(
            event.label, event.arguments, event.result.text, event.is_error, event.duration_ms, event.denied
        )
        self._print(call_line(self.last_call))
        self._set_tool_status()

    def _final(self, event: Final) -> None:
        self._flush_text()
        self.status = None
        if event.stop_reason == "cancelled":
            self.cancelled()  # it closes the view, after naming the calls still running
        else:
            self.close()
        if event.stop_reason == "max_tokens":
            self._print(Text("the answer was cut off at the model's max_tokens limit", style="yellow"))
        usage = event.usage if event.usage.total_tokens else self.usage
        line = format_usage(self.model, usage, steps=event.steps, seconds=time.monotonic() - self.started)
        if line:
            self._print(Text(line, style="dim"))

    def cancelled(self) -> None:
        """The turn was cancelled: a ⊘ line for each call still running (its server was told to
        stop it), then one line naming them. Call it before :meth:`close`, which forgets them."""
        running = dict(self.running)
        self.close()
        if self._cancel_shown:
            return
        self._cancel_shown = True
        now = time.monotonic()
        for call_id, started in running.items():
            label = call_label(started, started.name)
            ms = (now - self.started_at.get(call_id, now)) * 1000
            self._print(call_line(CallRecord(label, started.arguments, "", False, ms, cancelled=True)))
        stopped = [call_label(s, s.name) for s in running.values()]
        told = f" (told the server to stop {', '.join(stopped)})" if stopped else ""
        self._print(
            Text(f"cancelled{told} — the conversation so far is kept; type your next message", style="yellow")
        )

    def close(self) -> None:
        """End the live area for good (the turn is over)."""
        self._closed = True
        self.pause()
        self.running.clear()
