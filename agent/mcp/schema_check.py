"""Whether a tool's input schema is a valid JSON Schema: a tool whose schema is not would make
every model request fail (the provider answers 400), so the listing sets it aside.

The dialect is the one the schema names in ``$schema`` when jsonschema knows it, else JSON Schema
2020-12 (MCP's default). Checking a schema against the 2020-12 meta-schema costs about 2 ms with
jsonschema, 10 s for 5000 tools, so schemas made only of the common keywords with plainly valid
values (what nearly every server sends) are accepted by a quick walk, and everything else (an
unknown keyword, an odd value) is judged by jsonschema's ``check_schema``. The quick walk never
accepts what ``check_schema`` would reject (tests/mcp/test_schema_check.py compares them).
Nothing is resolved: a ``$ref`` is a string here, so no schema can make us fetch a URL.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["schema_problem"]

# Dialects whose rules for the keywords below are 2020-12's, or laxer (draft-07's ``items``).
_QUICK_DIALECTS = frozenset(
    {
        "https://json-schema.org/draft/2020-12/schema",
        "https://json-schema.org/draft/2020-12/schema#",
        "http://json-schema.org/draft-07/schema#",
        "http://json-schema.org/draft-07/schema",
    }
)
_TYPES = frozenset({"array", "boolean", "integer", "null", "number", "object", "string"})
_LOCAL_REF = re.compile(r"#(/[A-Za-z0-9_.~$%-]*)*")
_MAX_DEPTH = 64


def _is_str(value: object) -> bool:
    return type(value) is str


def _is_number(value: object) -> bool:
    return type(value) in (int, float)


def _is_count(value: object) -> bool:
    return type(value) is int and value >= 0


def _is_bool(value: object) -> bool:
    return type(value) is bool


def _is_any(value: object) -> bool:
    return True


def _is_type(value: object) -> bool:
    if type(value) is str:
        return value in _TYPES
    return (
        type(value) is list
        and bool(value)
        and all(type(v) is str and v in _TYPES for v in value)
        and len(set(value)) == len(value)
    )


def _is_names(value: object) -> bool:
    return type(value) is list and all(type(v) is str for v in value) and len(set(value)) == len(value)


def _is_list(value: object) -> bool:
    return type(value) is list


@functools.lru_cache(maxsize=256)
def _compiles(pattern: str) -> bool:
    try:
        re.compile(pattern)
    except re.error:
        return False
    return True


def _is_pattern(value: object) -> bool:
    return type(value) is str and _compiles(value)


def _is_ref(value: object) -> bool:
    return type(value) is str and _LOCAL_REF.fullmatch(value) is not None


# Keywords whose value is checked as such; the schema-valued ones are walked below.
_PLAIN: Mapping[str, Callable[[object], bool]] = {
    "type": _is_type,
    "title": _is_str,
    "description": _is_str,
    "$comment": _is_str,
    "format": _is_str,
    "default": _is_any,
    "const": _is_any,
    "examples": _is_list,
    "enum": _is_list,
    "required": _is_names,
    "pattern": _is_pattern,
    "$ref": _is_ref,
    "minimum": _is_number,
    "maximum": _is_number,
    "exclusiveMinimum": _is_number,
    "exclusiveMaximum": _is_number,
    "minLength": _is_count,
    "maxLength": _is_count,
    "minItems": _is_count,
    "maxItems": _is_count,
    "minProperties": _is_count,
    "maxProperties": _is_count,
    "uniqueItems": _is_bool,
    "deprecated": _is_bool,
    "readOnly": _is_bool,
    "writeOnly": _is_bool,
}
_ONE_SCHEMA = frozenset({"items", "additionalProperties", "not", "propertyNames", "contains"})
_SCHEMA_MAPS = frozenset({"properties", "$defs", "definitions", "patternProperties"})
_SCHEMA_LISTS = frozenset({"anyOf", "oneOf", "allOf", "prefixItems"})


def _plainly_valid(node: Any, depth: int = 0) -> bool:
    """True when ``node`` is surely a valid 2020-12 schema; False when unsure (not: invalid)."""
    if type(node) is bool:
        return True
    if type(node) is not dict or depth > _MAX_DEPTH:
        return False
    for key, value in node.items():
        check = _PLAIN.get(key)
        if check is not None:
            if not check(value):
                return False
        elif key in _ONE_SCHEMA:
            if not _plainly_valid(value, depth + 1):
                return False
        elif key in _SCHEMA_MAPS:
            if type(value) is not dict:
                return False
            if key == "patternProperties" and not all(_compiles(k) for k in value):
                return False
            if not all(_plainly_valid(sub, depth + 1) for sub in value.values()):
                return False
        elif key in _SCHEMA_LISTS:
            if type(value) is not list or not value:
                return False
            if not all(_plainly_valid(sub, depth + 1) for sub in value):
                return False
        elif key == "$schema":
            if depth or value not in _QUICK_DIALECTS:
                return False
        else:
            return False
    return True


def schema_problem(schema: object) -> str | None:
    """What makes ``schema`` not a valid JSON Schema (one line), or None when it is valid."""
    if _plainly_valid(schema):
        return None
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError
    from jsonschema.validators import validator_for

    if not isinstance(schema, Mapping | bool):
        return f"the input schema is a {type(schema).__name__}, not a JSON object"
    try:
        cls = validator_for(schema, default=Draft202012Validator) if isinstance(schema, Mapping) else None
        (cls or Draft202012Validator).check_schema(schema)
    except SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path)
        return f"invalid input schema{f' at {where}' if where else ''}: {exc.message[:200]}"
    except Exception as exc:  # a schema too deep to check, or one that breaks the checker
        return f"input schema could not be checked: {type(exc).__name__}"
    return None
