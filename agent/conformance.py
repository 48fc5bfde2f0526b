"""The client the MCP conformance suite drives: ``agent conformance-client URL`` (hidden, for CI).

The suite (``@modelcontextprotocol/conformance``, run by ``.ci/conformance.sh``) starts a scripted
server for one scenario and runs this command with the server URL as the last argument, the
scenario name in ``MCP_CONFORMANCE_SCENARIO`` and, for pre-registered or client-credentials
scenarios, the credentials as JSON in ``MCP_CONFORMANCE_CONTEXT``.

Nothing here speaks MCP or OAuth itself: the URL becomes a :class:`~agent.config.ServerSettings`
(with the context's credentials as its ``[oauth]`` settings), connected through the real
:class:`~agent.mcp.manager.ServerManager` with the real OAuth handler of :mod:`agent.mcp.oauth`.
What stands in for the person is the browser: it follows the authorization redirect with httpx2,
as a browser whose user approves at once would.

Every scenario does the same: connect, list the tools, call each tool (arguments from
:func:`tool_arguments`), print the results; then, when the server offers the skills extension,
list its skills (and, where the scenario plays a user who loads them, load each one). Any failure
exits non-zero, except what a client must take in its stride: a -32601 (method not found) answer
and a skill rejected by verification are reported and the scenario goes on. A server's
elicitation request gets the manager's default answer (a form accepted with its defaults).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.config import Config, ServerSettings
from agent.errors import SkillRejected, ToolCallFailed, UsageError
from agent.options import ConformanceOptions
from agent.terminal import say

if TYPE_CHECKING:
    from agent.mcp.manager import ServerManager, ServerTool

__all__ = [
    "CIMD_CLIENT_METADATA_URL",
    "JSON_SCHEMA_ECHO_TOOL",
    "TOOL_ARGUMENTS",
    "loads_skills",
    "main",
    "server_settings",
    "tool_arguments",
]

SERVER = "conformance"

# The URL auth/basic-cimd expects as our client ID metadata document (it is never fetched). Only
# that scenario gets it: elsewhere a fixture may try to fetch it (auth/offline-access-scope).
CIMD_CLIENT_METADATA_URL = "https://conformance-test.local/client-metadata.json"

# Where the conformance client puts the IdP ID token of the cross-app-access scenario.
XAA_ID_TOKEN_ENV = "AGENT_CONFORMANCE_ID_TOKEN"

# Per scenario, per tool: the arguments to call it with (every other tool gets none, unless the
# context's `toolCalls` names them).
TOOL_ARGUMENTS: dict[str, dict[str, dict[str, Any]]] = {
    "tools_call": {"add_numbers": {"a": 5, "b": 3}},
}

# The tool that takes back, as its `schema` argument, another tool's inputSchema exactly as this
# client received it (json-schema-2020-12-preservation: nothing may be stripped in parsing).
JSON_SCHEMA_ECHO_TOOL = "json_schema_echo"

# Scenario names of cross-app access (SEP-990): the first name it had, and its name since 0.2.
_CROSS_APP_SCENARIOS = ("auth/cross-app-access", "auth/enterprise-managed-authorization")

_METHOD_NOT_FOUND = -32601

# Short enough that a failure is reported before .ci/conformance/client.sh kills us (45 s).
_TIMEOUT = 10.0


def _context() -> dict[str, Any]:
    raw = os.environ.get("MCP_CONFORMANCE_CONTEXT")
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise UsageError(f"MCP_CONFORMANCE_CONTEXT is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise UsageError("MCP_CONFORMANCE_CONTEXT must be a JSON object")
    return value


def _secret_file(text: str, folder: Path, name: str) -> str:
    """A secret from the context as a file of mode 0600 (our config names key and assertion
    files, never inline secrets)."""
    path = folder / name
    path.touch(mode=0o600)
    path.write_text(text, encoding="utf-8")
    return str(path)


def server_settings(url: str, scenario: str, context: dict[str, Any], key_folder: Path) -> ServerSettings:
    """The server as a user would configure it for this scenario."""
    oauth: dict[str, Any] = {"login_timeout": _TIMEOUT}
    if "client_id" in context:
        oauth["client_id"] = context["client_id"]
    if "client_secret" in context:
        oauth["client_secret"] = context["client_secret"]
    if scenario.startswith("auth/client-credentials"):
        oauth["grant"] = "client_credentials"
        if "private_key_pem" in context:
            oauth["private_key_file"] = _secret_file(context["private_key_pem"], key_folder, "client-key.pem")
        else:
            oauth["token_endpoint_auth_method"] = "client_secret_basic"
    elif scenario.startswith(_CROSS_APP_SCENARIOS):
        oauth["grant"] = "cross_app_access"
        oauth["id_token_env"] = XAA_ID_TOKEN_ENV
        for key in ("idp_token_endpoint", "idp_client_id", "idp_client_secret"):
            if key in context:
                oauth[key] = context[key]
    elif scenario == "auth/wif-jwt-bearer":
        # Workload identity: the platform leaves a signed JWT in a file (as Kubernetes does).
        oauth["grant"] = "jwt_bearer"
        oauth["assertion_file"] = _secret_file(str(context.get("valid_jwt", "")), key_folder, "workload.jwt")
    elif scenario == "auth/basic-cimd":
        oauth["client_metadata_url"] = CIMD_CLIENT_METADATA_URL
    return ServerSettings.model_validate({"url": url, "timeout": _TIMEOUT, "oauth": oauth})


def tool_arguments(
    scenario: str, context: dict[str, Any], tools: list[ServerTool]
) -> dict[str, dict[str, Any]]:
    """Per tool name, the arguments this scenario calls it with (a tool not named gets none).

    From :data:`TOOL_ARGUMENTS`, then the context's ``toolCalls`` (``[{"name", "arguments"}]``),
    then the echo tool (:data:`JSON_SCHEMA_ECHO_TOOL`), which gets the first other tool's
    ``inputSchema`` as received.
    """
    arguments = dict(TOOL_ARGUMENTS.get(scenario, {}))
    calls = context.get("toolCalls")
    for call in calls if isinstance(calls, list) else []:
        if isinstance(call, dict) and isinstance(call.get("name"), str):
            given = call.get("arguments")
            arguments[call["name"]] = given if isinstance(given, dict) else {}
    names = [tool.name for tool in tools]
    if JSON_SCHEMA_ECHO_TOOL in names and JSON_SCHEMA_ECHO_TOOL not in arguments:
        focal = next((tool for tool in tools if tool.name != JSON_SCHEMA_ECHO_TOOL), None)
        if focal is not None:
            arguments[JSON_SCHEMA_ECHO_TOOL] = {"schema": focal.input_schema}
    return arguments


def loads_skills(scenario: str) -> bool:
    """Whether this scenario plays a user who loads every listed skill (and reads its files).

    Elsewhere skills are listed only: a client must not read a skill's files before it is loaded
    (sep-2640-client-no-prefetch), and nobody asked for one.
    """
    return scenario.startswith("sep-2640-client-verify")


async def _follow_redirects(url: str) -> bool:
    """The browser: open the authorization URL and follow every redirect, back to our callback."""
    import httpx2

    async with httpx2.AsyncClient(follow_redirects=True, timeout=_TIMEOUT) as client:
        response = await client.get(url)
    print(f"browser: {response.request.url} -> HTTP {response.status_code}", file=sys.stderr)
    return True


def _text(result: Any) -> str:
    parts = [getattr(block, "text", None) or f"<{getattr(block, 'type', '?')}>" for block in result.content]
    return " ".join(parts)


async def main(options: ConformanceOptions, config: Config) -> int:
    """Run one scenario against ``options.url``; 0 when every step worked."""
    from agent.session import Session, SessionOptions

    scenario = os.environ.get("MCP_CONFORMANCE_SCENARIO", "")
    context = _context()
    if "idp_id_token" in context:  # the user's ID token, exported as an SSO tool would
        os.environ[XAA_ID_TOKEN_ENV] = str(context["idp_id_token"])
    with tempfile.TemporaryDirectory(prefix="agent-conformance-") as folder:
        settings = server_settings(options.url, scenario, context, Path(folder))
        config = config.model_copy(update={"servers": {SERVER: settings}})
        wanted = SessionOptions(needs_model=False, allow_login=True, open_browser=_follow_redirects)
        async with Session.open(config, wanted) as session:
            manager = session.manager
            state = manager.states[SERVER]
            say(f"connected to {state.server_name or options.url} ({scenario or 'no scenario'})", sys.stdout)
            tools = await manager.list_tools(SERVER)
            say(f"tools: {', '.join(t.name for t in tools) or '(none)'}", sys.stdout)
            arguments = tool_arguments(scenario, context, tools)
            for tool in tools:
                try:
                    result = await manager.call_tool(SERVER, tool.name, arguments.get(tool.name, {}))
                except ToolCallFailed as exc:
                    if exc.code != _METHOD_NOT_FOUND:
                        raise
                    say(f"{tool.name}: not implemented by the server ({exc.message})", sys.stdout)
                    continue
                say(f"{tool.name}: {_text(result)}", sys.stdout)
                if result.is_error:
                    raise ToolCallFailed(f"{SERVER}.{tool.name} reported an error: {_text(result)}")
            if manager.offers_skills(SERVER):
                await _skills(manager, loads_skills(scenario))
    return 0


async def _skills(manager: ServerManager, load: bool) -> None:
    """List the server's skills; with ``load``, load each one and read its files (verified)."""
    skills = await manager.list_skills(SERVER)
    say(f"skills: {', '.join(s.name for s in skills) or '(none)'}", sys.stdout)
    for skill in skills if load else []:
        try:
            loaded = await manager.load_skill(SERVER, skill)
            say(f"skill {skill.name}: loaded {skill.uri} ({len(loaded.text)} characters)", sys.stdout)
            for file in skill.files:
                if file.uri != skill.uri:
                    data = await manager.read_skill_file(SERVER, loaded, file.uri)
                    say(f"skill {skill.name}: read {file.uri} ({len(data)} bytes)", sys.stdout)
        except SkillRejected as exc:
            say(f"skill {skill.name}: rejected: {exc.reason}", sys.stdout)
