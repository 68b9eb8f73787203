"""The sandbox's modules import one another without a circle (counting imports made only for type
checking or inside functions: a circle there still ties the two modules into one)."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import artifactory_sandbox

PACKAGE = Path(artifactory_sandbox.__file__).parent


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                names.add(node.module.split(".")[0])
            else:
                names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("artifactory_sandbox."):
            names.add((node.module or "").split(".")[1])
    return names


@functools.cache
def _graph() -> dict[str, set[str]]:
    modules = {path.stem: path for path in PACKAGE.glob("*.py")}
    return {name: _imports(path) & set(modules) for name, path in modules.items()}


def _circle_from(start: str, graph: dict[str, set[str]]) -> list[str] | None:
    stack: list[tuple[str, list[str]]] = [(start, [start])]
    seen: set[str] = set()
    while stack:
        name, trail = stack.pop()
        for nxt in graph[name]:
            if nxt == start:
                return [*trail, start]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, [*trail, nxt]))
    return None


def test_no_module_of_the_sandbox_imports_itself_through_others() -> None:
    graph = _graph()
    circles = [c for name in sorted(graph) if (c := _circle_from(name, graph))]
    assert circles == []


def test_the_walk_sees_the_imports_it_checks() -> None:
    graph = _graph()
    assert "faults" in graph["app"]
    assert "promotion_items" in graph["promotion"]
    assert _circle_from("a", {"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
