"""agent/mcp/skills.py through ServerManager: list skills, load one, verify every file read.

Against a real SDK server offering the skills extension (tests/support/skills_server.py, stdio),
which records every file the client reads.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from agent.config import ServerSettings
from agent.errors import SkillRejected
from agent.mcp.manager import ServerManager
from agent.mcp.skills import parse_frontmatter
from tests.support.fixtures_mcp import REPO_ROOT
from tests.support.skills_server import NOTES_SKILL, NOTES_STYLE


def _settings(events: Path) -> ServerSettings:
    return ServerSettings(
        command=sys.executable,
        args=["-m", "tests.support.skills_server"],
        cwd=str(REPO_ROOT),
        env={"MCP_TEST_EVENTS": str(events)},
    )


def _reads(events: Path) -> list[str]:
    return [
        line.removeprefix("read ") for line in events.read_text().splitlines() if line.startswith("read ")
    ]


async def test_lists_skills_without_reading_a_file_then_loads_and_verifies(tmp_path: Path) -> None:
    events = tmp_path / "events.txt"
    events.touch()
    async with ServerManager({"skills": _settings(events)}) as manager:
        assert manager.offers_skills("skills")
        skills = {s.name: s for s in await manager.list_skills("skills")}
        assert sorted(skills) == ["impostor", "notes", "tampered"]
        assert _reads(events) == []  # listing fetches nothing ahead of need

        notes = skills["notes"]
        loaded = await manager.load_skill("skills", notes)
        assert loaded.text == NOTES_SKILL
        assert _reads(events) == ["skill://notes/SKILL.md"]  # loading reads SKILL.md only
        style = await manager.read_skill_file("skills", loaded, "skill://notes/references/STYLE.md")
        assert style == NOTES_STYLE.encode()


async def test_a_file_that_fails_its_digest_or_frontmatter_is_rejected(tmp_path: Path) -> None:
    events = tmp_path / "events.txt"
    events.touch()
    async with ServerManager({"skills": _settings(events)}) as manager:
        skills = {s.name: s for s in await manager.list_skills("skills")}
        with pytest.raises(SkillRejected, match="bytes, its entry says"):
            await manager.load_skill("skills", skills["tampered"])
        with pytest.raises(
            SkillRejected, match="frontmatter differs from the skills/list entry in description"
        ):
            await manager.load_skill("skills", skills["impostor"])
    # Nothing past the rejected SKILL.md files was read.
    assert _reads(events) == ["skill://tampered/SKILL.md", "skill://impostor/SKILL.md"]


async def test_a_server_without_the_extension_offers_no_skills(mcp_http_url: str) -> None:
    async with ServerManager({"plain": ServerSettings(url=mcp_http_url)}) as manager:
        assert not manager.offers_skills("plain")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("---\nname: a\ndescription: 'x: y'\n---\nbody", {"name": "a", "description": "x: y"}),
        ('---\n# comment\nname: "a"\n\n---\n', {"name": "a"}),
        ("no frontmatter", None),
        ("---\nname: a\n", None),  # never closed
        ("---\nmeta:\n  nested: 1\n---\n", None),  # nested: not read, so not trusted
        ("---\ntags: [a, b]\n---\n", None),
    ],
)
def test_parse_frontmatter_reads_flat_fields_only(text: str, expected: dict[str, str] | None) -> None:
    assert parse_frontmatter(text) == expected
