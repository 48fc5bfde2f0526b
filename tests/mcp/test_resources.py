"""Resources, templates, completions and prompts of a real SDK server (agent/mcp/resources.py, prompts.py)."""

from __future__ import annotations

import pytest

from agent.config import ServerSettings
from agent.errors import ServerError, UsageError
from agent.mcp.manager import ServerManager
from agent.mcp.prompts import get_prompt, list_prompts, parse_arguments
from agent.mcp.resources import complete, list_resources, read_resource
from agent.messages import AssistantMessage, UserMessage
from tests.support.features_server import PNG_1X1, features_server


async def test_resources_and_templates_are_listed_and_read(mcp_http_url: str) -> None:
    servers = {"notes": None, "plain": ServerSettings(url=mcp_http_url)}
    async with features_server() as url:
        servers["notes"] = ServerSettings(url=url)
        async with ServerManager({k: v for k, v in servers.items() if v is not None}) as manager:
            resources, templates = await list_resources(manager)
            # the plain test server offers no resources: nothing asked of it, nothing listed
            assert [(r.server, r.uri, r.mime_type) for r in resources] == [
                ("notes", "notes://list", "text/plain"),
                ("notes", "notes://logo", "image/png"),
            ]
            assert [(t.uri_template, t.variables, t.prefix) for t in templates] == [
                ("notes://note/{name}", ["name"], "notes://note/")
            ]
            [text] = await read_resource(manager, "notes", "notes://note/beta")
            assert text.text == "Beta follows alpha." and text.is_text
            [blob] = await read_resource(manager, "notes", "notes://logo")
            assert blob.blob == PNG_1X1 and blob.mime_type == "image/png"
            with pytest.raises(ServerError, match="reading notes://nope failed"):
                await read_resource(manager, "notes", "notes://nope")


async def test_completions_for_template_and_prompt_arguments() -> None:
    async with features_server() as url, ServerManager({"notes": ServerSettings(url=url)}) as manager:
        assert await complete(
            manager, "notes", template="notes://note/{name}", argument="name", value="g"
        ) == ["gamma"]
        styles = await complete(manager, "notes", prompt="summarize", argument="style", value="")
        assert styles == ["short", "detailed", "bullets"]


async def test_prompts_are_listed_and_got_as_messages() -> None:
    async with features_server() as url, ServerManager({"notes": ServerSettings(url=url)}) as manager:
        prompts = {p.name: p for p in await list_prompts(manager)}
        assert [(a.name, a.required) for a in prompts["summarize"].arguments] == [
            ("topic", True),
            ("style", False),
        ]
        [message] = await get_prompt(manager, "notes", "summarize", {"topic": "cats"})
        assert isinstance(message, UserMessage) and message.text == "Summarize cats in a short style."
        greet = await get_prompt(manager, "notes", "greet")
        assert [type(m) for m in greet] == [UserMessage, AssistantMessage, UserMessage]
        with pytest.raises(ServerError, match="getting prompt 'summarize' failed"):
            await get_prompt(manager, "notes", "summarize", {})  # topic is required


def test_prompt_arguments_are_key_value_words() -> None:
    assert parse_arguments(["topic=a=b", "style="]) == {"topic": "a=b", "style": ""}
    with pytest.raises(UsageError, match="key=value"):
        parse_arguments(["cats"])
    with pytest.raises(UsageError, match="'topic' is given twice"):
        parse_arguments(["topic=cats", "topic=dogs"])
