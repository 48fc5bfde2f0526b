"""agent/resources_cmd.py: `agent resources`, `agent read`, `agent prompts`, `agent prompt`, in-process."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from agent import resources_cmd
from agent.cli import parse
from agent.config import Config
from agent.errors import UsageError
from tests.support.features_server import PNG_1X1, features_server


async def _run(argv: list[str]) -> int:
    invocation = parse(argv)
    main = getattr(resources_cmd, f"{invocation.command}_main")
    code: int = await main(invocation.options, Config())
    return code


async def test_resources_lists_resources_and_templates(capsys: pytest.CaptureFixture[str]) -> None:
    async with features_server() as url:
        assert await _run(["resources", "--url", url]) == 0
        out = capsys.readouterr().out
        assert "notes://list (text/plain)  Every note's name." in out
        assert "notes://note/{name}  template: One note." in out
        assert await _run(["resources", "--url", url, "--json"]) == 0
        doc = json.loads(capsys.readouterr().out)
    assert [r["uri"] for r in doc["resources"]] == ["notes://list", "notes://logo"]
    assert doc["templates"][0]["uriTemplate"] == "notes://note/{name}"


async def test_read_prints_text_and_binary_needs_a_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with features_server() as url:
        assert await _run(["read", "notes://note/gamma", "--url", url]) == 0
        assert capsys.readouterr().out == "Gamma is last.\n"
        with pytest.raises(UsageError, match=r"binary \(image/png, \d+ bytes\)") as binary:
            await _run(["read", "notes://logo", "--url", url])
        assert "-o FILE" in (binary.value.hint or "")
        target = tmp_path / "logo.png"
        assert await _run(["read", "notes://logo", "--url", url, "-o", str(target)]) == 0
    assert target.read_bytes() == PNG_1X1 and (os.stat(target).st_mode & 0o777) == 0o600


async def test_prompts_and_prompt_with_arguments(capsys: pytest.CaptureFixture[str]) -> None:
    async with features_server() as url:
        assert await _run(["prompts", "--url", url]) == 0
        assert "summarize(topic, style?)  Summarize a topic." in capsys.readouterr().out
        assert await _run(["prompt", "summarize", "topic=cats", "style=bullets", "--url", url]) == 0
        assert capsys.readouterr().out == "[user]\nSummarize cats in a bullets style.\n"
        assert await _run(["prompt", "greet", "--url", url, "--json"]) == 0
        roles = [m["role"] for m in json.loads(capsys.readouterr().out)]
        assert roles == ["user", "assistant", "user"]
        with pytest.raises(UsageError, match="needs topic"):
            await _run(["prompt", "summarize", "--url", url])
        with pytest.raises(UsageError, match="no prompt named 'nope'"):
            await _run(["prompt", "nope", "--url", url])


async def test_a_server_answering_read_with_an_error_is_exit_1_not_an_unusable_server() -> None:
    from agent.errors import ServerRequestFailed

    async with features_server() as url:
        for uri in ("notes://note/zzz", "nosuch://x"):
            with pytest.raises(ServerRequestFailed) as info:
                await _run(["read", uri, "--url", url])
            assert info.value.exit_code == 1 and uri in str(info.value)


async def test_an_unknown_prompt_argument_is_a_usage_error_naming_the_known_ones() -> None:
    async with features_server() as url:
        with pytest.raises(UsageError) as info:
            await _run(["prompt", "summarize", "topic=a", "bogus=1", "--url", url])
    assert "has no argument 'bogus'" in str(info.value)
    assert "topic, style?" in (info.value.hint or "") and info.value.exit_code == 2
