"""The provider-neutral side of the fake model APIs (see :mod:`tests.support.fake_llm`): what a
request said (:class:`Conversation`) and what the fake answers (:class:`Answer`), the same for all
three APIs, plus the pieces every API's codec shares (content blocks, SSE framing, chunking).

The per-API codecs (:mod:`tests.support.fake_llm_anthropic`, :mod:`tests.support.fake_llm_openai`)
translate between these and each API's JSON; :mod:`tests.support.fake_llm_wire` picks the codec.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "API",
    "Answer",
    "Call",
    "Conversation",
    "NeutralStop",
    "SeenToolResult",
    "pieces",
    "sse",
    "text_of",
]

API = Literal["anthropic", "chat", "responses"]
NeutralStop = Literal["end_turn", "tool_use", "max_tokens", "refusal"]


@dataclass(frozen=True)
class SeenToolResult:
    call_id: str
    text: str
    is_error: bool
    images: int = 0


@dataclass
class Conversation:
    """What the model was sent, the same for all three APIs."""

    system: str = ""
    tools: list[str] = field(default_factory=list)
    user_texts: list[str] = field(default_factory=list)
    assistant_turns: int = 0
    tool_calls: list[tuple[str, str]] = field(default_factory=list)  # (call id, name), in order
    tool_results: list[SeenToolResult] = field(default_factory=list)  # every result, in order
    last_tool_results: list[SeenToolResult] = field(default_factory=list)  # since the last assistant turn
    images: int = 0  # images in user messages (not in tool results)

    @property
    def last_user_text(self) -> str:
        return self.user_texts[-1] if self.user_texts else ""

    def start_assistant_turn(self) -> None:
        self.assistant_turns += 1
        self.last_tool_results = []

    def add_tool_result(self, result: SeenToolResult) -> None:
        self.tool_results.append(result)
        self.last_tool_results.append(result)


@dataclass(frozen=True)
class Call:
    id: str  # the call id the model gives (toolu_…, call_…)
    item_id: str  # the Responses output item id (fc_…)
    name: str
    arguments: str  # JSON text, exactly as streamed


@dataclass
class Answer:
    model: str
    text: str
    calls: list[Call]
    stop: NeutralStop
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    chunk: int = 8  # characters per streamed text or argument fragment
    interleave: bool = False  # Chat Completions: interleave the fragments of several tool calls
    ident: str = "0"


def text_of(content: Any) -> tuple[str, int]:
    """Text and image count of a content value: a string or a list of typed blocks."""
    if isinstance(content, str):
        return content, 0
    texts: list[str] = []
    images = 0
    for block in content or ():
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind in ("text", "input_text", "output_text") and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif kind in ("image", "image_url", "input_image"):
            images += 1
    return "\n".join(texts), images


def sse(event: str | None, data: Any) -> bytes:
    """One server-sent event: an optional ``event:`` line and the data (JSON unless a string)."""
    payload = data if isinstance(data, str) else json.dumps(data, separators=(",", ":"))
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {payload}\n\n".encode()


def pieces(text: str, size: int) -> list[str]:
    """``text`` cut into streamed fragments of ``size`` characters (at least one each)."""
    size = max(1, size)
    return [text[i : i + size] for i in range(0, len(text), size)]
