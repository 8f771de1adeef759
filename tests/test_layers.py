"""The layers the README draws, checked in the code: every import (at module level or lazily
inside a function) runs downward only.

    engine      <- the standard library and ``errors`` only
    tracing     <- engine, errors (and OpenTelemetry)
    executors   <- engine, tracing (to carry trace context to remote workers), errors (and Dask)
    agent       <- engine, executors, tracing, errors (and smolagents); nothing of HTTP
    server      <- anything below it
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "async_task_system"
LAYERS = ("engine", "executors", "tracing", "agent", "server")
ALLOWED = {
    "engine": {"engine", "errors"},
    "executors": {"executors", "engine", "tracing", "errors"},
    "tracing": {"tracing", "engine", "errors"},
    "agent": {"agent", "engine", "executors", "tracing", "errors"},
}
HTTP = {"fastapi", "starlette", "uvicorn", "httpx", "requests", "aiohttp", "urllib3"}


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) for every import in ``path``, relative ones resolved."""
    package = path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
                if not node.module:  # "from . import x": x may be a module
                    found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
                    continue
            else:
                module = node.module or ""
            found.append((node.lineno, module))
    return found


def _layer_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "async_task_system":
        return None
    return parts[1] if len(parts) > 1 else ""


def _files(layer: str) -> list[Path]:
    return sorted((PACKAGE / layer).rglob("*.py"))


@pytest.mark.parametrize("layer", list(ALLOWED))
def test_each_layer_imports_only_the_layers_below_it(layer):
    wrong = []
    for path in _files(layer):
        for line, module in _imports(path):
            target = _layer_of(module)
            if target is not None and target not in ALLOWED[layer]:
                wrong.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {module}")
    assert not wrong, "\n".join(wrong)


def test_the_engine_needs_nothing_but_the_standard_library():
    outside = []
    for path in _files("engine"):
        for line, module in _imports(path):
            top = module.split(".")[0]
            if top != "async_task_system" and top not in sys.stdlib_module_names and top != "__future__":
                outside.append(f"{path.name}:{line} imports {module}")
    assert not outside, "\n".join(outside)


def test_the_agent_layer_knows_nothing_of_http():
    found = [f"{path.name}:{line} imports {module}" for path in _files("agent")
             for line, module in _imports(path) if module.split(".")[0] in HTTP]
    assert not found, "\n".join(found)


def test_the_check_sees_a_lazy_upward_import(tmp_path):
    """The checker itself: an import inside a function is found and resolved."""
    probe = PACKAGE / "engine" / "_probe_for_test_layers.py"
    probe.write_text("def f():\n    from ..tracing import setup_tracing\n")
    try:
        assert (2, "async_task_system.tracing") in _imports(probe)
    finally:
        probe.unlink()


@pytest.mark.parametrize("layer", ["agent", "server"])
def test_the_agent_and_server_layers_use_only_the_engines_public_names(layer):
    """``engine._validate`` and kin may change with any engine rewrite: above it, only ``engine``'s exports."""
    private = [f"{path.relative_to(PACKAGE.parent)}:{line} imports {module}" for path in _files(layer)
               for line, module in _imports(path)
               if module.startswith("async_task_system.engine.")]
    assert not private, "\n".join(private)
