"""Where code may import from (issue 21): nothing outside ``tests/`` imports from ``tests/``, so the
benchmarks, CI scripts and the support package run without the test tree's modules."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUTSIDE = ("qwen_xml_toolparser", "qxt_support", "benchmarks", "ci", "scripts", "examples")


def _imports(path: Path) -> list[str]:
    """Every module ``path`` imports, at import time or in a function; a relative import is made
    absolute (``from . import x`` in ``pkg/m.py``: ``pkg.x``)."""
    package = path.parent.relative_to(REPO).parts
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[:len(package) - node.level + 1])
            names += [f"{base}.{node.module}"] if node.module else [f"{base}.{a.name}" for a in node.names]
    return names


def test_nothing_outside_tests_imports_from_tests():
    files = [p for top in OUTSIDE for p in (REPO / top).rglob("*.py")]
    assert len(files) > 30
    bad = [f"{p.relative_to(REPO)}: {name}" for p in files for name in _imports(p)
           if name == "tests" or name.startswith("tests.")]
    assert bad == []


# The engine adapters and their compat modules: the only modules of the package that may import
# vLLM or SGLang, at import time or in a function.
ENGINE_MODULES = {
    "vllm": {"_compat", "_compat_context", "_compat_grammar", "_compat_logging", "_vllm_adapter",
             "_vllm_reasoning", "_vllm_loop", "plugin"},
    "sglang": {"_sglang_adapter"},
}


def _package_imports() -> dict[str, list[str]]:
    """Per package module: every module it imports (``_imports``)."""
    return {path.stem: _imports(path) for path in sorted((REPO / "qwen_xml_toolparser").glob("*.py"))}


def test_only_the_engine_adapters_import_an_engine():
    imports = _package_imports()
    assert {"_parser", "_reasoning", "_vllm_adapter", "_sglang_adapter", "cli"} <= set(imports)
    for engine, allowed in ENGINE_MODULES.items():
        importers = {module for module, names in imports.items()
                     if any(name == engine or name.startswith(engine + ".") for name in names)}
        assert importers <= allowed, f"{sorted(importers - allowed)} import {engine}"


def test_the_core_never_imports_an_engine_module():
    """The sans-I/O core (everything but the engine modules and the CLI) imports none of them,
    not even through another package module."""
    imports = _package_imports()
    engine = set().union(*ENGINE_MODULES.values())
    for module, names in imports.items():
        if module in engine or module == "cli":
            continue
        reached = {name.rsplit(".", 1)[-1] for name in names if name.startswith("qwen_xml_toolparser.")}
        assert not reached & engine, f"{module} imports {sorted(reached & engine)}"


def test_importing_the_core_and_the_cli_loads_no_engine():
    """``python -m qwen_xml_toolparser`` checks its input before it imports vLLM, and the core works
    without one: importing them (and ``_vllm_loop``, whose detokenizer the CLI uses) loads neither
    vLLM nor SGLang."""
    import subprocess
    import sys

    engine = set().union(*ENGINE_MODULES.values()) - {"_vllm_loop"}
    core = [m for m in _package_imports() if m not in engine and m != "__main__"]  # __main__ runs the CLI
    code = ("import importlib, sys\n"
            f"for m in {core!r}: importlib.import_module('qwen_xml_toolparser.' + m)\n"
            "print(sorted({n.split('.')[0] for n in sys.modules} & {'vllm', 'sglang', 'torch'}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"
