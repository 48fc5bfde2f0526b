"""What the provider adapters share: the SDK client and its plain-JSON requests
(:class:`SDKAdapter`), request pieces converted once, reading tool-call arguments, and (from
:mod:`agent.providers.api_errors`) the one mapping of failed API calls. Imports no SDK.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import weakref
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from agent.errors import (
    without_error_prefix,
)
from agent.messages import (
    ImagePart,
    Message,
    ModelRequest,
    ModelResponse,
    StreamEvent,
    ToolCallPart,
    ToolSpec,
)
from agent.providers.api_errors import (
    ProviderIdentity,
    api_errors,
    connection_error,
    error_from_event,
    retry_after,
    status_error,
    unexpected_response,
)
from agent.tls import tls_context

__all__ = [
    "TOOL_ERROR_PREFIX",
    "PerMessage",
    "ProviderIdentity",
    "SDKAdapter",
    "ToolDefinitions",
    "api_errors",
    "connection_error",
    "data_url",
    "error_from_event",
    "item_fragments",
    "json_array",
    "json_body",
    "retry_after",
    "status_error",
    "tool_call",
    "tool_error_text",
    "unexpected_response",
]

log = logging.getLogger("agent.providers")

# APIs without an is_error flag on tool results (both OpenAI APIs) see this before the text.
TOOL_ERROR_PREFIX = "Error: "


def tool_error_text(text: str) -> str:
    """A tool's error text as those APIs see it: the prefix once, never "Error: error: …"."""
    return TOOL_ERROR_PREFIX + without_error_prefix(text)


T = TypeVar("T")


class PerMessage(Generic[T]):
    """Each message's API form, converted once: a request of a long conversation converts only
    the messages it has not seen (the answer and the tool results of the last step), not the
    whole history again.

    Keyed by the message's identity (messages are frozen), an entry lives as long as its message
    (a weak reference drops it), so one adapter serves any number of conversations (batch) and a
    history shortened by compaction frees what it dropped. The converted values are shared by
    every request that holds the message: nobody may change them (the SDKs copy a body before
    they send it).
    """

    __slots__ = ("_convert", "_items")

    def __init__(self, convert: Callable[[Message], T]) -> None:
        self._convert = convert
        self._items: dict[int, tuple[weakref.ref[Message], T]] = {}

    def __call__(self, message: Message) -> T:
        key = id(message)
        entry = self._items.get(key)
        if entry is not None and entry[0]() is message:
            return entry[1]
        value = self._convert(message)
        items = self._items  # not self: the callback must not keep the cache alive

        def forget(ref: weakref.ref[Message]) -> None:
            if (held := items.get(key)) is not None and held[0] is ref:
                del items[key]

        items[key] = (weakref.ref(message, forget), value)
        return value

    def __len__(self) -> int:
        return len(self._items)


def dumps(value: object) -> str:
    """Compact JSON, ASCII-escaped: a lone surrogate in a tool's text (valid in JSON, not in
    UTF-8) cannot break the request."""
    return json.dumps(value, separators=(",", ":"))


def json_array(fragments: Iterable[str]) -> str:
    """A JSON array of the comma-joined ``fragments`` (each zero or more serialized items)."""
    return "[" + ",".join(f for f in fragments if f) + "]"


def item_fragments(converted: PerMessage[list[dict[str, Any]]]) -> PerMessage[str]:
    """Each message's fragment for :func:`json_array` when it becomes a list of API items (both
    OpenAI APIs): its items serialized and comma-joined, once per message."""
    return PerMessage(lambda m: ",".join(map(dumps, converted(m))))


def json_body(head: Mapping[str, Any], **serialized: str) -> bytes:
    """A request body: the small fields of ``head``, and each of ``serialized`` (a field's JSON
    text, made once and kept: the conversation and the tools) put in as it is."""
    text = dumps(head)
    assert text.endswith("}") and len(text) > 2, "the head holds at least the model"
    return (text[:-1] + "".join(f',"{key}":{value}' for key, value in serialized.items()) + "}").encode()


class ToolDefinitions:
    """The API's tool definitions of a request's tools, built once per tool set: the same list
    again as long as the request offers the same specs (the toolbox's tuple, or a tool-search
    offer of the same tools), and on a change (``list_changed``, tool search finding more) only
    the specs not seen before are converted."""

    __slots__ = ("_convert", "_each", "_json", "_json_of", "_key", "_out")

    def __init__(self, convert: Callable[[ToolSpec], dict[str, Any]]) -> None:
        self._convert = convert
        self._key: Sequence[ToolSpec] = ()
        self._out: list[dict[str, Any]] = []
        self._json = "[]"
        self._json_of: list[dict[str, Any]] | None = None
        self._each: dict[int, tuple[ToolSpec, dict[str, Any]]] = {}

    def json(self, tools: Sequence[ToolSpec]) -> str:
        """The definitions as one JSON text, serialized once per tool set."""
        out = self(tools)
        if out is not self._json_of:
            self._json, self._json_of = dumps(out), out
        return self._json

    def __call__(self, tools: Sequence[ToolSpec]) -> list[dict[str, Any]]:
        key = self._key
        if tools is key or (len(tools) == len(key) and all(a is b for a, b in zip(tools, key, strict=True))):
            self._key = tools
            return self._out
        each: dict[int, tuple[ToolSpec, dict[str, Any]]] = {}
        for spec in tools:
            entry = self._each.get(id(spec))
            if entry is None or entry[0] is not spec:
                entry = (spec, self._convert(spec))
            each[id(spec)] = entry
        self._each, self._key = each, tools
        self._out = [each[id(spec)][1] for spec in tools]
        return self._out


class _Closable(Protocol):
    async def close(self) -> None: ...


class _Default:
    """The class's own default (``api_key_env``), where None means "no key variable"."""


_DEFAULT = _Default()


class SDKAdapter:
    """What every adapter has: who it talks to (``_who``), one SDK client (``_client``, made by
    the subclass's ``_make_client``), the ``max_tokens`` override, whether to stream, and the
    mapping of its SDK's errors (``_errors``, around every request path).

    ``max_tokens`` set here overrides the request's; ``streaming=False`` asks for whole responses
    (batch runs). ``name`` and ``api_key_env`` default to the class's ``DEFAULT_NAME`` and
    ``DEFAULT_KEY_ENV``; ``api_key_env=None`` says the endpoint needs no key.
    """

    DEFAULT_NAME: ClassVar[str]
    DEFAULT_KEY_ENV: ClassVar[str]
    SDK: ClassVar[str]  # the SDK's module: "anthropic" or "openai"
    _who: ProviderIdentity
    _client: _Closable

    def __init__(
        self,
        *,
        model: str,
        api_key: str,
        name: str | None = None,
        api_key_env: str | _Default | None = _DEFAULT,
        base_url: str | None = None,
        max_tokens: int | None = None,
        headers: Mapping[str, str] | None = None,
        max_retries: int = 4,
        timeout: float = 600.0,
        streaming: bool = True,
    ) -> None:
        key_env = self.DEFAULT_KEY_ENV if isinstance(api_key_env, _Default) else api_key_env
        self._who = ProviderIdentity(name or self.DEFAULT_NAME, model, key_env, base_url, max_retries)
        self._max_tokens = max_tokens
        self._streaming = streaming
        self._sdk = importlib.import_module(self.SDK)
        options = self.client_options(api_key, base_url, max_retries, timeout, headers)
        # The SDK's own HTTP client and defaults, with the process's one TLS context: not a
        # second load of the CA bundle (agent/tls.py).
        options["http_client"] = self._sdk.DefaultAsyncHttpxClient(timeout=timeout, verify=tls_context())
        self._client = self._make_client(options)

    def _make_client(self, options: dict[str, Any]) -> Any:
        """The SDK's async client, from :meth:`client_options` (imports the SDK)."""
        raise NotImplementedError

    # What the SDK's own method passes as request options (OpenAI: which credentials it sends).
    _POST_OPTIONS: ClassVar[Mapping[str, Any]] = {}

    async def _post_json(self, path: str, body: bytes, *, stream: bool) -> Any:
        """POST the JSON ``body`` through the SDK client (its retries, headers, auth and error
        types), and read the answer as plain JSON: the parsed body, or with ``stream`` the SDK's
        stream of parsed SSE ``data`` objects.

        No SDK models, and no SDK pass over the body: the OpenAI SDK walks every request against
        its TypedDicts (240 ms of CPU at 200 history steps in bench/history_steps.py), the
        Anthropic SDK copies the whole tree, and both serialize it again; the adapters send JSON
        they put together from pieces serialized once (:meth:`_wire`), so a step costs about the
        same at any history length and tool count."""
        client: Any = self._client
        options = dict(self._POST_OPTIONS)
        if stream:
            stream_cls = self._sdk.AsyncStream[object]
            return await client.post(
                path, content=body, cast_to=object, options=options, stream=True, stream_cls=stream_cls
            )
        return await client.post(path, content=body, cast_to=object, options=options)

    def _wire(self, request: ModelRequest) -> bytes:
        """The JSON body sent for ``request`` (:meth:`request_body` with the streaming switches),
        from the JSON of each message and of the tool set, each serialized once."""
        raise NotImplementedError

    def stream(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        """One response as events (text deltas, then a ``ResponseDone``): streamed from the API,
        or with ``streaming=False`` read whole and given out as the same events."""
        return self._streamed(request) if self._streaming else self._whole(request)

    def _errors(self, *, in_stream: bool = False) -> contextlib.AbstractContextManager[None]:
        """:func:`api_errors` for this adapter; ``in_stream`` for failures inside a started
        response, which the SDKs do not retry."""
        return api_errors(self._who.in_stream() if in_stream else self._who, self._sdk)

    def request_body(self, request: ModelRequest) -> dict[str, Any]:
        """The API's JSON body for ``request``, without the streaming switches: what a whole
        request sends, and what a provider Batch API line carries."""
        raise NotImplementedError

    def response_from_json(self, body: object) -> ModelResponse:
        """The neutral response of the API's JSON answer to :meth:`request_body` (a whole response,
        or one result of a provider batch); raises a ``ProviderError`` for one that is not."""
        raise NotImplementedError

    def _streamed(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        raise NotImplementedError

    def _whole(self, request: ModelRequest) -> AsyncIterator[StreamEvent]:
        raise NotImplementedError

    @property
    def name(self) -> str:
        return self._who.name

    @property
    def model(self) -> str:
        return self._who.model

    async def aclose(self) -> None:
        await self._client.close()

    @property
    def base_url(self) -> str | None:
        """The endpoint set for this provider (None: the SDK's default, the official API)."""
        return self._who.base_url

    @property
    def api_key_env(self) -> str | None:
        """The variable the key came from (None: the endpoint needs none)."""
        return self._who.api_key_env

    async def check_model(self) -> None:
        """Raise :class:`ModelNotFoundError` now if the API does not know this adapter's model
        (``GET /v1/models/ID``): a run that would fail on its first request fails before it."""
        client: Any = self._client
        with self._errors():
            await client.models.retrieve(self.model)

    async def list_models(self) -> list[str]:
        """The ids of the models the API lists (``GET /v1/models``, every page), in its order."""
        client: Any = self._client
        with self._errors():
            return [str(model.id) async for model in client.models.list()]

    @staticmethod
    def client_options(
        api_key: str,
        base_url: str | None,
        max_retries: int,
        timeout: float,
        headers: Mapping[str, str] | None,
    ) -> dict[str, Any]:
        """The keyword arguments both SDKs' async clients take, from our settings."""
        return {
            "api_key": api_key,
            "base_url": base_url,
            "max_retries": max_retries,
            "timeout": timeout,
            "default_headers": dict(headers) if headers else None,
        }


def tool_call(call_id: str, name: str, raw: object, *, provider: str, decoded: bool = False) -> ToolCallPart:
    """A tool call from the arguments the model sent: a JSON text (streamed pieces joined, or an
    OpenAI ``arguments`` string), or with ``decoded`` a value the API already decoded (Anthropic's
    whole ``input``).

    Empty text means no arguments. Arguments that cannot be read (not JSON, cut off, not an
    object) never become ``{}``: the part carries ``arguments_error`` naming the problem, and the
    loop answers the call with it instead of running the tool.
    """
    if not decoded:
        raw = str(raw)
        if not raw.strip():
            return ToolCallPart(call_id, name, {})
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            problem = f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno} (char {exc.pos})"
            return _unreadable(call_id, name, problem, provider)
    if not isinstance(raw, dict):
        return _unreadable(call_id, name, f"not a JSON object but {_json_kind(raw)}", provider)
    return ToolCallPart(call_id, name, raw)


def _unreadable(call_id: str, name: str, problem: str, provider: str) -> ToolCallPart:
    log.warning("%s: tool call %r has arguments that are %s", provider, name, problem)
    return ToolCallPart(call_id, name, {}, arguments_error=f"the arguments are {problem}")


def _json_kind(value: object) -> str:
    kinds = {list: "an array", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return "null" if value is None else kinds.get(type(value), type(value).__name__)


def data_url(image: ImagePart) -> str:
    return f"data:{image.media_type};base64,{image.data}"
