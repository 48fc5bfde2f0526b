"""A separate process that uses our OAuth code the way the agent does, for cross-process tests.

``python -m tests.support.oauth_client URL TEXT [--go]`` builds the auth from
:func:`agent.mcp.oauth.auth_factory_for` (the real browser opener, so ``BROWSER`` decides what
opens), calls the server's ``echo`` tool and prints ``ECHO <result>``; on failure it prints
``ERROR <message>`` and exits 1. With ``--go`` it prints ``READY`` once set up and waits for a
line on stdin first, so a test can start several processes at the same moment.
"""

from __future__ import annotations

import sys
from typing import TypeVar

import anyio
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from agent.config import Config, ServerSettings
from agent.errors import AgentError
from agent.mcp.failures import leaves
from agent.mcp.oauth import auth_factory_for
from tests.support.tls import tls_context

E = TypeVar("E", bound=BaseException)


def find(exc: BaseException, kind: type[E]) -> E | None:
    """The first ``kind`` inside an exception group / cause chain (the SDK wraps transport errors)."""
    return next((e for e in leaves(exc) if isinstance(e, kind)), None)


async def echo(url: str, auth: httpx2.Auth | None, text: str = "hello") -> str:
    """Call the server's ``echo`` tool through ``auth`` and return its text."""
    async with (
        httpx2.AsyncClient(auth=auth, timeout=30, verify=tls_context()) as http,
        Client(streamable_http_client(url, http_client=http)) as client,
    ):
        result = await client.call_tool("echo", {"text": text})
    block = result.content[0]
    assert block.type == "text"
    return block.text


async def run(url: str, text: str, go: bool) -> int:
    auth = auth_factory_for(Config())("demo", ServerSettings(url=url))
    if go:
        print("READY", flush=True)
        await anyio.to_thread.run_sync(sys.stdin.readline)
    try:
        answer = await echo(url, auth, text)
    except Exception as exc:
        error = find(exc, AgentError)
        print(f"ERROR {error if error else repr(exc)}", flush=True)
        return 1
    print(f"ECHO {answer}", flush=True)
    return 0


def main() -> None:
    args = sys.argv[1:]
    go = "--go" in args
    url, text = [a for a in args if a != "--go"]
    sys.exit(anyio.run(run, url, text, go))


if __name__ == "__main__":
    main()
