"""Whether content is inside a Markdown code fence (CommonMark rules), fed text in pieces.

Inside a fence nothing starts a call (docs/behaviour.md, "Content").
"""

from __future__ import annotations

import enum
import re

__all__ = ["Fences"]

_FENCE_RUN = {"`": re.compile("`*"), "~": re.compile("~*")}


class _Line(enum.Enum):
    """Where the tracker is in the current line."""

    START = "start"  # indentation (up to 3 spaces) of a new line
    RUN = "run"  # a run of ` or ~ at the start of the line
    INFO = "info"  # after an opening run: the info string, up to the end of the line
    TAIL = "tail"  # after a closing run: only spaces and tabs may follow
    TEXT = "text"  # not a fence line: wait for the newline


_LINE_START = _Line.START
_LINE_RUN = _Line.RUN
_LINE_INFO = _Line.INFO
_LINE_TAIL = _Line.TAIL
_LINE_TEXT = _Line.TEXT


class Fences:
    """Whether content is inside a CommonMark fenced code block.

    A fence line has at most 3 spaces of indentation and a run of at least 3
    backticks or tildes; an opening backtick run's info string has no backtick
    (so ```` ```ls``` ```` at a line start is inline code). The block opens at
    the end of the opening line and closes at the end of a line holding only
    a run of the same character, at least as long, and spaces or tabs.
    """

    __slots__ = ("_char", "_indent", "_len", "_phase", "_run", "_run_char", "inside")

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Leave any fence and start a new line (``</think>`` ends everything)."""
        self.inside = False
        self._char = ""  # the open fence's character and length
        self._len = 0
        self._phase = _LINE_START
        self._indent = 0
        self._run_char = ""
        self._run = 0

    def feed(self, text: str) -> None:
        if "`" not in text and "~" not in text:
            # No fence line can start or end in this text: only its first line (which may
            # finish a fence line begun earlier) and its last line (the start of the next
            # one) matter. Keeps newline-dense content linear and fast.
            first = text.find("\n")
            last = text.rfind("\n")
            if first != last:
                self._feed(text[: first + 1])
                self._feed(text[last:])
                return
        self._feed(text)

    def _feed(self, text: str) -> None:
        i, n = 0, len(text)
        while i < n:
            phase = self._phase
            if phase is _LINE_START:
                ch = text[i]
                if ch == " " and self._indent < 3:
                    self._indent += 1
                    i += 1
                elif ch in "`~" and (not self.inside or ch == self._char):
                    self._phase, self._run_char, self._run = _LINE_RUN, ch, 0
                elif ch == "\n":
                    self._end_line()
                    i += 1
                else:
                    self._phase = _LINE_TEXT
            elif phase is _LINE_RUN:
                j = _FENCE_RUN[self._run_char].match(text, i).end()  # type: ignore[union-attr]
                self._run += j - i
                i = j
                if i < n:
                    if self._run < 3 or (self.inside and self._run < self._len):
                        self._phase = _LINE_TEXT
                    else:
                        self._phase = _LINE_TAIL if self.inside else _LINE_INFO
            else:
                newline = text.find("\n", i)
                end = n if newline < 0 else newline
                if (phase is _LINE_INFO and self._run_char == "`" and text.find("`", i, end) >= 0) or (
                    phase is _LINE_TAIL and text[i:end].strip(" \t")
                ):
                    self._phase = _LINE_TEXT  # not a fence line after all
                if newline < 0:
                    return
                self._end_line()
                i = newline + 1

    def _end_line(self) -> None:
        if self._phase is _LINE_INFO:
            self.inside, self._char, self._len = True, self._run_char, self._run
        elif self._phase is _LINE_TAIL:
            self.inside = False
        self._phase = _LINE_START
        self._indent = 0
