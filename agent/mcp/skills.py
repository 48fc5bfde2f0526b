"""The skills extension (SEP-2640, ``io.modelcontextprotocol/skills``): list skills, load one.

A server that declares the extension answers ``skills/list`` with one entry per skill: the URI of
its ``SKILL.md``, the frontmatter that file must carry, and every file of the skill (``SKILL.md``
included) with its ``sha256:`` digest and size in bytes. Files are ordinary resources
(``resources/read``).

What the extension asks of a client, and where it is done here:

* nothing is read ahead of need: :func:`list_skills` reads no file; :func:`load_skill` reads
  only ``SKILL.md``; a supporting file is read by :func:`read_skill_file` when asked for;
* every file read is checked against its entry, size first, then digest; content that fails is
  never returned (:class:`~agent.errors.SkillRejected`);
* a loaded ``SKILL.md``'s YAML frontmatter must equal the entry's, field by field; on any
  difference the skill is not loaded.

The frontmatter reader takes the flat ``key: value`` form skills use (plain or quoted scalars);
anything it cannot read is a rejection, never a guess. The model uses skills through
:mod:`agent.skill_tool` (a catalogue in the system prompt, ``load_skill``, ``read_skill_file``);
the conformance client (:mod:`agent.conformance`) exercises these functions too.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from mcp_types import PaginatedRequestParams, Request, Result
from pydantic import Field

from agent.errors import SkillRejected

if TYPE_CHECKING:
    from mcp import Client

__all__ = [
    "SKILLS_EXTENSION",
    "LoadedSkill",
    "Skill",
    "SkillFile",
    "list_skills",
    "load_skill",
    "parse_frontmatter",
    "read_skill_file",
    "server_offers_skills",
]

SKILLS_EXTENSION = "io.modelcontextprotocol/skills"
_MAX_PAGES = 1000


@dataclass(frozen=True, slots=True)
class SkillFile:
    """One file of a skill as its entry lists it."""

    uri: str
    digest: str | None  # "sha256:<hex>"
    size: int | None  # bytes


@dataclass(frozen=True, slots=True)
class Skill:
    """One entry of ``skills/list``: where its ``SKILL.md`` is, its frontmatter, its files."""

    uri: str
    frontmatter: dict[str, Any]
    files: tuple[SkillFile, ...]

    @property
    def name(self) -> str:
        return str(self.frontmatter.get("name") or self.uri)

    def file(self, uri: str) -> SkillFile | None:
        return next((f for f in self.files if f.uri == uri), None)


@dataclass(frozen=True, slots=True)
class LoadedSkill:
    """A skill whose ``SKILL.md`` was read and verified: its text (frontmatter included)."""

    skill: Skill
    text: str


class _ListSkillsRequest(Request[PaginatedRequestParams | None, Literal["skills/list"]]):
    method: Literal["skills/list"] = "skills/list"
    params: PaginatedRequestParams | None = None


class _ListSkillsResult(Result):
    skills: list[dict[str, Any]] = Field(default_factory=list)
    next_cursor: str | None = None


def server_offers_skills(client: Client) -> bool:
    """Whether the server declared the skills extension in its capabilities."""
    extensions = client.server_capabilities.extensions or {}
    return SKILLS_EXTENSION in extensions


def _skill(server: str, raw: dict[str, Any]) -> Skill:
    uri = raw.get("uri")
    frontmatter = raw.get("frontmatter") or {}
    if not isinstance(uri, str) or not isinstance(frontmatter, dict):
        raise SkillRejected(server, f"skills/list sent an invalid entry: {json.dumps(raw)[:200]}")
    files = []
    for item in raw.get("resources") or []:
        if isinstance(item, dict) and isinstance(item.get("uri"), str):
            digest, size = item.get("digest"), item.get("size")
            files.append(
                SkillFile(
                    uri=item["uri"],
                    digest=digest if isinstance(digest, str) else None,
                    size=size if isinstance(size, int) and not isinstance(size, bool) else None,
                )
            )
    return Skill(uri=uri, frontmatter=frontmatter, files=tuple(files))


async def list_skills(server: str, client: Client) -> list[Skill]:
    """Every skill the server lists (all pages); reads no file."""
    skills: list[Skill] = []
    cursor: str | None = None
    seen: set[str] = set()
    for _ in range(_MAX_PAGES):
        params = PaginatedRequestParams(cursor=cursor) if cursor is not None else None
        page = await client.session.send_request(_ListSkillsRequest(params=params), _ListSkillsResult)
        skills.extend(_skill(server, raw) for raw in page.skills)
        cursor = page.next_cursor
        if cursor is None or cursor in seen:
            break
        seen.add(cursor)
    return skills


def _verified(server: str, skill: Skill, uri: str, data: bytes) -> bytes:
    """``data`` if it matches the skill's entry for ``uri`` (size, then digest); else SkillRejected."""
    entry = skill.file(uri)
    what = f"{uri} (skill {skill.name!r})"
    if entry is None or entry.digest is None:
        raise SkillRejected(
            server, f"{what} has no digest in its skills/list entry, so it cannot be verified"
        )
    if entry.size is not None and entry.size != len(data):
        raise SkillRejected(server, f"{what} is {len(data)} bytes, its entry says {entry.size}")
    algorithm, _, expected = entry.digest.partition(":")
    if algorithm != "sha256" or not expected:
        raise SkillRejected(server, f"{what} has an unsupported digest {entry.digest!r}")
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected.lower():
        raise SkillRejected(server, f"{what} does not match its digest (sha256:{actual} != {entry.digest})")
    return data


async def _read(server: str, client: Client, uri: str) -> bytes:
    result = await client.read_resource(uri)
    chunks: list[bytes] = []
    for content in result.contents:
        text = getattr(content, "text", None)
        if text is not None:
            chunks.append(text.encode("utf-8"))
        else:
            chunks.append(base64.b64decode(getattr(content, "blob", "")))
    return b"".join(chunks)


def parse_frontmatter(text: str) -> dict[str, str] | None:
    """The flat ``key: value`` YAML frontmatter at the top of ``text``; None when there is none
    or it holds anything else (nested values, lists, block scalars)."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---":
        return None
    fields: dict[str, str] = {}
    for line in lines[1:]:
        if line.strip() == "---":
            return fields
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition(":")
        if not sep or line[:1].isspace() or not key.strip():
            return None
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        elif value[:1] in ("|", ">", "[", "{", "&", "*", "!"):
            return None
        fields[key.strip()] = value
    return None


async def load_skill(server: str, client: Client, skill: Skill) -> LoadedSkill:
    """Read the skill's ``SKILL.md``, verify it against the entry, compare its frontmatter."""
    data = _verified(server, skill, skill.uri, await _read(server, client, skill.uri))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SkillRejected(server, f"{skill.uri} is not UTF-8 text") from None
    found = parse_frontmatter(text)
    if found is None:
        raise SkillRejected(server, f"{skill.uri} has no frontmatter this client can read")
    expected = {key: str(value) for key, value in skill.frontmatter.items()}
    if found != expected:
        differing = sorted(k for k in found.keys() | expected.keys() if found.get(k) != expected.get(k))
        raise SkillRejected(
            server,
            f"{skill.uri}: its frontmatter differs from the skills/list entry in {', '.join(differing)}",
        )
    return LoadedSkill(skill=skill, text=text)


async def read_skill_file(server: str, client: Client, loaded: LoadedSkill, uri: str) -> bytes:
    """A supporting file of a loaded skill, verified against its entry."""
    if loaded.skill.file(uri) is None:
        raise SkillRejected(server, f"{uri} is not a file of skill {loaded.skill.name!r}")
    return _verified(server, loaded.skill, uri, await _read(server, client, uri))
