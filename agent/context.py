"""Context management: keep every request inside the model's context window.

Each model has a context window (:func:`context_window`: ``context_window`` / ``context_windows``
of its ``[providers.NAME]`` table, else a table of known models, else 128k). Before each model
request the loop awaits :meth:`ContextManager.fit`; when the request would take more than
``TRIGGER`` of the window (less the answer's ``max_tokens``), it makes room, cheapest first:

1. The bodies of old tool results are dropped, oldest first, each replaced by a one-line stub
   that says what it was (the tool, its size, its first words); the results the model is about to
   read are kept. This alone keeps a long tool loop going.
2. If that is not enough, the turns before the current one are summarized by the model itself,
   and replaced by the summary (``/compact`` does this on demand).

Tokens are estimated, not counted (a count would cost a request): a token per 3 characters of
text, which is more than the providers count for prose and JSON, so the estimate errs on the
side of room. The history is changed in place, so what was dropped stays dropped.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from agent.config import Config
from agent.errors import AgentError
from agent.messages import (
    AssistantMessage,
    ImagePart,
    Message,
    ModelRequest,
    ResponseDone,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    ToolSpec,
    UserMessage,
)
from agent.providers.base import Provider

__all__ = [
    "DEFAULT_CONTEXT_WINDOW",
    "SUMMARY_PREFIX",
    "Budget",
    "ContextManager",
    "context_window",
    "estimate_tokens",
    "message_tokens",
]

log = logging.getLogger(__name__)

DEFAULT_CONTEXT_WINDOW = 128_000
# Known models, by name prefix (the longest prefix that matches wins).
_KNOWN_WINDOWS: dict[str, int] = {
    "claude-": 200_000,
    "gpt-5": 400_000,
    "gpt-4.1": 1_047_576,
    "gpt-4o": 128_000,
    "gpt-4-turbo": 128_000,
    "gpt-3.5-turbo": 16_385,
    "o1": 200_000,
    "o3": 200_000,
    "o4": 200_000,
}
TRIGGER = 0.85  # make room when a request would take more than this share of the room
TARGET = 0.6  # dropping tool results goes down to this share, so it does not happen every step
_CHARS_PER_TOKEN = 3
_IMAGE_TOKENS = 1_600
_PART_OVERHEAD = 10  # tokens of framing per part (role, type, ids)
_DROPPED = "[dropped to save context:"
SUMMARY_PREFIX = "[summary of the earlier conversation, written when it outgrew the context window]\n"
_SUMMARY_ACK = "[noted: I continue from this summary]"
_SUMMARY_SYSTEM = """\
You summarize a conversation between a user and an assistant that uses tools, so that the \
assistant can continue it without the full text. Keep: what the user wants, decisions and facts \
established, names, numbers, file paths and identifiers, what tools were used for and what they \
found, and open questions. Leave out pleasantries. Write plain text, at most about 600 words."""


def context_window(config: Config, provider: str, model: str) -> int:
    """The context window of ``provider:model`` in tokens (see the module doc)."""
    settings = config.providers.get(provider)
    if settings is not None:
        if model in settings.context_windows:
            return settings.context_windows[model]
        if settings.context_window is not None:
            return settings.context_window
    return _known_window(model) or DEFAULT_CONTEXT_WINDOW


def _known_window(model: str) -> int | None:
    matches = [prefix for prefix in _KNOWN_WINDOWS if model.startswith(prefix)]
    return _KNOWN_WINDOWS[max(matches, key=len)] if matches else None


def estimate_tokens(text: str) -> int:
    return (len(text) + _CHARS_PER_TOKEN - 1) // _CHARS_PER_TOKEN


def _part_tokens(part: TextPart | ImagePart | ToolCallPart | ToolResultPart) -> int:
    if isinstance(part, TextPart):
        return _PART_OVERHEAD + estimate_tokens(part.text)
    if isinstance(part, ImagePart):
        return _IMAGE_TOKENS
    if isinstance(part, ToolCallPart):
        return _PART_OVERHEAD + estimate_tokens(part.name + json.dumps(part.arguments, ensure_ascii=False))
    return _PART_OVERHEAD + sum(_part_tokens(p) for p in part.content)


def message_tokens(message: Message) -> int:
    return _PART_OVERHEAD + sum(_part_tokens(p) for p in message.parts)


def _tools_tokens(tools: Sequence[ToolSpec]) -> int:
    return sum(
        _PART_OVERHEAD + estimate_tokens(t.name + t.description + json.dumps(t.input_schema)) for t in tools
    )


@dataclass(frozen=True, slots=True)
class Budget:
    """Where a request's tokens go (estimated), against the window less the answer's room."""

    window: int
    reserve: int  # kept for the answer (max_tokens)
    system: int
    tools: int
    history: int
    messages: int

    @property
    def used(self) -> int:
        return self.system + self.tools + self.history

    @property
    def room(self) -> int:
        return max(0, self.window - self.reserve)

    @property
    def free(self) -> int:
        return max(0, self.room - self.used)


class ContextManager:
    """Fits one conversation's requests into one model's window (module doc). ``notice`` gets a
    one-line note each time room is made."""

    def __init__(
        self,
        provider: Provider,
        window: int,
        *,
        reserve: int = 8192,
        notice: Callable[[str], None] | None = None,
    ) -> None:
        self.provider = provider
        self.window = window
        self.reserve = min(reserve, window // 4)
        self.notice = notice
        self._tools: tuple[Sequence[ToolSpec], int] = ((), 0)  # the last tool set and its tokens

    def _tools_tokens(self, tools: Sequence[ToolSpec]) -> int:
        """The estimate of ``tools``, worked out once per tool set (every step offers the same
        set; at 5000 tools serializing every schema again cost ~60 ms a step)."""
        seen, tokens = self._tools
        if tools is not seen and not (
            len(tools) == len(seen) and all(a is b for a, b in zip(tools, seen, strict=True))
        ):
            tokens = _tools_tokens(tools)
        self._tools = (tools, tokens)
        return tokens

    def budget(self, system: str, tools: Sequence[ToolSpec], history: Sequence[Message]) -> Budget:
        return Budget(
            self.window,
            self.reserve,
            estimate_tokens(system) + _PART_OVERHEAD,
            self._tools_tokens(tools),
            sum(message_tokens(m) for m in history),
            len(history),
        )

    async def fit(self, history: list[Message], system: str, tools: Sequence[ToolSpec]) -> None:
        """Make room before a request, if it needs it: drop old tool results, then summarize."""
        budget = self.budget(system, tools, history)
        if budget.used <= budget.room * TRIGGER:
            return
        fixed = budget.system + budget.tools
        dropped, saved = drop_tool_results(history, over=budget.used - int(budget.room * TARGET))
        if dropped:
            self._say(
                f"context: dropped the bodies of {dropped} old tool result{'s' if dropped != 1 else ''} "
                f"(≈{_k(saved)} tokens) to stay within the {_k(self.window)}-token window"
            )
        if fixed + sum(message_tokens(m) for m in history) <= budget.room * TRIGGER:
            return
        if fixed > budget.room * TRIGGER:  # no summary can help: say what fills the window
            self._say(
                f"context: the tool definitions (≈{_k(budget.tools)} tokens) and the system prompt "
                f"(≈{_k(budget.system)}) alone fill the {_k(self.window)}-token window; leave tool "
                "search on ([tools] search) or offer fewer tools (include / exclude)"
            )
            return
        await self.compact(history, current_turn=True)

    async def compact(self, history: list[Message], *, current_turn: bool = False) -> int:
        """Summarize the older turns with the model and put the summary in their place; returns how
        many messages were replaced (0: nothing to summarize, the model failed, or its summary
        would not be smaller: then the history is as it was). With ``current_turn`` (a request is about to go out), the turn under way is
        kept whole; else (``/compact`` between turns) the last exchange is kept."""
        starts = [i for i, m in enumerate(history) if _is_prompt(m)]
        cut = starts[-1] if starts else 0
        if not current_turn and cut == 0:
            cut = len(history)  # one exchange: summarize it all
        if cut == 0 or (cut <= 2 and _is_summary(history[0])):
            if current_turn:
                self._say(
                    "context: the turn under way alone fills the context window; nothing left to summarize"
                )
            return 0
        before = sum(message_tokens(m) for m in history[:cut])
        try:
            summary = await self._summarize(history[:cut])
        except AgentError as exc:
            self._say(f"context: could not summarize the earlier conversation: {exc.message}")
            return 0
        replacement: list[Message] = [
            UserMessage.of(SUMMARY_PREFIX + summary),
            AssistantMessage.of(_SUMMARY_ACK),
        ]
        after = sum(message_tokens(m) for m in replacement)
        if after >= before:  # a short conversation: its summary would only make it bigger
            self._say(
                f"context: a summary (≈{_k(after)} tokens) would not be smaller than the {cut} earlier "
                f"messages (≈{_k(before)} tokens); they are kept as they were"
            )
            return 0
        history[:cut] = replacement
        self._say(
            f"context: summarized {cut} earlier messages (≈{_k(before)} tokens) "
            f"into ≈{_k(estimate_tokens(summary))} tokens"
        )
        return cut

    async def _summarize(self, messages: Sequence[Message]) -> str:
        limit = max(4_000, int((self.window - self.reserve) * 0.5) * _CHARS_PER_TOKEN)
        text = _as_text(messages)
        if len(text) > limit:  # keep the start (earlier summary, first ask) and the latest part
            text = text[: limit // 4] + "\n[…]\n" + text[-(limit - limit // 4) :]
        request = ModelRequest(_SUMMARY_SYSTEM, (UserMessage.of(text),), (), max_tokens=2_000)
        answer = ""
        stream = self.provider.stream(request)
        try:
            async for event in stream:
                if isinstance(event, ResponseDone):
                    answer = event.response.message.text
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()
        if not answer.strip():
            raise AgentError("the model's summary was empty")
        return answer.strip()

    def _say(self, text: str) -> None:
        log.info("%s", text)
        if self.notice is not None:
            self.notice(text)


def drop_tool_results(history: list[Message], *, over: int) -> tuple[int, int]:
    """Replace the bodies of the oldest tool results by stubs until ``over`` tokens are saved; the
    results in the last message (what the model is about to read) stay. Returns (results dropped,
    tokens saved)."""
    dropped = saved = 0
    for index, message in enumerate(history[:-1]):
        if saved >= over:
            break
        if not isinstance(message, UserMessage) or not any(
            isinstance(p, ToolResultPart) for p in message.parts
        ):
            continue
        parts: list[TextPart | ImagePart | ToolResultPart] = []
        for part in message.parts:
            if saved < over and isinstance(part, ToolResultPart) and not part.text.startswith(_DROPPED):
                stub = _stub(part)
                gain = _part_tokens(part) - _part_tokens(stub)
                if gain > 0:
                    parts.append(stub)
                    saved += gain
                    dropped += 1
                    continue
            parts.append(part)
        history[index] = UserMessage(tuple(parts))
    return dropped, saved


def _stub(result: ToolResultPart) -> ToolResultPart:
    text = result.text
    words = " ".join(text.split())[:80]
    size = f"{len(text):,} characters" + (
        ", with images" if any(isinstance(p, ImagePart) for p in result.content) else ""
    )
    note = f'{_DROPPED} the {size} result of {result.name}, which began "{words}"; call it again if needed]'
    return ToolResultPart(result.call_id, result.name, (TextPart(note),), is_error=result.is_error)


def _is_prompt(message: Message) -> bool:
    """A user message that starts a turn (not one that carries tool results)."""
    return isinstance(message, UserMessage) and not any(isinstance(p, ToolResultPart) for p in message.parts)


def _is_summary(message: Message) -> bool:
    return isinstance(message, UserMessage) and message.text.startswith(SUMMARY_PREFIX)


def _as_text(messages: Sequence[Message]) -> str:
    """The conversation as plain text for the summarizer; tool results cut to their start."""
    lines: list[str] = []
    for message in messages:
        for part in message.parts:
            if isinstance(part, TextPart) and part.text.strip():
                lines.append(f"{'User' if message.role == 'user' else 'Assistant'}: {part.text.strip()}")
            elif isinstance(part, ToolCallPart):
                lines.append(
                    f"Assistant called {part.name}({json.dumps(part.arguments, ensure_ascii=False)[:300]})"
                )
            elif isinstance(part, ToolResultPart):
                body = part.text.strip()
                body = body if len(body) <= 600 else body[:600] + f"… ({len(body):,} characters)"
                lines.append(f"{'Error from' if part.is_error else 'Result of'} {part.name}: {body}")
    return "\n".join(lines)


def _k(tokens: int) -> str:
    return f"{tokens / 1000:.0f}k" if tokens >= 10_000 else f"{tokens:,}"
