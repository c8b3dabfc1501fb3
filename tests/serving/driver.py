"""Moved to qxt_support.serving (nothing outside tests/ imports from tests/); this name is kept for tests
written before the move."""

from qxt_support.serving import *  # noqa: F401,F403
