"""Cross-app access (``grant = "cross_app_access"``, agent/mcp/oauth_xaa.py) over real HTTP.

One loopback server plays all three parties: an enterprise IdP (``/idp/token``: RFC 8693 token
exchange of a known ID token for an ID-JAG, signed HS256), the MCP authorization server (its RFC
8414 metadata and ``/token``: the RFC 7523 jwt-bearer grant with ``client_secret_basic``, checking
the ID-JAG's ``typ``, ``aud``, ``resource`` and ``client_id``) and a real MCP server (the SDK's
``MCPServer`` with a token verifier, whose 401 names its protected resource metadata).
"""

from __future__ import annotations

import base64
import secrets
import socket
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx2
import jwt
import pytest
import uvicorn
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.mcpserver import MCPServer
from pydantic import AnyHttpUrl
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from agent.config import Config, OAuthSettings, ServerSettings
from agent.errors import AuthError, ConfigError
from agent.mcp.oauth import auth_factory_for
from agent.mcp.oauth_xaa import ID_JAG_TOKEN_TYPE, ID_TOKEN_TYPE, TOKEN_EXCHANGE_GRANT, CrossAppAccessAuth
from tests.support.oauth_client import echo

ID_TOKEN = "id-token-of-alice"
CLIENT_ID, CLIENT_SECRET = "agent-xaa", "s3cret:with/odd chars"
IDP_CLIENT_ID = "agent-at-idp"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_IDP_KEY = secrets.token_bytes(32)


@dataclass
class XaaStack:
    issuer: str
    mcp_url: str
    idp_token_endpoint: str
    exchanges: list[dict[str, str]] = field(default_factory=list)
    grants: list[dict[str, Any]] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)


def _error(error: str, status: int = 400) -> Response:
    return JSONResponse({"error": error}, status_code=status)


def _app(stack: XaaStack) -> Any:
    async def idp_token(request: Request) -> Response:
        form = dict((await request.form()).items())
        stack.exchanges.append({k: str(v) for k, v in form.items()})
        if form.get("grant_type") != TOKEN_EXCHANGE_GRANT:
            return _error("unsupported_grant_type")
        if (
            form.get("subject_token_type") != ID_TOKEN_TYPE
            or form.get("requested_token_type") != ID_JAG_TOKEN_TYPE
            or form.get("client_id") != IDP_CLIENT_ID
        ):
            return _error("invalid_request")
        if form.get("subject_token") != ID_TOKEN:
            return _error("invalid_grant")
        claims = {
            "iss": "idp",
            "sub": "alice",
            "aud": form["audience"],
            "resource": form["resource"],
            "client_id": CLIENT_ID,
        }
        jag = jwt.encode(claims, _IDP_KEY, algorithm="HS256", headers={"typ": "oauth-id-jag+jwt"})
        return JSONResponse(
            {"access_token": jag, "issued_token_type": ID_JAG_TOKEN_TYPE, "token_type": "N_A"}
        )

    async def as_metadata(request: Request) -> Response:
        return JSONResponse(
            {
                "issuer": stack.issuer,
                "authorization_endpoint": f"{stack.issuer}/authorize",  # required; never used here
                "token_endpoint": f"{stack.issuer}/token",
                "response_types_supported": ["code"],
                "grant_types_supported": [JWT_BEARER],
                "token_endpoint_auth_methods_supported": ["client_secret_basic"],
            }
        )

    async def as_token(request: Request) -> Response:
        form = dict((await request.form()).items())
        header = request.headers.get("authorization", "")
        grant: dict[str, Any] = {"form": form, "authorization": header}
        stack.grants.append(grant)
        if form.get("grant_type") != JWT_BEARER:
            return _error("unsupported_grant_type")
        expected = base64.b64encode(b"agent-xaa:s3cret%3Awith%2Fodd%20chars").decode()
        if header != f"Basic {expected}":
            return _error("invalid_client", 401)
        assertion = str(form.get("assertion", ""))
        try:
            if jwt.get_unverified_header(assertion).get("typ") != "oauth-id-jag+jwt":
                return _error("invalid_grant")
            claims = jwt.decode(assertion, _IDP_KEY, algorithms=["HS256"], audience=stack.issuer)
        except jwt.PyJWTError:
            return _error("invalid_grant")
        if claims["resource"] != stack.mcp_url or claims["client_id"] != CLIENT_ID:
            return _error("invalid_grant")
        token = secrets.token_urlsafe(16)
        stack.tokens.add(token)
        return JSONResponse({"access_token": token, "token_type": "Bearer", "expires_in": 3600})

    class Verifier:
        async def verify_token(self, token: str) -> AccessToken | None:
            if token not in stack.tokens:
                return None
            return AccessToken(token=token, client_id=CLIENT_ID, scopes=[])

    server = MCPServer(
        "xaa-test-server",
        log_level="WARNING",
        token_verifier=Verifier(),
        auth=AuthSettings(
            issuer_url=AnyHttpUrl(stack.issuer),
            resource_server_url=AnyHttpUrl(stack.mcp_url),
            required_scopes=[],
            validate_token_resource=False,
        ),
    )

    @server.tool()
    def echo(text: str) -> str:
        """Return the text unchanged."""
        return text

    app = server.streamable_http_app()
    app.router.routes.extend(
        [
            Route("/idp/token", idp_token, methods=["POST"]),
            Route("/.well-known/oauth-authorization-server", as_metadata, methods=["GET"]),
            Route("/token", as_token, methods=["POST"]),
        ]
    )
    return app


class _Server(uvicorn.Server):
    def __init__(self, app: Any, started: threading.Event) -> None:
        super().__init__(uvicorn.Config(app, log_level="warning", lifespan="on", ws="none"))
        self._started = started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self._started.set()


@pytest.fixture(scope="session")
def xaa_stack() -> Iterator[XaaStack]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        base = f"http://127.0.0.1:{sock.getsockname()[1]}"
        stack = XaaStack(issuer=base, mcp_url=f"{base}/mcp", idp_token_endpoint=f"{base}/idp/token")
        started = threading.Event()
        server = _Server(_app(stack), started)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        thread.start()
        try:
            assert started.wait(30), "the test server did not start"
            yield stack
        finally:
            server.should_exit = True
            thread.join(30)


@pytest.fixture
def xaa(xaa_stack: XaaStack) -> XaaStack:
    xaa_stack.exchanges.clear()
    xaa_stack.grants.clear()
    return xaa_stack


def settings(stack: XaaStack, **oauth: Any) -> ServerSettings:
    values: dict[str, Any] = {
        "grant": "cross_app_access",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "idp_token_endpoint": stack.idp_token_endpoint,
        "idp_client_id": IDP_CLIENT_ID,
        **oauth,
    }
    return ServerSettings(url=stack.mcp_url, oauth=OAuthSettings(**values))


async def test_id_token_from_env_is_exchanged_then_presented(
    xaa: XaaStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_XAA_ID_TOKEN", ID_TOKEN)
    auth = auth_factory_for(Config())("corp", settings(xaa, id_token_env="TEST_XAA_ID_TOKEN"))
    assert isinstance(auth, CrossAppAccessAuth)
    assert await echo(xaa.mcp_url, auth, "hi") == "hi"
    assert await echo(xaa.mcp_url, auth, "again") == "again"  # the token is reused
    assert len(xaa.exchanges) == 1 and len(xaa.grants) == 1
    exchange = xaa.exchanges[0]
    assert exchange["audience"] == xaa.issuer  # discovered from the protected resource metadata
    assert exchange["resource"] == xaa.mcp_url
    assert exchange["subject_token"] == ID_TOKEN
    assert xaa.grants[0]["form"]["resource"] == xaa.mcp_url


async def test_id_token_from_a_command_with_a_pinned_issuer(xaa: XaaStack) -> None:
    command = [sys.executable, "-c", f"print({ID_TOKEN!r})"]
    auth = auth_factory_for(Config())("corp", settings(xaa, id_token_command=command, issuer=xaa.issuer))
    assert await echo(xaa.mcp_url, auth) == "hello"
    assert [e["subject_token"] for e in xaa.exchanges] == [ID_TOKEN]


async def test_a_refused_id_token_is_an_auth_error_naming_the_idp(
    xaa: XaaStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_XAA_ID_TOKEN", "expired-token")
    auth = CrossAppAccessAuth("corp", xaa.mcp_url, settings(xaa, id_token_env="TEST_XAA_ID_TOKEN").oauth)
    async with httpx2.AsyncClient(auth=auth, timeout=30) as http:
        with pytest.raises(AuthError) as caught:
            await http.post(xaa.mcp_url, json={})
    assert "identity provider" in str(caught.value) and "HTTP 400" in str(caught.value)
    assert xaa.grants == []  # nothing reached the authorization server


async def test_a_failing_id_token_command_is_reported(xaa: XaaStack) -> None:
    command = [sys.executable, "-c", "import sys; sys.exit('not signed in')"]
    auth = CrossAppAccessAuth("corp", xaa.mcp_url, settings(xaa, id_token_command=command).oauth)
    async with httpx2.AsyncClient(auth=auth, timeout=30) as http:
        with pytest.raises(AuthError, match="not signed in"):
            await http.post(xaa.mcp_url, json={})
    assert xaa.exchanges == []


@pytest.mark.parametrize(
    ("oauth", "message"),
    [
        ({"idp_token_endpoint": None, "id_token_env": "X"}, "idp_token_endpoint"),
        ({"client_secret": None, "id_token_env": "X"}, "client_secret"),
        ({}, "exactly one of id_token_env or id_token_command"),
        ({"id_token_env": "X", "token_endpoint_auth_method": "none"}, "confidential client"),
    ],
)
def test_incomplete_settings_are_a_config_error(oauth: dict[str, Any], message: str) -> None:
    stack = XaaStack(issuer="http://127.0.0.1:9", mcp_url="http://127.0.0.1:9/mcp", idp_token_endpoint="x")
    with pytest.raises(ConfigError, match=message):
        auth_factory_for(Config())("corp", settings(stack, **oauth))
