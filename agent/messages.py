"""One neutral conversation model, shared by the loop, the UIs and every provider adapter.

Small frozen dataclasses. A conversation is a list of :data:`Message`: a :class:`UserMessage`
(text, images, tool results) or an :class:`AssistantMessage` (text, tool calls), discriminated on
``role``; each holds its own union of parts, discriminated on ``kind``, so a user message cannot
hold a tool call and nothing needs to check that it does not. Provider adapters map to and from
these in one place each (``agent/providers/``); nothing else sees an SDK type.

The system prompt is not a message: it travels beside the list (see :class:`ModelRequest`). Tool
results go in a user message right after the assistant message that asked for them, one
:class:`ToolResultPart` per call, in the order of the calls.

Transcripts (chat's ``/save`` and ``--resume``) are JSON written and read through one pydantic
``TypeAdapter`` of the message list (:func:`encode_transcript`, :func:`decode_transcript`).
"""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field

if TYPE_CHECKING:
    from pydantic import TypeAdapter, ValidationError

__all__ = [
    "TRANSCRIPT_FORMAT",
    "AssistantMessage",
    "AssistantPart",
    "ImagePart",
    "Message",
    "ModelRequest",
    "ModelResponse",
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
    "UserMessage",
    "UserPart",
    "decode_transcript",
    "dump_messages",
    "encode_transcript",
    "load_messages",
]

TRANSCRIPT_FORMAT = "agent-transcript"

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
    """The model asks for a tool call. ``name`` is the provider-facing tool name.

    ``arguments_error`` says why the model's arguments could not be read (not JSON, cut off, not
    an object); ``arguments`` is then empty, and the loop answers the call with that error instead
    of running the tool.
    """

    id: str
    name: str
    arguments: Mapping[str, Any]
    arguments_error: str | None = None
    kind: Literal["tool_call"] = "tool_call"


ResultContent = Annotated[TextPart | ImagePart, Field(discriminator="kind")]


@dataclass(frozen=True, slots=True)
class ToolResultPart:
    """The result of one tool call, answering the :class:`ToolCallPart` with the same ``call_id``."""

    call_id: str
    name: str
    content: tuple[ResultContent, ...]
    is_error: bool = False
    kind: Literal["tool_result"] = "tool_result"

    @property
    def text(self) -> str:
        """The text parts joined, for display and for providers that take text only."""
        return "\n".join(p.text for p in self.content if isinstance(p, TextPart))


UserPart = Annotated[TextPart | ImagePart | ToolResultPart, Field(discriminator="kind")]
AssistantPart = Annotated[TextPart | ToolCallPart, Field(discriminator="kind")]


@dataclass(frozen=True, slots=True, weakref_slot=True)  # weak: providers cache their API form
class UserMessage:
    """The user's side of a turn: the prompt (text, images), or the results of the tool calls the
    assistant message before it asked for."""

    role: Literal["user"] = field(default="user", init=False)
    parts: tuple[UserPart, ...]

    @property
    def text(self) -> str:
        return "".join(p.text for p in self.parts if isinstance(p, TextPart))

    @classmethod
    def of(cls, *parts: str | TextPart | ImagePart | ToolResultPart) -> UserMessage:
        """A message of these parts, a string being a text part: ``UserMessage.of("hello")``."""
        return cls(tuple(TextPart(p) if isinstance(p, str) else p for p in parts))


@dataclass(frozen=True, slots=True, weakref_slot=True)  # weak: providers cache their API form
class AssistantMessage:
    """The model's answer: text, and the tool calls it asks for."""

    role: Literal["assistant"] = field(default="assistant", init=False)
    parts: tuple[AssistantPart, ...]

    @property
    def text(self) -> str:
        return "".join(p.text for p in self.parts if isinstance(p, TextPart))

    @property
    def tool_calls(self) -> tuple[ToolCallPart, ...]:
        return tuple(p for p in self.parts if isinstance(p, ToolCallPart))

    @classmethod
    def of(cls, *parts: str | TextPart | ToolCallPart) -> AssistantMessage:
        """A message of these parts, a string being a text part: ``AssistantMessage.of("hi")``."""
        return cls(tuple(TextPart(p) if isinstance(p, str) else p for p in parts))


Message = Annotated[UserMessage | AssistantMessage, Field(discriminator="role")]


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
    message: AssistantMessage
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


@functools.cache
def _conversation() -> TypeAdapter[list[Message]]:
    """The adapter of a message list, made on first use (building it costs milliseconds)."""
    from pydantic import TypeAdapter

    return TypeAdapter(list[Message])


def dump_messages(messages: Sequence[Message]) -> list[Any]:
    """A message list as plain JSON values (what transcripts and batch state files hold).

    Fields left at None (a readable call's ``arguments_error``) are left out: files stay as they were."""
    return _conversation().dump_python(list(messages), mode="json", exclude_none=True)  # type: ignore[no-any-return]


def load_messages(data: Any) -> list[Message]:
    """The messages :func:`dump_messages` wrote; raises pydantic's ``ValidationError`` if not."""
    return _conversation().validate_python(data)


def encode_transcript(messages: Sequence[Message], *, model: str) -> bytes:
    """A conversation as a transcript file's JSON (UTF-8): format, version, model, messages."""
    data = {
        "format": TRANSCRIPT_FORMAT,
        "version": 1,
        "model": model,
        "messages": dump_messages(messages),
    }
    return json.dumps(data, indent=2, ensure_ascii=False).encode() + b"\n"


def decode_transcript(data: str | bytes) -> list[Message]:
    """The messages of a transcript (:func:`encode_transcript`), or of a bare JSON list of messages.

    Raises ``json.JSONDecodeError`` when ``data`` is not JSON, ``ValueError`` (saying what and
    where) when it is not a transcript.
    """
    from pydantic import ValidationError

    raw = json.loads(data)
    items = raw.get("messages") if isinstance(raw, dict) else raw
    if not isinstance(items, list):
        raise ValueError("no 'messages' list")
    try:
        return _conversation().validate_python(items)
    except ValidationError as exc:
        raise ValueError(_problem(exc)) from None


def _problem(exc: ValidationError) -> str:
    """The first problem of a failed validation, for a person: what is wrong, then where."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    where = "messages"
    after_index = False
    for step in first["loc"]:
        if isinstance(step, int):
            where += f"[{step}]"
        elif not after_index:  # a name after an index is the union's tag (role or kind): said already
            where += f".{step}"
        after_index = isinstance(step, int)
    if first["type"] == "union_tag_invalid":
        ctx = first.get("ctx") or {}
        what = "message role" if "role" in str(ctx.get("discriminator")) else "message part kind"
        text = f"unknown {what} {ctx.get('tag')!r}"
    else:
        text = first["msg"][:1].lower() + first["msg"][1:]
    more = f"; {len(errors) - 1} more problem(s)" if len(errors) > 1 else ""
    return f"{text} (at {where}){more}"
