"""The code layout keeps the component picture true (docs/architecture.md).

Dependencies point down only: http and cli -> controllers (framework, orchestrator) ->
domain (clusters; catalog, infra, engines) -> core. A module may import its own
package and any lower layer, never a higher one nor a sibling of its own layer.
"""
from __future__ import annotations

import ast
from pathlib import Path

from support.common import REPO

API = REPO / "api"
LAYERS = {
    "api.core": 0,
    "api.catalog": 1, "api.infra": 1, "api.engines": 1,
    "api.clusters": 2,
    "api.framework": 3, "api.orchestrator": 3,
    "api.http": 4, "api.platform": 4,
    "api.cli": 5,  # `bdp server` composes the HTTP app and the controllers
}
MODULE_LINES = 400
FUNCTION_LINES = 60


def component(module: str) -> str | None:
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "api" and len(parts) > 1 else None


def modules():
    for path in sorted(API.rglob("*.py")):
        name = ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        yield name, path, ast.parse(path.read_text())


def imported(name: str, path: Path, tree: ast.Module):
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            yield node.lineno, base


def test_every_component_is_a_known_layer():
    found = {component(name) for name, _, _ in modules()} - {None}
    assert found == set(LAYERS), f"layers to place: {found - set(LAYERS)}; gone: {set(LAYERS) - found}"


def test_imports_point_down_only():
    wrong = []
    for name, path, tree in modules():
        own = component(name)
        if own is None:
            continue
        for line, target in imported(name, path, tree):
            other = component(target)
            if other is None or other == own:
                continue
            if LAYERS[other] >= LAYERS[own]:
                wrong.append(f"{path.relative_to(REPO)}:{line}: {own} imports {target} "
                             f"(layer {LAYERS[own]} -> {LAYERS[other]})")
    assert not wrong, "imports that point up or across:\n" + "\n".join(wrong)


def test_each_component_says_what_it_owns():
    for comp in LAYERS:
        path = API / comp.split(".")[1]
        init = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        assert len(doc) > 80 and "TODO" not in doc, f"{init}: say what the component owns"


def test_ruff_finds_nothing():
    """Unused imports, undefined names and import order, across the checkout (ruff.toml)."""
    import subprocess
    import sys
    ruff = Path(sys.executable).parent / "ruff"
    done = subprocess.run([str(ruff), "check", "--no-cache", "."], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_modules_and_functions_stay_small():
    """Over MODULE_LINES needs a reason in the module's docstring ("Size: ...")."""
    big = []
    for name, path, tree in modules():
        lines = path.read_text().count("\n")
        if lines > MODULE_LINES and "Size:" not in (ast.get_docstring(tree) or ""):
            big.append(f"{name}: {lines} lines")
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > FUNCTION_LINES:
                    big.append(f"{name}.{node.name} (line {node.lineno}): {length} lines")
    assert not big, "too big:\n" + "\n".join(big)
