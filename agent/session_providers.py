"""The Session's providers: each model spec's provider (and provider Batch API) made on first
use and kept, the default one switched by ``/model``, all closed with the Session."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import anyio

from agent.errors import AgentError

if TYPE_CHECKING:
    from agent.config import Config
    from agent.providers.base import Provider
    from agent.providers.batch import BatchAPI
    from agent.session_options import SessionOptions

__all__ = ["Providers"]

T = TypeVar("T")


def _once(made: dict[str, T | AgentError], spec: str, make: Callable[[str], T]) -> T:
    """``made[spec]``, made by ``make(spec)`` the first time; an error it raised is kept and
    raised again every time ``spec`` is asked for."""
    if spec not in made:
        try:
            made[spec] = make(spec)
        except AgentError as exc:
            made[spec] = exc
    found = made[spec]
    if isinstance(found, AgentError):
        raise found
    return found


class Providers:
    """The providers of one Session, by ``provider:model`` spec; ``default`` is the session's
    model (``--model``, else the config's ``model``). A spec that cannot be made keeps its error:
    asked for again, it raises the same error."""

    def __init__(self, config: Config, options: SessionOptions) -> None:
        self.config = config
        self.options = options
        self.default: str = options.model or config.model
        self._providers: dict[str, Provider | AgentError] = {}
        self._batch_apis: dict[str, BatchAPI | AgentError] = {}

    def use(self, provider: Provider) -> None:
        """Make an already made provider the default (``Session.open(provider=...)``)."""
        self.default = f"{provider.name}:{provider.model}"
        self._providers[self.default] = provider

    def check(self) -> tuple[str, ...]:
        """Raise what making the default provider would raise before it imports anything (unknown
        provider, no API key); the modules it will import (:func:`~agent.providers.registry.check_provider`)."""
        from agent.providers.registry import check_provider

        return check_provider(self.config, self.default)

    def provider_for(self, spec: str | None) -> Provider:
        """The provider for ``spec`` (default: the session's model), made once and kept; a bad
        spec raises the same error every time it is asked for."""
        return _once(self._providers, spec or self.default, self._make_provider)

    def batch_api_for(self, spec: str | None) -> BatchAPI:
        """The provider Batch API for ``spec`` (``agent batch --via batch-api``), made once and
        kept, like :meth:`provider_for`."""
        from agent.providers.registry import make_batch_api

        return _once(self._batch_apis, spec or self.default, lambda s: make_batch_api(self.config, s))

    def _make_provider(self, spec: str) -> Provider:
        from agent.providers.registry import make_provider

        made: Provider = make_provider(self.config, spec, streaming=self.options.streaming)
        if self.options.backoff is not None:
            from agent.providers.pacing import PacedProvider

            made = PacedProvider(made, self.options.backoff, self.options.on_pause or _ignore)
        return made

    async def switch(self, spec: str) -> Provider:
        """Make ``spec`` the default model, read as ``--model`` reads it (``PROVIDER:MODEL``, a
        provider alone for its default model, a model whose name gives its provider away); any
        other bare name is a model of the current provider."""
        from agent.config import model_spec_problem
        from agent.errors import UsageError
        from agent.providers.registry import known_providers, provider_by_name

        spec = spec.strip()
        problem = model_spec_problem(spec)
        if problem is not None:
            raise UsageError(problem)
        if ":" not in spec and spec not in known_providers(self.config) and provider_by_name(spec) is None:
            spec = f"{self.provider_for(None).name}:{spec}"
        provider = self.provider_for(spec)
        old = self.default
        self.default = f"{provider.name}:{provider.model}"
        if old != self.default and old in self._providers:
            previous = self._providers.pop(old)
            self._providers[self.default] = provider
            if not isinstance(previous, AgentError) and previous is not provider:
                await previous.aclose()
        return provider

    async def aclose(self) -> None:
        with anyio.CancelScope(shield=True):
            for made in [*self._providers.values(), *self._batch_apis.values()]:
                if not isinstance(made, AgentError):
                    await made.aclose()


def _ignore(seconds: float) -> None:
    pass
