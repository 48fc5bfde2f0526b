"""``agent models``: per provider, the models its API lists and those the config names
(:mod:`agent.providers.models`). A provider without a key, or whose API fails, is said so in its
own entry; the command fails (exit 1) only when a provider that has a key could not be asked."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict

from agent.config import Config
from agent.errors import EXIT_FAILURE, EXIT_OK
from agent.options import ModelsOptions
from agent.terminal import for_stream

__all__ = ["main"]


async def main(options: ModelsOptions, config: Config) -> int:
    from agent.providers.models import list_provider_models

    found = await list_provider_models(config)
    if options.json:
        print(json.dumps([asdict(entry) for entry in found], indent=2, ensure_ascii=False))
    else:
        for entry in found:
            where = f" at {entry.base_url}" if entry.base_url else ""
            kind = f" ({entry.type}{where})" if entry.type != entry.name or where else ""
            if entry.listed is not None:
                said = f"{len(entry.listed)} model(s) listed by its API"
            elif entry.no_key:
                said = f"no API key ({entry.problem})"
            else:
                said = f"could not list its models: {entry.problem}"
            if entry.same_as is not None and entry.listed is not None:
                said = f"the {len(entry.listed)} model(s) of {entry.same_as} (the same API and key)"
            _out(f"{entry.name}{kind}: {said}")
            for model in [] if entry.same_as else entry.listed or []:
                mark = "  (default)" if model == entry.default else ""
                _out(f"  {entry.name}:{model}{mark}")
            extra = [m for m in entry.configured if m not in (entry.listed or [])]
            for model in extra:
                mark = " (default)" if model == entry.default else ""
                _out(f"  {entry.name}:{model}  configured{mark}")
    failed = any(entry.listed is None and not entry.no_key for entry in found)
    return EXIT_FAILURE if failed else EXIT_OK


def _out(text: str) -> None:
    print(for_stream(text, sys.stdout))  # model ids come from the provider: untrusted
