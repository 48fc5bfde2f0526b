"""Choosing the provider: model specs, keys and URLs from config and environment, lazy SDK imports."""

from __future__ import annotations

import subprocess
import sys
import typing
from collections.abc import Mapping
from contextlib import aclosing
from pathlib import Path
from typing import Any

import pytest

from agent.config import DEFAULT_MODEL, Config
from agent.errors import EXIT_USAGE, ProviderConfigError
from agent.messages import ModelRequest, ResponseDone, UserMessage
from agent.providers.base import Provider
from agent.providers.registry import DEFAULT_MODELS, check_provider, make_provider, parse_model_spec
from tests.support.fake_llm import FakeLLM

REPO = Path(__file__).resolve().parents[2]


def config(**raw: Any) -> Config:
    return Config(**raw)


OLLAMA = {"ollama": {"type": "openai-chat", "base_url": "http://127.0.0.1:9/v1", "model": "llama3.1:8b"}}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (None, ("anthropic", "claude-sonnet-4-6")),
        ("anthropic:claude-opus-4-8", ("anthropic", "claude-opus-4-8")),
        ("openai", ("openai", None)),
        ("openai-chat:gpt-5.4-mini", ("openai-chat", "gpt-5.4-mini")),
        ("claude-haiku-4-5", ("anthropic", "claude-haiku-4-5")),
        ("gpt-5.4", ("openai", "gpt-5.4")),
        ("o4-mini", ("openai", "o4-mini")),
        ("ollama:qwen3:32b", ("ollama", "qwen3:32b")),  # only the first colon splits
        ("ollama", ("ollama", None)),
        ("  anthropic:  ", ("anthropic", None)),
    ],
)
def test_model_specs_name_provider_and_model(spec: str | None, expected: tuple[str, str | None]) -> None:
    assert parse_model_spec(config(providers=OLLAMA), spec) == expected


def test_a_bare_unknown_model_goes_to_the_provider_of_the_configured_model() -> None:
    assert parse_model_spec(config(providers=OLLAMA, model="ollama:llama3.1:8b"), "mistral") == (
        "ollama",
        "mistral",
    )
    assert parse_model_spec(config(), "mistral") == ("anthropic", "mistral")


def test_an_unknown_provider_is_a_usage_error_listing_the_known_ones() -> None:
    with pytest.raises(ProviderConfigError) as caught:
        make_provider(config(providers=OLLAMA), "groq:llama-3.3-70b", env={})
    assert caught.value.exit_code == EXIT_USAGE
    assert "unknown provider 'groq'" in str(caught.value)
    assert "anthropic, openai, openai-chat, ollama" in str(caught.value.hint)


def test_the_default_models_are_current_models_of_the_installed_sdks() -> None:
    from anthropic._data import DEPRECATED_MODELS
    from anthropic.types import Model
    from openai.types import ChatModel

    provider, model = DEFAULT_MODEL.split(":", 1)
    assert provider == "anthropic"
    anthropic_models = typing.get_args(typing.get_args(Model)[0])
    assert model in anthropic_models
    assert model not in DEPRECATED_MODELS
    assert DEFAULT_MODELS["anthropic"] == model
    assert DEFAULT_MODELS["openai"] in typing.get_args(ChatModel)


@pytest.mark.parametrize(
    ("spec", "variable"),
    [(None, "ANTHROPIC_API_KEY"), ("openai:gpt-5.5", "OPENAI_API_KEY"), ("openai-chat", "OPENAI_API_KEY")],
)
def test_a_missing_key_names_the_variable_and_how_to_pick_another_provider(
    spec: str | None, variable: str
) -> None:
    for make in (make_provider, check_provider):  # the check (Session.open, before servers) says the same
        with pytest.raises(ProviderConfigError) as caught:
            make(config(), spec, env={})
        assert caught.value.exit_code == EXIT_USAGE
        assert f"{variable} is not set" in str(caught.value)
        assert "--model PROVIDER:MODEL" in str(caught.value.hint)


def test_a_declared_provider_reads_its_own_key_variable() -> None:
    providers = {
        "groq": {"type": "openai-chat", "base_url": "http://127.0.0.1:9/v1", "api_key_env": "GROQ_API_KEY"}
    }
    with pytest.raises(ProviderConfigError, match="GROQ_API_KEY is not set"):
        make_provider(config(providers=providers), "groq:llama-3.3-70b", env={"OPENAI_API_KEY": "k"})


def test_a_declared_provider_without_a_model_says_how_to_give_one() -> None:
    providers = {"vllm": {"type": "openai-chat", "base_url": "http://127.0.0.1:9/v1"}}
    with pytest.raises(ProviderConfigError, match="has no model") as caught:
        make_provider(config(providers=providers), "vllm", env={})
    assert "--model vllm:MODEL" in str(caught.value.hint)


async def _one_answer(provider: Provider) -> str:
    try:
        async with aclosing(provider.stream(ModelRequest("", [UserMessage.of("hi")]))) as events:
            async for event in events:
                if isinstance(event, ResponseDone):
                    return event.response.message.text
    finally:
        await provider.aclose()
    raise AssertionError("no ResponseDone")


@pytest.mark.parametrize(
    ("spec", "env_url", "path", "model"),
    [
        (None, "ANTHROPIC_BASE_URL", "/v1/messages", "claude-sonnet-4-6"),
        ("openai", "OPENAI_BASE_URL", "/v1/responses", "gpt-5.5"),
        ("openai-chat:gpt-5.4", "OPENAI_BASE_URL", "/v1/chat/completions", "gpt-5.4"),
    ],
)
async def test_the_standard_key_and_base_url_variables_are_honoured(
    spec: str | None, env_url: str, path: str, model: str, fake_llm: FakeLLM
) -> None:
    fake_llm.script(["from the fake"])
    env = fake_llm.env(api_key="sk-from-env")
    provider = make_provider(config(), spec, env={k: v for k, v in env.items() if k == env_url or "KEY" in k})
    assert await _one_answer(provider) == "from the fake"
    seen = fake_llm.requests[0]
    assert seen.path == path
    assert seen.headers.get("x-api-key", seen.headers.get("authorization")) in (
        "sk-from-env",
        "Bearer sk-from-env",
    )
    assert seen.model == model


async def test_provider_settings_from_the_config_reach_the_api(fake_llm: FakeLLM) -> None:
    fake_llm.script(["ok"])
    providers = {
        "anthropic": {
            "type": "anthropic",
            "base_url": fake_llm.base_url,
            "model": "claude-opus-4-8",
            "max_tokens": 1234,
            "headers": {"x-team": "blue"},
            "api_key_env": "WORK_ANTHROPIC_KEY",
        }
    }
    provider = make_provider(config(providers=providers), "anthropic", env={"WORK_ANTHROPIC_KEY": "work"})
    assert (provider.name, provider.model) == ("anthropic", "claude-opus-4-8")
    await _one_answer(provider)
    seen = fake_llm.requests[0]
    assert seen.body["max_tokens"] == 1234
    assert seen.body["model"] == "claude-opus-4-8"
    assert seen.headers["x-team"] == "blue"


async def test_an_openai_compatible_server_gets_no_openai_key(fake_llm: FakeLLM) -> None:
    fake_llm.script(["local answer"])
    providers: Mapping[str, Any] = {
        "ollama": {"type": "openai-chat", "base_url": fake_llm.base_url + "/v1", "model": "llama3.1:8b"}
    }
    provider = make_provider(
        config(providers=providers, model="ollama"), env={"OPENAI_API_KEY": "sk-secret-openai"}
    )
    assert (provider.name, provider.model) == ("ollama", "llama3.1:8b")
    assert await _one_answer(provider) == "local answer"
    seen = fake_llm.requests[0]
    assert "sk-secret-openai" not in str(seen.headers)
    assert seen.path == "/v1/chat/completions"
    assert seen.model == "llama3.1:8b"


def test_registry_imports_no_sdk_and_a_provider_only_its_own() -> None:
    code = (
        "import sys\n"
        "from agent.config import Config\n"
        "from agent.providers.registry import check_provider, make_provider\n"
        "assert 'openai' not in sys.modules and 'anthropic' not in sys.modules, 'registry imported an SDK'\n"
        "ahead = check_provider(Config(), 'openai-chat:gpt-5.5', env={'OPENAI_API_KEY': 'k'})\n"
        "assert ahead == ('agent.providers.openai_chat', 'openai'), ahead\n"
        "assert 'openai' not in sys.modules, 'the check imported the SDK'\n"
        "p = make_provider(Config(), 'openai-chat:gpt-5.5', env={'OPENAI_API_KEY': 'k'})\n"
        "assert all(name in sys.modules for name in ahead), 'the check named other modules'\n"
        "assert 'anthropic' not in sys.modules, 'choosing openai imported anthropic'\n"
        "print('ok')\n"
    )
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "HOME": str(Path.cwd())}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"
