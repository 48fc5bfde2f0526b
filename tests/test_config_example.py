"""config.example.toml documents every key, so it must load, and it must cover every key."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import BaseModel

from agent.config import (
    Config,
    OAuthSettings,
    ProviderSettings,
    ServerSettings,
    ToolFilter,
    ToolSearchSettings,
    load_config,
)

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"


def test_example_config_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/home/someone")
    config = load_config(EXAMPLE)
    assert config.servers["arcade"].url == "https://api.arcade.dev/v1/mcps/arcade-anon/mcp"
    assert config.servers["files"].args[-1] == "/home/someone/notes"
    assert config.providers["ollama"].type == "openai-chat"
    assert list(config.enabled_servers) == ["arcade"]


@pytest.mark.parametrize(
    "model", [Config, ServerSettings, OAuthSettings, ProviderSettings, ToolFilter, ToolSearchSettings]
)
def test_example_config_mentions_every_key(model: type[BaseModel]) -> None:
    text = EXAMPLE.read_text()
    for name, field in model.model_fields.items():
        if field.exclude:
            continue
        documented = (f"{name} =", f"[{name}.", f".{name}]")
        assert any(d in text for d in documented), f"config.example.toml does not document {name!r}"
