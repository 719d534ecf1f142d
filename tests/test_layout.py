"""The package's layers: every module imports on its own, and no two modules import each other.

Imports inside functions count too: a cycle hidden in a function is still a cycle.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO

PACKAGE = REPO / "tflm_build"


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(REPO).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        if parts[-1] != "__main__":
            found[name] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package modules ``name`` imports anywhere in its file (module level or inside functions)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    tree = ast.parse(path.read_text())
    typing_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                   and getattr(block.test, "id", "") == "TYPE_CHECKING" for n in ast.walk(block)}
    for node in ast.walk(tree):
        if id(node) in typing_only:  # names for annotations only: no import at run time
            continue
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            target = ".".join([*base, *([node.module] if node.module else [])])
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                out.add(sub if sub in modules else target)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return {m for m in out if m in modules and m != name}


def test_every_module_imports_alone() -> None:
    """Each module in a fresh interpreter: an import that only works after another module's is a hidden cycle."""
    names = list(_modules())
    script = ("import importlib, sys\nfailed = []\nfor n in sys.argv[1:]:\n"
              "    try:\n        importlib.import_module(n)\n"
              "    except Exception as e:\n        failed.append(f'{n}: {e!r}')\n"
              "    for m in [m for m in sys.modules if m.startswith('tflm_build')]:\n        del sys.modules[m]\n"
              "print('\\n'.join(failed))\n")
    proc = subprocess.run([sys.executable, "-c", script, *names], cwd=REPO, capture_output=True, text=True,
                          env={"PYTHONPATH": str(REPO), "PATH": ""})
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr


def test_no_import_cycles() -> None:
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                pytest.fail("import cycle: " + " -> ".join(stack[stack.index(nxt):] + [nxt]))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name)


def test_layers_do_not_import_upwards() -> None:
    """model knows nothing of the layers above it; fetch knows only the model."""
    below = {"tflm_build.model": {"tflm_build.errors", "tflm_build.model", "tflm_build.resources",
                                  "tflm_build.files"},
             "tflm_build.fetch": {"tflm_build.errors", "tflm_build.model", "tflm_build.fetch",
                                  "tflm_build.resources", "tflm_build.files"}}
    modules = _modules()
    for name, path in modules.items():
        for layer, allowed in below.items():
            if name.startswith(layer):
                wrong = [m for m in _imports(name, path, modules)
                         if not any(m == a or m.startswith(a + ".") for a in allowed)]
                assert not wrong, f"{name} imports {wrong}"
