"""The package's shape: imports only go down the layers, and functions stay short."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "ragfleet"
MAX_FUNCTION_LINES = 60

# Bottom to top: a module may import its own package and those of lower layers only.
LAYERS: list[set[str]] = [
    {"errors"},
    {"domain", "backoff", "text", "ownership"},
    {"settings"},
    {"telemetry", "http"},
    {"embedding", "registry", "security"},
    {"retrieval"},
    {"ingest", "generation"},
    {"workers", "evaluation"},
    {"services", "settings_doc", "deploy", "gitops"},
    {"api"},
    {"cli"},
]
LAYER_OF = {name: level for level, names in enumerate(LAYERS) for name in names}


def top_package(module: Path) -> str:
    parts = module.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]


def imported_packages(module: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(module.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "ragfleet" and len(parts) > 1:
                found.add(parts[1])
    return found


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts)


def test_every_package_has_a_layer() -> None:
    packages = {top_package(module) for module in MODULES} - {"__init__", "sample"}
    assert packages <= set(LAYER_OF), packages - set(LAYER_OF)


@pytest.mark.parametrize("module", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_go_down(module: Path) -> None:
    own = top_package(module)
    if own not in LAYER_OF:
        return
    above = {
        name
        for name in imported_packages(module)
        if name in LAYER_OF and name != own and LAYER_OF[name] >= LAYER_OF[own]
    }
    assert not above, f"{module.name} ({own}) imports packages at or above its layer: {above}"


def test_no_long_functions() -> None:
    long: list[str] = []
    for module in MODULES:
        for node in ast.walk(ast.parse(module.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    where = f"{module.relative_to(PACKAGE)}:{node.lineno} {node.name}"
                    long.append(f"{where} ({length} lines)")
    assert not long, long


def module_name(path: Path) -> str:
    parts = ("ragfleet", *path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def module_imports(path: Path, known: set[str]) -> set[str]:
    """The ragfleet modules ``path`` imports (at any depth: lazy imports count too)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                child = f"{node.module}.{alias.name}"
                found.add(child if child in known else node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found & known


def test_no_import_cycles() -> None:
    names = {module_name(path): path for path in MODULES}
    graph = {name: module_imports(path, set(names)) - {name} for name, path in names.items()}
    cycles: list[list[str]] = []

    def visit(name: str, trail: list[str]) -> None:
        for target in graph[name]:
            if target in trail:
                cycles.append([*trail[trail.index(target) :], target])
            elif target not in done:
                visit(target, [*trail, target])
        done.add(name)

    done: set[str] = set()
    for name in sorted(graph):
        if name not in done:
            visit(name, [name])
    assert not cycles, cycles[:5]
