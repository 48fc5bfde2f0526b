"""The one composition root: servers and their auth, the toolbox, the provider(s), the system
prompt and the approval policy, wired once for every command.

::

    async with Session.open(config, SessionOptions(...)) as session:
        async for event in session.turn(prompt, history):
            ...                                   # render it

A command parses its options, opens a Session and renders what it yields; it never builds
connections, toolboxes or providers itself. What differs between commands is an option, not a
second code path: whether a model is needed, whether someone is at the terminal (browser logins,
approval questions), whole responses and one shared 429 pause for batch.

Servers that fail to start follow one rule everywhere: each is reported once (``on_server_failed``)
and the command goes on with the rest; when servers were selected and none of them can be used,
opening the Session raises (exit 3): that server's own error when there was one, else a
:class:`~agent.errors.ServerError` naming them all. Nothing is asked of the model then: an answer
without the tools the user chose would mislead.

Approval is one policy: the server's per-tool or whole-server setting, else the global
``approval``. "always" runs, "never" denies, "ask" asks ``options.ask`` (a UI's question to the
user: "y", "n" or "a" for always in this session); with no one to ask, the call is denied, and
the model is told so (:data:`agent.core.NO_ONE_TO_ASK`), not that the user refused it.

Around it: :mod:`agent.session_options` (the options and the servers they select),
:mod:`agent.session_providers` (the providers, made once each and kept), :mod:`agent.session_servers`
(servers late or failing once open) and :mod:`agent.session_prompt` (the system prompt).
"""

from __future__ import annotations

import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import anyio

from agent.config import Config, ServerSettings, approval_mode
from agent.core import NO_ONE_TO_ASK, Agent, Event, events
from agent.errors import UsageError
from agent.messages import Message
from agent.session_options import Answer, AskFn, SessionOptions, select_servers
from agent.session_prompt import DEFAULT_SYSTEM_PROMPT, load_system_prompt, system_prompt_option
from agent.session_providers import Providers
from agent.session_servers import LateServers, check_tool_limit, dropped_note, no_server_usable
from agent.startup import import_ahead, resume_collector

if TYPE_CHECKING:
    from anyio.abc import TaskGroup

    from agent.context import Budget, ContextManager
    from agent.core import Tools
    from agent.mcp.manager import ServerManager, ServerState
    from agent.mcp.skills import LoadedSkill, Skill
    from agent.providers.base import Provider
    from agent.providers.batch import BatchAPI
    from agent.tool_search import ToolOffer, ToolSearch
    from agent.tools import Toolbox

__all__ = [
    "DEFAULT_SYSTEM_PROMPT",
    "Answer",
    "AskFn",
    "Session",
    "SessionOptions",
    "load_system_prompt",
    "select_servers",
    "system_prompt_option",
]

log = logging.getLogger(__name__)

_NO_OPTIONS = SessionOptions()  # Session.open's default: every enabled server, the config's model


class Session:
    """A ready runtime for one command: see the module doc. Make it with :meth:`open`."""

    def __init__(
        self,
        config: Config,
        options: SessionOptions,
        servers: dict[str, ServerSettings],
        manager: ServerManager,
        toolbox: Toolbox,
        task_group: TaskGroup,
    ) -> None:
        self.config = config
        self.options = options
        self.servers = servers
        self.manager = manager
        self.toolbox = toolbox
        self.tool_search = _tool_search(config, servers, toolbox)
        self.system = (
            system_prompt_option(options.system) if options.system is not None else load_system_prompt(config)
        )
        self.max_steps = options.max_steps if options.max_steps is not None else config.max_steps
        self.always: set[tuple[str, str]] = set()  # tools the user allowed for this session
        self._tg = task_group
        self._providers = Providers(config, options)
        self.resource_servers: list[str] = []  # the servers with resources: read_resource reads them
        self.skills: dict[str, list[Skill]] = {}  # listed skills by server: load_skill loads them
        self._loaded_skills: dict[tuple[str, str], LoadedSkill] = {}  # verified this session
        self._told_pins: set[tuple[str, str]] = set()  # unknown pins said once each

    # -- opening -------------------------------------------------------------------------------

    @classmethod
    @contextlib.asynccontextmanager
    async def open(
        cls, config: Config, options: SessionOptions = _NO_OPTIONS, *, provider: Provider | None = None
    ) -> AsyncIterator[Session]:
        """Select and connect the servers, load their tools, make the provider; closes all of it.

        ``provider`` replaces the configured default model (a deterministic model in tests, or a
        program that embeds the agent)."""
        from agent.mcp.manager import ServerManager
        from agent.mcp.oauth import auth_factory_for
        from agent.tools import Toolbox

        if options.max_steps is not None and options.max_steps < 1:
            raise UsageError(f"--max-steps must be at least 1, not {options.max_steps}")
        servers = select_servers(config, options.servers, options.adhoc) if options.use_servers else {}
        # A bad system_prompt_file or --system @FILE is a usage error before anything starts.
        if options.system is not None:
            system_prompt_option(options.system)
        else:
            load_system_prompt(config)
        failure: BaseException | None = None
        imported: anyio.Event | None = None
        async with anyio.create_task_group() as tg:
            try:
                async with contextlib.AsyncExitStack() as stack:
                    late = LateServers(options.on_server_state, options.on_server_failed, options.on_notice)
                    manager = ServerManager(
                        servers,
                        auth_factory=auth_factory_for(
                            config, allow_login=options.allow_login, opener=options.open_browser
                        ),
                        on_state=late,
                        elicitation=options.elicitation,
                        on_log=options.on_server_log,
                    )
                    session = cls(config, options, servers, manager, Toolbox.empty(), tg)
                    manager.grace = options.connect_grace
                    if options.on_notice is not None:
                        manager.dropped.on_dropped = dropped_note(options.on_notice)
                    stack.push_async_callback(session._providers.aclose)
                    if provider is not None:
                        session._providers.use(provider)
                    elif options.needs_model:
                        # No API key, unknown model: before connecting. The SDK (a second or more
                        # of CPU) is imported meanwhile, in a worker thread, while we wait on the
                        # servers; the provider is made once they are ready.
                        imported = anyio.Event()
                        tg.start_soon(import_ahead, session._providers.check(), imported)
                    await stack.enter_async_context(manager)
                    late.opened(manager)  # servers still connecting (connect_grace): one line each
                    session._check_servers()
                    resources = anyio.Event()  # listed alongside the tools (no exception group here)
                    if options.needs_model:
                        tg.start_soon(session._find_resources, resources)
                        late.on_ready = lambda _: tg.start_soon(session._find_resources)
                    else:
                        resources.set()
                    toolbox = await Toolbox.load(manager, max_result_tokens=config.max_tool_result_tokens)
                    await resources.wait()
                    if imported is not None:
                        await imported.wait()
                        session.provider_for(None)
                    session._set_toolbox(toolbox)
                    session.toolbox.on_change = options.on_notice
                    # What is loaded now (modules, SDKs, the tool schemas) lives as long as the
                    # session: frozen, the collector stops walking it in every full collection
                    # (at 1000 tools those landed inside the loop); thawed again at the end.
                    gc.freeze()
                    stack.callback(gc.unfreeze)
                    resume_collector()  # off while the command started (agent/startup.py)
                    yield session
            except BaseException as exc:  # raised as is below, not wrapped in an exception group
                failure = exc
            finally:
                tg.cancel_scope.cancel()
        if failure is not None:
            raise failure

    def _check_servers(self) -> None:
        """The one rule for servers that failed to start (module doc)."""
        manager = self.manager
        if self.servers and not manager.connected:
            error, report = no_server_usable(manager)
            if report:
                self._report_failures()
            raise error
        self._report_failures()

    def _report_failures(self) -> None:
        for state in self.manager.states.values():
            if state.status == "failed" and state.error is not None:
                log.info("server %s could not be used: %s", state.name, state.error.message)
                if self.options.on_server_failed is not None:
                    self.options.on_server_failed(state.error)

    # -- providers -----------------------------------------------------------------------------

    @property
    def provider(self) -> Provider:
        """The default provider (``--model``, else the config's ``model``)."""
        return self.provider_for(None)

    @property
    def model(self) -> str:
        """``provider:model`` of the default provider."""
        provider = self.provider
        return f"{provider.name}:{provider.model}"

    def provider_for(self, spec: str | None) -> Provider:
        """The provider for ``spec`` (default: the session's model), made once and kept; a bad
        spec raises the same error every time it is asked for."""
        return self._providers.provider_for(spec)

    def batch_api_for(self, spec: str | None) -> BatchAPI:
        """The provider Batch API for ``spec`` (``agent batch --via batch-api``), made once and
        kept, like :meth:`provider_for`."""
        return self._providers.batch_api_for(spec)

    async def switch_model(self, spec: str) -> Provider:
        """Make ``spec`` the default model (``PROVIDER:MODEL``, or a model of the current provider)."""
        return await self._providers.switch(spec)

    # -- approval ------------------------------------------------------------------------------

    async def approve(self, server: str, tool: str, arguments: Mapping[str, Any]) -> bool | str:
        """The one approval policy (module doc): True runs the call; False (the user said no, or
        "never") or a reason text (no one could be asked) denies it."""
        mode = approval_mode(self.config, self.servers, server, tool)
        if mode == "always" or (server, tool) in self.always:
            return True
        if mode == "never":
            return False
        entry = self.toolbox.find(server, tool)
        hints = entry.hints if entry is not None else ()
        if mode == "ask-unless-read-only" and "read-only" in hints and server in self.config.servers:
            return True  # a hint is believed only from a server the user configured, and never over "never"
        if self.options.ask is None:
            note = f"{server}.{tool} needs approval and there is no one to ask; denied"
            log.info("%s", note)
            if self.options.on_notice is not None:
                self.options.on_notice(note)
            return NO_ONE_TO_ASK
        answer = await self.options.ask(server, tool, arguments, hints)
        if answer == "a":
            self.always.add((server, tool))
        return answer != "n"

    # -- turns and tools -----------------------------------------------------------------------

    def turn(
        self,
        prompt: str | None,
        history: list[Message],
        *,
        model: str | None = None,
        system: str | None = None,
        provider: Provider | None = None,
        steps_taken: int = 0,
    ) -> AsyncIterator[Event]:
        """One turn of a conversation: its events, in completion order (see :mod:`agent.core`).

        ``history`` is extended in place with the turn's messages, also when the turn fails or is
        cancelled. ``model`` and ``system`` replace the session's for this turn only; ``provider``
        answers instead of the model's own (``agent batch --via batch-api``: answers that come
        from provider batches). ``prompt=None`` goes on with a turn saved part-way, after
        ``steps_taken`` steps (:meth:`agent.core.Agent.turn`). With many tools the model gets a
        tool search instead of every tool (:mod:`agent.tool_search`)."""
        live = provider is None
        provider = provider or self.provider_for(model)
        offer = self._offer(provider.name, check=True)
        system = self.system if system is None else system
        if offer.active:
            system += self.tool_search.system_note()
        system += self._server_instructions() + self._skills_catalogue()
        agent = Agent(
            provider,
            self._with_skills(self._with_resources(offer)),
            system=system,
            max_steps=self.max_steps,
            history=history,
            approve=self.approve,
            prepare=self.context_for(provider).fit if live else None,
        )
        return events(agent, prompt, self._tg, steps_taken=steps_taken)

    # -- the context window --------------------------------------------------------------------

    def context_for(self, provider: Provider | None = None) -> ContextManager:
        """What keeps this provider's requests inside its model's context window (agent/context.py)."""
        from agent.context import ContextManager, context_window

        provider = provider or self.provider
        settings = self.config.providers.get(provider.name)
        return ContextManager(
            provider,
            context_window(self.config, provider.name, provider.model),
            reserve=settings.max_tokens if settings is not None else 8192,
            notice=self.options.on_notice,
        )

    def context_budget(self, history: Sequence[Message]) -> Budget:
        """Where the next request's tokens would go: system prompt, tools, history (``/context``)."""
        provider = self.provider
        offer = self._offer(provider.name)
        system = self.system + (self.tool_search.system_note() if offer.active else "")
        return self.context_for(provider).budget(system, offer.specs_for(history), history)

    async def reconnect(self, name: str) -> ServerState:
        """Reconnect one server and catch the tools up (names already given keep their spelling)."""
        state = await self.manager.reconnect(name)
        await self.toolbox.refresh()
        self._set_toolbox(self.toolbox)
        if self.options.needs_model:
            await self._find_resources()
        return state

    def _server_instructions(self) -> str:
        """The connected servers' ``instructions``, marked as theirs (:mod:`agent.mcp.instructions`)."""
        from agent.mcp.instructions import instructions_section

        return instructions_section({n: self.manager.states[n].instructions for n in self.manager.connected})

    def _offer(self, provider: str, *, check: bool = False) -> ToolOffer:
        """The tools a turn offers, within the provider's limit (``read_resource`` and the two
        skills tools count too): tool search keeps them there, and only pinned tools can break it
        (``check`` raises)."""
        most = self.max_tools(provider)
        also: list[str] = []
        if any(name in self.manager.connected for name in self.resource_servers):
            also.append("read_resource")
        if self._skill_servers():
            also += ["load_skill", "read_skill_file"]
        offer = self.tool_search.offer(most - len(also) if most is not None else None)
        if check and offer.active:
            check_tool_limit(self.tool_search, self.servers, most, provider, also=also)
        return offer

    def _with_resources(self, tools: ToolOffer) -> Tools:
        """The turn's tools, plus ``read_resource`` when a connected server offers resources."""
        from agent.resource_tool import ResourceTools

        servers = [name for name in self.resource_servers if name in self.manager.connected]
        if not servers:
            return tools
        return ResourceTools(tools, self.manager, servers, max_chars=self.toolbox.max_result_chars)

    def _skill_servers(self) -> dict[str, list[Skill]]:
        return {name: skills for name, skills in self.skills.items() if name in self.manager.connected}

    def _skills_catalogue(self) -> str:
        """The connected servers' skills, marked as theirs (:mod:`agent.skill_tool`)."""
        from agent.skill_tool import skills_section

        return skills_section(self._skill_servers())

    def _with_skills(self, tools: Tools) -> Tools:
        """The turn's tools, plus ``load_skill`` and ``read_skill_file`` when a server offers skills."""
        from agent.skill_tool import SkillTools

        skills = self._skill_servers()
        if not skills:
            return tools
        return SkillTools(
            tools, self.manager, skills, self._loaded_skills, max_chars=self.toolbox.max_result_chars
        )

    async def _find_resources(self, done: anyio.Event | None = None) -> None:
        """List the servers with resources and the skills servers offer (no skill file is read)."""
        from agent.mcp.resources import servers_with_resources
        from agent.skill_tool import find_skills

        try:
            self.resource_servers = await servers_with_resources(self.manager)
            self.skills = await find_skills(self.manager)
        finally:
            if done is not None:
                done.set()

    def _set_toolbox(self, toolbox: Toolbox) -> None:
        self.toolbox = toolbox
        toolbox.on_progress = self.options.on_progress
        names = {s.name: s.server_name or "" for s in self.manager.states.values()}
        self.tool_search.reload(toolbox, names)
        for server, tool in self.tool_search.unknown_pins:
            if (server, tool) not in self._told_pins and self.options.on_notice is not None:
                self._told_pins.add((server, tool))
                self.options.on_notice(
                    f"servers.{server}.tools.pin: server {server!r} offers no tool {tool!r} "
                    "(a typo, or left out by include / exclude); the pin does nothing"
                )

    def max_tools(self, provider: str) -> int | None:
        """The most tools one request to this provider (its config name) may carry, if known."""
        from agent.tool_search import PROVIDER_MAX_TOOLS

        settings = self.config.providers.get(provider)
        kind = settings.type if settings is not None else provider
        return PROVIDER_MAX_TOOLS.get(kind)


def _tool_search(config: Config, servers: Mapping[str, ServerSettings], toolbox: Toolbox) -> ToolSearch:
    from agent.tool_search import ToolSearch

    pins = {name: settings.tools.pin for name, settings in servers.items() if settings.tools.pin}
    return ToolSearch(toolbox, config.tools, pins)
