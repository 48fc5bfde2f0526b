"""``agent login``, ``agent logout`` and ``agent auth``: OAuth logins, by server name or URL.

``login`` always runs a fresh browser login (whatever is stored) and reports what it got;
``logout`` revokes the tokens at the authorization server when it offers revocation (RFC 7009),
then deletes them; ``auth`` shows, per configured remote server and per other stored login (made
with a URL), whether a login is stored, when its access token expires, its scopes and its
authorization server. No command prints a token.
"""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from urllib.parse import urlsplit

from agent.adhoc import adhoc_server, server_for_url
from agent.config import Config, ServerSettings
from agent.errors import EXIT_OK, UsageError
from agent.mcp.token_store import StoredLogin, TokenStore
from agent.options import LoginOptions
from agent.redact import redact_url
from agent.terminal import say

__all__ = ["auth_main", "login_main", "logout_main"]


def _resolve(config: Config, target: str) -> tuple[str, ServerSettings]:
    """A configured server by name, or by URL (a configured one with that URL keeps its settings)."""
    if target in config.servers:
        name, settings = target, config.servers[target]
    elif urlsplit(target).scheme in ("http", "https"):
        name, settings = server_for_url(config, target) or adhoc_server(target)
    else:
        known = ", ".join(sorted(config.servers)) or "none configured"
        raise UsageError(  # the command line's word, not the config file, is wrong
            f"unknown server {target!r}", hint=f"give a server name ({known}) or its URL"
        )
    return _remote(name, settings)


def _remote(name: str, settings: ServerSettings) -> tuple[str, ServerSettings]:
    if settings.url is None:
        raise UsageError(
            f"server {name!r} runs a local command; OAuth logins are only for remote (URL) servers"
        )
    if settings.auth == "none":
        raise UsageError(f"server {name!r} is configured with auth = 'none'; remove that to log in")
    return name, settings


def _store(config: Config, settings: ServerSettings) -> TokenStore:
    from agent.mcp.token_store import open_token_store, server_key

    assert settings.url is not None
    return open_token_store(server_key(settings.url), config.token_store, notify=_warn)


def _warn(line: str) -> None:
    say(f"agent: {line}")


def _expiry(record: StoredLogin) -> str:
    if record.expires_at is None:
        return "no stated expiry"
    left = record.expires_at - time.time()
    stamp = datetime.fromtimestamp(record.expires_at, UTC).strftime("%Y-%m-%d %H:%M UTC")
    if left <= 0:
        return f"expired {_span(-left)} ago ({stamp})"
    return f"in {_span(left)} ({stamp})"


def _span(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 36 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def _scopes(record: StoredLogin) -> str:
    return record.scope or "(none stated)"


def _auth_row(name: str, record: StoredLogin | None) -> tuple[str, str, str, str, str]:
    if record is None or record.tokens is None:
        return (name, "not logged in", "-", "-", "-")
    status = "logged in (DPoP)" if record.dpop_bound else "logged in"
    if record.expires_at is not None and record.expires_at <= time.time():
        status = "expired, will refresh" if record.has_refresh_token else "expired: log in again"
    return (name, status, _expiry(record), _scopes(record), record.issuer or "?")


async def login_main(options: LoginOptions, config: Config) -> int:
    """Log in to one server now, in the browser, and store the tokens."""
    import httpx2

    from agent.mcp.oauth import AgentOAuth

    name, settings = _resolve(config, options.target)
    if settings.oauth.grant != "authorization_code":
        # Unattended grants get their tokens on every connection; there is no browser step.
        print(
            f"{name} uses grant = {settings.oauth.grant!r}: no browser login is needed; "
            "agent gets its tokens when it connects (try `agent tools --server "
            f"{name}`)"
        )
        return EXIT_OK
    auth = AgentOAuth(name, settings, _store(config, settings))
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(30.0), headers=settings.headers) as http:
        record = await auth.login(http)
    refresh = "yes" if record.has_refresh_token else "no (log in again when it expires)"
    print(f"Logged in to {name} ({redact_url(settings.url or '')})")
    say(f"  authorization server: {record.issuer or '?'}", sys.stdout)
    say(f"  client id:            {record.client_id or '?'}", sys.stdout)
    say(f"  scopes:               {_scopes(record)}", sys.stdout)
    print(f"  access token expires: {_expiry(record)}")
    print(f"  refresh token:        {refresh}")
    if record.dpop_bound:
        print("  bound to a key:       yes (DPoP; the key is stored with the tokens)")
    print(f"  stored in:            {auth.store.location}")
    return EXIT_OK


async def logout_main(options: LoginOptions, config: Config) -> int:
    """Revoke (where the server supports it) and delete one server's stored login."""
    name, settings = _resolve(config, options.target)
    store = _store(config, settings)
    record = store.load()
    if record is None or record.tokens is None:
        deleted = store.delete()
        print(f"Not logged in to {name}" + (" (removed an unusable stored login)" if deleted else ""))
        return EXIT_OK
    revoked = await _revoke(name, settings, store, record)
    store.delete()
    say(f"Logged out of {name}: {revoked}; the stored login is deleted", sys.stdout)
    return EXIT_OK


async def _revoke(name: str, settings: ServerSettings, store: TokenStore, record: StoredLogin) -> str:
    """Revoke the refresh token, then the access token (RFC 7009); say what happened.

    A server that answers ``unsupported_token_type`` for the access token (a self-contained JWT
    it cannot take back) has still revoked the login when it revoked the refresh token: that
    is success, and the access token runs out at its expiry."""
    import httpx2
    from mcp.shared.auth import OAuthClientInformationFull

    from agent.mcp.oauth import AgentOAuth
    from agent.mcp.oauth_revoke import revoke_token

    endpoint = (record.oauth_metadata or {}).get("revocation_endpoint")
    if not endpoint or record.tokens is None:
        return "the authorization server offers no revocation, so the tokens stay valid until they expire"
    auth = AgentOAuth(name, settings, store)
    if record.client_info is not None:
        auth.context.client_info = OAuthClientInformationFull.model_validate(record.client_info)
    done: dict[str, str] = {}
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(30.0)) as http:
        for kind in ("refresh_token", "access_token"):
            token = record.tokens.get(kind)
            if not isinstance(token, str) or not token:
                continue
            outcome, why = await revoke_token(http, auth.context, endpoint, token, kind)
            if outcome == "unreachable":
                _warn(f"{why} to revoke the tokens")
                return f"could not reach {endpoint} to revoke the tokens"
            if outcome == "failed":
                _warn(f"{why} to the revocation")
                return f"revocation at {endpoint} failed ({why.removeprefix(endpoint).strip()})"
            done[kind] = outcome
    if all(outcome == "revoked" for outcome in done.values()):
        return f"tokens revoked at {endpoint}"
    said = [f"{kind.replace('_', ' ')} revoked at {endpoint}" for kind, o in done.items() if o == "revoked"]
    if done.get("access_token") == "unsupported":
        said.append(
            f"the access token cannot be revoked there (unsupported_token_type) and expires {_expiry(record)}"
        )
    if done.get("refresh_token") == "unsupported":
        said.append("the refresh token cannot be revoked there (unsupported_token_type)")
    return "; ".join(said)


async def auth_main(options: LoginOptions, config: Config) -> int:
    """Show the login status of every configured remote server, and every other stored login
    (one made with ``--url``: its row is named by its URL). Never prints a token."""
    from agent.mcp.token_store import server_key, stored_urls

    rows: list[tuple[str, str, str, str, str]] = []
    seen: set[str] = set()
    for name, settings in config.servers.items():
        if settings.url is None:
            continue
        seen.add(server_key(settings.url))
        if settings.auth == "none":
            rows.append((name, "no OAuth (auth = 'none')", "-", "-", "-"))
            continue
        rows.append(_auth_row(name, _store(config, settings).load()))
    for url in stored_urls(config.token_store):
        if url not in seen:
            rows.append(_auth_row(redact_url(url), _store(config, adhoc_server(url)[1]).load()))
    if not rows:
        print("No remote servers configured" + (f" in {config.source}" if config.source else ""))
        return EXIT_OK
    header = ("SERVER", "STATUS", "ACCESS TOKEN EXPIRES", "SCOPES", "AUTHORIZATION SERVER")
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(4)]
    for row in [header, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True)]
        say("  ".join([*cells, row[4]]).rstrip(), sys.stdout)
    return EXIT_OK
