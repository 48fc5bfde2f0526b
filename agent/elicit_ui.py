"""Asking the user a server's elicitation request on a terminal: a form field by field, or a URL.

:func:`ask_user` works over two small functions a command supplies, ``ask(question) -> reply``
(raising EOFError or KeyboardInterrupt when the user gives up) and ``say(line)``, so the chat
(prompt_toolkit) and ``agent run`` (stderr and stdin) ask alike:

- a form: the server's message, then "[a]nswer / [d]ecline / [c]ancel"; answering asks each field
  in turn (its title, description, type, choices and default). Enter takes the default, or leaves
  an optional field out; a required field without a default is asked again, and so is a value that
  does not fit (not a number, not one of the choices, out of range).
- a URL: the server's message and the URL, then "open it? [y]es / [n]o / [c]ancel"; the browser
  opens only on yes (accept). No declines, and Ctrl-C or the end of input cancels.

Everything the server wrote passes through :func:`agent.terminal.visible`. The answers go to the
server only: they are not logged and never reach the model.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from agent.mcp.elicitation import ElicitationAnswer, ElicitationRequest
from agent.terminal import visible

__all__ = ["Ask", "Say", "ask_user", "declined"]

Ask = Callable[[str], Awaitable[str]]
Say = Callable[[str], None]
Opener = Callable[[str], Awaitable[bool]]

_YES = ("y", "yes", "true", "1", "on")
_NO = ("n", "no", "false", "0", "off")


async def declined(request: ElicitationRequest) -> ElicitationAnswer:
    """The answer when nobody can be asked (``agent run`` without a terminal, batch)."""
    return ElicitationAnswer("decline")


async def ask_user(request: ElicitationRequest, ask: Ask, say: Say, open_url: Opener) -> ElicitationAnswer:
    """Ask the user ``request`` (module doc); Ctrl-C or the end of input cancels."""
    try:
        say(f"? {visible(request.server)} asks: {visible(request.message)}")
        if request.mode == "url":
            return await _url(request, ask, say, open_url)
        return await _form(request.schema, ask, say)
    except (EOFError, KeyboardInterrupt):
        say("cancelled")
        return ElicitationAnswer("cancel")


async def _choose(ask: Ask, say: Say, question: str, options: Mapping[str, str]) -> str:
    while True:
        reply = (await ask(question)).strip().lower()
        for answer, word in options.items():
            if reply in (answer, word):
                return answer
        say(f"please answer {', '.join(options)}")


async def _url(request: ElicitationRequest, ask: Ask, say: Say, open_url: Opener) -> ElicitationAnswer:
    url = request.url or ""
    say(f"  {visible(url)}")
    choice = await _choose(ask, say, "open it in your browser? [y]es / [n]o / [c]ancel: ", _URL_CHOICES)
    if choice == "n":
        return ElicitationAnswer("decline")
    if choice == "c":
        return ElicitationAnswer("cancel")
    if not await open_url(url):
        say("could not open a browser; open the URL above yourself")
    return ElicitationAnswer("accept")


_URL_CHOICES = {"y": "yes", "n": "no", "c": "cancel"}
_FORM_CHOICES = {"a": "answer", "d": "decline", "c": "cancel"}


async def _form(schema: Mapping[str, Any], ask: Ask, say: Say) -> ElicitationAnswer:
    choice = await _choose(ask, say, "[a]nswer / [d]ecline / [c]ancel: ", _FORM_CHOICES)
    if choice == "d":
        return ElicitationAnswer("decline")
    if choice == "c":
        return ElicitationAnswer("cancel")
    properties = schema.get("properties")
    required = set(schema.get("required") or ())
    content: dict[str, Any] = {}
    for name, spec in properties.items() if isinstance(properties, Mapping) else ():
        if not isinstance(spec, Mapping):
            continue
        value = await _field(name, spec, name in required, ask, say)
        if value is not _OMITTED:
            content[name] = value
    return ElicitationAnswer("accept", content)


_OMITTED = object()


def _choices(spec: Mapping[str, Any]) -> list[tuple[Any, str]]:
    """(value, label) of an enum field: ``enum`` (+ ``enumNames``), or ``oneOf`` consts with titles."""
    enum, names = spec.get("enum"), spec.get("enumNames")
    if isinstance(enum, list):
        labels = names if isinstance(names, list) else []
        return [(v, str(labels[i]) if i < len(labels) else str(v)) for i, v in enumerate(enum)]
    options = spec.get("oneOf") or spec.get("anyOf")
    if isinstance(options, list) and all(isinstance(o, Mapping) and "const" in o for o in options):
        return [(o["const"], str(o.get("title", o["const"]))) for o in options]
    return []


def _question(name: str, spec: Mapping[str, Any], required: bool, choices: list[tuple[Any, str]]) -> str:
    title = visible(str(spec.get("title") or name))
    bits = [title]
    if spec.get("description"):
        bits.append(f"({visible(str(spec['description']))})")
    kind = spec.get("type")
    if choices:
        bits.append("one of " + ", ".join(f"{i}={visible(label)}" for i, (_, label) in enumerate(choices, 1)))
    elif kind == "boolean":
        bits.append("y/n")
    elif kind in ("integer", "number"):
        bits.append(str(kind))
    if "default" in spec:
        default = spec["default"]
        if kind == "boolean" and isinstance(default, bool):
            default = "y" if default else "n"  # what the user would type, not Python's True / False
        bits.append(f"[{visible(str(default))}]")
    elif not required:
        bits.append("(optional)")
    return "  " + " ".join(bits) + ": "


def _parse(raw: str, spec: Mapping[str, Any], choices: list[tuple[Any, str]]) -> Any:
    """The value of one answer; raises ValueError saying what fits."""
    if choices:
        if raw.isdigit() and 1 <= int(raw) <= len(choices):
            return choices[int(raw) - 1][0]
        for value, label in choices:
            if raw.lower() in (str(value).lower(), label.lower()):
                return value
        raise ValueError("choose one of the numbers or names shown")
    kind = spec.get("type")
    if kind == "boolean":
        if raw.lower() in _YES:
            return True
        if raw.lower() in _NO:
            return False
        raise ValueError("answer y or n")
    if kind in ("integer", "number"):
        try:
            number: float = int(raw) if kind == "integer" else float(raw)
        except ValueError:
            raise ValueError(f"give {'a whole number' if kind == 'integer' else 'a number'}") from None
        low, high = spec.get("minimum"), spec.get("maximum")
        if (isinstance(low, int | float) and number < low) or (
            isinstance(high, int | float) and number > high
        ):
            raise ValueError(
                f"give a number from {low if low is not None else '…'} to {high if high is not None else '…'}"
            )
        return number
    low, high = spec.get("minLength"), spec.get("maxLength")
    if (isinstance(low, int) and len(raw) < low) or (isinstance(high, int) and len(raw) > high):
        raise ValueError(f"give {low or 0} to {high if high is not None else 'any number of'} characters")
    return raw


async def _field(name: str, spec: Mapping[str, Any], required: bool, ask: Ask, say: Say) -> Any:
    choices = _choices(spec)
    question = _question(name, spec, required, choices)
    while True:
        raw = (await ask(question)).strip()
        if not raw:
            if "default" in spec:
                return spec["default"]
            if not required:
                return _OMITTED
            say("  this one is required")
            continue
        try:
            return _parse(raw, spec, choices)
        except ValueError as exc:
            say(f"  {exc}")
