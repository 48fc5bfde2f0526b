"""``agent models``: per provider, the models its API lists and the ones the config names.

Every provider of :func:`~agent.providers.registry.known_providers` is asked at once (its own
``GET /v1/models``, through its adapter's SDK client); one without a key, or one whose API fails,
is shown as such and the others still are. Endpoints shared by several providers (the built-in
``openai`` and ``openai-chat``) are asked once.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

import anyio

from agent.config import Config
from agent.errors import AgentError, ProviderConfigError
from agent.providers._common import SDKAdapter
from agent.providers.registry import BUILTIN_PROVIDERS, DEFAULT_MODELS, known_providers, make_provider

__all__ = ["ProviderModels", "list_provider_models"]

_LIST_TIMEOUT = 30.0  # seconds for one provider's list (its SDK retries inside)
_PLACEHOLDER = "(listing models)"  # the model an adapter is made with, to list; never sent


@dataclass(slots=True)
class ProviderModels:
    """One provider's models: ``listed`` by its API (None: not asked or it failed, see ``problem``),
    ``configured`` in the config (its ``model``, ``context_windows``, the default), ``default`` the
    model a bare ``--model NAME`` uses."""

    name: str
    type: str
    base_url: str | None = None
    default: str | None = None
    configured: list[str] = field(default_factory=list)
    listed: list[str] | None = None
    problem: str | None = None  # why nothing is listed
    no_key: bool = False  # the problem is a missing API key (not a failure)
    same_as: str | None = None  # listed by this provider's request (the same endpoint and key)


async def list_provider_models(config: Config, env: Mapping[str, str] | None = None) -> list[ProviderModels]:
    """Every known provider's models, in :func:`known_providers` order."""
    environ = os.environ if env is None else env
    found = [_configured(config, name) for name in known_providers(config)]
    asked: dict[tuple[str, str | None, str], tuple[SDKAdapter, list[ProviderModels]]] = {}
    try:
        for entry in found:
            try:
                made = make_provider(config, f"{entry.name}:{entry.default or _PLACEHOLDER}", env=environ)
            except ProviderConfigError as exc:  # no API key (the only way a listed provider fails here)
                entry.problem, entry.no_key = exc.message.rpartition(": ")[2], True
                continue
            assert isinstance(made, SDKAdapter)
            entry.base_url = made.base_url
            key = (made.SDK, made.base_url, made.api_key_env or "")
            if key in asked:  # the same endpoint and key: asked once
                await made.aclose()
                asked[key][1].append(entry)
                entry.same_as = asked[key][1][0].name
            else:
                asked[key] = (made, [entry])
        async with anyio.create_task_group() as tg:
            for adapter, entries in asked.values():
                tg.start_soon(_ask, adapter, entries)
    finally:
        with anyio.CancelScope(shield=True):
            for adapter, _ in asked.values():
                await adapter.aclose()
    return found


async def _ask(adapter: SDKAdapter, entries: list[ProviderModels]) -> None:
    listed: list[str] | None = None
    problem: str | None = None
    try:
        with anyio.fail_after(_LIST_TIMEOUT):
            listed = await adapter.list_models()
    except TimeoutError:
        problem = f"no answer in {_LIST_TIMEOUT:.0f} s"
    except AgentError as exc:
        problem = exc.message.removeprefix(f"{adapter.name}: ")
    for entry in entries:
        entry.listed, entry.problem = listed, problem


def _configured(config: Config, name: str) -> ProviderModels:
    settings = config.providers.get(name)
    kind = settings.type if settings is not None else name
    default = (settings.model if settings is not None else None) or (
        DEFAULT_MODELS[kind] if name in BUILTIN_PROVIDERS else None  # type: ignore[index]
    )
    named: list[str] = [default] if default else []
    if settings is not None:
        named += list(settings.context_windows)
    prefix = f"{name}:"
    if config.model.startswith(prefix):
        named.append(config.model.removeprefix(prefix))
    return ProviderModels(name, kind, default=default, configured=list(dict.fromkeys(m for m in named if m)))
