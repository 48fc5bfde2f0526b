"""``agent resources``, ``agent read URI``, ``agent prompts``, ``agent prompt NAME key=value…``:
a server's resources and prompts, no model involved.

``agent read`` prints a text resource on stdout (binary content needs ``-o FILE``); it reads from
``--server NAME``, else from the one server that lists the URI (or a template it fits), else from
the only server with resources. ``agent prompt`` prints the prompt's messages, each after a
``[role]`` line. What a server sends reaches a terminal through :func:`agent.terminal.visible`;
``--json``, pipes and files get it exactly.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.config import Config
from agent.errors import EXIT_OK, ServerError, UsageError
from agent.options import AdhocServer, PromptOptions, ReadOptions, ResourcesOptions
from agent.terminal import for_stream, say

if TYPE_CHECKING:
    from agent.mcp.manager import ServerManager
    from agent.mcp.prompts import Prompt
    from agent.mcp.resources import Resource, ResourceTemplate
    from agent.session import SessionOptions

__all__ = ["prompt_main", "prompts_main", "read_main", "resources_main", "server_for_uri"]


def _warn(error: ServerError) -> None:
    say(f"agent: {error.message}" + (f" ({error.hint})" if error.hint else ""))


def _options(servers: tuple[str, ...] | None, adhoc: tuple[AdhocServer, ...]) -> SessionOptions:
    from agent.session import SessionOptions

    return SessionOptions(
        servers=servers, adhoc=adhoc, needs_model=False, allow_login=True, on_server_failed=_warn
    )


def _out(text: str) -> None:
    print(for_stream(text, sys.stdout))


def _one_line(text: str, width: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


async def resources_main(options: ResourcesOptions, config: Config) -> int:
    """List the resources and resource templates of the servers."""
    from agent.mcp.resources import list_resources
    from agent.session import Session

    async with Session.open(config, _options(options.servers, options.adhoc)) as session:
        resources, templates = await list_resources(session.manager)
    if options.json:
        doc = {
            "resources": [_resource_json(r) for r in resources],
            "templates": [_template_json(t) for t in templates],
        }
        print(json.dumps(doc, indent=2, ensure_ascii=False))
        return EXIT_OK
    if not resources and not templates:
        say("agent: no resources: the connected servers offer none")
        return EXIT_OK
    for r in resources:
        mime = f" ({r.mime_type})" if r.mime_type else ""
        _out(f"{r.server}  {r.uri}{mime}  {_one_line(r.description or r.name)}".rstrip())
    for t in templates:
        _out(f"{t.server}  {t.uri_template}  template: {_one_line(t.description or t.name)}".rstrip())
    return EXIT_OK


def _resource_json(r: Resource) -> dict[str, Any]:
    doc = {"server": r.server, "uri": r.uri, "name": r.name, "description": r.description}
    return doc | {k: v for k, v in (("mimeType", r.mime_type), ("size", r.size)) if v is not None}


def _template_json(t: ResourceTemplate) -> dict[str, Any]:
    doc = {"server": t.server, "uriTemplate": t.uri_template, "name": t.name, "description": t.description}
    return doc | ({"mimeType": t.mime_type} if t.mime_type else {})


async def server_for_uri(manager: ServerManager, uri: str, server: str | None = None) -> str:
    """The server to read ``uri`` from: ``server``, else the one that lists it (or a template it
    fits), else the only server with resources; else a usage error saying to name one."""
    from agent.mcp.resources import list_resources

    if server is not None:
        return server
    resources, templates = await list_resources(manager)
    owners = {r.server for r in resources if r.uri == uri}
    owners |= {t.server for t in templates if t.prefix and uri.startswith(t.prefix)}
    if len(owners) == 1:
        return owners.pop()
    offering = sorted({r.server for r in resources} | {t.server for t in templates})
    if not owners and len(offering) == 1:
        return offering[0]
    names = ", ".join(sorted(owners or set(offering))) or "none offers resources"
    raise UsageError(f"which server has {uri!r}?", hint=f"name it with --server ({names})")


async def read_main(options: ReadOptions, config: Config) -> int:
    """Print a text resource, or write any resource to ``-o FILE``."""
    from agent.mcp.resources import read_resource
    from agent.session import Session

    async with Session.open(config, _options(options.servers, options.adhoc)) as session:
        named = options.servers[0] if options.servers and len(options.servers) == 1 else None
        server = await server_for_uri(session.manager, options.uri, named)
        contents = await read_resource(session.manager, server, options.uri)
    if options.output is not None:
        from agent.private_files import open_user_file

        with open_user_file(Path(options.output), "wb") as fh:
            for item in contents:
                fh.write(item.blob if item.blob is not None else (item.text or "").encode())
        size = sum(len(i.blob) if i.blob is not None else len((i.text or "").encode()) for i in contents)
        say(f"agent: wrote {size} bytes to {options.output}")
        return EXIT_OK
    binary = [item for item in contents if item.blob is not None]
    if binary:
        mime = binary[0].mime_type or "binary"
        raise UsageError(
            f"{options.uri} is binary ({mime}, {len(binary[0].blob or b'')} bytes)",
            hint=f"write it to a file: agent read {options.uri} -o FILE",
        )
    for item in contents:
        text = item.text or ""
        sys.stdout.write(for_stream(text, sys.stdout) + ("" if text.endswith("\n") else "\n"))
    return EXIT_OK


async def prompts_main(options: ResourcesOptions, config: Config) -> int:
    """List the prompts of the servers, with their arguments."""
    from agent.mcp.prompts import list_prompts
    from agent.session import Session

    async with Session.open(config, _options(options.servers, options.adhoc)) as session:
        prompts = await list_prompts(session.manager)
    if options.json:
        doc = {"prompts": [_prompt_json(p) for p in prompts]}
        print(json.dumps(doc, indent=2, ensure_ascii=False))
        return EXIT_OK
    if not prompts:
        say("agent: no prompts: the connected servers offer none")
    for p in prompts:
        _out(f"{p.server}  {p.name}({prompt_arguments(p)})  {_one_line(p.description)}".rstrip())
    return EXIT_OK


def prompt_arguments(prompt: Prompt) -> str:
    """``topic, style?``: the arguments, ``?`` marking optional ones."""
    return ", ".join(a.name + ("" if a.required else "?") for a in prompt.arguments)


def _prompt_json(p: Prompt) -> dict[str, Any]:
    arguments = [{"name": a.name, "description": a.description, "required": a.required} for a in p.arguments]
    return {"server": p.server, "name": p.name, "description": p.description, "arguments": arguments}


async def find_prompt(manager: ServerManager, name: str) -> Prompt:
    """A prompt by ``NAME`` or ``SERVER.NAME``; a usage error when there is none or several."""
    from agent.mcp.prompts import list_prompts

    prompts = await list_prompts(manager)
    server, dot, bare = name.partition(".")
    matches = [p for p in prompts if (dot and p.server == server and p.name == bare) or p.name == name]
    if len(matches) == 1:
        return matches[0]
    if matches:
        options = ", ".join(f"{p.server}.{p.name}" for p in matches)
        raise UsageError(f"prompt {name!r} is offered by several servers", hint=f"say which: {options}")
    known = ", ".join(p.name for p in prompts) or "none"
    raise UsageError(f"no prompt named {name!r}", hint=f"prompts: {known}")


async def prompt_main(options: PromptOptions, config: Config) -> int:
    """Print a prompt's messages, its arguments given as ``key=value`` words."""
    from agent.mcp.prompts import get_prompt, parse_arguments
    from agent.session import Session

    arguments = parse_arguments(list(options.arguments))
    async with Session.open(config, _options(options.servers, options.adhoc)) as session:
        prompt = await find_prompt(session.manager, options.name)
        declared = [a.name for a in prompt.arguments]
        unknown = [key for key in arguments if key not in declared]
        if unknown:  # caught here: the server would only answer with an error of its own
            raise UsageError(
                f"prompt {prompt.name!r} has no argument {', '.join(map(repr, unknown))}",
                hint=f"its arguments: {prompt_arguments(prompt) or 'none'}",
            )
        missing = [a.name for a in prompt.arguments if a.required and a.name not in arguments]
        if missing:
            raise UsageError(
                f"prompt {prompt.name!r} needs {', '.join(missing)}",
                hint=f"e.g. agent prompt {prompt.name} {missing[0]}=VALUE",
            )
        messages = await get_prompt(session.manager, prompt.server, prompt.name, arguments)
    if options.json:
        from pydantic import TypeAdapter

        from agent.messages import Message

        adapter: TypeAdapter[list[Message]] = TypeAdapter(list[Message])
        print(adapter.dump_json(messages, indent=2).decode())
        return EXIT_OK
    for message in messages:
        _out(f"[{message.role}]")
        _out(message.text)
    return EXIT_OK
