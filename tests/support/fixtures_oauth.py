"""Fixtures for the OAuth tests: a real authorization server + protected MCP server, a browser.

``oauth_stack`` starts ``tests/support/oauth_server.py`` once per session (readiness: its
``READY`` line); ``oauth_server`` hands it to a test with every switch reset; ``browser`` is an
opener that follows the authorization URL like a browser and records what it opened.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.support.browser import Browser
from tests.support.tls import tls_context

_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class OAuthStack:
    """Handle on the running servers; switches are documented in tests/support/oauth_server.py."""

    issuer: str
    mcp_url: str
    control: str
    _http: httpx2.Client

    def set(self, **switches: Any) -> None:
        self._http.post(f"{self.control}/switches", json=switches).raise_for_status()

    def reset(self) -> None:
        self._http.post(f"{self.control}/reset").raise_for_status()

    def stats(self) -> dict[str, Any]:
        response = self._http.get(f"{self.control}/stats")
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    def expire_access(self) -> None:
        self._http.post(f"{self.control}/expire_access").raise_for_status()

    def preregister(self, client_id: str, **credentials: str) -> None:
        body = {"client_id": client_id, **credentials}
        self._http.post(f"{self.control}/preregister", json=body).raise_for_status()

    def revoke_refresh(self) -> None:
        self._http.post(f"{self.control}/revoke_refresh").raise_for_status()

    def forget_clients(self) -> None:
        self._http.post(f"{self.control}/forget_clients").raise_for_status()

    def dpop_rotate_nonce(self) -> None:
        self._http.post(f"{self.control}/dpop_rotate_nonce").raise_for_status()


@pytest.fixture(scope="session")
def oauth_stack() -> Iterator[OAuthStack]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.oauth_server"],
        cwd=_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("READY "):
            raise RuntimeError(f"oauth test server did not start: {line!r}")
        issuer, mcp_url, control = line.split()[1:4]
        # One client for the session's control calls (a client per call would load the CA bundle
        # each time); no kept-alive connection, which the server could close as a call reuses it.
        no_keepalive = httpx2.Limits(max_keepalive_connections=0)
        with httpx2.Client(timeout=30, verify=tls_context(), limits=no_keepalive) as http:
            yield OAuthStack(issuer=issuer, mcp_url=mcp_url, control=control, _http=http)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.fixture
def oauth_server(oauth_stack: OAuthStack) -> Iterator[OAuthStack]:
    oauth_stack.reset()
    yield oauth_stack
    oauth_stack.reset()


@pytest.fixture
def browser() -> Browser:
    return Browser()
