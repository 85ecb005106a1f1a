"""The import graph of `rules` and `dashboards`: no cycle, and no first-party import hidden in a function."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("rules", "dashboards")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, ast.Module]:
    out = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            out[_module_name(path)] = ast.parse(path.read_text(encoding="utf-8"), str(path))
    return out


def _targets(node: ast.Import | ast.ImportFrom, known: set[str]) -> set[str]:
    """The first-party modules an import loads (``from rules.schema import X`` loads rules.schema)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        names = [base] + [f"{base}.{alias.name}" for alias in node.names]
    return {name for name in names if name in known}


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    graph: dict[str, set[str]] = {}
    for name, tree in modules.items():
        edges: set[str] = set()
        for node in tree.body:  # module level only; functions are checked separately below
            if isinstance(node, ast.Import | ast.ImportFrom):
                edges |= _targets(node, known)
            elif isinstance(node, ast.If):  # `if TYPE_CHECKING:` imports count too: a cycle is a cycle
                for inner in ast.walk(node):
                    if isinstance(inner, ast.Import | ast.ImportFrom):
                        edges |= _targets(inner, known)
        # a submodule imports its package's __init__ first; that edge is what makes a package cycle
        graph[name] = edges - {name}
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_the_module_graph_has_no_cycle() -> None:
    graph = _graph()
    assert "rules.vocabulary" in graph and not graph["rules.vocabulary"], "vocabulary is the ground floor"
    cycle = _cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_finder_finds_one() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


@pytest.mark.parametrize("module", sorted(_modules()))
def test_no_first_party_import_inside_a_function(module: str) -> None:
    tree = _modules()[module]
    hidden = [
        f"line {inner.lineno}"
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        for inner in ast.walk(node)
        if isinstance(inner, ast.Import | ast.ImportFrom)
        and any(
            (alias.name if isinstance(inner, ast.Import) else inner.module or "").split(".")[0] in PACKAGES
            for alias in inner.names
        )
    ]
    assert not hidden, f"{module} imports rules/dashboards inside a function at {', '.join(hidden)}"
