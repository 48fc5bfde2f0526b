"""The package's import graph: no cycles, and imports go one way, down the layers.

Every ``import`` counts, also one inside a function (a lazy import is still a dependency); only
``if TYPE_CHECKING:`` blocks are left out, as they never run.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "agent"

# Top to bottom; a module may import only from its own layer's modules or lower ones.
LAYERS: list[tuple[str, ...]] = [
    ("agent.cli", "agent.cli_parser", "agent.__main__"),
    (
        "agent.chat",
        "agent.chat_render",
        "agent.chat_mcp",
        "agent.elicit_ui",
        "agent.chat_resume",
        "agent.chat_input",
        "agent.approval",
        "agent.slash",
        "agent.run",
        "agent.call",
        "agent.resources_cmd",
        "agent.batch",
        "agent.login",
        "agent.conformance",
        "agent.transcript",
        "agent.history",
        "agent.models_cmd",
        "agent.records",
        "agent.signals",
    ),
    (
        "agent.session",
        "agent.session_options",
        "agent.session_prompt",
        "agent.session_providers",
        "agent.session_servers",
    ),
    ("agent.core",),
    (
        "agent.providers",
        "agent.mcp",
        "agent.tools",
        "agent.tool_schema",
        "agent.tool_search",
        "agent.tool_index",
        "agent.tool_vectors",
        "agent.tool_words",
        "agent.tool_thesaurus",
        "agent.resource_tool",
        "agent.skill_tool",
        "agent.builtin_tools",
        "agent.context",
        "agent.demo_server",
    ),
    (
        "agent.messages",
        "agent.events",
        "agent.errors",
        "agent.config",
        "agent.mcp_json",
        "agent.paths",
        "agent.tls",
        "agent.startup",
        "agent.adhoc",
        "agent.input_text",
        "agent.options",
        "agent.terminal",
        "agent.private_files",
        "agent.redact",
        "agent.trust",
        "agent",
    ),
]


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, module: str, is_package: bool) -> Iterator[str]:
    """Every module name this code imports (relative imports resolved), TYPE_CHECKING left out."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node):
            for other in node.orelse:
                yield from _imports(other, module, is_package)
            continue
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".") if is_package else module.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)
        yield from _imports(node, module, is_package)


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        targets = set(_imports(tree, name, path.name == "__init__.py"))
        graph[name] = {t for t in targets if t in modules and t != name and t != "agent"}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _layer(module: str) -> int:
    for depth, members in enumerate(LAYERS):
        if any(module == m or module.startswith(m + ".") for m in members if m != "agent"):
            return depth
    return len(LAYERS) - 1 if module == "agent" else -1


def test_the_graph_sees_lazy_imports_and_skips_type_checking_ones() -> None:
    graph = _graph()
    assert "agent.session" in graph["agent.run"]  # imported inside a function
    assert "agent.chat" not in graph["agent.slash"]  # only under TYPE_CHECKING


def test_no_import_cycles() -> None:
    cycles = _cycles(_graph())
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_imports_go_down_the_layers() -> None:
    graph = _graph()
    unplaced = sorted(m for m in graph if _layer(m) < 0)
    assert not unplaced, f"modules in no layer (add them to LAYERS): {unplaced}"
    upward = sorted(
        f"{module} -> {target}"
        for module, targets in graph.items()
        for target in targets
        if _layer(target) < _layer(module)
    )
    assert not upward, "imports that go up a layer: " + ", ".join(upward)
