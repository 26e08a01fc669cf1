"""The package's shape: short modules and functions, no hidden import cycles."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "biodata_guard"
MAX_MODULE_LINES = 800
MAX_FUNCTION_LINES = 100
#: Modules that may import biodata_guard inside a function: the thin CLI keeps `--help` fast.
LAZY_IMPORTS_ALLOWED = {"cli.py", "__main__.py"}

# biodata_guard/schemas is a link to the top-level schemas/ folder, which rglob does not follow
MODULES = sorted(PACKAGE.rglob("*.py")) + sorted((PACKAGE.parent / "schemas").glob("*.py"))


def _rel(path: Path) -> str:
    return str(path.relative_to(PACKAGE.parent))


@pytest.mark.parametrize("path", MODULES, ids=_rel)
def test_module_is_short(path):
    n = len(path.read_text(encoding="utf-8").splitlines())
    assert n <= MAX_MODULE_LINES, f"{_rel(path)}: {n} lines > {MAX_MODULE_LINES}"


@pytest.mark.parametrize("path", MODULES, ids=_rel)
def test_functions_are_short(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(tree)
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert long == []


@pytest.mark.parametrize("path", MODULES, ids=_rel)
def test_no_function_local_import_of_the_package(path):
    """A function-local ``from biodata_guard...`` import hides an import cycle; heavy third-party
    imports (jax, matplotlib, dask) may stay lazy."""
    if path.name in LAZY_IMPORTS_ALLOWED:
        return
    tree = ast.parse(path.read_text(encoding="utf-8"))
    local = []
    for fn in ast.walk(tree):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(fn):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("biodata_guard"):
                local.append(f"{fn.name}: from {node.module}")
            elif isinstance(node, ast.Import) and any(
                a.name.startswith("biodata_guard") for a in node.names
            ):
                local.append(f"{fn.name}: import {node.names[0].name}")
    assert local == []
