"""What the chat does with a server's resources, prompts and questions.

- ``/resources``: the resources and templates of the connected servers.
- ``/prompts``, ``/prompt NAME key=value…``: a server's prompt added to the conversation; when
  it ends with a user message, the model answers it at once.
- ``@SERVER:URI`` in a message attaches that resource: its text (or image) goes with the message
  to the model, after what the user typed.
- Tab completes ``@`` + server names, URIs and template arguments, and ``/prompt`` names and
  arguments; argument values come from the server (``completion/complete``).
- Elicitation: a server's form or URL request asked at the prompt (:mod:`agent.elicit_ui`).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING
from weakref import WeakKeyDictionary

import anyio
from prompt_toolkit.completion import Completion
from rich.table import Table
from rich.text import Text

from agent.errors import AgentError, UsageError
from agent.messages import AssistantMessage, ImagePart, Message, TextPart, UserMessage

if TYPE_CHECKING:
    from agent.chat import Chat
    from agent.mcp.elicitation import ElicitationAnswer, ElicitationRequest
    from agent.mcp.prompts import Prompt
    from agent.mcp.resources import Resource, ResourceTemplate
    from agent.session import Session

__all__ = [
    "TURN",
    "attach",
    "elicit",
    "mentions",
    "prompt_cmd",
    "prompts_cmd",
    "resources_cmd",
    "server_completions",
]

TURN = object()  # a slash command's answer: let the model answer the conversation now
_MENTION = re.compile(r"(?<!\S)@([A-Za-z0-9_.-]+):(\S+)")
_COMPLETION_TIMEOUT = 2.0


class _Catalog:
    """The session's resources, templates and prompts, listed once for completion."""

    def __init__(self) -> None:
        self.resources: list[Resource] | None = None
        self.templates: list[ResourceTemplate] = []
        self.prompts: list[Prompt] | None = None


_catalogs: WeakKeyDictionary[Session, _Catalog] = WeakKeyDictionary()


def _catalog(session: Session) -> _Catalog:
    return _catalogs.setdefault(session, _Catalog())


async def _resources(session: Session) -> tuple[list[Resource], list[ResourceTemplate]]:
    from agent.mcp.resources import list_resources

    catalog = _catalog(session)
    if catalog.resources is None:
        catalog.resources, catalog.templates = await list_resources(session.manager)
    return catalog.resources, catalog.templates


async def _prompts(session: Session) -> list[Prompt]:
    from agent.mcp.prompts import list_prompts

    catalog = _catalog(session)
    if catalog.prompts is None:
        catalog.prompts = await list_prompts(session.manager)
    return catalog.prompts


# -- slash commands ------------------------------------------------------------------------------


def _table(*columns: str) -> Table:
    table = Table(box=None, padding=(0, 2), show_edge=False)
    for column in columns:
        table.add_column(column)
    return table


async def resources_cmd(chat: Chat, arg: str) -> None:
    _catalogs.pop(chat.session, None)  # listing again: what the servers offer now
    resources, templates = await _resources(chat.session)
    if not resources and not templates:
        chat.say("no resources: the connected servers offer none", "yellow")
        return
    table = _table("server", "uri", "type", "description")
    for r in resources:
        table.add_row(
            *(Text(c) for c in (r.server, f"@{r.server}:{r.uri}", r.mime_type or "", r.description))
        )
    for t in templates:
        cells = (t.server, f"@{t.server}:{t.uri_template}", "template", t.description or t.name)
        table.add_row(*(Text(c) for c in cells))
    chat.console.print(table)
    chat.say("attach one to a message with @SERVER:URI (Tab completes)", "dim")


async def prompts_cmd(chat: Chat, arg: str) -> None:
    from agent.resources_cmd import prompt_arguments

    _catalogs.pop(chat.session, None)
    prompts = await _prompts(chat.session)
    if not prompts:
        chat.say("no prompts: the connected servers offer none", "yellow")
        return
    table = _table("prompt", "server", "arguments", "description")
    for p in prompts:
        table.add_row(*(Text(c) for c in (p.name, p.server, prompt_arguments(p), p.description)))
    chat.console.print(table)


def _merge(history: list[Message], messages: list[Message]) -> None:
    """Add ``messages`` to ``history``; a first message of the same role as the last one joins it."""
    for message in messages:
        last = history[-1] if history else None
        if isinstance(last, UserMessage) and isinstance(message, UserMessage):
            history[-1] = UserMessage((*last.parts, *message.parts))
        elif isinstance(last, AssistantMessage) and isinstance(message, AssistantMessage):
            history[-1] = AssistantMessage((*last.parts, *message.parts))
        else:
            history.append(message)


async def prompt_cmd(chat: Chat, arg: str) -> object:
    from agent.mcp.prompts import get_prompt, parse_arguments
    from agent.resources_cmd import find_prompt

    words = arg.split()
    if not words:
        raise UsageError("/prompt needs a prompt name", hint="/prompts lists them")
    prompt = await find_prompt(chat.session.manager, words[0])
    arguments = parse_arguments(words[1:])
    missing = [a.name for a in prompt.arguments if a.required and a.name not in arguments]
    if missing:
        raise UsageError(
            f"prompt {prompt.name!r} needs {', '.join(missing)}", hint=f"/prompt {prompt.name} {missing[0]}=…"
        )
    messages = await get_prompt(chat.session.manager, prompt.server, prompt.name, arguments)
    if not messages:
        chat.say(f"prompt {prompt.name} has no messages", "yellow")
        return None
    _merge(chat.history, messages)
    for message in messages:
        chat.say(f"[{message.role}] {message.text}", "dim")
    if isinstance(chat.history[-1], UserMessage):
        return TURN
    chat.say(f"added {len(messages)} messages from {prompt.server}.{prompt.name}", "green")
    return None


# -- @SERVER:URI attachments ---------------------------------------------------------------------


def mentions(text: str, servers: Iterable[str]) -> list[tuple[str, str]]:
    """The ``(server, uri)`` of each ``@SERVER:URI`` in ``text`` naming one of ``servers``."""
    known = set(servers)
    return [(m[1], m[2]) for m in _MENTION.finditer(text) if m[1] in known]


async def attach(chat: Chat, text: str) -> UserMessage | None:
    """The user's message with the resources it mentions attached; None when it mentions none."""
    from agent.mcp.resources import read_resource

    found = mentions(text, chat.session.manager.connected)
    if not found:
        return None
    parts: list[TextPart | ImagePart] = [TextPart(text)]
    for server, uri in dict.fromkeys(found):
        for item in await read_resource(chat.session.manager, server, uri):
            if item.text is not None:
                parts.append(
                    TextPart(f'\n<resource server="{server}" uri="{item.uri}">\n{item.text}\n</resource>')
                )
            elif item.blob is not None and (item.mime_type or "").startswith("image/"):
                parts.append(ImagePart(base64.b64encode(item.blob).decode(), item.mime_type or "image/png"))
            else:
                size = len(item.blob or b"")
                parts.append(
                    TextPart(f"\n[binary resource {item.uri} ({item.mime_type}), {size} bytes, not attached]")
                )
        chat.say(f"attached @{server}:{uri}", "dim")
    return UserMessage(tuple(parts))


# -- completion ----------------------------------------------------------------------------------


async def server_completions(chat: Chat, text: str) -> list[Completion]:
    """Completions that need the servers: ``@`` mentions and ``/prompt`` (module doc)."""
    try:
        with anyio.move_on_after(_COMPLETION_TIMEOUT):
            if text.startswith("/prompt ") and "\n" not in text:
                return await _prompt_completions(chat.session, text.removeprefix("/prompt "))
            token = re.split(r"\s", text)[-1]
            if token.startswith("@"):
                return await _mention_completions(chat.session, token)
    except AgentError:
        pass
    return []


async def _mention_completions(session: Session, token: str) -> list[Completion]:
    from agent.mcp.resources import complete

    resources, templates = await _resources(session)
    server, colon, partial = token[1:].partition(":")
    if not colon:
        names = dict.fromkeys([r.server for r in resources] + [t.server for t in templates])
        return [Completion(f"@{n}:", -len(token)) for n in names if n.startswith(server)]
    out = [
        Completion(f"@{server}:{r.uri}", -len(token), display_meta=r.description[:60])
        for r in resources
        if r.server == server and r.uri.startswith(partial)
    ]
    for t in templates:
        if t.server != server or not t.variables:
            continue
        if t.prefix.startswith(partial) and t.prefix != partial:
            out.append(Completion(f"@{server}:{t.prefix}", -len(token), display_meta=t.uri_template))
        elif partial.startswith(t.prefix):
            value = partial[len(t.prefix) :]
            found = await complete(
                session.manager, server, template=t.uri_template, argument=t.variables[0], value=value
            )
            out.extend(Completion(f"@{server}:{t.prefix}{v}", -len(token)) for v in found)
    return out


async def _prompt_completions(session: Session, rest: str) -> list[Completion]:
    from agent.mcp.resources import complete

    prompts = await _prompts(session)
    words = rest.split(" ")
    if len(words) == 1:
        return [
            Completion(p.name, -len(rest), display_meta=p.description[:60])
            for p in prompts
            if p.name.startswith(rest)
        ]
    prompt = next((p for p in prompts if p.name == words[0]), None)
    if prompt is None:
        return []
    last = words[-1]
    given = dict(w.partition("=")[::2] for w in words[1:-1] if "=" in w)
    key, eq, value = last.partition("=")
    if not eq:
        return [
            Completion(f"{a.name}=", -len(last), display_meta=a.description[:60])
            for a in prompt.arguments
            if a.name.startswith(last) and a.name not in given
        ]
    found = await complete(
        session.manager, prompt.server, prompt=prompt.name, argument=key, value=value, context=given
    )
    return [Completion(f"{key}={v}", -len(last)) for v in found]


# -- elicitation ---------------------------------------------------------------------------------


async def elicit(chat: Chat, request: ElicitationRequest) -> ElicitationAnswer:
    """A server's question, asked at the chat's prompt (the live area paused meanwhile)."""
    from agent.elicit_ui import ask_user

    async def open_url(url: str) -> bool:
        opener = chat.session.options.open_browser
        if opener is not None:
            return await opener(url)
        import webbrowser

        return await anyio.to_thread.run_sync(webbrowser.open, url)

    view = chat.view
    if view is not None:
        view.pause()
    try:
        return await ask_user(request, chat.input.ask, lambda line: chat.say(line, "yellow"), open_url)
    finally:
        if view is not None:
            view.resume()
