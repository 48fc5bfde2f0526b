"""Where OAuth logins live between runs: one record per MCP server URL.

A record holds everything a later process needs to use or refresh a login without a browser:
the client registration, the tokens, the absolute time the access token expires (the SDK keeps
only a relative ``expires_in``, so a restarted process could not tell a stale token from a fresh
one), and the discovered authorization-server metadata (so a refresh needs no discovery).

Two back ends, chosen by ``token_store`` in the config:

* ``file`` (default): ``<user data dir>/tokens/<host>-<hash>.json``, mode 0600, written to a
  temporary file and renamed into place, so a reader never sees half a record.
* ``keyring``: the same JSON in the OS keyring (needs the optional ``keyring`` package).

Either way a lock file next to the record serialises refreshes and logins across processes:
whoever holds it re-reads the record first, so a rotated refresh token is never spent twice.
A record that cannot be read is reported and treated as absent; the next login replaces it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ValidationError, field_validator

from agent.config import user_data_dir
from agent.errors import ConfigError
from agent.private_files import private_dir

__all__ = [
    "FileTokenStore",
    "KeyringTokenStore",
    "StoredLogin",
    "TokenStore",
    "open_token_store",
    "server_key",
    "stored_urls",
    "token_dir",
]

logger = logging.getLogger(__name__)

_KEYRING_SERVICE = "agent-mcp-oauth"
_LOCK_POLL = 0.05


class StoredLogin(BaseModel):
    """One server's login, as stored. ``expires_at`` is absolute (Unix time), or None if unknown.

    The OAuth objects are kept as the JSON of the SDK's models (``OAuthClientInformationFull``,
    ``OAuthToken``, ``OAuthMetadata``, ``ProtectedResourceMetadata``), which agent/mcp/oauth.py
    parses; this module stays free of the SDK so that ``agent auth`` starts fast.
    """

    version: Literal[1] = 1
    server_url: str
    client_info: dict[str, Any] | None = None
    tokens: dict[str, Any] | None = None
    expires_at: float | None = None
    obtained_at: float | None = None
    oauth_metadata: dict[str, Any] | None = None
    protected_resource_metadata: dict[str, Any] | None = None
    auth_server_url: str | None = None
    # DPoP (RFC 9449): this login's private key as a JWK and the token type issued with it
    dpop: dict[str, Any] | None = None

    @field_validator("tokens")
    @classmethod
    def _has_access_token(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None and not isinstance(value.get("access_token"), str):
            raise ValueError("tokens without an access_token")
        return value

    @property
    def issuer(self) -> str | None:
        issuer = (self.oauth_metadata or {}).get("issuer")
        return str(issuer) if issuer else self.auth_server_url

    @property
    def scope(self) -> str | None:
        scope = (self.tokens or {}).get("scope")
        return str(scope) if scope else None

    @property
    def has_refresh_token(self) -> bool:
        return bool((self.tokens or {}).get("refresh_token"))

    @property
    def dpop_bound(self) -> bool:
        return str((self.dpop or {}).get("token_type", "")).lower() == "dpop"

    @property
    def client_id(self) -> str | None:
        client_id = (self.client_info or {}).get("client_id")
        return str(client_id) if client_id else None


def server_key(url: str) -> str:
    """The key a login is stored under: the server URL in RFC 8707 resource form (scheme and host
    lower-cased, no fragment), the same canonical form the SDK sends as ``resource``."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(scheme=parts.scheme.lower(), netloc=parts.netloc.lower(), fragment=""))


def token_dir() -> Path:
    return user_data_dir() / "tokens"


def _stem(server_url: str) -> str:
    """A file-name stem for a URL: readable host and port, plus a hash that keeps URLs apart."""
    parts = urlsplit(server_url)
    host = re.sub(r"[^A-Za-z0-9.-]+", "_", f"{parts.hostname or 'server'}_{parts.port or ''}").strip("_")
    digest = hashlib.sha256(server_url.encode()).hexdigest()[:16]
    return f"{host}-{digest}"


class TokenStore:
    """Load, save, delete and lock one server's :class:`StoredLogin`.

    ``notify`` receives one line for the user when a stored record is unreadable.
    """

    kind: str = "?"

    def __init__(self, server_url: str, *, notify: Callable[[str], None] | None = None) -> None:
        self.server_url = server_url
        self._notify = notify or (lambda line: None)
        self.lock_path = token_dir() / f"{_stem(server_url)}.lock"

    @property
    def location(self) -> str:
        raise NotImplementedError

    def _read_raw(self) -> str | None:
        raise NotImplementedError

    def _write_raw(self, text: str) -> None:
        raise NotImplementedError

    def _delete_raw(self) -> bool:
        raise NotImplementedError

    def load(self) -> StoredLogin | None:
        """The stored record; None when there is none or it cannot be read (which is reported)."""
        raw = self._read_raw()
        if raw is None:
            return None
        try:
            record = StoredLogin.model_validate_json(raw)
        except ValidationError as exc:
            problem = _problem(exc)
            self._notify(
                f"the stored login for {self.server_url} ({self.location}) is unreadable ({problem}); "
                "it will be replaced by a new login"
            )
            logger.warning("unreadable token record %s: %s", self.location, problem)
            return None
        if record.server_url != self.server_url:
            self._notify(f"the stored login at {self.location} belongs to another server; ignoring it")
            return None
        return record

    def save(self, record: StoredLogin) -> None:
        self._write_raw(record.model_dump_json(exclude_none=True, indent=2))

    def delete(self) -> bool:
        """Forget the login; True if there was one."""
        return self._delete_raw()

    @contextlib.asynccontextmanager
    async def locked(self, *, wait: float) -> AsyncIterator[None]:
        """Hold the cross-process lock for this server (polling, so cancellation works at once)."""
        import anyio
        from filelock import FileLock, Timeout

        from agent.errors import AuthError

        _ensure_dir(self.lock_path.parent)
        lock = FileLock(str(self.lock_path), thread_local=False, mode=0o600)
        deadline = time.monotonic() + wait
        while True:
            try:
                lock.acquire(blocking=False)
                break
            except Timeout:
                if time.monotonic() > deadline:
                    raise AuthError(
                        self.server_url,
                        f"another agent process held the login lock for {wait:.0f} s",
                        hint=f"if no other agent is running, delete {self.lock_path}",
                    ) from None
                await anyio.sleep(_LOCK_POLL)
        try:
            yield
        finally:
            lock.release()


def _problem(exc: ValidationError) -> str:
    """What is wrong with a record, by key and message only: pydantic's own text of the error
    quotes the invalid input, which in a token record is a token."""
    found = []
    for error in exc.errors(include_url=False, include_context=False, include_input=False)[:3]:
        where = ".".join(str(part) for part in error["loc"])
        found.append(f"{where}: {error['msg']}" if where else error["msg"])
    return "; ".join(found) or "invalid"


def _ensure_dir(path: Path) -> None:
    private_dir(path)


class FileTokenStore(TokenStore):
    """A JSON file per server, mode 0600, replaced atomically."""

    kind = "file"

    def __init__(self, server_url: str, *, notify: Callable[[str], None] | None = None) -> None:
        super().__init__(server_url, notify=notify)
        self.path = token_dir() / f"{_stem(server_url)}.json"

    @property
    def location(self) -> str:
        return str(self.path)

    def _read_raw(self) -> str | None:
        try:
            return self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except (OSError, UnicodeDecodeError) as exc:
            self._notify(f"cannot read the stored login {self.path} ({exc}); a new login will replace it")
            return None

    def _write_raw(self, text: str) -> None:
        _ensure_dir(self.path.parent)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".tmp-", suffix=".json")
        try:  # mkstemp makes the file 0600
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def _delete_raw(self) -> bool:
        try:
            self.path.unlink()
        except FileNotFoundError:
            return False
        return True


class KeyringTokenStore(TokenStore):
    """The record as one secret in the OS keyring (service ``agent-mcp-oauth``, user = server URL)."""

    kind = "keyring"

    def __init__(self, server_url: str, *, notify: Callable[[str], None] | None = None) -> None:
        super().__init__(server_url, notify=notify)
        try:
            import keyring
        except ImportError:
            raise ConfigError(
                "token_store = 'keyring' needs the optional 'keyring' package, which is not installed",
                key="token_store",
                hint="install it with: pip install 'agent[keyring]' (or set token_store = 'file')",
            ) from None
        self._keyring = keyring

    @property
    def location(self) -> str:
        return f"keyring {_KEYRING_SERVICE}/{self.server_url}"

    def _call(self, what: str, *args: str) -> Any:
        """One keyring call; a keyring that cannot be used is a configuration problem, said once."""
        from keyring.errors import KeyringError

        try:
            return getattr(self._keyring, what)(_KEYRING_SERVICE, self.server_url, *args)
        except KeyringError as exc:
            raise ConfigError(
                f"the OS keyring cannot be used: {exc}",
                key="token_store",
                hint="set token_store = 'file' to keep logins in files instead",
            ) from None

    def _read_raw(self) -> str | None:
        value = self._call("get_password")
        return value if isinstance(value, str) else None

    def _write_raw(self, text: str) -> None:
        self._call("set_password", text)
        _keyring_index(add=self.server_url)

    def _delete_raw(self) -> bool:
        _keyring_index(remove=self.server_url)
        if self._read_raw() is None:
            return False
        self._call("delete_password")
        return True


def _keyring_index(*, add: str | None = None, remove: str | None = None) -> list[str]:
    """The server URLs with a login in the keyring (which cannot list its secrets), kept in a
    private file beside the lock files: ``agent auth`` lists them. No secret is in it."""
    path = token_dir() / "keyring-logins.txt"  # one URL a line
    try:
        urls = [u for u in path.read_text(encoding="utf-8").splitlines() if u]
    except (OSError, UnicodeDecodeError):
        urls = []
    if add is None and remove is None:
        return urls
    changed = [u for u in urls if u != remove] + ([add] if add is not None and add not in urls else [])
    if changed != urls:
        _ensure_dir(path.parent)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write("".join(f"{u}\n" for u in changed))
    return changed


def stored_urls(kind: Literal["file", "keyring"] = "file") -> list[str]:
    """The server URLs of every stored login, configured or not (``agent auth``), sorted."""
    if kind == "keyring":
        return sorted(_keyring_index())
    urls = set()
    for path in token_dir().glob("*.json"):
        try:
            url = json.loads(path.read_text(encoding="utf-8")).get("server_url")
        except (OSError, ValueError, AttributeError):
            continue  # unreadable: `agent auth` of its server says so
        if isinstance(url, str):
            urls.add(url)
    return sorted(urls)


def open_token_store(
    server_url: str, kind: Literal["file", "keyring"] = "file", *, notify: Callable[[str], None] | None = None
) -> TokenStore:
    """The configured store for one server URL."""
    if kind == "keyring":
        return KeyringTokenStore(server_url, notify=notify)
    return FileTokenStore(server_url, notify=notify)
