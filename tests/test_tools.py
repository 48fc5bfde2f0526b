"""MCP tools as the model sees them: names, schemas, results, and calls that never raise."""

from __future__ import annotations

import base64
import copy
import json
import logging
import re
from typing import Any

import anyio
import mcp_types as mt
import pytest

from agent.mcp.manager import ServerTool
from agent.messages import ImagePart, TextPart
from agent.tools import (
    Toolbox,
    convert_result,
    convert_schema,
    provider_names,
    schema_violation,
    truncate_text,
)
from tests.support.http_edge import status_server

VALID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")

NESTED: dict[str, Any] = {
    "$defs": {
        "SeatClass": {"enum": ["economy", "business"], "type": "string"},
        "Trip": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "seat_class": {"$ref": "#/$defs/SeatClass"}},
            "required": ["city", "seat_class"],
        },
    },
    "type": "object",
    "properties": {
        "trip": {"$ref": "#/$defs/Trip"},
        "seats": {"type": "integer", "default": 1, "minimum": 1},
        "note": {"anyOf": [{"type": "string"}, {"type": "null"}], "default": None},
        "mode": {"type": "string", "enum": ["fast", "cheap"]},
        "filters": {
            "type": "object",
            "properties": {"tags": {"type": "array", "items": {"type": "string"}}},
            "additionalProperties": False,
        },
    },
    "required": ["trip"],
}


def _tool(name: str, schema: Any = None, server: str = "s", description: str | None = "d") -> ServerTool:
    tool = mt.Tool(name=name, description=description, input_schema={"type": "object"})
    if schema is not None:
        # Servers send anything; bypass validation the way a raw wire value would.
        object.__setattr__(tool, "input_schema", schema)
    return ServerTool(server, tool)


# --- names ------------------------------------------------------------------------------------


def test_single_server_names_are_the_tools_own_names() -> None:
    assert provider_names([("s", "echo"), ("s", "add")], namespaced=False) == ["echo", "add"]


def test_several_servers_prefix_the_server_name() -> None:
    names = provider_names([("docs", "search"), ("web", "search")], namespaced=True)
    assert names == ["docs__search", "web__search"]


def test_invalid_characters_and_length_are_fixed_and_stay_unique() -> None:
    pairs = [("s", "files.read"), ("s", "files read"), ("s", "files_read"), ("s", "ünï"), ("s", "x" * 100)]
    names = provider_names(pairs, namespaced=False)
    assert all(VALID.match(n) for n in names)
    assert len(set(names)) == len(names)
    # The name that was valid keeps its spelling; the sanitised ones get suffixes.
    assert names[2] == "files_read"
    assert set(names[:2]) == {"files_read_2", "files_read_3"}
    assert names[4] == "x" * 64


def test_namespacing_collisions_between_servers_and_truncation() -> None:
    long_server = "s" * 40
    pairs = [
        ("a", "b__c"),
        ("a__b", "c"),  # a__b__c vs a__b__c
        (long_server, "t" * 30 + "1"),
        (long_server, "t" * 30 + "2"),  # both cut to the same 64 characters
    ]
    names = provider_names(pairs, namespaced=True)
    assert names[0] == "a__b__c"
    assert names[1] == "a__b__c_2"
    assert all(VALID.match(n) for n in names)
    assert len(set(names)) == 4


def test_empty_name_gets_a_placeholder() -> None:
    assert provider_names([("s", "")], namespaced=False) == ["tool"]


def test_toolbox_maps_names_back_exactly() -> None:
    tools = [
        _tool("read.file", server="fs"),
        _tool("read_file", server="fs"),
        _tool("read.file", server="web"),
    ]
    box = Toolbox(None, tools, namespaced=True)
    mapping = {e.name: (e.server, e.tool) for e in box.entries}
    assert mapping == {
        "fs__read_file": ("fs", "read_file"),
        "fs__read_file_2": ("fs", "read.file"),
        "web__read_file": ("web", "read.file"),
    }
    for name, (server, tool) in mapping.items():
        entry = box.resolve(name)
        assert entry is not None and (entry.server, entry.tool) == (server, tool)
    assert box.resolve("nope") is None


def test_thousands_of_tools_stay_unique() -> None:
    tools = [_tool(f"tool.{i % 2500}", server=f"srv{i // 2500}") for i in range(5000)]
    box = Toolbox(None, tools, namespaced=True)
    names = [s.name for s in box.specs]
    assert len(set(names)) == 5000
    assert all(VALID.match(n) for n in names)


# --- schemas ----------------------------------------------------------------------------------


def test_nested_objects_enums_anyof_and_refs_pass_unchanged() -> None:
    original = copy.deepcopy(NESTED)
    assert convert_schema(NESTED, "book") == original
    assert original == NESTED  # the input is not modified


@pytest.mark.parametrize("raw", [None, "string", 42, []])
def test_missing_or_invalid_schema_becomes_an_empty_object(
    raw: object, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, "agent.tool_schema"):
        assert convert_schema(raw, "t") == {"type": "object", "properties": {}}
    assert "no valid input schema" in caplog.text


def test_non_object_top_level_is_replaced_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, "agent.tool_schema"):
        assert convert_schema({"type": "string"}, "t") == {"type": "object", "properties": {}}
    assert "not an object" in caplog.text


def test_top_level_repairs() -> None:
    assert convert_schema({"properties": {"a": {"type": "string"}}}) == {
        "type": "object",
        "properties": {"a": {"type": "string"}},
    }
    assert convert_schema({"type": ["object", "null"]}) == {"type": "object", "properties": {}}
    assert convert_schema({"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object"}) == {
        "type": "object",
        "properties": {},
    }
    assert convert_schema({"type": "object", "properties": [], "required": "a"}) == {
        "type": "object",
        "properties": {},
    }


def test_top_level_anyof_is_merged(caplog: pytest.LogCaptureFixture) -> None:
    raw = {
        "anyOf": [
            {
                "type": "object",
                "properties": {"id": {"type": "string"}, "x": {"type": "integer"}},
                "required": ["id"],
            },
            {
                "type": "object",
                "properties": {"id": {"type": "string"}, "y": {"type": "integer"}},
                "required": ["id", "y"],
            },
        ]
    }
    with caplog.at_level(logging.INFO, "agent.tool_schema"):
        out = convert_schema(raw, "t")
    assert out == {
        "type": "object",
        "properties": {"id": {"type": "string"}, "x": {"type": "integer"}, "y": {"type": "integer"}},
        "required": ["id"],
    }
    assert "anyOf merged" in caplog.text


def test_toolbox_specs_carry_description_and_schema() -> None:
    box = Toolbox(None, [_tool("book", NESTED, description="Book a trip."), _tool("t", description=None)])
    book, t = box.specs
    assert (book.name, book.description, book.input_schema) == ("book", "Book a trip.", NESTED)
    assert t.description == ""
    assert json.loads(json.dumps(book.input_schema)) == NESTED


# --- results ----------------------------------------------------------------------------------


def _convert(result: mt.CallToolResult, max_chars: int = 100_000) -> Any:
    return convert_result(result, call_id="c1", name="n", max_chars=max_chars)


def test_text_and_image_results() -> None:
    png = base64.b64encode(b"\x89PNG").decode()
    out = _convert(
        mt.CallToolResult(
            content=[mt.TextContent(text="hi"), mt.ImageContent(data=png, mime_type="image/png")]
        )
    )
    assert out.call_id == "c1" and out.name == "n" and not out.is_error
    assert out.content == (TextPart("hi"), ImagePart(png, "image/png"))


def test_audio_links_and_resources_become_text_notes() -> None:
    content: list[mt.ContentBlock] = [
        mt.AudioContent(data="AAAA", mime_type="audio/wav"),
        mt.ResourceLink(uri="file:///r.txt", name="r", mime_type="text/plain", description="a file"),
        mt.EmbeddedResource(
            resource=mt.TextResourceContents(uri="mem://a", text="body", mime_type="text/plain")
        ),
        mt.EmbeddedResource(
            resource=mt.BlobResourceContents(uri="mem://b", blob="AAAA", mime_type="application/zip")
        ),
        mt.EmbeddedResource(
            resource=mt.BlobResourceContents(uri="mem://i", blob="AAAA", mime_type="image/gif")
        ),
    ]
    out = _convert(mt.CallToolResult(content=content))
    audio, link, text, blob, image = out.content
    assert "audio (audio/wav" in audio.text
    assert link.text == "[resource link 'r': file:///r.txt (text/plain)] a file"
    assert text.text == "[resource: mem://a (text/plain)]\nbody"
    assert "binary resource" in blob.text and "mem://b" in blob.text
    assert image == ImagePart("AAAA", "image/gif")


def test_structured_content_becomes_json_only_when_there_is_no_text() -> None:
    data = {"answer": 42, "items": ["a", "é"]}
    only = _convert(mt.CallToolResult(content=[], structured_content=data))
    assert json.loads(only.text) == data
    both = _convert(mt.CallToolResult(content=[mt.TextContent(text="42")], structured_content=data))
    assert both.text == "42"


def test_error_flag_and_empty_result() -> None:
    err = _convert(mt.CallToolResult(content=[mt.TextContent(text="boom")], is_error=True))
    assert err.is_error and err.text == "boom"
    assert _convert(mt.CallToolResult(content=[])).text == "(no output)"


def test_huge_result_is_truncated_with_a_visible_marker() -> None:
    text = "a" * 500 + "b" * 500
    out = _convert(mt.CallToolResult(content=[mt.TextContent(text=text)]), max_chars=100)
    assert "[… truncated 900 characters …]" in out.text
    assert out.text.startswith("a" * 75) and out.text.endswith("b" * 25)
    assert len(out.text) < 200


def test_truncation_spans_several_parts_and_keeps_images() -> None:
    parts: list[mt.ContentBlock] = [
        mt.TextContent(text="x" * 60),
        mt.ImageContent(data="AAAA", mime_type="image/png"),
    ]
    parts.append(mt.TextContent(text="y" * 60))
    out = _convert(mt.CallToolResult(content=parts), max_chars=40)
    assert [p.kind for p in out.content] == ["text", "image"]
    assert "[… truncated 81 characters …]" in out.text


def test_truncate_text_leaves_short_text_alone() -> None:
    assert truncate_text("short", 10) == "short"


def test_toolbox_limit_comes_from_tokens() -> None:
    assert Toolbox(None, max_result_tokens=10).max_result_chars == 40


# --- calls that cannot reach a tool -----------------------------------------------------------


async def test_unknown_tool_is_an_error_result_with_suggestions() -> None:
    box = Toolbox(None, [_tool("search_docs"), _tool("fetch")])
    out = await box.call("search_doc", {}, call_id="c9")
    assert out.is_error and out.call_id == "c9"
    assert "no tool named 'search_doc'" in out.text and "'search_docs'" in out.text
    listed = await box.call("zzz", {})
    assert "Available tools: search_docs, fetch" in listed.text


# --- against the real MCP test server ---------------------------------------------------------


async def test_two_servers_are_namespaced_and_calls_reach_the_right_one(mcp_http_url: str) -> None:
    from agent.config import ServerSettings
    from agent.mcp.manager import ServerManager

    servers = {"one": ServerSettings(url=mcp_http_url), "two": ServerSettings(url=mcp_http_url)}
    async with ServerManager(servers) as manager:
        box = await Toolbox.load(manager)
        names = {s.name for s in box.specs}
        assert {"one__echo", "two__echo", "one__book"} <= names
        entry = box.resolve("two__add")
        assert entry is not None and (entry.server, entry.tool) == ("two", "add")
        out = await box.call("two__add", {"a": 20, "b": 22}, call_id="x")
        assert (out.call_id, out.name, out.text, out.is_error) == ("x", "two__add", "42", False)


async def test_real_server_schemas_results_and_failures(mcp_http_url: str) -> None:
    from agent.config import ServerSettings
    from agent.mcp.manager import ServerManager

    async with ServerManager({"test": ServerSettings(url=mcp_http_url)}) as manager:
        box = await Toolbox.load(manager)
        book = next(s for s in box.specs if s.name == "book")
        schema = book.input_schema
        assert schema["type"] == "object" and schema["required"] == ["trip"]
        trip_ref = schema["properties"]["trip"]["$ref"]
        trip = schema["$defs"][trip_ref.rsplit("/", 1)[1]]
        seat = trip["properties"]["seat_class"]
        seat_def = schema["$defs"][seat["$ref"].rsplit("/", 1)[1]] if "$ref" in seat else seat
        assert seat_def["enum"] == ["economy", "business"]
        assert "anyOf" in schema["properties"]["note"]

        booked = await box.call("book", {"trip": {"city": "Oslo", "seat_class": "business"}, "seats": 2})
        assert booked.text == "2 business seat(s) to Oslo"
        image = await box.call("image", {})
        assert [p.kind for p in image.content] == ["image"]
        structured = await box.call("structured", {})
        assert json.loads(structured.text) == {"answer": 42, "items": ["a", "b"]}
        bad_args = await box.call("add", {"a": "not a number"})
        assert bad_args.is_error
        not_a_dict = await box.call("add", ["a"])
        assert not_a_dict.is_error and "JSON object" in not_a_dict.text

        # A server the manager does not (or no longer) hold: an error result, not an exception.
        ghost = Toolbox(manager, [_tool("echo", server="gone")])
        out = await ghost.call("echo", {"text": "hi"})
        assert out.is_error and "gone" in out.text


# --- checking arguments against a schema: never the network, never a traceback -----------------


async def test_a_schema_check_never_fetches_a_ref_and_still_checks_the_rest() -> None:
    seen: list[bytes] = []
    async with status_server(200, "OK", seen=seen) as url:
        canary = url.removesuffix("/mcp")
        schema = {
            "type": "object",
            "properties": {
                "a": {"$ref": f"{canary}/a.json", "type": "string"},
                "b": {"$ref": "b.json"},  # relative to the $id below: remote too
                "n": {"type": "integer"},
            },
            "required": ["n"],
            "$id": f"{canary}/root.json",
        }
        results = [
            await anyio.to_thread.run_sync(schema_violation, schema, arguments)
            for arguments in ({"a": "x", "b": 1, "n": 2}, {"a": "x", "n": "two"}, {"a": 5, "n": 1})
        ]
    assert seen == [], "the check fetched a $ref"
    assert results == [
        None,
        (["n"], "'two' is not of type 'integer'"),
        (["a"], "5 is not of type 'string'"),  # the keywords beside a skipped $ref still count
    ]


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "properties": {"a": {"$ref": "#/$defs/missing"}}},
        {
            "type": "object",
            "properties": {"a": {"$ref": "#/$defs/node"}},
            "$defs": {"node": {"$ref": "#/$defs/node"}},
        },
        {"type": "object", "properties": {"a": {"$dynamicRef": "https://example.invalid/x"}}},
        {"type": "object", "properties": {"a": {"$ref": 5}}},
        {"type": "object", "properties": {"a": {"pattern": "("}}},
    ],
    ids=["missing-local", "ref-loop", "dynamic-ref", "ref-not-a-string", "bad-regex"],
)
def test_a_schema_that_cannot_be_resolved_or_run_leaves_the_judgement_to_the_server(
    schema: dict[str, Any],
) -> None:
    assert schema_violation(schema, {"a": "anything"}) is None


def test_a_property_named_ref_is_a_property_not_a_reference() -> None:
    schema = {"type": "object", "properties": {"$ref": {"type": "integer"}}, "required": ["$ref"]}
    assert schema_violation(schema, {"$ref": 1}) is None
    assert schema_violation(schema, {"$ref": "x"}) == (["$ref"], "'x' is not of type 'integer'")
