"""A real OAuth 2.1 authorization server protecting a real MCP server, for the OAuth tests.

Run it as ``python -m tests.support.oauth_server``. It binds two ports on 127.0.0.1: the
authorization server (the SDK's auth routes over an in-memory provider with an auto-approving
authorize step) and the MCP server (``MCPServer`` with ``AuthSettings`` and a token verifier
that asks the same in-memory provider; one tool, ``echo``). Once both accept connections it
prints one line ``READY <issuer> <mcp url> <control url>`` to stdout: the readiness signal.

Switches, set with ``POST /_test/switches`` (JSON) on the MCP server's port, reset with
``POST /_test/reset``:

``lifetime``        access-token lifetime in seconds (server-side validity is the same, to the ms)
``deny``            the authorize step answers ``access_denied``
``tamper_state``    the authorize step redirects with a wrong ``state``
``tamper_iss``      the authorize step redirects with a wrong ``iss``
``token_503``       the token endpoint answers 503
``down``            the authorization server stops listening (its port refuses connections)
``jwt_access``      the revocation endpoint refuses access tokens with ``unsupported_token_type``
                    (RFC 7009 §2.2.1, as servers with self-contained JWT access tokens do)
``dpop``            DPoP (RFC 9449): the authorization server binds tokens to a proof's key and
                    the MCP server checks the proofs (tests/support/oauth_dpop.py)
``dpop_nonce``      both demand a DPoP nonce (``POST /_test/dpop_rotate_nonce`` makes a new one)
``dpop_resource``   how the MCP server asks for DPoP: ``"none"``, ``"challenge"``, ``"metadata"``
``dpop_algs``       the DPoP signing algorithms the authorization server lists (``["ES256"]``)
``extra_scope``     the MCP server now also requires this scope for everything: a token without
                    it gets 403 ``insufficient_scope`` (naming no scope), and only the protected
                    resource metadata's ``scopes_supported`` says which (clients may request it)
``tool_scope``      calling the ``admin_echo`` tool needs this scope (403 ``insufficient_scope``
                    naming it); everything else works with the scopes a token has
``tool_scope_status`` 401 instead: ``invalid_token`` with a challenge naming that scope
``deny_scope``      the authorize step answers ``access_denied`` when this scope is asked for

Actions: ``POST /_test/preregister`` (JSON ``client_id`` and ``client_secret`` or ``public_key``
PEM: a client for the ``client_credentials`` grant; with ``workload_key``, a PEM public key, a
workload for the RFC 7523 ``jwt-bearer`` grant, whose assertion that key must sign, with this
issuer as its audience), ``POST /_test/expire_access`` (every issued access token stops working),
``POST /_test/revoke_refresh`` (every refresh token is revoked), ``GET /_test/stats`` (counters,
how often each refresh token was presented, the ``token_endpoint_auth_method`` of each
registration, the revoked refresh tokens, and under ``dpop`` what the DPoP checks saw). A refresh token presented a second time after
rotation revokes its whole grant, as many real servers do.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qs

import anyio
import uvicorn
from mcp.server.auth.handlers.metadata import MetadataHandler
from mcp.server.auth.provider import (
    AccessToken,
    AuthorizationCode,
    AuthorizationParams,
    AuthorizeError,
    RefreshToken,
    TokenError,
    construct_redirect_uri,
)
from mcp.server.auth.routes import build_metadata, cors_middleware, create_auth_routes
from mcp.server.auth.settings import AuthSettings, ClientRegistrationOptions, RevocationOptions
from mcp.server.mcpserver import MCPServer
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken
from pydantic import AnyHttpUrl
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from tests.support.oauth_dpop import (
    DPOP_DEFAULTS,
    DPoPAuthorizationServer,
    DPoPResourceServer,
    DPoPServerState,
)

DEFAULTS: dict[str, Any] = {
    "lifetime": 3600,
    "deny": False,
    "tamper_state": False,
    "tamper_iss": False,
    "token_503": False,
    "down": False,
    "jwt_access": False,
    **DPOP_DEFAULTS,
    "extra_scope": "",
    "tool_scope": "",
    "tool_scope_status": 403,
    "deny_scope": "",
}


@dataclass
class Grant:
    """One authorization's chain of rotated refresh tokens."""

    scopes: list[str]
    client_id: str
    revoked: bool = False


@dataclass
class MemoryAS:
    """The in-memory ``OAuthAuthorizationServerProvider``."""

    issuer: str
    switches: dict[str, Any] = field(default_factory=lambda: dict(DEFAULTS))
    clients: dict[str, OAuthClientInformationFull] = field(default_factory=dict)
    codes: dict[str, tuple[AuthorizationCode, Grant]] = field(default_factory=dict)
    access: dict[str, tuple[AccessToken, float, Grant]] = field(default_factory=dict)
    refresh: dict[str, tuple[RefreshToken, Grant]] = field(default_factory=dict)
    spent: set[str] = field(default_factory=set)
    preregistered: dict[str, dict[str, str]] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    dpop: DPoPServerState = field(default_factory=DPoPServerState)

    def __post_init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.switches = dict(DEFAULTS)
        self.stats = {
            "registrations": 0,
            "authorize": 0,
            "code_exchanges": 0,
            "refreshes": 0,
            "refresh_uses": {},
            "reuse_detected": 0,
            "revocations": 0,
            "client_credentials": 0,
            "jwt_bearer": 0,
            "jwt_bearer_errors": [],
            "registered_auth_methods": [],
            "revoked_refresh_tokens": [],
        }
        self.dpop = DPoPServerState()
        self.stats["dpop"] = self.dpop.stats

    async def get_client(self, client_id: str) -> OAuthClientInformationFull | None:
        client = self.clients.get(client_id)
        extra = " ".join(s for s in (self.switches["extra_scope"], self.switches["tool_scope"]) if s)
        if client is None or not extra:
            return client
        return client.model_copy(update={"scope": f"{client.scope or 'mcp'} {extra}"})

    async def register_client(self, client_info: OAuthClientInformationFull) -> None:
        assert client_info.client_id is not None
        self.clients[client_info.client_id] = client_info
        self.stats["registrations"] += 1
        self.stats["registered_auth_methods"].append(client_info.token_endpoint_auth_method)

    async def authorize(self, client: OAuthClientInformationFull, params: AuthorizationParams) -> str:
        self.stats["authorize"] += 1
        if self.switches["deny"] or (self.switches["deny_scope"] in (params.scopes or [])):
            raise AuthorizeError("access_denied", "the user declined")
        code = secrets.token_urlsafe(24)
        assert client.client_id is not None
        grant = Grant(scopes=params.scopes or [], client_id=client.client_id)
        self.codes[code] = (
            AuthorizationCode(
                code=code,
                scopes=params.scopes or [],
                expires_at=time.time() + 300,
                client_id=client.client_id,
                code_challenge=params.code_challenge,
                redirect_uri=params.redirect_uri,
                redirect_uri_provided_explicitly=params.redirect_uri_provided_explicitly,
                resource=params.resource,
            ),
            grant,
        )
        state = "tampered-state" if self.switches["tamper_state"] else params.state
        iss = "http://127.0.0.1:9/evil" if self.switches["tamper_iss"] else self.issuer
        return construct_redirect_uri(str(params.redirect_uri), code=code, state=state, iss=iss)

    async def load_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: str
    ) -> AuthorizationCode | None:
        entry = self.codes.get(authorization_code)
        return entry[0] if entry else None

    def _issue(self, grant: Grant) -> OAuthToken:
        lifetime = int(self.switches["lifetime"])
        access = secrets.token_urlsafe(24)
        refresh = secrets.token_urlsafe(24)
        self.access[access] = (
            AccessToken(token=access, client_id=grant.client_id, scopes=grant.scopes),
            time.time() + lifetime,
            grant,
        )
        self.refresh[refresh] = (
            RefreshToken(token=refresh, client_id=grant.client_id, scopes=grant.scopes),
            grant,
        )
        return OAuthToken(
            access_token=access,
            expires_in=lifetime,
            refresh_token=refresh,
            scope=" ".join(grant.scopes) or None,
        )

    async def exchange_authorization_code(
        self, client: OAuthClientInformationFull, authorization_code: AuthorizationCode
    ) -> OAuthToken:
        _, grant = self.codes.pop(authorization_code.code)
        self.stats["code_exchanges"] += 1
        return self._issue(grant)

    async def load_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: str
    ) -> RefreshToken | None:
        uses = self.stats["refresh_uses"]
        uses[refresh_token] = uses.get(refresh_token, 0) + 1
        entry = self.refresh.get(refresh_token)
        return entry[0] if entry else None

    async def exchange_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: RefreshToken, scopes: list[str]
    ) -> OAuthToken:
        _, grant = self.refresh[refresh_token.token]
        if refresh_token.token in self.spent:
            self.stats["reuse_detected"] += 1
            grant.revoked = True
            raise TokenError("invalid_grant", "refresh token reused; the grant is revoked")
        if grant.revoked:
            raise TokenError("invalid_grant", "the grant was revoked")
        self.spent.add(refresh_token.token)
        self.stats["refreshes"] += 1
        return self._issue(grant)

    async def load_access_token(self, token: str) -> AccessToken | None:
        entry = self.access.get(token)
        if entry is None:
            return None
        access, expires, grant = entry
        if grant.revoked or time.time() >= expires:
            return None
        return access

    async def revoke_token(self, token: AccessToken | RefreshToken) -> None:
        self.stats["revocations"] += 1
        if token.token in self.refresh:
            self.stats["revoked_refresh_tokens"].append(token.token)
        entry = self.refresh.get(token.token) or self.access.get(token.token)
        if entry is not None:
            entry[-1].revoked = True

    def client_credentials(self, request: Request, form: dict[str, Any]) -> Response:
        """RFC 6749 §4.4 for a pre-registered client: secret (basic or post) or private_key_jwt."""
        import base64

        import jwt

        def fail(error: str) -> Response:
            return JSONResponse({"error": error}, status_code=401 if error == "invalid_client" else 400)

        header = request.headers.get("authorization", "")
        client_id, secret = form.get("client_id"), form.get("client_secret")
        if header.startswith("Basic "):
            client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        client = self.preregistered.get(str(client_id))
        if client is None:
            return fail("invalid_client")
        if form.get("client_assertion"):
            try:
                claims = jwt.decode(
                    form["client_assertion"],
                    client["public_key"],
                    algorithms=["RS256", "ES256"],
                    audience=self.issuer,
                )
            except jwt.PyJWTError:
                return fail("invalid_client")
            if claims.get("sub") != client_id:
                return fail("invalid_client")
        elif secret != client.get("client_secret"):
            return fail("invalid_client")
        self.stats["client_credentials"] += 1
        token = self._issue(Grant(scopes=str(form.get("scope", "")).split(), client_id=str(client_id)))
        token.refresh_token = None
        return JSONResponse(token.model_dump(exclude_none=True))

    def jwt_bearer(self, form: dict[str, Any]) -> Response:
        """RFC 7523 §2.1 for a pre-registered public workload client: the assertion is the grant."""
        import jwt

        def fail(error: str) -> Response:
            self.stats["jwt_bearer_errors"].append(error)
            return JSONResponse({"error": error}, status_code=401 if error == "invalid_client" else 400)

        client = self.preregistered.get(str(form.get("client_id")))
        if client is None or "workload_key" not in client:
            return fail("invalid_client")
        try:
            claims = jwt.decode(
                str(form.get("assertion", "")),
                client["workload_key"],
                algorithms=["RS256", "ES256"],
                audience=[self.issuer.rstrip("/"), self.issuer.rstrip("/") + "/"],
            )
        except jwt.PyJWTError:
            return fail("invalid_grant")
        self.stats["jwt_bearer"] += 1
        token = self._issue(
            Grant(scopes=str(form.get("scope", "")).split(), client_id=str(claims.get("sub")))
        )
        token.refresh_token = None
        return JSONResponse(token.model_dump(exclude_none=True))

    def expire_access(self) -> None:
        for key, (access, _, grant) in list(self.access.items()):
            self.access[key] = (access, 0.0, grant)

    def revoke_refresh(self) -> None:
        for _, grant in self.refresh.values():
            grant.revoked = True

    def forget_clients(self) -> None:
        """Drop every dynamically registered client (as a restarted or pruning server does)."""
        self.clients.clear()


class _Verifier:
    def __init__(self, provider: MemoryAS) -> None:
        self.provider = provider

    async def verify_token(self, token: str) -> AccessToken | None:
        return await self.provider.load_access_token(token)


class _ScopeRaise:
    """ASGI middleware of the MCP server for ``extra_scope`` (module doc)."""

    def __init__(self, app: ASGIApp, provider: MemoryAS) -> None:
        self.app = app
        self.provider = provider

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        extra, for_tool = self.provider.switches["extra_scope"], self.provider.switches["tool_scope"]
        if scope["type"] != "http" or not (extra or for_tool):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        header = dict(scope["headers"]).get(b"authorization", b"").decode()
        entry = self.provider.access.get(header.removeprefix("Bearer "))
        if for_tool and path == "/mcp" and scope["method"] == "POST":
            body = await Request(scope, receive).body()
            try:
                message = json.loads(body)
            except ValueError:
                message = None
            call = isinstance(message, dict) and message.get("method") == "tools/call"
            named = call and message["params"].get("name") == "admin_echo"
            if named and entry is not None and for_tool not in entry[0].scopes:
                status = int(self.provider.switches["tool_scope_status"])
                error = "insufficient_scope" if status == 403 else "invalid_token"
                challenge = f'Bearer error="{error}", scope="{for_tool}"'
                refusal = Response("", status_code=status, headers={"WWW-Authenticate": challenge})
                await refusal(scope, receive, send)
                return
            replay = [{"type": "http.request", "body": body, "more_body": False}]

            async def again() -> Any:
                return replay.pop() if replay else await receive()

            await self.app(scope, again, send)
            return
        if not extra:
            await self.app(scope, receive, send)
            return
        if path.startswith("/.well-known/oauth-protected-resource"):
            chunks: list[Any] = []
            await self.app(scope, receive, lambda message: _append(chunks, message))
            start, body = chunks[0], b"".join(c.get("body", b"") for c in chunks[1:])
            document = json.loads(body)
            document["scopes_supported"] = [*document.get("scopes_supported", []), extra]
            await JSONResponse(document, status_code=start["status"])(scope, receive, send)
            return
        if path == "/mcp" and entry is not None and extra not in entry[0].scopes:
            port = scope["server"][1]
            challenge = (
                'Bearer error="insufficient_scope", error_description="more scope needed", '
                f'resource_metadata="http://127.0.0.1:{port}/.well-known/oauth-protected-resource/mcp"'
            )
            await Response("", status_code=403, headers={"WWW-Authenticate": challenge})(scope, receive, send)
            return
        await self.app(scope, receive, send)


async def _append(chunks: list[Any], message: Any) -> None:
    chunks.append(message)


class _TokenOutage:
    """ASGI middleware: the token endpoint answers 503 while the switch is on, and it takes the
    ``client_credentials`` grant (which the SDK's token handler lacks) for pre-registered clients;
    with ``jwt_access`` on, the revocation endpoint refuses access tokens."""

    def __init__(self, app: ASGIApp, provider: MemoryAS) -> None:
        self.app = app
        self.provider = provider

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/revoke":
            request = Request(scope, receive)
            body = await request.body()
            form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
            if self.provider.switches["jwt_access"] and form.get("token") in self.provider.access:
                refusal = {"error": "unsupported_token_type", "error_description": "access tokens are JWTs"}
                await JSONResponse(refusal, status_code=400)(scope, receive, send)
                return
            if "client_secret" not in form:
                # The SDK's RevocationRequest requires the field even for a public client (its
                # authenticator then ignores it for token_endpoint_auth_method "none").
                body += b"&client_secret="
                headers = [(k, v) for k, v in scope["headers"] if k != b"content-length"]
                scope = {**scope, "headers": [*headers, (b"content-length", str(len(body)).encode())]}

            async def again() -> dict[str, Any]:
                return {"type": "http.request", "body": body, "more_body": False}

            await self.app(scope, again, send)
            return
        if scope["type"] == "http" and scope["path"] == "/token":
            if self.provider.switches["token_503"]:
                await Response("temporarily unavailable", status_code=503)(scope, receive, send)
                return
            request = Request(scope, receive)
            body = await request.body()
            form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
            if form.get("grant_type") == "client_credentials":
                await self.provider.client_credentials(request, form)(scope, receive, send)
                return
            if form.get("grant_type") == "urn:ietf:params:oauth:grant-type:jwt-bearer":
                await self.provider.jwt_bearer(form)(scope, receive, send)
                return

            async def replay() -> dict[str, Any]:
                return {"type": "http.request", "body": body, "more_body": False}

            await self.app(scope, replay, send)
            return
        await self.app(scope, receive, send)


def _bind() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def _as_app(provider: MemoryAS) -> ASGIApp:
    issuer = AnyHttpUrl(provider.issuer)
    registration = ClientRegistrationOptions(enabled=True, valid_scopes=["mcp", "offline_access"])
    revocation = RevocationOptions(enabled=True)
    metadata = build_metadata(issuer, None, registration, revocation)
    metadata.authorization_response_iss_parameter_supported = True
    provider.issuer = str(metadata.issuer)  # the form `iss` must match exactly (RFC 9207)
    metadata_route = Route(
        "/.well-known/oauth-authorization-server",
        endpoint=cors_middleware(MetadataHandler(metadata).handle, ["GET", "OPTIONS"]),
        methods=["GET", "OPTIONS"],
    )
    routes = [metadata_route, *create_auth_routes(provider, issuer, None, registration, revocation)]
    return DPoPAuthorizationServer(_TokenOutage(Starlette(routes=routes), provider), provider)


class _Uvicorn(uvicorn.Server):
    def __init__(self, app: ASGIApp, started: anyio.Event, lifespan: Literal["on", "off"] = "off") -> None:
        super().__init__(uvicorn.Config(app, log_level="warning", lifespan=lifespan))
        self._started = started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        self._started.set()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:  # two servers in one process: leave signals alone
        yield


async def serve() -> None:
    as_sock, rs_sock = _bind(), _bind()
    as_port, rs_port = as_sock.getsockname()[1], rs_sock.getsockname()[1]
    # Holds the authorization server's port while it is ``down``: bound, never listening, so the
    # port refuses connections and no other process (another test worker) can take it meanwhile.
    as_guard = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    as_guard.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    as_guard.bind(("127.0.0.1", as_port))
    issuer = f"http://127.0.0.1:{as_port}"
    mcp_url = f"http://127.0.0.1:{rs_port}/mcp"
    provider = MemoryAS(issuer=issuer)
    as_app = _as_app(provider)

    server = MCPServer(
        "oauth-test-server",
        log_level="WARNING",
        token_verifier=_Verifier(provider),
        auth=AuthSettings(
            issuer_url=AnyHttpUrl(issuer),
            resource_server_url=AnyHttpUrl(mcp_url),
            required_scopes=["mcp"],
            validate_token_resource=False,
        ),
    )

    @server.tool()
    def echo(text: str) -> str:
        """Return the text unchanged."""
        return text

    @server.tool()
    def admin_echo(text: str) -> str:
        """Return the text unchanged (needs the ``tool_scope`` switch's scope when it is set)."""
        return text

    async with anyio.create_task_group() as tg:
        current: dict[str, Any] = {}

        async def run_as(sock: socket.socket) -> None:
            """Serve the authorization server on ``sock``; return once it accepts connections."""
            started, stopped = anyio.Event(), anyio.Event()
            uv = _Uvicorn(as_app, started)

            async def run() -> None:
                try:
                    await uv.serve([sock])
                finally:
                    stopped.set()

            current.update(server=uv, stopped=stopped)
            tg.start_soon(run)
            await started.wait()

        async def set_down(down: bool) -> None:
            if down and not provider.switches["down"]:
                current["server"].should_exit = True
                await current["stopped"].wait()  # its listening socket is closed by now
            elif not down and provider.switches["down"]:
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind(("127.0.0.1", as_port))
                await run_as(sock)
            provider.switches["down"] = down

        async def switches(request: Request) -> Response:
            body = await request.json()
            unknown = set(body) - set(DEFAULTS)
            if unknown:
                return JSONResponse({"error": f"unknown switches {sorted(unknown)}"}, status_code=400)
            if "down" in body:
                await set_down(bool(body.pop("down")))
            provider.switches.update(body)
            return JSONResponse(provider.switches)

        async def reset(request: Request) -> Response:
            await set_down(False)
            provider.reset()
            return JSONResponse(provider.switches)

        async def stats(request: Request) -> Response:
            return JSONResponse(provider.stats)

        async def expire_access(request: Request) -> Response:
            provider.expire_access()
            return JSONResponse({"ok": True})

        async def preregister(request: Request) -> Response:
            body = await request.json()
            provider.preregistered[body["client_id"]] = body
            return JSONResponse({"ok": True})

        async def revoke_refresh(request: Request) -> Response:
            provider.revoke_refresh()
            return JSONResponse({"ok": True})

        async def forget_clients(request: Request) -> Response:
            provider.forget_clients()
            return JSONResponse({"ok": True})

        async def dpop_rotate_nonce(request: Request) -> Response:
            provider.dpop.rotate_nonce()
            return JSONResponse({"ok": True})

        app = server.streamable_http_app()
        app.router.routes.extend(
            [
                Route("/_test/switches", switches, methods=["POST"]),
                Route("/_test/reset", reset, methods=["POST"]),
                Route("/_test/stats", stats, methods=["GET"]),
                Route("/_test/expire_access", expire_access, methods=["POST"]),
                Route("/_test/revoke_refresh", revoke_refresh, methods=["POST"]),
                Route("/_test/forget_clients", forget_clients, methods=["POST"]),
                Route("/_test/preregister", preregister, methods=["POST"]),
                Route("/_test/dpop_rotate_nonce", dpop_rotate_nonce, methods=["POST"]),
            ]
        )
        rs_started = anyio.Event()
        rs_app = DPoPResourceServer(_ScopeRaise(app, provider), provider, mcp_url)
        tg.start_soon(_Uvicorn(rs_app, rs_started, lifespan="on").serve, [rs_sock])
        await run_as(as_sock)
        await rs_started.wait()
        print(f"READY {issuer} {mcp_url} http://127.0.0.1:{rs_port}/_test", flush=True)


def main() -> None:
    try:
        anyio.run(serve)
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
