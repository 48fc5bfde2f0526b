"""The bundled demo server: safe calculator, sandboxed notes, and the server over MCP."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from agent.config import Config, user_data_dir
from agent.demo_server import CalcError, NoteError, Notes, build_server, calculate, default_servers
from agent.options import AdhocServer
from agent.session import select_servers


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("2 ** 10", 1024),
        ("2 ^ 3", 8),
        ("-7 // 2", -4),
        ("7 % 3", 1),
        ("sqrt(16) + abs(-2)", 6.0),
        ("round(pi, 2)", 3.14),
        ("max(1, 5, 3)", 5),
        ("factorial(5)", 120),
    ],
)
def test_calculate_evaluates_arithmetic(expression: str, expected: float) -> None:
    assert calculate(expression) == expected


@pytest.mark.parametrize(
    ("expression", "reason"),
    [
        ("__import__('os')", "unknown function '__import__'"),
        ("__import__('os').system('true')", "not allowed"),
        ("(1).__class__", "not allowed"),
        ("x + 1", "unknown name 'x'"),
        ("'a' * 3", "only numbers"),
        ("1 / 0", "division by zero"),
        ("10 ** 100000", "exponent"),
        ("factorial(100000)", "too large"),
        ("1 +", "not a valid expression"),
        ("[1, 2]", "not allowed"),
        ("sqrt(-1)", "math domain error"),
        ("1" * 2000, "longer than"),
        ("True + 1", "only numbers"),
    ],
)
def test_calculate_refuses_what_is_not_plain_arithmetic(expression: str, reason: str) -> None:
    with pytest.raises(CalcError, match=reason):
        calculate(expression)


def test_notes_round_trip_and_stay_in_their_folder(tmp_path: Path) -> None:
    notes = Notes(tmp_path / "notes")
    assert notes.list() == []
    assert notes.write("shopping list", "milk") == "shopping list"
    notes.write("shopping list", "eggs", append=True)
    assert notes.read("shopping list") == "milk\neggs"
    assert notes.list() == ["shopping list"]
    assert (tmp_path / "notes" / "shopping list.txt").is_file()
    for bad in ("../escape", "/etc/passwd", "a/b", "..", ".hidden", "a\\b", "", "x" * 101):
        with pytest.raises(NoteError, match="bad note name"):
            notes.write(bad, "nope")
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == ["shopping list.txt"]
    with pytest.raises(NoteError, match="no note named 'missing'"):
        notes.read("missing")
    notes.delete("shopping list")
    assert notes.list() == []


def test_no_configured_server_selects_the_demo_server() -> None:
    servers = select_servers(Config())
    assert servers == default_servers()
    demo = servers["demo"]
    assert demo.command == sys.executable
    assert demo.args == ["-m", "agent.demo_server"]
    # A --url or a configured server wins over the demo.
    assert "demo" not in select_servers(Config(), adhoc=[AdhocServer(url="http://127.0.0.1:9/mcp")])
    configured = Config(servers={"mine": {"command": "true"}})
    assert list(select_servers(configured)) == ["mine"]


async def test_demo_server_tools_over_mcp(tmp_path: Path) -> None:
    from mcp import Client

    async with Client(build_server(tmp_path / "notes")) as client:
        names = [t.name for t in (await client.list_tools()).tools]
        assert names == [
            "current_time",
            "calculate",
            "list_notes",
            "read_note",
            "write_note",
            "delete_note",
            "wait",
        ]
        result = await client.call_tool("calculate", {"expression": "6 * 7"})
        assert not result.is_error
        assert result.content[0].text == "42"  # type: ignore[union-attr]
        result = await client.call_tool("calculate", {"expression": "open('x')"})
        assert result.is_error
        assert "unknown function 'open'" in result.content[0].text  # type: ignore[union-attr]
        await client.call_tool("write_note", {"name": "todo", "text": "write tests"})
        result = await client.call_tool("read_note", {"name": "todo"})
        assert result.content[0].text == "write tests"  # type: ignore[union-attr]
        result = await client.call_tool("read_note", {"name": "../../x"})
        assert result.is_error
        result = await client.call_tool("current_time", {"timezone": "UTC"})
        assert "+00:00" in result.content[0].text  # type: ignore[union-attr]
        result = await client.call_tool("current_time", {"timezone": "Mars/Olympus"})
        assert result.is_error
        assert "unknown time zone" in result.content[0].text  # type: ignore[union-attr]
        result = await client.call_tool("wait", {"seconds": 0})
        assert result.content[0].text == "waited 0 seconds"  # type: ignore[union-attr]
        result = await client.call_tool("wait", {"seconds": 999})
        assert result.is_error


async def test_notes_default_to_the_user_data_folder(isolated_home: Path) -> None:
    from mcp import Client

    async with Client(build_server()) as client:
        await client.call_tool("write_note", {"name": "hello", "text": "hi"})
    note = user_data_dir() / "notes" / "hello.txt"
    assert note.read_text(encoding="utf-8") == "hi"
    assert note.is_relative_to(isolated_home)
