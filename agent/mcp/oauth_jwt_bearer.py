"""Workload identity (``grant = "jwt_bearer"``): a JWT the platform issued is the grant (RFC 7523).

For agents that run as a workload (a Kubernetes pod, a CI job, a cloud function): the platform
hands the workload a signed JWT about itself, and the MCP authorization server, which trusts that
issuer, exchanges it for an access token (RFC 7523 §2.1, ``grant_type=urn:ietf:params:oauth:
grant-type:jwt-bearer``; workload identity federation, SEP-1933). No browser, no stored secret.

The JWT comes from ``assertion_file`` (read afresh for every token request: platforms rotate it
in place) or from what ``assertion_command`` prints. The client is pre-registered (``client_id``);
it authenticates with ``client_secret`` when one is set, else it is a public client (``none``,
``client_id`` in the body). Discovery and storage are the browser login's; only the token request
differs, built here. An error from the authorization server (``invalid_grant``, ``invalid_scope``,
``unauthorized_client``) ends the login: no retry, no other grant.
"""

from __future__ import annotations

from pathlib import Path

import httpx2
from mcp.client.auth.oauth2 import OAuthContext
from mcp.shared.auth import OAuthClientInformationFull

from agent.config import OAuthSettings
from agent.errors import AuthError, ConfigError
from agent.mcp.oauth_command import command_output

__all__ = ["JWT_BEARER_GRANT", "jwt_bearer_client", "jwt_bearer_request", "read_assertion"]

JWT_BEARER_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


def jwt_bearer_client(server: str, oauth: OAuthSettings) -> OAuthClientInformationFull:
    """The pre-registered client the grant needs, from the config; checks the assertion source."""
    key = f"servers.{server}.oauth"
    if oauth.client_id is None:
        raise ConfigError(
            "grant = 'jwt_bearer' needs the workload's pre-registered client",
            key=f"{key}.client_id",
            hint="set oauth.client_id (and assertion_file or assertion_command)",
        )
    if (oauth.assertion_file is None) == (oauth.assertion_command is None):
        raise ConfigError(
            "grant = 'jwt_bearer' needs exactly one of assertion_file or assertion_command", key=key
        )
    if oauth.client_secret is not None:
        method = oauth.token_endpoint_auth_method or "client_secret_basic"
    else:
        method = "none"
    return OAuthClientInformationFull(
        client_id=oauth.client_id,
        client_secret=oauth.client_secret,
        token_endpoint_auth_method=method,
        grant_types=[JWT_BEARER_GRANT],
        redirect_uris=None,
    )


def read_assertion(server: str, oauth: OAuthSettings) -> str:
    """The workload's JWT: the content of ``assertion_file``, or what ``assertion_command`` prints."""
    if oauth.assertion_file is not None:
        path = Path(oauth.assertion_file).expanduser()
        try:
            value = path.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise AuthError(server, f"cannot read the assertion file {path}: {exc}") from None
        if not value:
            raise AuthError(server, f"the assertion file {path} is empty")
        return value
    command = oauth.assertion_command
    assert command
    return command_output(server, command, "assertion_command", "JWT")


def jwt_bearer_request(
    server: str, context: OAuthContext, oauth: OAuthSettings, token_url: str
) -> httpx2.Request:
    """The token request of the grant (RFC 7523 §2.1), with RFC 8707 ``resource`` when due."""
    client = context.client_info
    assert client is not None
    data: dict[str, str] = {"grant_type": JWT_BEARER_GRANT, "assertion": read_assertion(server, oauth)}
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    data, headers = context.prepare_token_auth(data, headers)
    if client.token_endpoint_auth_method == "none":
        data["client_id"] = client.client_id  # a public client names itself (RFC 6749 §3.2.1)
    if context.should_include_resource_param(context.protocol_version):
        data["resource"] = context.get_resource_url()
    if context.client_metadata.scope:
        data["scope"] = context.client_metadata.scope
    return httpx2.Request("POST", token_url, data=data, headers=headers)
