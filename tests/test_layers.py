"""The package's import graph: no circles, and every import goes down the layers (never back up).

Layers, bottom to top: ``agents`` (update rules: imports nothing from minimax), then minimax's
``utils`` -> ``core`` -> ``render`` -> ``datasets`` -> ``tasks`` -> ``envs`` -> ``training`` -> ``eval`` -> ``runs``
-> ``sweep`` -> ``cli``; the package's face (``minimax/__init__.py``, ``_aliases.py``) is above all.
Every import counts, also those inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ["agents", "minimax.utils", "minimax.core", "minimax.render", "minimax.datasets", "minimax.tasks", "minimax.envs",
          "minimax.training", "minimax.eval", "minimax.runs", "minimax.sweep", "minimax.cli"]  # fmt: skip
FACE = {"minimax", "minimax._aliases"}  # the package's face: above every layer


def modules() -> dict[str, Path]:
    """Every module of the two packages, by dotted name."""
    found = {}
    for package in ("minimax", "agents"):
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def import_graph() -> dict[str, set[str]]:
    """module -> the project modules it imports (``from X import name`` names module X.name when there is one)."""
    known = modules()
    graph: dict[str, set[str]] = {name: set() for name in known}
    for name, path in known.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
            for target in targets:
                while target and target not in known:  # a name inside a module: the module
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph[name].add(target)
    return graph


def layer(module: str) -> int:
    """The index of ``module``'s layer in LAYERS (the face: len(LAYERS)); a module in no layer is an error."""
    if module in FACE:
        return len(LAYERS)
    found = [i for i, prefix in enumerate(LAYERS) if module == prefix or module.startswith(prefix + ".")]
    assert found, f"{module} is in no layer: add it to LAYERS in tests/test_layers.py"
    return max(found)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_checker_finds_a_planted_circle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_there_is_no_import_circle() -> None:
    assert cycles(import_graph()) == []


def test_the_layer_check_sees_a_back_arrow() -> None:
    """The control: core importing envs would be caught."""
    assert layer("minimax.envs.aec") > layer("minimax.core.game") and layer("minimax.cli") > layer("minimax.runs")
    assert layer("minimax") > layer("minimax.cli")


def test_every_import_goes_down_the_layers() -> None:
    graph = import_graph()
    up = sorted(f"{a} -> {b}" for a, targets in graph.items() for b in targets if layer(b) > layer(a))
    assert up == [], "imports that go back up the layers:\n" + "\n".join(up)


def test_agents_imports_nothing_from_minimax() -> None:
    graph = import_graph()
    assert not [f"{a} -> {b}" for a, t in graph.items() if a.startswith("agents") for b in t if b.startswith("minimax")]


@pytest.mark.parametrize("folder", ["utils", "core", "render", "datasets", "tasks", "envs", "training", "eval"])
def test_each_layer_is_a_folder_of_modules(folder: str) -> None:
    assert (ROOT / "minimax" / folder / "__init__.py").is_file()
    assert [m for m in modules() if m.startswith(f"minimax.{folder}.")]
