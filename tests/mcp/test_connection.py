"""agent/mcp/connection.py: one server over each transport, and every way connecting can fail."""

from __future__ import annotations

import socket
import ssl

import httpx2
import pytest

from agent.config import ServerSettings
from agent.errors import AuthError, AuthRequiredError, ServerConnectError
from agent.mcp.connection import connect, server_log_path
from agent.mcp.failures import describe_failure
from tests.support.fixtures_mcp import stdio_settings
from tests.support.http_edge import refused_port, silent_server, status_server


def _text(result: object) -> str:
    return result.content[0].text  # type: ignore[attr-defined,no-any-return]


async def test_http_lists_and_calls(mcp_http_url: str) -> None:
    async with connect("web", ServerSettings(url=mcp_http_url)) as conn:
        names = {t.name for t in (await conn.client.list_tools()).tools}
        assert {"echo", "add", "fail", "slow", "big", "image", "structured", "book"} <= names
        assert _text(await conn.client.call_tool("add", {"a": 2, "b": 3})) == "5"
        assert conn.connect_ms > 0


async def test_sse_lists_and_calls(mcp_sse_url: str) -> None:
    async with connect("legacy", ServerSettings(url=mcp_sse_url, transport="sse")) as conn:
        assert "echo" in {t.name for t in (await conn.client.list_tools()).tools}
        assert _text(await conn.client.call_tool("echo", {"text": "over sse"})) == "over sse"


async def test_stdio_lists_and_calls(mcp_stdio_settings: ServerSettings) -> None:
    async with connect("local", mcp_stdio_settings) as conn:
        assert "echo" in {t.name for t in (await conn.client.list_tools()).tools}
        assert _text(await conn.client.call_tool("echo", {"text": "over stdio"})) == "over stdio"


async def test_http_sends_configured_headers() -> None:
    seen: list[bytes] = []
    async with status_server(403, "Forbidden", seen=seen) as url:
        with pytest.raises(ServerConnectError, match="HTTP 403 Forbidden"):
            async with connect("web", ServerSettings(url=url, headers={"X-Api-Key": "k-123"})):
                pytest.fail("connected to a 403")
    assert seen
    assert b"x-api-key: k-123" in seen[0].lower()


async def test_stdio_env_is_safe_and_stderr_goes_to_the_server_log(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-secret")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-other")
    async with connect("local", stdio_settings(env={"GREETING": "hello"})) as conn:
        client = conn.client
        assert _text(await client.call_tool("getenv", {"name": "ANTHROPIC_API_KEY"})) == "<unset>"
        assert _text(await client.call_tool("getenv", {"name": "OPENAI_API_KEY"})) == "<unset>"
        assert _text(await client.call_tool("getenv", {"name": "GREETING"})) == "hello"
        assert _text(await client.call_tool("getenv", {"name": "PATH"})) != "<unset>"
    assert "test server starting" in server_log_path("local").read_text()
    assert "test server starting" not in capfd.readouterr().err


async def test_stdio_stray_stdout_line_is_survived() -> None:
    async with connect("stray", stdio_settings("--stray")) as conn:
        assert _text(await conn.client.call_tool("echo", {"text": "still fine"})) == "still fine"


async def test_process_that_exits_at_once_is_reported_with_its_stderr() -> None:
    with pytest.raises(ServerConnectError) as info:
        async with connect("dies", stdio_settings("--exit-at-once")):
            pytest.fail("connected to a server that exited")
    message = str(info.value)
    assert "server 'dies'" in message
    assert "exited" in message
    assert "fatal: cannot start" in message
    assert str(server_log_path("dies")) in message


async def test_command_not_found() -> None:
    with pytest.raises(ServerConnectError, match="command not found: no-such-mcp-server-xyz"):
        async with connect("missing", ServerSettings(command="no-such-mcp-server-xyz")):
            pytest.fail("connected to a missing command")


async def test_bad_working_directory(tmp_path: object) -> None:
    settings = stdio_settings().model_copy(update={"cwd": "/no/such/dir/here"})
    with pytest.raises(ServerConnectError, match="No such file or directory"):
        async with connect("nocwd", settings):
            pytest.fail("connected with a missing cwd")


async def test_refused_connection() -> None:
    url = f"http://127.0.0.1:{refused_port()}/mcp"
    with pytest.raises(ServerConnectError) as info:
        async with connect("gone", ServerSettings(url=url)):
            pytest.fail("connected to a closed port")
    assert info.value.message == f"server 'gone': connection refused at {url}"
    assert info.value.hint == "is the server running, at this host and port?"


async def test_refused_connection_over_sse() -> None:
    url = f"http://127.0.0.1:{refused_port()}/sse"
    with pytest.raises(ServerConnectError, match="connection refused"):
        async with connect("gone", ServerSettings(url=url, transport="sse")):
            pytest.fail("connected to a closed port")


async def test_http_404_names_status_and_url(mcp_http_url: str) -> None:
    url = mcp_http_url.replace("/mcp", "/nowhere")
    with pytest.raises(ServerConnectError) as info:
        async with connect("wrong", ServerSettings(url=url)):
            pytest.fail("connected to a 404")
    assert f"HTTP 404 Not Found at {url}" in str(info.value)
    assert "check the path in the server's 'url'" in str(info.value.hint)


async def test_sse_404_names_status(mcp_sse_url: str) -> None:
    url = mcp_sse_url.replace("/sse", "/nowhere")
    with pytest.raises(ServerConnectError, match="HTTP 404 Not Found at"):
        async with connect("wrong", ServerSettings(url=url, transport="sse")):
            pytest.fail("connected to a 404")


async def test_http_500_names_status() -> None:
    async with status_server(500, "Internal Server Error") as url:
        with pytest.raises(ServerConnectError, match="HTTP 500 Internal Server Error at"):
            async with connect("broken", ServerSettings(url=url)):
                pytest.fail("connected to a 500")


async def test_401_without_auth_needs_a_login() -> None:
    async with status_server(401, "Unauthorized", {"WWW-Authenticate": "Bearer"}) as url:
        with pytest.raises(AuthRequiredError) as info:
            async with connect("locked", ServerSettings(url=url)):
                pytest.fail("connected to a 401")
    assert "needs a login" in str(info.value)
    assert info.value.hint == "run `agent login locked`"
    assert info.value.exit_code == 3


async def test_connect_timeout_names_the_seconds() -> None:
    async with silent_server() as url:
        with pytest.raises(ServerConnectError) as info:
            async with connect("mute", ServerSettings(url=url, timeout=0.5)):
                pytest.fail("connected to a silent server")
    assert "timed out after 0.5 s" in str(info.value)


async def test_stdio_connect_timeout() -> None:
    settings = ServerSettings(command="sleep", args=["30"], timeout=0.5)
    with pytest.raises(ServerConnectError, match=r"timed out after 0\.5 s while connecting to sleep 30"):
        async with connect("sleepy", settings):
            pytest.fail("connected to sleep")


def test_describe_failure_dns() -> None:
    exc = httpx2.ConnectError("[Errno -2] Name or service not known")
    exc.__cause__ = socket.gaierror(-2, "Name or service not known")
    assert describe_failure(exc, url="https://nope.invalid/mcp") == (
        "DNS lookup failed at https://nope.invalid/mcp: [Errno -2] Name or service not known"
    )


def test_describe_failure_tls_inside_a_group() -> None:
    tls = ssl.SSLCertVerificationError(1, "certificate verify failed")
    tls.verify_message = "self-signed certificate"
    wrapped = httpx2.ConnectError("TLS handshake failed")
    wrapped.__cause__ = tls
    group = ExceptionGroup("unhandled errors in a TaskGroup", [ExceptionGroup("inner", [wrapped])])
    assert (
        describe_failure(group, url="https://x/mcp") == "TLS error at https://x/mcp: self-signed certificate"
    )


def test_describe_failure_unknown_is_none() -> None:
    assert describe_failure(ValueError("something else")) is None


def test_describe_failure_names_the_failed_requests_own_url() -> None:
    """During a login the request that fails may go to the authorization server, not the MCP URL."""
    token = httpx2.Request("POST", "https://auth.example/token")
    refused = httpx2.ConnectError("All connection attempts failed", request=token)
    refused.__cause__ = ConnectionRefusedError(111, "Connection refused")
    assert describe_failure(refused, url="https://mcp.example/mcp") == (
        "connection refused at https://auth.example/token"
    )


async def test_401_with_a_configured_authorization_header_says_so() -> None:
    settings = ServerSettings(url="http://127.0.0.1:9/mcp", headers={"Authorization": "Bearer stale"})
    async with status_server(401, "Unauthorized") as url:
        with pytest.raises(AuthError) as info:
            async with connect("keyed", settings.model_copy(update={"url": url})):
                pytest.fail("connected to a 401")
    assert "configured Authorization header was refused" in str(info.value)
    assert info.value.hint == "check the server's 'headers'"


@pytest.mark.parametrize(
    ("content_type", "body", "said"),
    [
        (
            "text/html; charset=utf-8",
            b"<!DOCTYPE html>\n<html><title>Welcome</title>\x1b]0;pwned\x07" + b"x" * 500,
            "it answered HTTP 200 (text/html; charset=utf-8, 554 bytes): <!DOCTYPE html> <html><title>Welcome"
            "</title>\\x1b]0;pwned\\x07xxx",
        ),
        (
            "application/json",
            b'{"hello": "world"}',
            'HTTP 200 (application/json, 18 bytes): {"hello": "world"}',
        ),
    ],
)
async def test_a_url_that_is_no_mcp_server_says_what_came_back(
    content_type: str, body: bytes, said: str
) -> None:
    async with status_server(200, "OK", {"Content-Type": content_type}, body=body) as url:
        with pytest.raises(ServerConnectError) as caught:
            async with connect("web", ServerSettings(url=url)):
                pytest.fail("connected to a web page")
    text = str(caught.value)
    assert f"not an MCP server at {url}: " in text and said in text
    assert "\x1b" not in text and "validation error" not in text and "refused" not in text
    assert len(text.splitlines()) == 2  # the reason, and the hint
    assert "often answer at /mcp" in str(caught.value.hint)
