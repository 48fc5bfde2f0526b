"""The manager's skills requests (SEP-2640, :mod:`agent.mcp.skills`), each bounded by the server's
timeout and its failures as ``ServerError``: a part of :class:`~agent.mcp.manager.ServerManager`."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import anyio

from agent.errors import ServerError

if TYPE_CHECKING:
    from agent.mcp.connection import Connection
    from agent.mcp.skills import LoadedSkill, Skill

__all__ = ["SkillRequests"]


class SkillRequests:
    """Skills of a connected server; the manager provides :meth:`connection`."""

    def connection(self, server: str) -> Connection:
        raise NotImplementedError

    def offers_skills(self, server: str) -> bool:
        """Whether the connected server declared the skills extension."""
        from agent.mcp.skills import server_offers_skills

        return server_offers_skills(self.connection(server).client)

    async def list_skills(self, server: str) -> list[Skill]:
        """The server's skills (``skills/list``); reads none of their files."""
        from agent.mcp.skills import list_skills

        conn = self.connection(server)
        with self._skills_errors(server, "listing skills", conn.settings.timeout):
            return await list_skills(server, conn.client)
        raise AssertionError("unreachable")  # the context manager re-raises every failure

    async def load_skill(self, server: str, skill: Skill) -> LoadedSkill:
        """Read and verify the skill's ``SKILL.md``; SkillRejected when it fails verification."""
        from agent.mcp.skills import load_skill

        conn = self.connection(server)
        with self._skills_errors(server, f"reading {skill.uri}", conn.settings.timeout):
            return await load_skill(server, conn.client, skill)
        raise AssertionError("unreachable")

    async def read_skill_file(self, server: str, loaded: LoadedSkill, uri: str) -> bytes:
        """A supporting file of a loaded skill, verified; SkillRejected when it fails."""
        from agent.mcp.skills import read_skill_file

        conn = self.connection(server)
        with self._skills_errors(server, f"reading {uri}", conn.settings.timeout):
            return await read_skill_file(server, conn.client, loaded, uri)
        raise AssertionError("unreachable")

    @contextmanager
    def _skills_errors(self, server: str, doing: str, timeout: float) -> Iterator[None]:
        """Bound a skills request by the server's timeout; its failures as ServerError."""
        from mcp.shared.exceptions import MCPError
        from pydantic import ValidationError

        try:
            with anyio.fail_after(timeout if timeout > 0 else math.inf):
                yield
        except TimeoutError:
            raise ServerError(server, f"{doing} timed out after {timeout:g} s") from None
        except MCPError as exc:
            raise ServerError(server, f"{doing} failed: {exc}") from None
        except ValidationError as exc:
            raise ServerError(server, f"{doing}: the server sent an invalid result: {exc}") from None
