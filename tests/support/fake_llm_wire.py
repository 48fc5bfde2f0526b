"""The wire formats of the fake model APIs (see :mod:`tests.support.fake_llm`), one entry point per
direction that picks the API's codec:

* reading what an SDK sent: :func:`read_conversation` turns the body of an Anthropic Messages,
  Chat Completions or Responses request into one provider-neutral :class:`Conversation`, so a
  scripted "model" can look at tool results without caring which API it is faking;
* writing the answer: :func:`encode` renders an :class:`Answer` as the SSE events (or the JSON
  object, when the request did not ask for a stream) the real service sends; :func:`error_body`
  and :func:`stream_error` render its errors.

The neutral types live in :mod:`tests.support.fake_llm_neutral`, each API's JSON in
:mod:`tests.support.fake_llm_anthropic` and :mod:`tests.support.fake_llm_openai`.
"""

from __future__ import annotations

from typing import Any

from tests.support import fake_llm_anthropic as anthropic
from tests.support import fake_llm_openai as openai
from tests.support.fake_llm_neutral import API, Answer, Call, Conversation, SeenToolResult, sse

__all__ = [
    "API",
    "Answer",
    "Call",
    "Conversation",
    "SeenToolResult",
    "encode",
    "error_body",
    "read_conversation",
    "sse",
    "stream_error",
]


def read_conversation(api: API, body: dict[str, Any]) -> Conversation:
    conv = Conversation()
    {"anthropic": anthropic.read, "chat": openai.read_chat, "responses": openai.read_responses}[api](
        body, conv
    )
    return conv


def encode(
    api: API, answer: Answer, *, stream: bool, include_usage: bool = False
) -> list[bytes] | dict[str, Any]:
    """SSE events (``stream``) or the whole JSON response body, as the real API sends them."""
    if api == "anthropic":
        return anthropic.encode(answer, stream=stream)
    if api == "chat":
        return openai.encode_chat(answer, stream=stream, include_usage=include_usage)
    return openai.encode_responses(answer, stream=stream)


def stream_error(api: API, kind: str, message: str) -> bytes:
    """An error reported inside a 200 stream, as each service does it (``kind``: e.g. overloaded_error)."""
    if api == "anthropic":
        return anthropic.stream_error(kind, message)
    if api == "responses":
        return openai.stream_error_responses(kind, message)
    return openai.stream_error_chat(kind, message)


def error_body(api: API, status: int, message: str) -> dict[str, Any]:
    """The JSON body of an HTTP error answer, as the API sends it."""
    if api == "anthropic":
        return anthropic.error_body(status, message)
    return openai.error_body(status, message)
