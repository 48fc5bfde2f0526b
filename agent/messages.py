"""One neutral conversation model, shared by the loop, the UIs and every provider adapter.

Small frozen dataclasses; parts form a discriminated union on ``kind``. Provider adapters map
to and from these in one place each (``agent/providers/``); nothing else sees an SDK type.

A conversation is a list of :class:`Message`. The system prompt is not a message: it travels
beside the list (see :class:`ModelRequest`). Tool results go in a ``user`` message right after
the ``assistant`` message that asked for them, one :class:`ToolResultPart` per call, in the
order of the calls.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = [
    "ImagePart",
    "Message",
    "ModelRequest",
    "ModelResponse",
    "Part",
    "ResponseDone",
    "Role",
    "StopReason",
    "StreamEvent",
    "TextDelta",
    "TextPart",
    "ToolCallPart",
    "ToolResultPart",
    "ToolSpec",
    "Usage",
    "message_from_dict",
    "message_to_dict",
]

Role = Literal["user", "assistant"]
StopReason = Literal["end_turn", "tool_use", "max_tokens", "refusal", "cancelled", "error", "max_steps"]


@dataclass(frozen=True, slots=True)
class TextPart:
    text: str
    kind: Literal["text"] = "text"


@dataclass(frozen=True, slots=True)
class ImagePart:
    """An image, base64-encoded as the providers take it."""

    data: str
    media_type: str = "image/png"
    kind: Literal["image"] = "image"

    @classmethod
    def from_bytes(cls, raw: bytes, media_type: str = "image/png") -> ImagePart:
        return cls(base64.b64encode(raw).decode("ascii"), media_type)


@dataclass(frozen=True, slots=True)
class ToolCallPart:
    """The model asks for a tool call. ``name`` is the provider-facing tool name."""

    id: str
    name: str
    arguments: Mapping[str, Any]
    kind: Literal["tool_call"] = "tool_call"


@dataclass(frozen=True, slots=True)
class ToolResultPart:
    """The result of one tool call, answering the :class:`ToolCallPart` with the same ``call_id``."""

    call_id: str
    name: str
    content: tuple[TextPart | ImagePart, ...]
    is_error: bool = False
    kind: Literal["tool_result"] = "tool_result"

    @property
    def text(self) -> str:
        """The text parts joined, for display and for providers that take text only."""
        return "\n".join(p.text for p in self.content if isinstance(p, TextPart))


Part = TextPart | ImagePart | ToolCallPart | ToolResultPart


@dataclass(frozen=True, slots=True)
class Message:
    role: Role
    parts: tuple[Part, ...]

    @property
    def text(self) -> str:
        return "".join(p.text for p in self.parts if isinstance(p, TextPart))

    @property
    def tool_calls(self) -> tuple[ToolCallPart, ...]:
        return tuple(p for p in self.parts if isinstance(p, ToolCallPart))

    @classmethod
    def user(cls, text: str) -> Message:
        return cls("user", (TextPart(text),))


@dataclass(frozen=True, slots=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_read_tokens + other.cache_read_tokens,
            self.cache_write_tokens + other.cache_write_tokens,
        )

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool as offered to a model: provider-safe name, description, JSON Schema of its input."""

    name: str
    description: str
    input_schema: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class ModelRequest:
    system: str
    messages: Sequence[Message]
    tools: Sequence[ToolSpec] = ()
    max_tokens: int = 8192


@dataclass(frozen=True, slots=True)
class ModelResponse:
    message: Message
    usage: Usage = field(default_factory=Usage)
    stop_reason: StopReason = "end_turn"
    model: str = ""


@dataclass(frozen=True, slots=True)
class TextDelta:
    """A piece of assistant text as it streams in."""

    text: str
    kind: Literal["text_delta"] = "text_delta"


@dataclass(frozen=True, slots=True)
class ResponseDone:
    """The last event of a provider stream: the whole response."""

    response: ModelResponse
    kind: Literal["done"] = "done"


StreamEvent = TextDelta | ResponseDone


def message_to_dict(message: Message) -> dict[str, Any]:
    """A JSON-ready form of a message, for transcripts."""
    return asdict(message)


def _part_from_dict(raw: Mapping[str, Any]) -> Part:
    kind = raw.get("kind")
    if kind == "text":
        return TextPart(str(raw["text"]))
    if kind == "image":
        return ImagePart(str(raw["data"]), str(raw.get("media_type", "image/png")))
    if kind == "tool_call":
        return ToolCallPart(str(raw["id"]), str(raw["name"]), dict(raw.get("arguments") or {}))
    if kind == "tool_result":
        content: list[TextPart | ImagePart] = []
        for item in raw.get("content") or ():
            part = _part_from_dict(item)
            if not isinstance(part, TextPart | ImagePart):
                raise ValueError(f"a tool result holds a {part.kind} part")
            content.append(part)
        return ToolResultPart(
            str(raw["call_id"]), str(raw.get("name", "")), tuple(content), bool(raw.get("is_error"))
        )
    raise ValueError(f"unknown message part kind {kind!r}")


def message_from_dict(raw: Mapping[str, Any]) -> Message:
    """Inverse of :func:`message_to_dict`; raises ``ValueError`` on malformed input."""
    role = raw.get("role")
    if role not in ("user", "assistant"):
        raise ValueError(f"unknown message role {role!r}")
    try:
        return Message(role, tuple(_part_from_dict(p) for p in raw.get("parts") or ()))
    except (KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"malformed message part: {exc!r}") from None
