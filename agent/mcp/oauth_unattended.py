"""The ``client_credentials`` grant (``grant = "client_credentials"``): tokens with no person present.

For batch jobs and services. The client is pre-registered (``client_id`` in the config) and
authenticates with its secret (``client_secret_basic`` / ``client_secret_post``) or with a JWT
signed by ``private_key_file`` (``private_key_jwt``, RFC 7523 §2.2). Discovery and storage are the
same as for a browser login; only the token request differs, built here.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import httpx2
from mcp.client.auth.oauth2 import OAuthContext
from mcp.shared.auth import OAuthClientInformationFull

from agent.config import OAuthSettings
from agent.errors import ConfigError

__all__ = ["JWT_ASSERTION_TYPE", "client_credentials_client", "client_credentials_request"]

JWT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_ASSERTION_LIFETIME = 300


def client_credentials_client(server: str, oauth: OAuthSettings) -> OAuthClientInformationFull:
    """The pre-registered client the grant needs, from the config."""
    if oauth.client_id is None:
        raise ConfigError(
            "grant = 'client_credentials' needs a pre-registered client",
            key=f"servers.{server}.oauth.client_id",
            hint="set oauth.client_id (and client_secret or private_key_file)",
        )
    if oauth.private_key_file is not None:
        method = "private_key_jwt"
    elif oauth.client_secret is not None:
        method = oauth.token_endpoint_auth_method or "client_secret_basic"
    else:
        raise ConfigError(
            "grant = 'client_credentials' needs client_secret or private_key_file",
            key=f"servers.{server}.oauth",
        )
    return OAuthClientInformationFull(
        client_id=oauth.client_id,
        client_secret=oauth.client_secret,
        token_endpoint_auth_method=method,
        grant_types=["client_credentials"],
        redirect_uris=None,
    )


def client_credentials_request(context: OAuthContext, oauth: OAuthSettings, token_url: str) -> httpx2.Request:
    """The token request of the grant (RFC 6749 §4.4), with RFC 8707 ``resource`` when due."""
    client = context.client_info
    assert client is not None
    data: dict[str, str] = {"grant_type": "client_credentials"}
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    data, headers = context.prepare_token_auth(data, headers)
    if oauth.private_key_file is not None:
        audience = str(context.oauth_metadata.issuer) if context.oauth_metadata is not None else token_url
        data["client_id"] = client.client_id
        data["client_assertion"] = _signed_assertion(client.client_id, audience, oauth.private_key_file)
        data["client_assertion_type"] = JWT_ASSERTION_TYPE
    if context.should_include_resource_param(context.protocol_version):
        data["resource"] = context.get_resource_url()
    if context.client_metadata.scope:
        data["scope"] = context.client_metadata.scope
    return httpx2.Request("POST", token_url, data=data, headers=headers)


def _signed_assertion(client_id: str, audience: str, key_file: str) -> str:
    import jwt
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        pem = Path(key_file).expanduser().read_bytes()
        key = load_pem_private_key(pem, password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(
            f"cannot use the private key file {key_file}: {exc}", key="oauth.private_key_file"
        ) from None
    algorithm: str
    if isinstance(key, rsa.RSAPrivateKey):
        algorithm = "RS256"
    elif isinstance(key, ec.EllipticCurvePrivateKey):
        algorithm = {256: "ES256", 384: "ES384", 521: "ES512"}.get(key.curve.key_size, "ES256")
    elif isinstance(key, ed25519.Ed25519PrivateKey):
        algorithm = "EdDSA"
    else:
        raise ConfigError(f"unsupported private key type in {key_file}", key="oauth.private_key_file")
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "iat": now,
        "exp": now + _ASSERTION_LIFETIME,
        "jti": str(uuid.uuid4()),
    }
    return jwt.encode(claims, key, algorithm=algorithm)
