"""Moved to qxt_support.hostile_shapes (nothing outside tests/ imports from tests/); this name is kept for tests
written before the move."""

from qxt_support.hostile_shapes import *  # noqa: F401,F403
