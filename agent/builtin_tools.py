"""The agent's own tools beside the servers' (``search_tools``, ``read_resource``, ``load_skill``,
``read_skill_file``): how they are named, and the wrapper that adds some to a turn's tools.

They show as ``agent.TOOL``. A server's tool of the same name keeps its name; ours steps aside to
``agent__TOOL`` (:func:`builtin_name`). :class:`BuiltinTools` is the wrapper
:class:`~agent.resource_tool.ResourceTools` and :class:`~agent.skill_tool.SkillTools` share: it
offers its tools after the inner ones, resolves and runs its own, and hands every other call on.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from agent.messages import Message, ToolResultPart, ToolSpec
from agent.tools import ToolEntry

if TYPE_CHECKING:
    from agent.core import Tools
    from agent.errors import AgentError

__all__ = ["BUILTIN_SERVER", "BuiltinTools", "builtin_name"]

BUILTIN_SERVER = "agent"  # shown as agent.search_tools, agent.read_resource ...


def builtin_name(tool: str, resolve: Callable[[str], object]) -> str:
    """``tool``, or ``agent__tool`` when ``resolve`` knows a tool of that name already."""
    return tool if resolve(tool) is None else f"{BUILTIN_SERVER}__{tool}"


class BuiltinTools:
    """The turn's tools (``inner``) plus the agent's own read-only ``tools`` (tool, description,
    schema), which :meth:`call_own` runs; no approval is asked for them (they change nothing)."""

    def __init__(self, inner: Tools, tools: Sequence[tuple[str, str, Mapping[str, Any]]]) -> None:
        self.inner = inner
        self.entries: dict[str, ToolEntry] = {}
        for tool, description, schema in tools:
            name = builtin_name(tool, inner.resolve)
            spec = ToolSpec(name, description, schema)
            self.entries[name] = ToolEntry(spec, BUILTIN_SERVER, tool, builtin=True, hints=("read-only",))

    def specs_for(self, history: Sequence[Message]) -> Sequence[ToolSpec]:
        return [*self.inner.specs_for(history), *(entry.spec for entry in self.entries.values())]

    def resolve(self, name: str) -> ToolEntry | None:
        return self.entries.get(name) or self.inner.resolve(name)

    async def refresh(self) -> None:
        await self.inner.refresh()

    async def run(
        self, name: str, arguments: object, *, call_id: str = ""
    ) -> tuple[ToolResultPart, AgentError | None]:
        if name not in self.entries:
            return await self.inner.run(name, arguments, call_id=call_id)
        return await self.call(name, arguments, call_id=call_id), None

    async def call(self, name: str, arguments: object, *, call_id: str = "") -> ToolResultPart:
        entry = self.entries.get(name)
        if entry is None:
            return await self.inner.call(name, arguments, call_id=call_id)
        return await self.call_own(entry, arguments, call_id)

    async def call_own(self, entry: ToolEntry, arguments: object, call_id: str) -> ToolResultPart:
        raise NotImplementedError
