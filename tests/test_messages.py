"""The neutral message model: transcripts round-trip exactly; bad transcripts are refused."""

from __future__ import annotations

import json

import pytest

from agent.messages import (
    ImagePart,
    Message,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    Usage,
    message_from_dict,
    message_to_dict,
)


def test_conversation_round_trips_through_json() -> None:
    conversation = [
        Message.user("what is 2+3?"),
        Message("assistant", (TextPart("Let me add."), ToolCallPart("c1", "add", {"a": 2, "b": 3}))),
        Message(
            "user",
            (
                ToolResultPart("c1", "add", (TextPart("5"), ImagePart.from_bytes(b"\x89PNG"))),
                ToolResultPart("c2", "nope", (TextPart("unknown tool"),), is_error=True),
            ),
        ),
        Message("assistant", (TextPart("It is 5."),)),
    ]
    raw = json.loads(json.dumps([message_to_dict(m) for m in conversation]))
    assert [message_from_dict(m) for m in raw] == conversation


def test_helpers() -> None:
    msg = Message("assistant", (TextPart("a"), ToolCallPart("1", "t", {}), TextPart("b")))
    assert msg.text == "ab"
    assert [c.id for c in msg.tool_calls] == ["1"]
    result = ToolResultPart("1", "t", (TextPart("x"), ImagePart("AA=="), TextPart("y")))
    assert result.text == "x\ny"
    assert (Usage(1, 2) + Usage(3, 4, 5, 6)) == Usage(4, 6, 5, 6)
    assert Usage(1, 2).total_tokens == 3


@pytest.mark.parametrize(
    "raw",
    [
        {"role": "system", "parts": []},
        {"role": "user", "parts": [{"kind": "video"}]},
        {
            "role": "user",
            "parts": [{"kind": "tool_result", "call_id": "1", "content": [{"kind": "tool_call"}]}],
        },
    ],
)
def test_malformed_transcripts_are_refused(raw: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        message_from_dict(raw)
