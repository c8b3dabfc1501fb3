"""Where code may import from (issue 21): nothing outside ``tests/`` imports from ``tests/``, so the
benchmarks, CI scripts and the support package run without the test tree's modules."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUTSIDE = ("qwen_xml_toolparser", "qxt_support", "benchmarks", "ci", "scripts", "examples")


def _imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


def test_nothing_outside_tests_imports_from_tests():
    files = [p for top in OUTSIDE for p in (REPO / top).rglob("*.py")]
    assert len(files) > 30
    bad = [f"{p.relative_to(REPO)}: {name}" for p in files for name in _imports(p)
           if name == "tests" or name.startswith("tests.")]
    assert bad == []
