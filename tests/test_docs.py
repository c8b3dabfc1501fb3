"""Documentation that must not drift from the code."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_readme_compatibility_table_matches_the_ci_matrix():
    out = subprocess.run([sys.executable, "ci/compat_table.py", "--check", "README.md"],
                         cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def test_readme_quick_start_commands_exist_in_the_makefile():
    makefile = (REPO / "Makefile").read_text()
    for target in ("demo", "test"):
        assert f"\n{target}:" in makefile
    assert "make test" in (REPO / ".ci" / "run").read_text()


def _tracked() -> list[str]:
    out = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True)
    if out.returncode != 0:
        import pytest

        pytest.skip(f"not a git checkout: {out.stderr.strip()}")
    return out.stdout.splitlines()


def test_readme_layout_table_covers_every_top_level_folder():
    readme = (REPO / "README.md").read_text()
    layout = readme.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    folders = {path.split("/", 1)[0] for path in _tracked() if "/" in path}
    missing = sorted(f for f in folders if f"| `{f}/` |" not in layout)
    assert not missing, f"README's layout table has no row for {missing}"


_SPEC = re.compile(r"SPEC[ ]§|shared/SPE[C]|SPEC[ ]section")  # [ ]: this file does not match itself


def test_the_contract_is_cited_from_the_repository():
    """The behavioural contract is docs/contract.md; nothing points outside the repository for it."""
    offenders = []
    for path in _tracked():
        file = REPO / path
        if file.suffix not in (".py", ".md", ".sh", ".txt") or not file.is_file():
            continue
        text = file.read_text(encoding="utf-8", errors="replace")
        if _SPEC.search(text):
            offenders.append(path)
    assert not offenders, f"cite docs/contract.md instead of SPEC in {offenders}"
    contract = (REPO / "docs" / "contract.md").read_text()
    for number in range(1, 8):
        assert f"\n## {number}. " in contract
