"""The shape of the service, checked against its code: imports point one way, and the service talks to
detectors only through their declared protocol."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "watchdog"


def _module_of(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_of(p): p for p in PACKAGE.rglob("*.py")}


def _imports(path: Path, name: str, known: dict[str, Path]) -> set[str]:
    """Every first-party module ``path`` imports, at any depth of the file (function-level and
    TYPE_CHECKING imports included): ``from a.b import c`` names ``a.b.c`` when that is a module, else ``a.b``."""
    is_package = path.name == "__init__.py"
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name in known)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            for a in node.names:
                if f"{mod}.{a.name}" in known:
                    out.add(f"{mod}.{a.name}")
                elif mod in known:
                    out.add(mod)
    out.discard(name)
    return out


def import_graph() -> dict[str, set[str]]:
    known = _modules()
    return {name: _imports(path, name, known) for name, path in known.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_module_of_watchdog_imports_one_that_imports_it_back() -> None:
    found = cycles(import_graph())
    assert found == [], f"import cycles in watchdog/: {found}"


def test_the_engine_imports_nothing_above_it() -> None:
    """The engine is fed and read; it never calls up into checkpoints, reloads, actions or the service."""
    graph = import_graph()
    above = ("watchdog.service", "watchdog.commands", "watchdog.actions", "watchdog.report", "watchdog.cli",
             "watchdog.engine.checkpoint", "watchdog.engine.reload")
    for mod in ("watchdog.engine.engine", "watchdog.engine.model", "watchdog.engine.tables"):
        bad = sorted(m for m in graph[mod] if m.startswith(above))
        assert bad == [], f"{mod} imports {bad}"
    for mod, deps in graph.items():
        if mod.startswith("watchdog.ingest"):
            allowed = ("watchdog.ingest", "watchdog.fmt", "watchdog.errors", "watchdog.artifacts")
            bad = sorted(m for m in deps if not m.startswith(allowed))
            assert bad == [], f"{mod} (ingest) imports {bad}: sources and validation know nothing of the engine"


def _service_sources() -> list[tuple[Path, ast.AST]]:
    return [(p, ast.parse(p.read_text())) for p in PACKAGE.rglob("*.py")]


def test_the_service_never_names_a_detector_kind_nor_calls_a_private_detector_method() -> None:
    import rules

    kinds = set(rules.KINDS)
    offences = []
    for path, tree in _service_sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare):
                sides = [node.left, *node.comparators]
                attrs = [s for s in sides if isinstance(s, ast.Attribute) and s.attr == "kind"]
                consts = [s for s in sides if isinstance(s, ast.Constant) and s.value in kinds]
                if attrs and consts:
                    offences.append(f"{path.relative_to(ROOT)}:{node.lineno}: compares .kind with {consts[0].value!r}")
            if isinstance(node, ast.Attribute) and node.attr in ("_ready", "_last_record", "_compute", "_buffer"):
                offences.append(f"{path.relative_to(ROOT)}:{node.lineno}: uses the private detector member {node.attr}")
    assert offences == []
