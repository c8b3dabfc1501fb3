"""Documentation that must not drift from the code."""

from __future__ import annotations

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
