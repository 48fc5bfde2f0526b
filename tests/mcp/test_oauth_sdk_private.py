"""The MCP SDK's private members we rely on are still there, and named nowhere else
(agent/mcp/oauth_sdk_private.py).

Run against a new SDK release before moving the ``mcp`` pin in pyproject.toml: a failure names
the member, where we use it and what changed.
"""

from __future__ import annotations

import inspect
import io
import re
import tokenize
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest
from mcp.client.auth import OAuthClientProvider
from mcp.client.auth.oauth2 import OAuthContext

from agent.mcp.oauth_sdk_private import PRIVATE_MEMBERS, PrivateMember

_AGENT = Path(__file__).resolve().parents[2] / "agent"
_HOME = _AGENT / "mcp" / "oauth_sdk_private.py"


def _sdk_classes(cls: type) -> list[type]:
    return [c for c in cls.__mro__ if c.__module__.split(".")[0] == "mcp"]


def _sdk_private_names() -> dict[str, str]:
    """Private names of the SDK classes we subclass or hold (methods, class and instance
    attributes), each with the qualified name of the first class that has it."""
    found: dict[str, str] = {}
    for cls in [*_sdk_classes(OAuthClientProvider), OAuthContext]:
        names = [n for n in vars(cls) if n.startswith("_") and not n.startswith("__")]
        names += re.findall(r"self\.(_[A-Za-z]\w*)", inspect.getsource(cls))
        for name in names:
            found.setdefault(name, f"{cls.__module__}.{cls.__qualname__}.{name}")
    return found


def _names(path: Path, *, strings: bool) -> Iterator[tuple[int, str]]:
    """Each identifier in a module's code (not its comments or docstrings), with its line; with
    ``strings``, also each string literal that is exactly an identifier (as getattr would use)."""
    for tok in tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline):
        if tok.type == tokenize.NAME:
            yield tok.start[0], tok.string
        elif strings and tok.type == tokenize.STRING:
            value = tok.string.strip("\"'")
            if value.isidentifier():
                yield tok.start[0], value


def _fail(member: PrivateMember, what: str) -> NoReturn:
    pytest.fail(
        f"{member.qualname} {what} (used by {member.used_by}); check the new SDK release. "
        f"Why we use it: {member.why}",
        pytrace=False,
    )


@pytest.mark.parametrize("member", PRIVATE_MEMBERS, ids=lambda m: m.qualname)
def test_each_private_member_is_still_there_in_the_shape_we_use(member: PrivateMember) -> None:
    value = inspect.getattr_static(member.owner, member.name, None)
    if value is None:
        _fail(member, "is gone")
    if not inspect.isfunction(value):
        _fail(member, f"is no longer a method (now {type(value).__name__})")
    kind = "coroutine method" if inspect.iscoroutinefunction(value) else "method"
    if kind != member.kind:
        _fail(member, f"is a {kind} now, not a {member.kind}")
    parameters = tuple(inspect.signature(value).parameters)
    if parameters != member.parameters:
        _fail(member, f"now takes ({', '.join(parameters)}), not ({', '.join(member.parameters)})")
    if member.overridden:
        call = f"self.{member.name}("
        if not any(call in inspect.getsource(cls) for cls in _sdk_classes(member.owner)):
            _fail(member, "is no longer called by the SDK's flow, so our override of it is skipped")


def test_the_module_of_private_members_uses_exactly_those_it_lists() -> None:
    sdk = _sdk_private_names()
    used = {name for _, name in _names(_HOME, strings=False) if name in sdk}
    listed = {m.name for m in PRIVATE_MEMBERS}
    assert used == listed, (
        f"agent/mcp/oauth_sdk_private.py uses {sorted(used)} but PRIVATE_MEMBERS lists {sorted(listed)}"
    )


def test_no_other_module_names_a_private_member_of_the_sdk() -> None:
    """A private member used outside the one module escapes the check above; and a private name
    of ours that the SDK's provider also has (new in a release) silently overrides the SDK's."""
    sdk = _sdk_private_names()
    found = [
        f"agent/{path.relative_to(_AGENT)}:{line} names {sdk[name]}"
        for path in sorted(_AGENT.rglob("*.py"))
        if path != _HOME
        for line, name in _names(path, strings=True)
        if name in sdk
    ]
    assert not found, (
        "private members of the MCP SDK named outside agent/mcp/oauth_sdk_private.py:\n  "
        + "\n  ".join(found)
        + "\nuse a public hook, or list the member in PRIVATE_MEMBERS there and use it only there; "
        "if the name is one of ours (a subclass attribute or method), the SDK now has one like it: "
        "rename ours"
    )
