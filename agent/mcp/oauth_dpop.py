"""DPoP (RFC 9449): OAuth tokens bound to a key of the login, for :mod:`agent.mcp.oauth`.

With DPoP every token request and every request to the MCP server carries a fresh proof, a JWT
signed with the login's private key (``typ`` ``dpop+jwt``, the public key in ``jwk``; claims
``htm``, ``htu`` without query or fragment, ``iat``, a new ``jti``, ``ath`` for the access token
on resource requests, ``nonce`` once a server asked for one). A token the authorization server
bound to the key (``token_type`` ``DPoP``) is sent as ``Authorization: DPoP <token>``; a stolen
copy of it, or of the refresh token, is useless without the key.

When: ``[servers.NAME.oauth] dpop`` true (always; a Bearer token in answer fails the login),
false (never), or unset, automatic: when the authorization server's metadata lists
``dpop_signing_alg_values_supported`` with ES256 and the resource asks for DPoP (its protected
resource metadata says ``dpop_bound_access_tokens_required``, or it challenged with the ``DPoP``
scheme). Each login makes a new ES256 (P-256) key pair; it is stored with the tokens (the login
record, 0600 or the keyring), since a refresh needs it too.

A server that wants a nonce answers ``use_dpop_nonce`` with a ``DPoP-Nonce`` header (400 from the
token endpoint, 401 from the MCP server); the request is signed again with it and sent once
more. Nonces are kept in memory per origin and replaced by any later ``DPoP-Nonce`` header.

Two limits of mcp 2.3 are worked around here: its ``OAuthToken.token_type`` accepts only
``Bearer`` (a ``DPoP`` token answer is handed to it as ``Bearer``, the binding kept here), and its
``OAuthMetadata`` drops ``dpop_signing_alg_values_supported`` (read here from the metadata
answers as they pass through the login flow).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
import secrets
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx2

from agent.errors import AuthError
from agent.mcp.oauth_refresh import token_error

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey
    from mcp.client.auth.oauth2 import OAuthContext

__all__ = ["ALGORITHM", "DPoPKey", "DPoPState"]

logger = logging.getLogger(__name__)

ALGORITHM = "ES256"
_METADATA_PATHS = ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration")
_DPOP_CHALLENGE = re.compile(r"(?:^|,)\s*dpop(?:\s|,|$)", re.IGNORECASE)
_WWW_AUTH_ERROR = re.compile(r'(?:^|[\s,])error\s*=\s*(?:"([^"]*)"|([^\s,]+))', re.IGNORECASE)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class DPoPKey:
    """One login's P-256 key pair; signs the proofs."""

    private: EllipticCurvePrivateKey

    @classmethod
    def generate(cls) -> DPoPKey:
        from cryptography.hazmat.primitives.asymmetric import ec

        return cls(ec.generate_private_key(ec.SECP256R1()))

    @classmethod
    def from_jwk(cls, jwk: dict[str, Any]) -> DPoPKey:
        """The key from its stored private JWK. Raises ValueError when it is not a P-256 key."""
        from cryptography.hazmat.primitives.asymmetric import ec

        if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256" or not isinstance(jwk.get("d"), str):
            raise ValueError("not a P-256 private key")
        key = ec.derive_private_key(int.from_bytes(_unb64(jwk["d"]), "big"), ec.SECP256R1())
        made = cls(key)
        if {k: jwk.get(k) for k in ("x", "y")} != {k: made.public_jwk()[k] for k in ("x", "y")}:
            raise ValueError("the public half does not match the private key")
        return made

    def public_jwk(self) -> dict[str, str]:
        numbers = self.private.public_key().public_numbers()
        return {
            "kty": "EC",
            "crv": "P-256",
            "x": _b64(numbers.x.to_bytes(32, "big")),
            "y": _b64(numbers.y.to_bytes(32, "big")),
        }

    def private_jwk(self) -> dict[str, str]:
        d = self.private.private_numbers().private_value.to_bytes(32, "big")
        return {**self.public_jwk(), "d": _b64(d)}

    def thumbprint(self) -> str:
        """RFC 7638 JWK thumbprint (what a server binds the token to: ``cnf.jkt``)."""
        canonical = json.dumps(self.public_jwk(), sort_keys=True, separators=(",", ":"))
        return _b64(hashlib.sha256(canonical.encode()).digest())

    def proof(self, method: str, url: httpx2.URL, *, access_token: str | None, nonce: str | None) -> str:
        import jwt

        claims: dict[str, Any] = {
            "jti": secrets.token_urlsafe(16),
            "htm": method.upper(),
            "htu": str(url.copy_with(query=None, fragment=None)),
            "iat": int(time.time()),
        }
        if access_token is not None:
            claims["ath"] = _b64(hashlib.sha256(access_token.encode("ascii")).digest())
        if nonce is not None:
            claims["nonce"] = nonce
        headers = {"typ": "dpop+jwt", "jwk": self.public_jwk()}
        return jwt.encode(claims, self.private, algorithm=ALGORITHM, headers=headers)


def _origin(url: httpx2.URL) -> str:
    return f"{url.scheme}://{url.netloc.decode('ascii')}"


def _json(response: httpx2.Response) -> dict[str, Any] | None:
    try:
        body = json.loads(response.content)
    except (ValueError, httpx2.ResponseNotRead):
        return None
    return body if isinstance(body, dict) else None


def _www_auth_error(response: httpx2.Response) -> str | None:
    for header in response.headers.get_list("WWW-Authenticate"):
        match = _WWW_AUTH_ERROR.search(header)
        if match:
            return match.group(1) or match.group(2)
    return None


class DPoPState:
    """One server's DPoP: the configured choice, the login's key, whether its token is bound,
    the nonces the servers gave, and what the login flow showed of the servers' DPoP support.

    ``configured`` is the ``dpop`` setting (None: automatic); ``server_url`` the MCP server.
    """

    def __init__(self, name: str, server_url: str, configured: bool | None) -> None:
        self.name = name
        self.configured = configured
        self.key: DPoPKey | None = None
        self.bound = False  # the current access token is DPoP-bound: sent as `DPoP`, with proofs
        self._resource = httpx2.URL(server_url).copy_with(query=None, fragment=None)
        self._nonces: dict[str, str] = {}
        self._as_algs: dict[str, list[str]] = {}  # issuer (no trailing /) -> its DPoP algorithms
        self._challenged = False  # the MCP server challenged with the DPoP scheme
        # the token request awaiting its answer: (request, the key that signed it or None, a login?)
        self._inflight: tuple[httpx2.Request, DPoPKey | None, bool] | None = None
        self._login_key: DPoPKey | None = None  # the key of the login under way, if it uses DPoP

    # -- the stored login ----------------------------------------------------------------------

    def stored(self) -> dict[str, Any] | None:
        """What the login record keeps: the private key (JWK) and the token type issued with it."""
        if self.key is None:
            return None
        return {"jwk": self.key.private_jwk(), "token_type": "DPoP" if self.bound else "Bearer"}

    def adopt(self, stored: dict[str, Any] | None) -> None:
        """Take in a stored login's key (None: a login without DPoP)."""
        self.key, self.bound = None, False
        if not stored:
            return
        try:
            self.key = DPoPKey.from_jwk(stored.get("jwk") or {})
        except (ValueError, TypeError) as exc:
            logger.warning(
                "%s: the stored DPoP key is unusable (%s); the login needs renewing", self.name, exc
            )
            return
        self.bound = str(stored.get("token_type", "")).lower() == "dpop"

    # -- what passes by ------------------------------------------------------------------------

    async def observe(self, response: httpx2.Response) -> None:
        """Note a server's nonce, the DPoP algorithms in authorization server metadata, and a DPoP
        challenge of the MCP server. Reads the body of a metadata answer only."""
        url = response.request.url
        nonce = response.headers.get("DPoP-Nonce")
        if nonce:
            self._nonces[_origin(url)] = nonce
        if (
            response.request.method == "GET"
            and response.status_code == 200
            and url.path.startswith(_METADATA_PATHS)
        ):
            await response.aread()
            body = _json(response)
            if body is not None and isinstance(body.get("issuer"), str):
                algs = body.get("dpop_signing_alg_values_supported")
                if isinstance(algs, list):
                    self._as_algs[body["issuer"].rstrip("/")] = [str(a) for a in algs]
        challenges = response.headers.get_list("WWW-Authenticate")
        if response.status_code in (401, 403) and url.copy_with(query=None, fragment=None) == self._resource:
            self._challenged |= any(_DPOP_CHALLENGE.search(header) for header in challenges)

    async def nonce_retry(self, request: httpx2.Request, response: httpx2.Response) -> bool:
        """After ``response`` to ``request``: True when it is to be sent once more, with the nonce
        the server just gave (``request`` is then signed again). Notes what passes by too."""
        await self.observe(response)
        if "DPoP" not in request.headers or not response.headers.get("DPoP-Nonce"):
            return False
        if response.status_code == 400:
            await response.aread()
            wants_nonce = token_error(response) == "use_dpop_nonce"
        else:
            wants_nonce = response.status_code == 401 and _www_auth_error(response) == "use_dpop_nonce"
        if not wants_nonce:
            return False
        inflight = self._inflight
        if inflight is not None and inflight[0] is request and inflight[1] is not None:
            self._sign(request, inflight[1], access_token=None)
        elif self.key is not None and self.bound:
            token = request.headers.get("Authorization", "").partition(" ")[2]
            self._sign(request, self.key, access_token=token)
        else:
            return False
        return True

    async def send(self, client: httpx2.AsyncClient, request: httpx2.Request) -> httpx2.Response:
        """Send a request of our own (a refresh), once more when the server asks for a nonce."""
        response = await client.send(request)
        if await self.nonce_retry(request, response):
            response = await client.send(request)
        return response

    # -- token requests ------------------------------------------------------------------------

    def start_login(self, context: OAuthContext) -> None:
        """Before a login's authorization step: decide whether it uses DPoP (a new key if so);
        an authorization server that cannot take our proofs fails it here, before the browser."""
        self._login_key = DPoPKey.generate() if self._wanted(context) else None

    def login_token_request(self, request: httpx2.Request) -> httpx2.Request:
        """The token request that ends a login, with a proof of the new key when DPoP is due."""
        key, self._login_key = self._login_key, None
        self._inflight = (request, key, True)
        if key is not None:
            self._sign(request, key, access_token=None)
        return request

    def refresh_request(self, request: httpx2.Request) -> httpx2.Request:
        """A refresh request, with a proof of the login's key when it has one (the refresh token
        of a DPoP login is bound to it)."""
        self._inflight = (request, self.key, False)
        if self.key is not None:
            self._sign(request, self.key, access_token=None)
        return request

    async def token_reply(self, response: httpx2.Response) -> httpx2.Response:
        """An answer to a token request, as the SDK can read it: a ``DPoP`` token becomes
        ``Bearer`` for its model, and the binding is kept here. Other answers pass unchanged."""
        inflight = self._inflight
        if inflight is None or response.request is not inflight[0] or response.status_code != 200:
            return response
        self._inflight = None
        request, key, login = inflight
        if key is None:  # no proof went with it: a plain Bearer login (or refresh)
            if login:
                self.key, self.bound = None, False
            return response
        await response.aread()
        body = _json(response)
        if body is None:
            return response
        bound = str(body.get("token_type", "")).lower() == "dpop"
        if not bound and self.configured:
            raise AuthError(
                self.name,
                f"the authorization server {request.url.copy_with(query=None)} ignored the DPoP proof "
                "and issued a Bearer token, which is not bound to a key",
                hint="set `dpop = false` (or leave it unset) in the server's [oauth] settings to accept it",
            )
        if login:
            self.key = key if bound else None
        self.bound = bound
        if not bound:
            return response
        body["token_type"] = "Bearer"
        headers = [
            (k, v)
            for k, v in response.headers.multi_items()
            if k.lower() not in ("content-length", "content-encoding", "transfer-encoding")
        ]
        return httpx2.Response(200, headers=headers, json=body, request=request)

    # -- resource requests ---------------------------------------------------------------------

    def authorize(self, request: httpx2.Request, access_token: str) -> None:
        """Put the access token on a request to the MCP server: ``DPoP`` with a fresh proof when
        it is bound, else ``Bearer``."""
        if self.bound and self.key is not None:
            request.headers["Authorization"] = f"DPoP {access_token}"
            self._sign(request, self.key, access_token=access_token)
        else:
            request.headers["Authorization"] = f"Bearer {access_token}"
            request.headers.pop("DPoP", None)

    # -- inside --------------------------------------------------------------------------------

    def _sign(self, request: httpx2.Request, key: DPoPKey, *, access_token: str | None) -> None:
        nonce = self._nonces.get(_origin(request.url))
        request.headers["DPoP"] = key.proof(
            request.method, request.url, access_token=access_token, nonce=nonce
        )

    def _wanted(self, context: OAuthContext) -> bool:
        """Whether a new login's token request carries a proof (see the module's text)."""
        if self.configured is False:
            return False
        metadata = context.oauth_metadata
        issuer = str(metadata.issuer).rstrip("/") if metadata is not None else None
        algs = self._as_algs.get(issuer) if issuer is not None else None
        if self.configured:
            if algs and ALGORITHM not in algs:
                raise AuthError(
                    self.name,
                    f"the authorization server {issuer} does not take DPoP proofs signed with "
                    f"{ALGORITHM}, the only algorithm agent signs them with",
                    hint="set `dpop = false` in the server's [oauth] settings to log in without DPoP",
                )
            return True
        if not algs or ALGORITHM not in algs:
            return self.bound  # keep DPoP for a new login (a scope step-up) of a bound one
        prm = context.protected_resource_metadata
        return bool(
            self._challenged or (prm is not None and prm.dpop_bound_access_tokens_required) or self.bound
        )
