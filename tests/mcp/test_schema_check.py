"""Input schemas that are not valid JSON Schema (agent/mcp/schema_check.py): named with the
reason; the quick walk never accepts what jsonschema's check_schema rejects."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from agent.mcp.schema_check import _plainly_valid, schema_problem

SNAPSHOTS = Path(__file__).resolve().parents[2] / "bench" / "data" / "servers"

BROKEN: list[tuple[Any, str]] = [
    ({"type": "object", "properties": {"when": {"type": "datetime"}}}, "at properties/when/type"),
    ({"type": "object", "required": ["a", "a"]}, "at required"),
    (
        {"type": "object", "properties": {"a": {"type": "string", "minLength": -1}}},
        "at properties/a/minLength",
    ),
    ({"type": "object", "properties": {"a": {"pattern": "(unclosed"}}}, "at properties/a/pattern"),
    ({"type": "object", "properties": {"a": {"anyOf": []}}}, "at properties/a/anyOf"),
    ({"type": "object", "properties": {"a": {"items": [{"type": "string"}]}}}, "at properties/a/items"),
    ({"type": "object", "properties": []}, "at properties"),
    ({"type": "object", "properties": {"a": 5}}, "at properties/a"),
]

VALID: list[Any] = [
    {"type": "object"},
    {"type": "object", "properties": {"a": {"$ref": "https://example.com/remote.json"}}},  # never fetched
    {"type": "object", "properties": {"a": {"x-vendor": [1, 2]}}},  # unknown keywords are allowed
    {"type": "object", "properties": {"a": {"multipleOf": 2, "minLength": 1.0}}},
    {"$schema": "http://json-schema.org/draft-07/schema#", "properties": {"a": {"items": [{}]}}},
    True,
]


@pytest.mark.parametrize(("schema", "where"), BROKEN)
def test_a_broken_schema_is_named_with_where_and_why(schema: Any, where: str) -> None:
    problem = schema_problem(schema)
    assert problem is not None and problem.startswith(f"invalid input schema {where}: ")


@pytest.mark.parametrize("schema", VALID)
def test_valid_schemas_pass(schema: Any) -> None:
    assert schema_problem(schema) is None


def test_the_quick_walk_agrees_with_check_schema() -> None:
    """Every schema the quick walk accepts, check_schema accepts too; the published servers'
    schemas all take the quick way (it is what keeps 5000 tools cheap)."""
    schemas = [
        tool["inputSchema"]
        for path in sorted(SNAPSHOTS.glob("*.json"))
        for tool in json.loads(path.read_text(encoding="utf-8"))["tools"]
    ]
    assert len(schemas) > 200
    assert all(_plainly_valid(s) for s in schemas)
    for schema in [*schemas, *VALID, *(s for s, _ in BROKEN)]:
        if _plainly_valid(schema):
            Draft202012Validator.check_schema(_without_draft7(schema))


def _without_draft7(schema: Any) -> Any:
    if isinstance(schema, dict) and "draft-07" in str(schema.get("$schema", "")):
        from jsonschema import Draft7Validator

        Draft7Validator.check_schema(schema)
        return True
    return schema
