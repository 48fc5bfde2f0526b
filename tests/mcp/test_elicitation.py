"""agent/mcp/elicitation.py: a server's elicitation requests, answered by default or by a handler."""

from __future__ import annotations

from agent.config import ServerSettings
from agent.mcp.elicitation import ElicitationAnswer, ElicitationRequest, accept_defaults, defaults_of
from agent.mcp.manager import ServerManager
from tests.support.elicit_server import elicit_server


def _text(result: object) -> str:
    return result.content[0].text  # type: ignore[attr-defined,no-any-return]


async def test_by_default_a_form_is_accepted_with_its_defaults_or_declined() -> None:
    async with elicit_server() as url, ServerManager({"asker": ServerSettings(url=url)}) as manager:
        answer = _text(await manager.call_tool("asker", "ask"))
        assert answer == 'accept {"age": 30, "name": "John Doe", "verified": true}'
        # A required field without a default: nobody can fill it in, so the form is declined.
        assert _text(await manager.call_tool("asker", "needs")) == "decline null"


async def test_an_injected_handler_answers_and_sees_the_request() -> None:
    seen: list[ElicitationRequest] = []

    async def user(request: ElicitationRequest) -> ElicitationAnswer:
        seen.append(request)
        return ElicitationAnswer("accept", {"token": "t-42", "remember": True})

    async with (
        elicit_server() as url,
        ServerManager({"asker": ServerSettings(url=url)}, elicitation=user) as manager,
    ):
        assert (
            _text(await manager.call_tool("asker", "needs")) == 'accept {"remember": true, "token": "t-42"}'
        )
    (request,) = seen
    assert (request.server, request.message, request.mode) == ("asker", "Your token, please", "form")
    assert request.schema["required"] == ["token"]


async def test_accept_defaults_declines_what_it_cannot_fill() -> None:
    schema = {
        "type": "object",
        "properties": {"n": {"type": "integer", "default": 3}, "s": {"type": "string"}},
    }
    assert defaults_of(schema) == {"n": 3}
    assert defaults_of({**schema, "required": ["s"]}) is None
    visit = ElicitationRequest("srv", "Open this", mode="url", url="https://example.com/x")
    assert await accept_defaults(visit) == ElicitationAnswer("decline")
    form = ElicitationRequest("srv", "Fill", schema=schema)
    assert await accept_defaults(form) == ElicitationAnswer("accept", {"n": 3})
