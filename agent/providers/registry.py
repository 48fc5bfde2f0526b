"""Choosing the provider: ``--model`` / ``config.model`` plus ``[providers.NAME]`` tables.

A model spec is ``PROVIDER:MODEL`` (``ollama:llama3.1:8b``: the first colon splits, and only after
a known provider name), ``PROVIDER`` (its configured or built-in default model) or ``MODEL``
(``claude…`` goes to anthropic, ``gpt-…`` / ``o1…`` / ``o3…`` / ``o4…`` to openai, anything else to
the provider of ``config.model``).

Built-in providers: ``anthropic``, ``openai`` (Responses API) and ``openai-chat`` (Chat
Completions). ``[providers.NAME]`` tables adjust them or declare others::

    [providers.ollama]
    type = "openai-chat"
    base_url = "http://localhost:11434/v1"
    model = "llama3.1:8b"

Keys and URLs: ``api_key_env`` names the variable holding the key. Without it, the built-ins and
any provider talking to the official endpoint (no ``base_url``) read ``ANTHROPIC_API_KEY`` or
``OPENAI_API_KEY``, and must find it; a declared provider with its own ``base_url`` and no
``api_key_env`` sends no real key (local servers need none, and a third party must not receive
your OpenAI key). ``ANTHROPIC_BASE_URL`` / ``OPENAI_BASE_URL`` apply where ``base_url`` is not set.

This module imports no SDK: each adapter imports its own, when it is built.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, cast

from agent.config import DEFAULT_MODEL, Config, ProviderSettings
from agent.errors import ProviderConfigError
from agent.providers.base import Provider

if TYPE_CHECKING:
    from agent.providers.batch import BatchAPI

__all__ = [
    "BUILTIN_PROVIDERS",
    "DEFAULT_MODELS",
    "check_provider",
    "known_providers",
    "make_batch_api",
    "make_provider",
    "parse_model_spec",
]

ProviderType = Literal["anthropic", "openai", "openai-chat"]
BUILTIN_PROVIDERS: tuple[ProviderType, ...] = ("anthropic", "openai", "openai-chat")
# Default models of the built-in types, from the installed SDKs' model lists.
DEFAULT_MODELS: dict[ProviderType, str] = {
    "anthropic": DEFAULT_MODEL.split(":", 1)[1]
    if DEFAULT_MODEL.startswith("anthropic:")
    else "claude-sonnet-4-6",
    "openai": "gpt-5.5",
    "openai-chat": "gpt-5.5",
}
_KEY_ENV: dict[ProviderType, str] = {
    "anthropic": "ANTHROPIC_API_KEY",
    "openai": "OPENAI_API_KEY",
    "openai-chat": "OPENAI_API_KEY",
}
_URL_ENV: dict[ProviderType, str] = {
    "anthropic": "ANTHROPIC_BASE_URL",
    "openai": "OPENAI_BASE_URL",
    "openai-chat": "OPENAI_BASE_URL",
}
# Sent as the key to servers that need none (the OpenAI SDK refuses to start without one).
_NO_KEY = "no-key"


def known_providers(config: Config) -> list[str]:
    return [*BUILTIN_PROVIDERS, *sorted(n for n in config.providers if n not in BUILTIN_PROVIDERS)]


def provider_by_name(model: str) -> str | None:
    """The built-in provider a model's name gives away (``claude…``, ``gpt-…``), or None."""
    lowered = model.lower()
    if lowered.startswith("claude"):
        return "anthropic"
    if lowered.startswith(("gpt-", "o1", "o3", "o4", "chatgpt")):
        return "openai"
    return None


def _guess_provider(model: str, config: Config) -> str:
    guessed = provider_by_name(model)
    if guessed is not None:
        return guessed
    default = config.model
    prefix = default.split(":", 1)[0] if ":" in default else ""
    if prefix in known_providers(config):
        return prefix
    return "anthropic" if default == model else _guess_provider(default, config)


def parse_model_spec(config: Config, spec: str | None = None) -> tuple[str, str | None]:
    """``(provider name, model or None for the provider's default)`` for a spec (default: config.model)."""
    text = (spec or "").strip() or config.model.strip() or DEFAULT_MODEL
    known = known_providers(config)
    if ":" in text:
        prefix, model = text.split(":", 1)
        if prefix in known:
            return prefix, model.strip() or None
        raise ProviderConfigError(
            f"unknown provider {prefix!r} in model {text!r}",
            hint=f"known providers: {', '.join(known)}; declare others in the config as [providers.NAME] "
            'with type = "anthropic", "openai" or "openai-chat"',
        )
    if text in known:
        return text, None
    return _guess_provider(text, config), text


def make_provider(
    config: Config,
    spec: str | None = None,
    *,
    env: Mapping[str, str] | None = None,
    streaming: bool = True,
) -> Provider:
    """The provider for ``spec`` (``PROVIDER:MODEL``, ``PROVIDER`` or ``MODEL``; default ``config.model``).

    ``streaming=False`` asks every adapter for whole (non-streamed) responses: for batch runs,
    where nobody watches the text arrive.
    """
    return _make(config, spec, env, streaming)[0]


def make_batch_api(
    config: Config, spec: str | None = None, *, env: Mapping[str, str] | None = None
) -> BatchAPI:
    """The provider Batch API for ``spec`` (as :func:`make_provider`): Message Batches for an
    ``anthropic`` provider, the Batch API over Responses or Chat Completions for the OpenAI types;
    ``batch_max_requests`` / ``batch_max_bytes`` of its ``[providers.NAME]`` lower the API's limits."""
    provider, kind, settings = _make(config, spec, env, False)
    api: BatchAPI
    if kind == "anthropic":
        from agent.providers.anthropic import AnthropicProvider
        from agent.providers.batch_anthropic import AnthropicBatchAPI

        assert isinstance(provider, AnthropicProvider)
        api = AnthropicBatchAPI(provider)
    else:
        from agent.providers._common import SDKAdapter
        from agent.providers.batch_openai import OpenAIBatchAPI

        assert isinstance(provider, SDKAdapter)
        api = OpenAIBatchAPI(provider, "/v1/responses" if kind == "openai" else "/v1/chat/completions")
    api.limits = api.limits.lowered(settings.batch_max_requests, settings.batch_max_bytes)
    return api


@dataclass(frozen=True, slots=True)
class _Plan:
    """What :func:`make_provider` builds, worked out before anything is imported."""

    name: str
    kind: ProviderType
    settings: ProviderSettings
    model: str
    api_key: str
    key_env: str | None
    base_url: str | None


# The adapter module of each type and the SDK it imports (what building one costs: seconds).
_MODULES: dict[ProviderType, tuple[str, str]] = {
    "anthropic": ("agent.providers.anthropic", "anthropic"),
    "openai": ("agent.providers.openai", "openai"),
    "openai-chat": ("agent.providers.openai_chat", "openai"),
}


def check_provider(
    config: Config, spec: str | None = None, *, env: Mapping[str, str] | None = None
) -> tuple[str, ...]:
    """Raise what :func:`make_provider` would raise for ``spec`` before it imports anything (an
    unknown provider, no model, no API key), and name the modules it will import: the adapter and
    its SDK, for a caller that imports them ahead (``Session.open``, while servers connect)."""
    return _MODULES[_plan(config, spec, env).kind]


def _plan(config: Config, spec: str | None, env: Mapping[str, str] | None) -> _Plan:
    environ = os.environ if env is None else env
    name, model = parse_model_spec(config, spec)
    settings = config.providers.get(name)
    if settings is None:
        settings = ProviderSettings(type=cast(ProviderType, name))  # a built-in's name is its type
    kind = settings.type
    model = model or settings.model or (DEFAULT_MODELS[kind] if name in BUILTIN_PROVIDERS else None)
    if not model:
        raise ProviderConfigError(
            f"provider {name!r} has no model",
            hint=f"use --model {name}:MODEL, or set model = ... in [providers.{name}]",
        )
    base_url = settings.base_url or environ.get(_URL_ENV[kind]) or None
    key_env: str | None = settings.api_key_env
    required = True
    if key_env is None:
        key_env = _KEY_ENV[kind]
        if name not in BUILTIN_PROVIDERS and settings.base_url is not None:
            key_env, required = None, False
    api_key = environ.get(key_env, "") if key_env else ""
    if not api_key and required:
        others = [p for p in known_providers(config) if p != name]
        raise ProviderConfigError(
            f"no API key for provider {name!r}: {key_env} is not set",
            hint=f"export {key_env}=<your key>, or pick another provider with --model PROVIDER:MODEL (in chat: /model) "
            f"or model = ... in the config (known providers: {', '.join(others)})",
        )
    return _Plan(name, kind, settings, model, api_key, key_env, base_url)


def _make(
    config: Config, spec: str | None, env: Mapping[str, str] | None, streaming: bool
) -> tuple[Provider, ProviderType, ProviderSettings]:
    plan = _plan(config, spec, env)
    kind, settings = plan.kind, plan.settings
    factory: Callable[..., Provider]
    if kind == "anthropic":
        from agent.providers.anthropic import AnthropicProvider

        factory = AnthropicProvider
    elif kind == "openai":
        from agent.providers.openai import OpenAIResponsesProvider

        factory = OpenAIResponsesProvider
    else:
        from agent.providers.openai_chat import OpenAIChatProvider

        factory = OpenAIChatProvider
    made = factory(
        model=plan.model,
        api_key=plan.api_key or _NO_KEY,
        name=plan.name,
        api_key_env=plan.key_env,
        base_url=plan.base_url,
        max_tokens=settings.max_tokens if "max_tokens" in settings.model_fields_set else None,
        headers=settings.headers,
        max_retries=settings.max_retries,
        timeout=settings.timeout,
        streaming=streaming,
    )
    return made, kind, settings
