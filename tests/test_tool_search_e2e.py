"""Tool search end to end: ``agent run`` with 5000 tools on every provider type.

Two real MCP servers over Streamable HTTP (bench/catalog_server.py): ``time`` serves the tools of
the published mcp-server-time (from its snapshot in bench/data/servers/), ``gateway`` 4998
synthetic SaaS tools. The loopback fake model searches first and then calls the first tool the
search found, as a model would; the request log shows what each request carried.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agent.cli import main
from agent.config import ServerSettings
from tests.support.fake_llm import FakeLLM, SeenRequest
from tests.support.fixtures_mcp import shared_server, start_server

PROVIDERS = {
    "anthropic": "anthropic:claude-test",
    "openai": "openai:gpt-test",
    "openai-chat": "openai-chat:gpt-test",
}


def _start(*args: str) -> tuple[subprocess.Popen[str], str]:
    return start_server([sys.executable, "bench/catalog_server.py", "--http", *args], "catalog server")


# One of each for the whole run (every xdist worker shares them: tests/support/fixtures_mcp.py).
@pytest.fixture(scope="session")
def time_url() -> str:
    return shared_server("catalog-time", lambda: _start("--snapshot", "time"))


@pytest.fixture(scope="session")
def gateway_url() -> str:
    return shared_server("catalog-gateway", lambda: _start("--distractors", "4998"))


@pytest.fixture
def config_5000(time_url: str, gateway_url: str, write_config: Callable[..., Path]) -> Callable[..., Path]:
    def write(**top: Any) -> Path:
        servers = {"time": ServerSettings(url=time_url), "gateway": ServerSettings(url=gateway_url)}
        path = write_config(servers)
        if top:
            body = "".join(f"{k} = {json.dumps(v)}\n" for k, v in top.items())
            path.write_text(f"[tools]\n{body}\n{path.read_text()}")
        return path

    return write


@pytest.fixture
def llm(fake_llm: FakeLLM, monkeypatch: pytest.MonkeyPatch) -> FakeLLM:
    for key, value in fake_llm.env().items():
        monkeypatch.setenv(key, value)
    return fake_llm


def search_then_call(request: SeenRequest) -> dict[str, Any]:
    """The model: search, call the best match, then answer with its result."""
    conversation = request.conversation
    if conversation.assistant_turns == 0:
        return {"tool_calls": [["search_tools", {"query": "current time in a time zone"}]]}
    if conversation.assistant_turns == 1:
        found = json.loads(conversation.last_tool_results[0].text)
        return {"tool_calls": [[found[0]["name"], {"timezone": "Asia/Tokyo"}]]}
    return {"echo": "tool_results"}


def body_bytes(request: SeenRequest) -> int:
    return len(json.dumps(request.body))


@pytest.mark.parametrize("provider", list(PROVIDERS))
def test_run_with_5000_tools_searches_then_calls_the_tool_found(
    provider: str, llm: FakeLLM, config_5000: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    llm.script(search_then_call)
    code = main(
        ["run", "what time is it in Tokyo?", "--config", str(config_5000()), "-m", PROVIDERS[provider]]
    )
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out == 'called get_current_time with {"timezone": "Asia/Tokyo"}\n'
    first, second, third = llm.requests
    # The first request offers only the search tool and says that more tools exist.
    assert first.conversation.tools == ["search_tools"]
    assert "5000 tools from 2 servers" in first.conversation.system
    assert "search_tools" in first.conversation.system
    # From the next step on, what the search found is offered with its full schema.
    assert "time__get_current_time" in second.conversation.tools
    assert len(second.conversation.tools) <= 1 + 8
    assert "time__get_current_time" in third.conversation.tools
    assert all(len(r.conversation.tools) <= 64 for r in llm.requests)
    assert all(body_bytes(r) < 20_000 for r in llm.requests)
    assert "agent.search_tools" in err and "time.get_current_time" in err


def test_first_request_is_far_smaller_than_sending_every_tool(
    llm: FakeLLM, config_5000: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    llm.script(search_then_call)
    assert main(["run", "time in Tokyo?", "--config", str(config_5000()), "-m", PROVIDERS["anthropic"]]) == 0
    searched = body_bytes(llm.requests[0])
    llm.reset(["It is noon."])
    config = config_5000(search="never")
    assert main(["run", "time in Tokyo?", "--config", str(config), "-m", PROVIDERS["anthropic"]]) == 0
    everything = llm.requests[0]
    assert len(everything.conversation.tools) == 5000
    assert searched * 100 < body_bytes(everything)
    capsys.readouterr()


def test_openai_never_gets_more_than_128_tools_even_with_search_never(
    llm: FakeLLM, config_5000: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    llm.script(search_then_call)
    config = config_5000(search="never")
    assert main(["run", "time in Tokyo?", "--config", str(config), "-m", PROVIDERS["openai"]]) == 0
    assert llm.requests[0].conversation.tools == ["search_tools"]
    assert all(len(r.conversation.tools) <= 128 for r in llm.requests)
    capsys.readouterr()


def test_tools_search_shows_what_the_model_would_find(
    config_5000: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["tools", "--config", str(config_5000()), "--search", "what time is it in Tokyo", "--limit", "3"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    count, rest = lines[0].split(" ", 1)
    assert 1 <= int(count) <= 3 and rest.endswith(
        "among 5000 tools for 'what time is it in Tokyo', up to 3 shown (tool search on)"
    )
    assert len(lines) == 1 + int(count)
    assert any(line.startswith(("  1. time.", "  2. time.")) and "get_current_time" in line for line in lines)
    assert main([*argv, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["tools"] == 5000 and doc["search_active"] is True
    assert ("time", "get_current_time") in [(f["server"], f["tool"]) for f in doc["found"]]
