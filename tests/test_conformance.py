"""agent/conformance.py: the suite's scenario and context become the settings a user would write.

The suite itself runs from .ci/conformance.sh; these only pin the mapping, which must keep up
with the config schema.
"""

from __future__ import annotations

import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mcp_types import Tool

from agent.config import Config
from agent.conformance import (
    CIMD_CLIENT_METADATA_URL,
    JSON_SCHEMA_ECHO_TOOL,
    loads_skills,
    main,
    server_settings,
    tool_arguments,
)
from agent.mcp.manager import ServerTool
from agent.options import ConformanceOptions
from tests.support.fixtures_mcp import REPO_ROOT

URL = "http://127.0.0.1:9/mcp"


def test_plain_scenario_has_no_oauth_client(tmp_path: Path) -> None:
    settings = server_settings(URL, "auth/metadata-default", {}, tmp_path)
    assert settings.url == URL
    assert settings.oauth.client_id is None
    assert settings.oauth.client_metadata_url is None
    assert settings.oauth.grant == "authorization_code"


def test_cimd_scenario_uses_the_metadata_url(tmp_path: Path) -> None:
    settings = server_settings(URL, "auth/basic-cimd", {}, tmp_path)
    assert settings.oauth.client_metadata_url == CIMD_CLIENT_METADATA_URL


def test_pre_registration_uses_the_context_credentials(tmp_path: Path) -> None:
    context = {"name": "auth/pre-registration", "client_id": "id", "client_secret": "secret"}
    settings = server_settings(URL, "auth/pre-registration", context, tmp_path)
    assert (settings.oauth.client_id, settings.oauth.client_secret) == ("id", "secret")
    assert settings.oauth.grant == "authorization_code"


def test_client_credentials_with_secret_uses_basic_auth(tmp_path: Path) -> None:
    context = {"client_id": "id", "client_secret": "secret"}
    settings = server_settings(URL, "auth/client-credentials-basic", context, tmp_path)
    assert settings.oauth.grant == "client_credentials"
    assert settings.oauth.token_endpoint_auth_method == "client_secret_basic"


def test_client_credentials_with_key_writes_a_private_key_file(tmp_path: Path) -> None:
    pem = "-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n"
    context = {"client_id": "id", "private_key_pem": pem, "signing_algorithm": "ES256"}
    settings = server_settings(URL, "auth/client-credentials-jwt", context, tmp_path)
    assert settings.oauth.grant == "client_credentials"
    assert settings.oauth.private_key_file is not None
    key = Path(settings.oauth.private_key_file)
    assert key.read_text(encoding="utf-8") == pem
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


def test_enterprise_managed_authorization_is_cross_app_access_under_both_names(tmp_path: Path) -> None:
    context = {
        "client_id": "id",
        "client_secret": "secret",
        "idp_client_id": "idp-id",
        "idp_token_endpoint": "http://127.0.0.1:9/token",
    }
    for scenario in ("auth/cross-app-access-complete-flow", "auth/enterprise-managed-authorization"):
        oauth = server_settings(URL, scenario, context, tmp_path).oauth
        assert oauth.grant == "cross_app_access"
        assert (oauth.idp_client_id, oauth.idp_token_endpoint) == ("idp-id", "http://127.0.0.1:9/token")


def test_workload_identity_uses_the_jwt_bearer_grant_with_the_jwt_in_a_file(tmp_path: Path) -> None:
    context = {"client_id": "workload", "valid_jwt": "a.b.c", "expired_jwt": "x.y.z"}
    oauth = server_settings(URL, "auth/wif-jwt-bearer", context, tmp_path).oauth
    assert (oauth.grant, oauth.client_id) == ("jwt_bearer", "workload")
    assert oauth.assertion_file is not None
    assertion = Path(oauth.assertion_file)
    assert assertion.read_text(encoding="utf-8") == "a.b.c"
    assert stat.S_IMODE(assertion.stat().st_mode) == 0o600


def _tool(name: str, schema: dict[str, Any] | None = None) -> ServerTool:
    return ServerTool("conformance", Tool(name=name, input_schema=schema or {"type": "object"}))


def test_tool_arguments_come_from_the_context_tool_calls() -> None:
    context = {
        "toolCalls": [
            {"name": "test_custom_headers", "arguments": {"region": "us-west1", "priority": 42}},
            {"name": "test_custom_headers_null", "arguments": {"verbose": None}},
        ]
    }
    tools = [_tool("test_custom_headers"), _tool("test_custom_headers_null"), _tool("other")]
    arguments = tool_arguments("http-custom-headers", context, tools)
    assert arguments == {
        "test_custom_headers": {"region": "us-west1", "priority": 42},
        "test_custom_headers_null": {"verbose": None},
    }
    assert tool_arguments("tools_call", {}, [_tool("add_numbers")]) == {"add_numbers": {"a": 5, "b": 3}}


def test_the_echo_tool_gets_the_other_tools_schema_as_received() -> None:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "$defs": {"address": {"$anchor": "addr", "type": "object"}},
        "properties": {"home": {"$ref": "#addr"}},
        "additionalProperties": False,
    }
    tools = [_tool("json_schema_2020_12_tool", schema), _tool(JSON_SCHEMA_ECHO_TOOL)]
    assert tool_arguments("json-schema-2020-12-preservation", {}, tools) == {
        JSON_SCHEMA_ECHO_TOOL: {"schema": schema}
    }


def test_only_the_verify_scenarios_load_skills() -> None:
    assert loads_skills("sep-2640-client-verify-digest")
    assert not loads_skills("sep-2640-client-no-prefetch")
    assert not loads_skills("initialize")


@pytest.fixture
def list_only_url() -> Iterator[str]:
    """tests/support/list_only_server.py over HTTP: lists ``lookup``, answers tools/call with -32601."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.list_only_server", "--http"],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("READY "), line
        yield line.split()[1]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if proc.stdout is not None:
            proc.stdout.close()


async def test_a_method_not_found_answer_to_a_tool_call_is_reported_not_fatal(
    list_only_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """json-schema-ref-no-deref: the server lists a tool but answers tools/call with -32601."""
    monkeypatch.setenv("MCP_CONFORMANCE_SCENARIO", "json-schema-ref-no-deref")
    monkeypatch.delenv("MCP_CONFORMANCE_CONTEXT", raising=False)
    assert await main(ConformanceOptions(url=list_only_url), Config()) == 0
    out = capsys.readouterr().out
    assert "tools: lookup" in out
    assert "lookup: not implemented by the server" in out
