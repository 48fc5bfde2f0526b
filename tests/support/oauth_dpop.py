"""The DPoP (RFC 9449) side of the test servers in tests/support/oauth_server.py.

Written from the RFC, independently of agent/mcp/oauth_dpop.py: every proof is checked in full
(``typ``, ES256 signature by the ``jwk`` of its header, no private key in it, ``htm``, ``htu``
exactly the endpoint without query or fragment, ``iat`` within a minute, a ``jti`` never seen
before, ``ath`` for the presented token, ``nonce`` when one is demanded) and a bad one is refused
and recorded in ``stats["dpop"]["errors"]``.

Two ASGI layers, active with the ``dpop`` switch:

* :class:`DPoPAuthorizationServer` around the authorization server: its metadata lists
  ``dpop_signing_alg_values_supported`` (the ``dpop_algs`` switch, ``["ES256"]``); a token request with a valid proof gets tokens bound to
  the proof's key (``token_type`` ``DPoP``; the refresh token too, so a refresh must be signed by
  the same key); with ``dpop_nonce`` a proof without the current nonce gets ``400
  use_dpop_nonce`` and a ``DPoP-Nonce`` header.
* :class:`DPoPResourceServer` around the MCP server: ``Authorization: DPoP`` needs a valid proof
  by the token's key (then the token goes on inside as Bearer); a bound token sent as Bearer is
  refused; with ``dpop_nonce`` a proof without the nonce gets ``401`` ``DPoP
  error="use_dpop_nonce"``. ``dpop_resource`` says how the server asks for DPoP: ``"challenge"``
  (its 401s use the ``DPoP`` scheme and it refuses Bearer tokens), ``"metadata"`` (its protected
  resource metadata says ``dpop_bound_access_tokens_required``, and it refuses Bearer tokens), or
  ``"none"`` (it takes either).
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import jwt
from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

DPOP_DEFAULTS: dict[str, Any] = {
    "dpop": False,
    "dpop_nonce": False,
    "dpop_resource": "none",
    "dpop_algs": ["ES256"],
}
_IAT_WINDOW = 60


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def thumbprint(jwk: dict[str, Any]) -> str:
    """RFC 7638 JWK thumbprint of an EC public key."""
    members = {k: jwk[k] for k in ("crv", "kty", "x", "y")}
    return _b64(hashlib.sha256(json.dumps(members, sort_keys=True, separators=(",", ":")).encode()).digest())


@dataclass
class DPoPServerState:
    """What both servers share: the current nonce, the bindings (token -> key thumbprint), the
    ``jti`` values seen, and the counters."""

    nonce: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    bound: dict[str, str] = field(default_factory=dict)
    jtis: set[str] = field(default_factory=set)
    stats: dict[str, Any] = field(
        default_factory=lambda: {
            "token_proofs": {},  # grant_type -> valid proofs
            "login_keys": [],  # the key thumbprint of each token request that was not a refresh
            "resource_proofs": 0,
            "nonce_challenges": {"as": 0, "rs": 0},
            "bearer_refused": 0,
            "errors": [],
            "htus": [],
        }
    )

    def rotate_nonce(self) -> None:
        self.nonce = secrets.token_urlsafe(12)

    def check(
        self, proof: str | None, method: str, url: str, *, access_token: str | None
    ) -> tuple[dict[str, Any] | None, str | None]:
        """(claims + ``jkt``, None) for a valid proof; (None, why) otherwise (recorded)."""
        error = None
        claims: dict[str, Any] = {}
        try:
            if not proof:
                raise ValueError("no DPoP proof")
            header = jwt.get_unverified_header(proof)
            jwk = header.get("jwk")
            if header.get("typ") != "dpop+jwt" or header.get("alg") != "ES256" or not isinstance(jwk, dict):
                raise ValueError(f"bad proof header {sorted(header)}")
            if "d" in jwk:
                raise ValueError("private key in the proof")
            claims = jwt.decode(proof, jwt.PyJWK(jwk, algorithm="ES256").key, algorithms=["ES256"])
            self.stats["htus"].append(claims.get("htu"))
            if claims.get("htm") != method or claims.get("htu") != url:
                raise ValueError(f"htm/htu {claims.get('htm')} {claims.get('htu')} != {method} {url}")
            if abs(time.time() - float(claims["iat"])) > _IAT_WINDOW:
                raise ValueError("iat out of range")
            jti = claims["jti"]
            if not isinstance(jti, str) or jti in self.jtis:
                raise ValueError("jti replayed")
            self.jtis.add(jti)
            if access_token is not None:
                ath = _b64(hashlib.sha256(access_token.encode()).digest())
                if claims.get("ath") != ath:
                    raise ValueError("ath does not match the token")
            elif "ath" in claims:
                raise ValueError("ath on a token request")
            claims["jkt"] = thumbprint(jwk)
        except (jwt.PyJWTError, ValueError, KeyError, TypeError) as exc:
            error = str(exc) or type(exc).__name__
            self.stats["errors"].append(error)
            return None, error
        return claims, None


async def _replayed(body: bytes) -> Message:
    return {"type": "http.request", "body": body, "more_body": False}


async def _captured(app: ASGIApp, scope: Scope, body: bytes) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Run ``app`` on a request with this body; its whole answer (not for streams)."""
    start: dict[str, Any] = {}
    chunks: list[bytes] = []

    async def receive() -> Message:
        return await _replayed(body)

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            start.update(message)
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return int(start["status"]), list(start.get("headers", [])), b"".join(chunks)


def _json_answer(status: int, headers: list[tuple[bytes, bytes]], body: dict[str, Any]) -> Response:
    kept = {
        k.decode(): v.decode() for k, v in headers if k.lower() not in (b"content-length", b"content-type")
    }
    return JSONResponse(body, status_code=status, headers=kept)


async def _body(receive: Receive) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


class DPoPAuthorizationServer:
    """ASGI layer around the authorization server (see the module's text)."""

    def __init__(self, app: ASGIApp, provider: Any) -> None:
        self.app = app
        self.provider = provider  # its `switches` and `dpop` (a DPoPServerState) change on reset

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        switches = self.provider.switches
        if scope["type"] != "http" or not switches["dpop"]:
            await self.app(scope, receive, send)
            return
        if scope["path"] == "/.well-known/oauth-authorization-server":
            status, headers, body = await _captured(self.app, scope, b"")
            metadata = json.loads(body)
            metadata["dpop_signing_alg_values_supported"] = switches["dpop_algs"]
            await _json_answer(status, headers, metadata)(scope, receive, send)
            return
        if scope["path"] != "/token":
            await self.app(scope, receive, send)
            return
        state: DPoPServerState = self.provider.dpop
        body = await _body(receive)
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}
        grant = form.get("grant_type", "")
        proof = Headers(scope=scope).get("dpop")
        claims = None
        if proof is not None:
            claims, error = state.check(
                proof, "POST", f"{self.provider.issuer.rstrip('/')}/token", access_token=None
            )
            if claims is None:
                await JSONResponse({"error": "invalid_dpop_proof", "error_description": error}, 400)(
                    scope, receive, send
                )
                return
            if switches["dpop_nonce"] and claims.get("nonce") != state.nonce:
                state.stats["nonce_challenges"]["as"] += 1
                refusal = {"error": "use_dpop_nonce", "error_description": "a nonce is needed"}
                await JSONResponse(refusal, 400, headers={"DPoP-Nonce": state.nonce})(scope, receive, send)
                return
        if grant == "refresh_token":
            bound_to = state.bound.get(form.get("refresh_token", ""))
            if bound_to is not None and (claims is None or claims["jkt"] != bound_to):
                state.stats["errors"].append("refresh without the key it is bound to")
                refusal = {"error": "invalid_grant", "error_description": "DPoP key mismatch"}
                await JSONResponse(refusal, 400)(scope, receive, send)
                return
        status, headers, answer = await _captured(self.app, scope, body)
        if claims is None or status != 200:
            await Response(answer, status, headers={k.decode(): v.decode() for k, v in headers})(
                scope, receive, send
            )
            return
        tokens = json.loads(answer)
        tokens["token_type"] = "DPoP"
        for kind in ("access_token", "refresh_token"):
            if tokens.get(kind):
                state.bound[tokens[kind]] = claims["jkt"]
        counts = state.stats["token_proofs"]
        counts[grant] = counts.get(grant, 0) + 1
        if grant != "refresh_token":
            state.stats["login_keys"].append(claims["jkt"])
        await _json_answer(200, headers, tokens)(scope, receive, send)


class DPoPResourceServer:
    """ASGI layer around the MCP server (see the module's text)."""

    def __init__(self, app: ASGIApp, provider: Any, mcp_url: str) -> None:
        self.app = app
        self.provider = provider
        self.mcp_url = mcp_url
        self.prm_path = "/.well-known/oauth-protected-resource/mcp"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        switches = self.provider.switches
        asks = switches["dpop_resource"]
        if scope["type"] != "http" or not (switches["dpop"] or asks != "none"):
            await self.app(scope, receive, send)
            return
        if scope["path"] == self.prm_path and asks == "metadata":
            status, headers, body = await _captured(self.app, scope, b"")
            metadata = json.loads(body)
            metadata["dpop_bound_access_tokens_required"] = True
            await _json_answer(status, headers, metadata)(scope, receive, send)
            return
        if scope["path"] != "/mcp":
            await self.app(scope, receive, send)
            return
        state: DPoPServerState = self.provider.dpop
        headers = Headers(scope=scope)
        scheme, _, token = headers.get("authorization", "").partition(" ")
        challenge = "DPoP" if asks == "challenge" else "Bearer"
        resource_metadata = f'resource_metadata="{self.mcp_url.rsplit("/mcp", 1)[0]}{self.prm_path}"'

        async def refuse(error: str, extra: dict[str, str] | None = None) -> None:
            www = f'{challenge if error != "use_dpop_nonce" else "DPoP"} error="{error}", {resource_metadata}'
            await JSONResponse({"error": error}, 401, headers={"WWW-Authenticate": www, **(extra or {})})(
                scope, receive, send
            )

        if scheme.lower() == "dpop":
            claims, _ = state.check(headers.get("dpop"), scope["method"], self.mcp_url, access_token=token)
            if claims is None:
                await refuse("invalid_dpop_proof")
                return
            if state.bound.get(token) != claims["jkt"]:
                state.stats["errors"].append("token not bound to the proof's key")
                await refuse("invalid_token")
                return
            if switches["dpop_nonce"] and claims.get("nonce") != state.nonce:
                state.stats["nonce_challenges"]["rs"] += 1
                await refuse("use_dpop_nonce", {"DPoP-Nonce": state.nonce})
                return
            state.stats["resource_proofs"] += 1
            scope = {
                **scope,
                "headers": [
                    *((k, v) for k, v in scope["headers"] if k not in (b"authorization", b"dpop")),
                    (b"authorization", f"Bearer {token}".encode()),
                ],
            }
        elif scheme.lower() == "bearer" and (token in state.bound or asks != "none"):
            state.stats["bearer_refused"] += 1
            await refuse("invalid_token")
            return

        async def send_as_dpop(message: Message) -> None:
            if message["type"] == "http.response.start" and asks == "challenge" and message["status"] == 401:
                out = MutableHeaders(scope=message)
                www = out.get("www-authenticate", "")
                if www.startswith("Bearer"):
                    out["www-authenticate"] = "DPoP" + www[len("Bearer") :]
            await send(message)

        await self.app(scope, receive, send_as_dpop)
