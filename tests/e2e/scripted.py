"""Moved to qxt_support.scripted (nothing outside tests/ imports from tests/); this name is kept for tests
written before the move."""

from qxt_support.scripted import *  # noqa: F401,F403
