"""The neutral message model: transcripts round-trip exactly, old ones still load, bad ones are refused."""

from __future__ import annotations

import json

import pytest

from agent.messages import (
    AssistantMessage,
    ImagePart,
    Message,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    Usage,
    UserMessage,
    decode_transcript,
    encode_transcript,
)

# A transcript as `/save` wrote it before messages had their own types (dataclasses.asdict of
# Message(role, parts) with one part union): role before parts, every field written.
OLD_TRANSCRIPT = """
{
  "format": "agent-transcript",
  "version": 1,
  "model": "anthropic:claude-sonnet-4-6",
  "messages": [
    {"role": "user", "parts": [
      {"text": "what is on the screen?", "kind": "text"},
      {"data": "iVBORw0K", "media_type": "image/png", "kind": "image"}
    ]},
    {"role": "assistant", "parts": [
      {"text": "Let me look.", "kind": "text"},
      {"id": "toolu_1", "name": "screenshot", "arguments": {"scale": 0.5, "window": "main"}, "kind": "tool_call"}
    ]},
    {"role": "user", "parts": [
      {"call_id": "toolu_1", "name": "screenshot", "content": [
        {"text": "a terminal", "kind": "text"},
        {"data": "R0lGODlh", "media_type": "image/gif", "kind": "image"}
      ], "is_error": false, "kind": "tool_result"},
      {"call_id": "toolu_2", "name": "nope", "content": [{"text": "unknown tool", "kind": "text"}],
       "is_error": true, "kind": "tool_result"}
    ]},
    {"role": "assistant", "parts": [{"text": "A terminal. Ça marche.", "kind": "text"}]}
  ]
}
"""


def test_conversation_round_trips_through_json() -> None:
    conversation: list[Message] = [
        UserMessage.of("what is 2+3?"),
        AssistantMessage.of("Let me add.", ToolCallPart("c1", "add", {"a": 2, "b": 3})),
        UserMessage.of(
            ToolResultPart("c1", "add", (TextPart("5"), ImagePart.from_bytes(b"\x89PNG"))),
            ToolResultPart("c2", "nope", (TextPart("unknown tool"),), is_error=True),
        ),
        AssistantMessage.of("It is 5."),
    ]
    data = encode_transcript(conversation, model="fake:model")
    assert json.loads(data)["model"] == "fake:model"
    assert decode_transcript(data) == conversation
    assert decode_transcript(json.dumps(json.loads(data)["messages"])) == conversation  # a bare list


def test_a_transcript_saved_before_the_message_types_split_still_loads() -> None:
    assert decode_transcript(OLD_TRANSCRIPT) == [
        UserMessage.of("what is on the screen?", ImagePart("iVBORw0K", "image/png")),
        AssistantMessage.of(
            "Let me look.", ToolCallPart("toolu_1", "screenshot", {"scale": 0.5, "window": "main"})
        ),
        UserMessage.of(
            ToolResultPart(
                "toolu_1", "screenshot", (TextPart("a terminal"), ImagePart("R0lGODlh", "image/gif"))
            ),
            ToolResultPart("toolu_2", "nope", (TextPart("unknown tool"),), is_error=True),
        ),
        AssistantMessage.of("A terminal. Ça marche."),
    ]
    # What is written today is what was written then.
    messages = decode_transcript(OLD_TRANSCRIPT)
    assert json.loads(encode_transcript(messages, model="anthropic:claude-sonnet-4-6")) == json.loads(
        OLD_TRANSCRIPT
    )


def test_helpers() -> None:
    msg = AssistantMessage.of("a", ToolCallPart("1", "t", {}), "b")
    assert msg.text == "ab"
    assert [c.id for c in msg.tool_calls] == ["1"]
    result = ToolResultPart("1", "t", (TextPart("x"), ImagePart("AA=="), TextPart("y")))
    assert result.text == "x\ny"
    assert (Usage(1, 2) + Usage(3, 4, 5, 6)) == Usage(4, 6, 5, 6)
    assert Usage(1, 2).total_tokens == 3


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ({"role": "system", "parts": []}, "unknown message role 'system' (at messages[0])"),
        ({"role": "user", "parts": [{"kind": "video"}]}, "unknown message part kind 'video'"),
        (
            {
                "role": "user",
                "parts": [{"kind": "tool_result", "call_id": "1", "content": [{"kind": "tool_call"}]}],
            },
            "at messages[0].parts[0]",
        ),
        (
            {"role": "user", "parts": [{"kind": "tool_call", "id": "1", "name": "t", "arguments": {}}]},
            "unknown message part kind 'tool_call' (at messages[0].parts[0])",
        ),
        (
            {
                "role": "assistant",
                "parts": [{"kind": "tool_result", "call_id": "1", "name": "t", "content": []}],
            },
            "unknown message part kind 'tool_result'",
        ),
    ],
)
def test_malformed_transcripts_are_refused(raw: dict[str, object], problem: str) -> None:
    with pytest.raises(ValueError) as caught:
        decode_transcript(json.dumps([raw]))
    assert problem in str(caught.value)


def test_a_file_without_a_message_list_is_refused() -> None:
    with pytest.raises(ValueError, match="no 'messages' list"):
        decode_transcript('{"format": "agent-transcript"}')
    with pytest.raises(json.JSONDecodeError):
        decode_transcript("{not json")
