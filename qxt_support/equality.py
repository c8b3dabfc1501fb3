"""Type-strict equality of JSON values (pure Python)."""

from __future__ import annotations

import math
from typing import Any


def strict_equal(a: Any, b: Any) -> bool:
    """Equality that distinguishes 1, 1.0 and True (JSON types); NaN equals NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(strict_equal(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(strict_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b)
