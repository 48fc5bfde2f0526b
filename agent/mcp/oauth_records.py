"""The stored login as the SDK's OAuth models, and back (for :mod:`agent.mcp.oauth`).

:class:`~agent.mcp.token_store.StoredLogin` keeps plain JSON; the SDK's provider works on its
``OAuthContext`` of pydantic models. Here: a record parsed into those models
(:func:`parse_login`), taken into a context (:func:`adopt_login`), a context written back as a
record (:func:`login_record`), and :class:`StorageAdapter`, the SDK's ``TokenStorage`` over our
store, through which the SDK saves after a login.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from mcp.shared.auth import (
    OAuthClientInformationFull,
    OAuthMetadata,
    OAuthToken,
    ProtectedResourceMetadata,
)
from pydantic import BaseModel

from agent.mcp.token_store import StoredLogin, TokenStore

if TYPE_CHECKING:
    from mcp.client.auth.oauth2 import OAuthContext
    from mcp.shared.auth import TokenEndpointAuthMethod

    from agent.config import OAuthSettings

__all__ = [
    "ParsedLogin",
    "StorageAdapter",
    "adopt_login",
    "login_record",
    "parse_login",
    "preregistered_client",
    "registration_auth_method",
]


@dataclass(frozen=True, slots=True)
class ParsedLogin:
    record: StoredLogin
    tokens: OAuthToken | None
    client_info: OAuthClientInformationFull | None
    oauth_metadata: OAuthMetadata | None
    prm: ProtectedResourceMetadata | None


def parse_login(record: StoredLogin) -> ParsedLogin:
    """The record's parts as SDK models. Raises pydantic's ValidationError when one is invalid."""
    return ParsedLogin(
        record=record,
        tokens=OAuthToken.model_validate(record.tokens) if record.tokens else None,
        client_info=OAuthClientInformationFull.model_validate(record.client_info)
        if record.client_info
        else None,
        oauth_metadata=OAuthMetadata.model_validate(record.oauth_metadata) if record.oauth_metadata else None,
        prm=ProtectedResourceMetadata.model_validate(record.protected_resource_metadata)
        if record.protected_resource_metadata
        else None,
    )


def adopt_login(ctx: OAuthContext, loaded: ParsedLogin, *, keep_client: bool) -> None:
    """Take a stored login into the provider's context; ``keep_client`` keeps a configured client."""
    ctx.current_tokens = loaded.tokens
    ctx.token_expiry_time = loaded.record.expires_at
    if loaded.client_info is not None and not keep_client:
        ctx.client_info = loaded.client_info
    if loaded.oauth_metadata is not None:
        ctx.oauth_metadata = loaded.oauth_metadata
    if loaded.prm is not None:
        ctx.protected_resource_metadata = loaded.prm
    if loaded.record.auth_server_url is not None:
        ctx.auth_server_url = loaded.record.auth_server_url


def login_record(
    ctx: OAuthContext, server_url: str, obtained_at: float | None, dpop: dict[str, Any] | None = None
) -> StoredLogin:
    """The provider's in-memory login as a storable record (``dpop``: its DPoP key, if any)."""
    return StoredLogin(
        server_url=server_url,
        client_info=_dump(ctx.client_info),
        tokens=_dump(ctx.current_tokens),
        expires_at=ctx.token_expiry_time,
        obtained_at=obtained_at,
        oauth_metadata=_dump(ctx.oauth_metadata),
        protected_resource_metadata=_dump(ctx.protected_resource_metadata),
        auth_server_url=ctx.auth_server_url,
        dpop=dpop,
    )


def preregistered_client(oauth: OAuthSettings) -> OAuthClientInformationFull | None:
    """A client registered out of band (``client_id`` in the config), used instead of DCR."""
    if oauth.client_id is None:
        return None
    return OAuthClientInformationFull(
        client_id=oauth.client_id,
        client_secret=oauth.client_secret,
        token_endpoint_auth_method=oauth.token_endpoint_auth_method
        or ("client_secret_basic" if oauth.client_secret else "none"),
    )


def registration_auth_method(oauth: OAuthSettings, *, unattended: bool) -> TokenEndpointAuthMethod | None:
    """How the client registers to authenticate at the token endpoint: as configured; else a
    browser login registers a public client ("none": a secret kept on a laptop protects nothing,
    and a public client needs none to refresh or revoke)."""
    if unattended and oauth.private_key_file:
        return "private_key_jwt"
    if oauth.token_endpoint_auth_method is not None:
        return oauth.token_endpoint_auth_method
    return None if unattended else "none"


class _Provider(Protocol):
    context: OAuthContext
    store: TokenStore
    obtained_at: float | None

    def record(self) -> StoredLogin: ...


class StorageAdapter:
    """The SDK's TokenStorage protocol over our store: the SDK saves through it after a login.

    Reads hand back what the provider already holds (it loads the store itself), so the SDK's
    flow, which reads through here when it starts, changes nothing.
    """

    def __init__(self, provider: _Provider) -> None:
        self._provider = provider

    async def get_tokens(self) -> OAuthToken | None:
        return self._provider.context.current_tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        provider = self._provider
        provider.context.current_tokens = tokens
        provider.obtained_at = time.time()
        provider.store.save(provider.record())

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self._provider.context.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        provider = self._provider
        provider.context.client_info = client_info
        provider.store.save(provider.record())


def _dump(model: BaseModel | None) -> dict[str, Any] | None:
    return model.model_dump(mode="json", exclude_none=True) if model is not None else None
