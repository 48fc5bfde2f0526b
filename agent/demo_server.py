"""A small MCP server bundled with the package, so a first run works with no configuration.

With no server configured, ``agent`` (and ``agent tools`` / ``agent call``) start this one over
stdio: ``python -m agent.demo_server``. Its tools:

``current_time``   the date and time, in any IANA time zone
``calculate``      arithmetic on numbers with + - * / // % ** and a few math functions; parsed
                   with :mod:`ast` and evaluated node by node, never with ``eval``
``list_notes`` / ``read_note`` / ``write_note`` / ``delete_note``
                   plain-text notes kept in a sandbox folder (``user_data_dir()/notes``); a note
                   name is a single safe file name, so no path leaves the folder
``wait``           wait some seconds, reporting progress; a way to try out cancellation (Ctrl-C)

The pure pieces (:func:`calculate`, :class:`Notes`) import nothing heavy; the MCP SDK is imported
only when the server is built, because the Session imports this module for
:func:`default_servers` (the fallback when no server is configured).
"""

# No ``from __future__ import annotations`` here: the SDK evaluates tool annotations in this
# module's globals, and ``Context`` is imported inside build_server() to keep imports light.
import ast
import math
import operator
import re
import sys
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.paths import user_data_dir
from agent.private_files import open_private

if TYPE_CHECKING:
    from mcp.server.mcpserver import MCPServer

    from agent.config import ServerSettings

__all__ = ["CalcError", "NoteError", "Notes", "build_server", "calculate", "default_servers", "main"]

MAX_EXPRESSION = 1000
MAX_WAIT = 60.0
_MAX_POWER = 10_000
_MAX_NOTE_BYTES = 100_000


def default_servers() -> "dict[str, ServerSettings]":
    """The servers used when none are configured: this demo server, as a stdio subprocess."""
    from agent.config import ServerSettings

    return {"demo": ServerSettings(command=sys.executable, args=["-m", "agent.demo_server"])}


class CalcError(ValueError):
    """An expression the calculator does not accept or cannot evaluate."""


_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": abs,
    "round": round,
    "min": min,
    "max": max,
    "sqrt": math.sqrt,
    "exp": math.exp,
    "log": math.log,
    "log10": math.log10,
    "log2": math.log2,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "asin": math.asin,
    "acos": math.acos,
    "atan": math.atan,
    "floor": math.floor,
    "ceil": math.ceil,
    "factorial": math.factorial,
    "radians": math.radians,
    "degrees": math.degrees,
}
_CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e, "tau": math.tau}


def _eval(node: ast.AST) -> Any:
    if isinstance(node, ast.Expression):
        return _eval(node.body)
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise CalcError(f"only numbers are allowed, not {node.value!r}")
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > _MAX_POWER:
            raise CalcError(f"exponent {right} is too large (at most {_MAX_POWER})")
        return _BINARY[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_eval(node.operand))
    if isinstance(node, ast.Name):
        if node.id in _CONSTANTS:
            return _CONSTANTS[node.id]
        raise CalcError(f"unknown name {node.id!r}; known constants: {', '.join(_CONSTANTS)}")
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
        func = _FUNCTIONS.get(node.func.id)
        if func is None:
            raise CalcError(f"unknown function {node.func.id!r}; known: {', '.join(sorted(_FUNCTIONS))}")
        args = [_eval(a) for a in node.args]
        if func is math.factorial and args and abs(args[0]) > 1000:
            raise CalcError("factorial argument is too large (at most 1000)")
        return func(*args)
    raise CalcError(f"not allowed in an expression: {ast.unparse(node)!r}")


def calculate(expression: str) -> int | float:
    """Evaluate an arithmetic expression safely; raises :class:`CalcError` with a readable reason."""
    if len(expression) > MAX_EXPRESSION:
        raise CalcError(f"the expression is longer than {MAX_EXPRESSION} characters")
    try:
        tree = ast.parse(expression.strip().replace("^", "**"), mode="eval")
    except SyntaxError as exc:
        raise CalcError(f"not a valid expression: {exc.msg}") from None
    try:
        value = _eval(tree)
    except CalcError:
        raise
    except ZeroDivisionError:
        raise CalcError("division by zero") from None
    except (ArithmeticError, ValueError, TypeError) as exc:
        raise CalcError(str(exc) or type(exc).__name__) from None
    if not isinstance(value, int | float):
        raise CalcError("the result is not a number")
    return value


class NoteError(ValueError):
    """A note name that is not allowed, or a note that does not exist."""


_NOTE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.-]{0,99}")


class Notes:
    """Plain-text notes, one file each, in one folder. Names never leave the folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _path(self, name: str) -> Path:
        name = name.strip()
        if not _NOTE_NAME.fullmatch(name) or ".." in name:
            raise NoteError(
                f"bad note name {name!r}: use letters, digits, spaces, '_', '-' and '.', "
                "starting with a letter or digit (at most 100 characters)"
            )
        path = (self.folder / f"{name}.txt").resolve()
        if path.parent != self.folder.resolve():
            raise NoteError(f"bad note name {name!r}")
        return path

    def list(self) -> list[str]:
        if not self.folder.is_dir():
            return []
        return sorted(p.stem for p in self.folder.glob("*.txt") if p.is_file())

    def read(self, name: str) -> str:
        path = self._path(name)
        if not path.is_file():
            known = ", ".join(self.list()) or "none yet"
            raise NoteError(f"no note named {name!r} (notes: {known})")
        return path.read_text(encoding="utf-8")

    def write(self, name: str, text: str, *, append: bool = False) -> str:
        path = self._path(name)
        if len(text.encode("utf-8")) > _MAX_NOTE_BYTES:
            raise NoteError(f"a note holds at most {_MAX_NOTE_BYTES} bytes")
        if append and path.is_file():
            old = path.read_text(encoding="utf-8")
            text = old + ("" if not old or old.endswith("\n") else "\n") + text
        with open_private(path, "w", encoding="utf-8") as fh:  # 0600 in a 0700 folder
            fh.write(text)
        return path.stem

    def delete(self, name: str) -> None:
        path = self._path(name)
        if not path.is_file():
            raise NoteError(f"no note named {name!r}")
        path.unlink()


def _current_time(timezone: str | None) -> str:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if timezone:
        try:
            now = datetime.now(ZoneInfo(timezone))
        except (ZoneInfoNotFoundError, ValueError):
            raise NoteError(f"unknown time zone {timezone!r}; use an IANA name like 'Europe/Paris'") from None
    else:
        now = datetime.now().astimezone()
    return f"{now.isoformat(timespec='seconds')} ({now:%A}, {now.tzname()})"


def build_server(notes_folder: Path | None = None) -> "MCPServer":
    """The demo server, its notes kept in ``notes_folder`` (default ``user_data_dir()/notes``)."""
    import anyio
    from mcp.server.mcpserver import Context, MCPServer
    from mcp.server.mcpserver.exceptions import ToolError

    notes = Notes(notes_folder or user_data_dir() / "notes")
    server: MCPServer = MCPServer(
        "agent-demo",
        log_level="WARNING",
        instructions="Demo tools bundled with agent: time, a calculator, notes, and a wait for trying Ctrl-C.",
    )

    def checked(func: Callable[[], Any]) -> Any:
        try:
            return func()
        except (CalcError, NoteError, OSError) as exc:
            raise ToolError(str(exc)) from None

    @server.tool()
    def current_time(timezone: str | None = None) -> str:
        """The current date and time. `timezone` is an IANA name like 'Europe/Paris' (default: local)."""
        return str(checked(lambda: _current_time(timezone)))

    @server.tool(name="calculate")
    def calculate_tool(expression: str) -> str:
        """Evaluate arithmetic exactly as written: + - * / // % ** (or ^), parentheses, pi, e, tau, and
        abs round min max sqrt exp log log10 log2 sin cos tan asin acos atan floor ceil factorial."""
        value = checked(lambda: calculate(expression))
        if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
            value = int(value)
        return str(value)

    @server.tool()
    def list_notes() -> str:
        """The names of the saved notes, one a line."""
        names = checked(notes.list)
        return "\n".join(names) if names else "(no notes yet)"

    @server.tool()
    def read_note(name: str) -> str:
        """The text of one note."""
        return str(checked(lambda: notes.read(name)))

    @server.tool()
    def write_note(name: str, text: str, append: bool = False) -> str:
        """Save a note (replacing one of the same name, or adding to it with append=true)."""
        saved = checked(lambda: notes.write(name, text, append=append))
        return f"saved note {saved!r}"

    @server.tool()
    def delete_note(name: str) -> str:
        """Delete one note."""
        checked(lambda: notes.delete(name))
        return f"deleted note {name!r}"

    @server.tool()
    async def wait(seconds: float, ctx: Context) -> str:
        """Wait some seconds (at most 60), reporting progress. Useful to try out cancelling a call."""
        if not 0 <= seconds <= MAX_WAIT:
            raise ToolError(f"seconds must be between 0 and {MAX_WAIT:g}")
        step = 0.25
        waited = 0.0
        while waited < seconds:
            delay = min(step, seconds - waited)
            await anyio.sleep(delay)
            waited += delay
            await ctx.report_progress(waited, seconds)
        return f"waited {seconds:g} seconds"

    return server


def main() -> None:
    """Run the demo server over stdio."""
    build_server().run("stdio")


if __name__ == "__main__":
    main()
