"""The packages import each other without a cycle: the module graph built from the top-level
imports of protocol/, storage/ and broker/ (imports under ``if TYPE_CHECKING:`` and inside functions
are not run at import time and are left out) must be acyclic, so no module sees a half-initialised
one and the layering of the architecture (protocol below storage below broker) holds."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "pykafka_broker"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join((PACKAGE, *parts))


def _top_level_imports(tree: ast.Module) -> list[ast.Import | ast.ImportFrom]:
    """Import statements run when the module is imported: module level, including try/if bodies,
    except ``if TYPE_CHECKING:``."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                found.append(node)
            elif isinstance(node, ast.If):
                test = node.test
                if (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
                        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"):
                    visit(node.orelse)
                    continue
                visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                for part in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                    visit(part)
    visit(tree.body)
    return found


def import_graph(folders: tuple[str, ...] = ("protocol", "storage", "broker")) -> dict[str, set[str]]:
    files = {_module_name(p): p for folder in folders for p in (ROOT / folder).rglob("*.py")}
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        is_package = path.name == "__init__.py"
        for node in _top_level_imports(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = name.split(".") if is_package else name.split(".")[:-1]
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join([*anchor, base] if base else anchor)
                # ``from pkg import mod`` imports the submodule when there is one.
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in files else base for a in node.names]
            for target in targets:
                while target and target not in files and "." in target:
                    target = target.rsplit(".", 1)[0]  # an attribute of a module: the module
                if target in files and target != name:
                    graph[name].add(target)
    return graph


def find_cycle(graph: dict[str, set[str]], nodes: set[str]) -> list[str] | None:
    """A cycle through the subgraph of ``nodes`` (depth-first search), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node] & nodes):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(nodes):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def _within(graph: dict[str, set[str]], *packages: str) -> set[str]:
    prefixes = tuple(f"{PACKAGE}.{p}" for p in packages)
    return {n for n in graph if n in prefixes or n.startswith(tuple(f"{p}." for p in prefixes))}


def test_graph_sees_known_edges() -> None:
    graph = import_graph()
    assert f"{PACKAGE}.storage.files" in graph[f"{PACKAGE}.storage.log_loader"]
    assert f"{PACKAGE}.protocol.records" in graph[f"{PACKAGE}.storage.files"]


def test_storage_and_protocol_have_no_import_cycle() -> None:
    graph = import_graph()
    cycle = find_cycle(graph, _within(graph, "protocol", "storage"))
    assert cycle is None, " -> ".join(cycle or [])


def test_log_core_does_not_import_cleaner_or_retention() -> None:
    """The file lifecycle (suffixes, .deleted/.cleaned/.swap, interrupted swaps) lives in
    storage/files.py: the log, its loader and segments never reach for the cleaner or retention,
    which are built on top of them (a swap recovery that lived in the cleaner made a circle)."""
    graph = import_graph()
    core = {f"{PACKAGE}.storage.{m}" for m in ("files", "index", "segment", "txn_index", "log",
                                                  "log_loader", "log_flush", "producer_state")}
    upper = {f"{PACKAGE}.storage.{m}" for m in ("cleaner", "retention", "manager")}
    for module in core:
        assert not graph[module] & upper, f"{module} imports {sorted(graph[module] & upper)}"


def test_lower_layers_never_import_broker() -> None:
    graph = import_graph()
    for node in _within(graph, "protocol", "storage"):
        up = {t for t in graph[node] if t.startswith(f"{PACKAGE}.broker")}
        assert not up, f"{node} imports {sorted(up)}"


def test_broker_has_no_import_cycle() -> None:
    graph = import_graph()
    cycle = find_cycle(graph, set(graph))
    assert cycle is None, " -> ".join(cycle or [])
