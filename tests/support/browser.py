"""A browser stand-in: follows an authorization URL through its redirects to the loopback callback.

As a program (``BROWSER="python tests/support/browser.py %s"``) it serves real ``agent``
processes: it appends the URL it was given to ``$BROWSER_LOG`` (if set), follows it, and exits 0.
In-process tests call :func:`follow`, or use a :class:`Browser` as the injected opener.
"""

from __future__ import annotations

import os
import sys

import anyio
import httpx2

from tests.support.tls import tls_context

__all__ = ["Browser", "command", "follow"]


async def follow(url: str, *, stop_before_callback: bool = False) -> httpx2.Response:
    """GET ``url`` and its redirects like a browser; with ``stop_before_callback`` return the
    redirect that points at the loopback callback instead of following it (the pasted-URL case)."""
    async with httpx2.AsyncClient(timeout=30.0, verify=tls_context()) as client:
        response = await client.get(url)
        for _ in range(5):
            location = response.headers.get("location")
            if not response.is_redirect or location is None:
                break
            if stop_before_callback and "/callback" in location:
                break
            response = await client.get(location)
        return response


class Browser:
    """An opener for :func:`agent.mcp.oauth.auth_factory_for`: records each URL, then follows it."""

    def __init__(self) -> None:
        self.opened: list[str] = []
        self.pages: list[httpx2.Response] = []

    async def __call__(self, url: str) -> bool:
        self.opened.append(url)
        self.pages.append(await follow(url))
        return True


def command() -> str:
    """A ``BROWSER`` value that runs this file."""
    return f"{sys.executable} {os.path.abspath(__file__)} %s"


def main() -> None:
    url = sys.argv[1]
    log = os.environ.get("BROWSER_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(url + "\n")
    anyio.run(follow, url)


if __name__ == "__main__":
    main()
