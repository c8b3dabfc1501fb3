"""Transition tables of the package's state machines (``_parser``, ``_reasoning``).

A machine's table is a tuple of ``(from, to, on what)`` rows over an :class:`enum.Enum` whose
values are the state names. :func:`successors` gives the states each state may go to (what a
machine's single state-changing method checks); :func:`diagram` draws the table as the text its
module docstring shows (tests check the docstring against it).
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import TypeVar

E = TypeVar("E", bound=enum.Enum)

Table = tuple[tuple[E, E, str], ...]


def successors(table: Table[E], states: Iterable[E]) -> dict[E, frozenset[E]]:
    """Each state of ``states`` mapped to the states ``table`` lets it go to."""
    return {state: frozenset(to for frm, to, _ in table if frm is state) for state in states}


def diagram(table: Table[E], states: Iterable[E]) -> str:
    """``table`` as aligned ``from -> to  on what`` lines."""
    width = max(len(str(state.value)) for state in states) + 1
    return "\n".join(f"{frm.value:<{width}}-> {to.value:<{width}}{on}" for frm, to, on in table)
