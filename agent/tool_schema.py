"""Tools' input schemas (the schema half of :mod:`agent.tools`): made fit for the providers, and
arguments checked against them.

- ``convert_schema``: the server's JSON Schema is passed on as is (``$defs``/``$ref``, ``anyOf``,
  enums, nested objects: both APIs take them with strict mode off). Only the top level is repaired,
  because both APIs insist on ``{"type": "object", ...}`` there; every repair is logged.
- ``schema_violation``: how arguments a person typed (``agent call``, chat's ``/call``) break a
  tool's schema, for a clear message before the call; nothing in a schema makes us fetch a URL.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

__all__ = ["convert_schema", "schema_violation"]

log = logging.getLogger(__name__)

_EMPTY_SCHEMA: Mapping[str, Any] = {"type": "object", "properties": {}}
_COMBINATORS = ("anyOf", "oneOf", "allOf")
_SPECIAL = frozenset({"$schema", *_COMBINATORS})


def _merge_branches(schema: dict[str, Any], tool: str) -> None:
    """Fold top-level ``anyOf``/``oneOf``/``allOf`` object branches into one object schema.

    Both APIs reject a combinator at the top of a tool schema. The merged schema offers every
    property of every branch; ``required`` keeps what all branches (allOf: any branch) require.
    The "exactly one of these shapes" rule is lost; the server still validates it.
    """
    properties: dict[str, Any] = dict(schema.get("properties") or {})
    required: list[str] = list(schema.get("required") or [])
    for key in _COMBINATORS:
        branches = schema.pop(key, None)
        if not isinstance(branches, list):
            continue
        branch_required: list[set[str]] = []
        for branch in branches:
            if not isinstance(branch, Mapping):
                continue
            for prop, sub in (branch.get("properties") or {}).items():
                properties.setdefault(prop, sub)
            branch_required.append(set(branch.get("required") or ()))
        if branch_required:
            common = set.union(*branch_required) if key == "allOf" else set.intersection(*branch_required)
            required.extend(sorted(r for r in common if r not in required))
        log.info("tool %r: top-level %s merged into one object schema", tool, key)
    schema["properties"] = properties
    if required:
        schema["required"] = required


def convert_schema(raw: object, tool: str = "?") -> dict[str, Any]:
    """A tool's MCP input schema as a provider input schema: ``{"type": "object", ...}``.

    Lossless unless the top level cannot be sent as is: a missing or invalid schema becomes an
    empty object schema, a top-level combinator is merged, ``$schema`` is dropped (it tells the
    model nothing and some OpenAI-compatible servers reject it). A schema that needs no repair is
    returned as is, and nested parts are shared, not copied: treat the result as read-only.
    """
    if type(raw) is dict and raw.get("type") == "object" and _SPECIAL.isdisjoint(raw):
        # The common case, checked cheaply (thousands of tools): already a valid object schema.
        required = raw.get("required")
        if type(raw.get("properties")) is dict and (
            required is None or (type(required) is list and all(type(r) is str for r in required))
        ):
            return raw
    if not isinstance(raw, Mapping):
        log.warning("tool %r has no valid input schema (%s); offering it without parameters", tool, type(raw))
        return dict(_EMPTY_SCHEMA)
    schema = dict(raw)
    kind = schema.get("type")
    if (isinstance(kind, list) and "object" in kind) or kind is None:
        schema["type"] = "object"
    elif kind != "object":
        log.warning(
            "tool %r: input schema has type %r, not an object; offering it without parameters", tool, kind
        )
        return dict(_EMPTY_SCHEMA)
    schema.pop("$schema", None)
    if "anyOf" in schema or "oneOf" in schema or "allOf" in schema:
        _merge_branches(schema, tool)
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        if properties is not None:
            log.warning("tool %r: 'properties' is not an object; dropped", tool)
        schema["properties"] = {}
    required = schema.get("required")
    if required is not None and not (
        isinstance(required, list) and all(isinstance(r, str) for r in required)
    ):
        log.warning("tool %r: 'required' is not a list of names; dropped", tool)
        del schema["required"]
    return schema


def schema_violation(
    schema: Mapping[str, Any], arguments: Mapping[str, Any]
) -> tuple[list[str | int], str] | None:
    """The most relevant way ``arguments`` break a tool's input ``schema``: the path to the bad
    value and the rule's message; None when they fit, or when the schema cannot be used (broken,
    looping, or naming what cannot be resolved here): the server judges the arguments then.

    The schema is the server's: nothing in it reaches the network. A ``$ref`` (or ``$dynamicRef``)
    that does not point inside the schema is skipped, its sibling keywords still apply, and the
    validator gets an empty registry, so nothing is ever fetched.
    """
    import jsonschema
    import referencing
    from jsonschema.exceptions import SchemaError, best_match

    try:
        local = _local_refs_only(schema)
        cls = jsonschema.validators.validator_for(local)
        cls.check_schema(local)
        error = best_match(cls(local, registry=referencing.Registry()).iter_errors(arguments))
    except SchemaError:
        return None
    except Exception as exc:  # unresolvable or looping references, a bad pattern, too deep
        log.info("input schema not checked here: %s: %.200s", type(exc).__name__, exc)
        return None
    return None if error is None else (list(error.absolute_path), error.message)


_REF_KEYWORDS = ("$ref", "$dynamicRef", "$recursiveRef")


def _local_refs_only(node: Any) -> Any:
    """A copy of a schema without the references that point outside it (not ``#…``)."""
    if isinstance(node, Mapping):
        return {
            key: _local_refs_only(value)
            for key, value in node.items()
            if not (key in _REF_KEYWORDS and isinstance(value, str) and not value.startswith("#"))
        }
    if isinstance(node, list):
        return [_local_refs_only(item) for item in node]
    return node
