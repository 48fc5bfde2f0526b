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
:data:`TOOL_ARGUMENTS`, else none), print the results; any failure exits non-zero. A server's
elicitation request gets the manager's default answer (a form accepted with its defaults).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from agent.config import Config, ServerSettings
from agent.errors import ToolCallFailed, UsageError
from agent.options import ConformanceOptions
from agent.terminal import say

__all__ = ["CIMD_CLIENT_METADATA_URL", "TOOL_ARGUMENTS", "main", "server_settings"]

SERVER = "conformance"

# The URL auth/basic-cimd expects as our client ID metadata document (it is never fetched). Only
# that scenario gets it: elsewhere a fixture may try to fetch it (auth/offline-access-scope).
CIMD_CLIENT_METADATA_URL = "https://conformance-test.local/client-metadata.json"

# Where the conformance client puts the IdP ID token of the cross-app-access scenario.
XAA_ID_TOKEN_ENV = "AGENT_CONFORMANCE_ID_TOKEN"

# Per scenario, per tool: the arguments to call it with (every other tool gets none).
TOOL_ARGUMENTS: dict[str, dict[str, dict[str, Any]]] = {
    "tools_call": {"add_numbers": {"a": 5, "b": 3}},
}

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


def _private_key_file(pem: str, folder: Path) -> str:
    """The context's private key as a file (our config names key files, never inline keys)."""
    path = folder / "client-key.pem"
    path.touch(mode=0o600)
    path.write_text(pem, encoding="utf-8")
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
            oauth["private_key_file"] = _private_key_file(context["private_key_pem"], key_folder)
        else:
            oauth["token_endpoint_auth_method"] = "client_secret_basic"
    elif scenario.startswith("auth/cross-app-access"):
        oauth["grant"] = "cross_app_access"
        oauth["id_token_env"] = XAA_ID_TOKEN_ENV
        for key in ("idp_token_endpoint", "idp_client_id", "idp_client_secret"):
            if key in context:
                oauth[key] = context[key]
    elif scenario == "auth/basic-cimd":
        oauth["client_metadata_url"] = CIMD_CLIENT_METADATA_URL
    return ServerSettings.model_validate({"url": url, "timeout": _TIMEOUT, "oauth": oauth})


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
            arguments = TOOL_ARGUMENTS.get(scenario, {})
            for tool in tools:
                result = await manager.call_tool(SERVER, tool.name, arguments.get(tool.name, {}))
                say(f"{tool.name}: {_text(result)}", sys.stdout)
                if result.is_error:
                    raise ToolCallFailed(f"{SERVER}.{tool.name} reported an error: {_text(result)}")
    return 0
