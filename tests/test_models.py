"""``agent models``: per provider, what its API lists (the loopback fake's GET /v1/models) and what
the config names; a provider without a key or whose API fails is said so, the others still listed."""

from __future__ import annotations

import json

import pytest

from agent.config import Config
from agent.models_cmd import main as models_main
from agent.options import ModelsOptions
from tests.support.fake_llm import FakeLLM
from tests.support.http_edge import refused_port


def _config(base_url: str, **more: dict[str, object]) -> Config:
    return Config.model_validate(
        {
            "model": "fake:fake-model-a",
            "providers": {
                "fake": {"type": "anthropic", "base_url": base_url, "api_key_env": "FAKE_KEY"},
                "oai": {"type": "openai", "base_url": f"{base_url}/v1", "api_key_env": "FAKE_KEY"},
                # an OpenAI-compatible server needing no key, with a model of its own configured
                "local": {
                    "type": "openai-chat",
                    "base_url": f"{base_url}/v1",
                    "model": "mine",
                    "context_windows": {"big-one": 100_000},
                },
                **more,
            },
        }
    )


async def test_each_provider_lists_its_models_and_one_without_a_key_says_so(
    fake_llm: FakeLLM, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FAKE_KEY", "test-key")
    fake_llm.models = ["fake-model-a", "fake-model-b", "fake-model-c"]
    assert await models_main(ModelsOptions(json=True), _config(fake_llm.base_url)) == 0
    found = {entry["name"]: entry for entry in json.loads(capsys.readouterr().out)}
    assert list(found) == ["anthropic", "openai", "openai-chat", "fake", "local", "oai"]
    for name in ("fake", "local", "oai"):
        assert found[name]["listed"] == fake_llm.models and found[name]["problem"] is None
    assert found["fake"]["configured"] == ["fake-model-a"]  # the config's model
    assert found["local"]["default"] == "mine" and found["local"]["configured"] == ["mine", "big-one"]
    for name in ("anthropic", "openai"):  # the built-ins: no key in this environment
        assert found[name]["listed"] is None and found[name]["no_key"] is True
    assert found["anthropic"]["problem"] == "ANTHROPIC_API_KEY is not set"

    assert await models_main(ModelsOptions(), _config(fake_llm.base_url)) == 0
    text = capsys.readouterr().out
    assert (
        "anthropic: no API key (ANTHROPIC_API_KEY is not set)\n  anthropic:claude-sonnet-4-6  configured"
        in text
    )
    assert "fake (anthropic at http://127.0.0.1:" in text and "  fake:fake-model-b\n" in text
    assert "  local:mine  configured (default)\n  local:big-one  configured" in text


async def test_a_provider_whose_api_fails_is_said_so_and_the_command_exits_1(
    fake_llm: FakeLLM, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FAKE_KEY", "test-key")
    down = {"type": "openai-chat", "base_url": f"http://127.0.0.1:{refused_port()}/v1", "max_retries": 0}
    config = _config(fake_llm.base_url, down=down)
    assert await models_main(ModelsOptions(json=True), config) == 1
    found = {entry["name"]: entry for entry in json.loads(capsys.readouterr().out)}
    assert found["down"]["listed"] is None and found["down"]["no_key"] is False
    assert "connection to http://127.0.0.1:" in found["down"]["problem"]
    assert found["fake"]["listed"] == list(fake_llm.models)  # the others are still listed
