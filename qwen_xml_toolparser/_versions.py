"""vLLM version numbers, read one way everywhere (the plugin, the test support code, ci/).

Standard library only and no vLLM import, so that ci/ scripts can use it without a vLLM.
"""

from __future__ import annotations

import re

__all__ = ["serving_generation", "version_tuple"]

_LEADING_DIGITS = re.compile(r"\d+")


def version_tuple(text: str) -> tuple[int, int, int]:
    """``"0.12.0rc1"`` -> ``(0, 12, 0)``: major, minor, patch, each the leading digits of its part.

    A local version (``+cpu``) and a pre-release or dev suffix (``rc1``, ``.dev3``) are dropped, so
    a release candidate counts as the release it precedes; a missing or non-numeric part is 0.
    """
    parts = []
    for piece in text.split("+", 1)[0].split(".")[:3]:
        digits = _LEADING_DIGITS.match(piece)
        parts.append(int(digits.group()) if digits else 0)
    while len(parts) < 3:
        parts.append(0)
    return (parts[0], parts[1], parts[2])


def serving_generation(version: tuple[int, ...]) -> str:
    """How the serving layer of vLLM ``version`` finishes a stream (docs/compat-notes.md §4).

    A: 0.10 - 0.13, B: 0.14 - 0.16, C: 0.17 - 0.22, D: 0.23+.
    """
    if version < (0, 14):
        return "A"
    if version < (0, 17):
        return "B"
    if version < (0, 23):
        return "C"
    return "D"
