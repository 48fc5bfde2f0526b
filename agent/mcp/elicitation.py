"""Answering a server's elicitation requests (a server asking the user for input mid-call).

A server may ask, while one of its tools runs, for a small form (``requestedSchema``: a flat
JSON Schema object) or for the user to visit a URL. The SDK hands such a request to a callback;
:func:`sdk_callback` turns ours, an :data:`ElicitationHandler` over the neutral
:class:`ElicitationRequest` / :class:`ElicitationAnswer`, into that callback, so the rest of the
program (a chat UI that asks the user, say) never sees SDK types.

:func:`accept_defaults` is the answer when nobody can be asked: accept a form with each field's
schema ``default`` when every required field has one (SEP-1034), else decline. A URL request is
declined: nobody is there to open it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import mcp_types
    from mcp.client.session import ClientRequestContext, ElicitationFnT

__all__ = [
    "ElicitationAnswer",
    "ElicitationHandler",
    "ElicitationRequest",
    "accept_defaults",
    "defaults_of",
    "sdk_callback",
]


@dataclass(frozen=True, slots=True)
class ElicitationRequest:
    """What a server asks: a form (``schema``) or a visit to ``url``."""

    server: str
    message: str
    mode: Literal["form", "url"] = "form"
    schema: dict[str, Any] = field(default_factory=dict)
    url: str | None = None


@dataclass(frozen=True, slots=True)
class ElicitationAnswer:
    """The answer: ``accept`` (with the form's ``content``), ``decline`` or ``cancel``."""

    action: Literal["accept", "decline", "cancel"]
    content: dict[str, Any] | None = None


ElicitationHandler = Callable[[ElicitationRequest], Awaitable[ElicitationAnswer]]


def defaults_of(schema: dict[str, Any]) -> dict[str, Any] | None:
    """Each property's ``default``; None when a required property has none."""
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        properties = {}
    values = {
        name: spec["default"]
        for name, spec in properties.items()
        if isinstance(spec, dict) and "default" in spec
    }
    required = schema.get("required")
    if isinstance(required, list) and any(name not in values for name in required):
        return None
    return values


async def accept_defaults(request: ElicitationRequest) -> ElicitationAnswer:
    """Accept a form with its defaults when they fill every required field; else decline."""
    if request.mode != "form":
        return ElicitationAnswer("decline")
    values = defaults_of(request.schema)
    if values is None:
        return ElicitationAnswer("decline")
    return ElicitationAnswer("accept", values)


def sdk_callback(server: str, handler: ElicitationHandler) -> ElicitationFnT:
    """The SDK's ``elicitation_callback`` for one server, answering through ``handler``."""
    import mcp_types

    async def callback(
        context: ClientRequestContext, params: mcp_types.ElicitRequestParams
    ) -> mcp_types.ElicitResult | mcp_types.ErrorData:
        if isinstance(params, mcp_types.ElicitRequestURLParams):
            request = ElicitationRequest(server, params.message, mode="url", url=params.url)
        else:
            request = ElicitationRequest(server, params.message, schema=dict(params.requested_schema))
        answer = await handler(request)
        content = answer.content if answer.action == "accept" and request.mode == "form" else None
        return mcp_types.ElicitResult(action=answer.action, content=content)

    return callback
