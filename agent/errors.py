"""Every failure a user can see is one of these.

The tree, so a caller can catch at any level::

    AgentError                      exit 1 unless a subclass says otherwise
    ├── UsageError                  exit 2: the command line or the input is wrong
    │   ├── ConfigError             exit 2: a config file or value is wrong (names file and key)
    │   └── ProviderConfigError     exit 2: no API key, unknown provider or model
    ├── ServerError                 exit 3: an MCP server could not be used (names the server)
    │   ├── ServerConnectError      refused, DNS, TLS, timeout, HTTP status, process exited
    │   ├── ServerUnavailable       a call could not reach the server, or lost it mid-call
    │   ├── AuthRequiredError       the server wants an OAuth login
    │   ├── AuthError               the login or a token refresh failed
    │   │   └── AuthDenied          exit 1: the user or the server refused consent
    │   └── SkillRejected           exit 1: a skill's file fails verification against its entry
    ├── ToolError                   exit 1: a tool is unknown, got bad arguments, or failed
    │   ├── UnknownToolError
    │   ├── ToolArgumentsError      invalid JSON or arguments that break the input schema
    │   └── ToolCallFailed          the tool ran and reported an error, or timed out
    ├── ProviderError               exit 1: the model provider failed (provider, model, status, retry_after)
    │   ├── ProviderAuthError       401/403 from the provider
    │   ├── ModelNotFoundError      exit 2: 404, no such model (or no such endpoint) at the provider
    │   ├── ProviderRateLimitError  429 after retries
    │   └── ProviderUnavailableError  5xx or connection failure after retries
    └── Interrupted                 exit 130: the user pressed Ctrl-C

Every message says what failed and, where it can, what to do about it (``hint``).
"""

from __future__ import annotations

from agent.redact import redact_urls

__all__ = [
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_SERVER",
    "EXIT_USAGE",
    "AgentError",
    "AuthDenied",
    "AuthError",
    "AuthRequiredError",
    "ConfigError",
    "Interrupted",
    "ModelNotFoundError",
    "ProviderAuthError",
    "ProviderConfigError",
    "ProviderError",
    "ProviderRateLimitError",
    "ProviderUnavailableError",
    "ServerConnectError",
    "ServerError",
    "ServerUnavailable",
    "SkillRejected",
    "ToolArgumentsError",
    "ToolCallFailed",
    "ToolError",
    "UnknownToolError",
    "UsageError",
    "without_error_prefix",
]

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_SERVER = 3
EXIT_INTERRUPTED = 130


def without_error_prefix(text: str) -> str:
    """``text`` without the ``error:`` it may start with (a tool's error result does, for the
    model's sake), for a line that says "error" itself: never "error: error: …"."""
    stripped = text.lstrip()
    while stripped[:6].lower() == "error:":
        stripped = stripped[6:].lstrip()
    return stripped


class AgentError(Exception):
    """Base of every error the program reports to a user."""

    exit_code: int = EXIT_FAILURE

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class UsageError(AgentError):
    """The command line or its input is wrong."""

    exit_code = EXIT_USAGE


class ConfigError(UsageError):
    """A configuration file or value is invalid; names the file and the key."""

    def __init__(
        self, message: str, *, file: str | None = None, key: str | None = None, hint: str | None = None
    ) -> None:
        where = ""
        if file and key:
            where = f"{file}: {key}: "
        elif file:
            where = f"{file}: "
        elif key:
            where = f"{key}: "
        super().__init__(f"{where}{message}", hint=hint)
        self.file = file
        self.key = key


class ProviderConfigError(UsageError):
    """A provider cannot be used as configured: no API key, unknown provider or model."""


class ServerError(AgentError):
    """An MCP server could not be used."""

    exit_code = EXIT_SERVER

    def __init__(self, server: str, message: str, *, hint: str | None = None) -> None:
        # A server's URL can carry credentials (userinfo, a token in the query): never in a message.
        message = redact_urls(message)
        super().__init__(f"server {server!r}: {message}", hint=redact_urls(hint) if hint else hint)
        self.server = server
        self.reason = message


class ServerRequestFailed(ServerError):
    """The server was reached and answered a request (reading a resource, getting a prompt) with an
    error of its own, e.g. an unknown URI or a bad argument: a failure like a tool's (exit 1), not a
    server that could not be used."""

    exit_code = EXIT_FAILURE


class ServerConnectError(ServerError):
    """Connecting failed: refused, DNS, TLS, timeout, HTTP status, or the process exited."""


class ServerUnavailable(ServerError):
    """A call needed a server that was down or went away during the call (not the tool's own
    error): the server is tried again in the background."""


class AuthRequiredError(ServerError):
    """The server answered 401 and needs an OAuth login."""


class AuthError(ServerError):
    """An OAuth login or token refresh failed."""


class AuthDenied(AuthError):
    """The authorization server reported that consent was denied (``access_denied``): a login that
    failed, exit 3 like every other (README's exit-code table)."""


class SkillRejected(ServerError):
    """A skill file the server sent fails verification against its ``skills/list`` entry (size,
    digest, frontmatter), so it is not used (SEP-2640)."""

    exit_code = EXIT_FAILURE


class ToolError(AgentError):
    """A tool is unknown, got bad arguments, or failed."""


class UnknownToolError(ToolError):
    """No connected server offers a tool of that name."""


class ToolArgumentsError(ToolError):
    """The arguments are not valid JSON or break the tool's input schema."""

    exit_code = EXIT_USAGE


class ToolCallFailed(ToolError):
    """The tool ran and reported an error (``isError``), or timed out.

    ``code`` is the JSON-RPC error code when the server answered the call with an error (e.g.
    -32601, method not found), None otherwise.
    """

    def __init__(self, message: str, *, hint: str | None = None, code: int | None = None) -> None:
        super().__init__(message, hint=hint)
        self.code = code


class ProviderError(AgentError):
    """The model provider failed.

    ``provider`` is its config name and ``model`` the model asked (None where not known).
    ``status`` is the HTTP status that failed, None for connection failures and for errors
    reported inside a started response. ``retry_after`` is the seconds the provider asked to wait
    (its ``retry-after`` / ``retry-after-ms`` header), None if it did not say. ``broke_off`` is
    True when a response had started and then broke off (a cut stream, an error event inside it):
    the SDK does not send those again, the agent loop does.
    """

    def __init__(
        self,
        provider: str,
        message: str,
        *,
        model: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
        hint: str | None = None,
        broke_off: bool = False,
    ) -> None:
        super().__init__(f"{provider}: {message}", hint=hint)
        self.provider = provider
        self.model = model
        self.status = status
        self.retry_after = retry_after
        self.broke_off = broke_off


class ProviderAuthError(ProviderError):
    """The provider rejected the API key (401/403)."""


class ModelNotFoundError(ProviderError):
    """The provider answered 404: it has no such model (or, with a wrong ``base_url``, no such
    endpoint). Every request to it would fail the same way: a configuration error."""

    exit_code = EXIT_USAGE


class ProviderRateLimitError(ProviderError):
    """The provider kept answering 429 after retries."""


class ProviderUnavailableError(ProviderError):
    """The provider kept failing (5xx, connection errors) after retries."""


class Interrupted(AgentError):
    """The user interrupted the program."""

    exit_code = EXIT_INTERRUPTED
