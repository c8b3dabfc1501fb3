"""One reading of vLLM version numbers (qwen_xml_toolparser/_versions.py) for the plugin, the test
support code and ci/ (issue 21: two readers disagreed on ``0.12.0rc1``)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from qwen_xml_toolparser._versions import serving_generation, version_tuple

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize(("text", "expected"), [
    ("0.33.0", (0, 33, 0)),
    ("0.12.0rc1", (0, 12, 0)),  # was (0, 12, 1) in _compat and (0, 12) in qxt_support
    ("0.10.2+cpu", (0, 10, 2)),
    ("0.11.1.dev3+g123abc", (0, 11, 1)),
    ("0.34", (0, 34, 0)),
    ("0", (0, 0, 0)),
    ("", (0, 0, 0)),
])
def test_version_tuple(text, expected):
    assert version_tuple(text) == expected


def test_a_release_candidate_has_its_release_s_generation():
    assert [serving_generation(version_tuple(v)) for v in ("0.13.0", "0.14.0rc1", "0.16.0", "0.17.0rc2",
                                                           "0.22.0", "0.23.0rc1", "0.34.0")] == list("ABBCCDD")


def test_every_reader_is_this_one():
    """The plugin's compatibility layer, the test support code and ci/compat_table.py read versions
    with _versions.version_tuple (no copy of it elsewhere)."""
    readers = [REPO / "qwen_xml_toolparser" / "_compat.py", REPO / "qwen_xml_toolparser" / "_compat_grammar.py",
               REPO / "qxt_support" / "vllm.py", REPO / "ci" / "compat_table.py"]
    for path in readers:
        text = path.read_text(encoding="utf-8")
        assert "version_tuple" in text or "serving_generation" in text, path
        assert ".split(\".\")" not in text and ".split('.')" not in text, f"{path} parses a version itself"
    out = subprocess.run([sys.executable, str(REPO / "ci" / "compat_table.py")], capture_output=True, text=True,
                         check=True, cwd="/")
    assert "| 0.34.0 |" in out.stdout and "D: `get_remaining_unstreamed_args()`" in out.stdout
