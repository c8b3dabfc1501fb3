"""Recognising Qwen XML markup in a buffer that may end in the middle of it.

The functions here look at ``buf`` from a position and answer with a match, a
"no", or ``NEED_MORE`` when the buffer ends before the answer is known; with
``final=True`` the end of the buffer is the end of the output and the answer
is always decided. They never look further than a small bound past the
position, so a caller that keeps only undecided text in its buffer does O(1)
work per character.

Value closers (see docs/behaviour.md) are decided by lookahead: a
``</parameter>`` ends a value only where the template could have put one,
i.e. when it is followed, after optional whitespace, by the next piece of
markup or by the end of the output.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from typing import Final

__all__ = [
    "CALL_END",
    "CALL_START",
    "JsonNesting",
    "FUNCTION_END",
    "FUNCTION_START",
    "NEED_MORE",
    "PARAM_END",
    "closing_tag_end",
    "drifted_opener",
    "followed_by",
    "PARAM_START",
    "match_name",
    "match_tag",
    "value_closer",
]

CALL_START: Final = "<tool_call>"
CALL_END: Final = "</tool_call>"
FUNCTION_START: Final = "<function="
FUNCTION_END: Final = "</function>"
PARAM_START: Final = "<parameter="
PARAM_END: Final = "</parameter>"
THINK_START: Final = "<think>"
THINK_END: Final = "</think>"


class _NeedMore(enum.Enum):
    """The single value ``NEED_MORE`` (an enum member, so that ``is NEED_MORE`` narrows types)."""

    NEED_MORE = 0

    def __repr__(self) -> str:
        return "NEED_MORE"


NEED_MORE: Final = _NeedMore.NEED_MORE

MAX_NAME = 256  # longest function / parameter name we wait for
MAX_GAP = 256  # longest whitespace run between a closer and what follows it
MAX_DRIFT = 32  # longest drifted suffix of a closer: </parameter1>, </function_invocation>
_WS = " \t\r\n"

# What may follow each closer (after whitespace) for it to be a real closer.
# "</function" without ">" also admits drifted function closers.
AFTER_PARAM_END = (PARAM_START, "</function", CALL_END, CALL_START, FUNCTION_START)
AFTER_FUNCTION_END = (CALL_END, CALL_START, FUNCTION_START)
AFTER_CALL_END = (CALL_START, FUNCTION_START)
# What must follow a drifted call opener ``<parameter=TOOL>`` (docs/drift.md): the call goes on.
AFTER_TOOL_OPENER = (PARAM_START, "</function", CALL_END)


_NAME_END = re.compile("[>\n<]")


def match_tag(buf: str, pos: int, tag: str, final: bool) -> bool | _NeedMore:
    """Does ``buf[pos:]`` start with ``tag``?"""
    if buf.startswith(tag, pos):
        return True
    if not final and len(buf) - pos < len(tag) and tag.startswith(buf[pos:]):
        return NEED_MORE
    return False


def match_name(buf: str, pos: int, final: bool) -> tuple[str, int, int] | _NeedMore | None:
    """Read ``NAME>`` from ``pos`` (just after ``<function=`` / ``<parameter=``).

    Returns ``(name, end_of_name, end_of_header)``. A name ends at ``>``; a
    newline or ``<`` before the ``>`` also ends it (malformed headers such as
    ``<function=f\\n<parameter=x>``), and the header then ends there too.
    Returns None when no name ending is found within ``MAX_NAME`` characters.
    """
    end = min(len(buf), pos + MAX_NAME)
    found = _NAME_END.search(buf, pos, end)
    if found is not None:
        k = found.start()
        return buf[pos:k].strip(), k, k + 1 if buf[k] == ">" else k
    if end < pos + MAX_NAME:  # the buffer ends before the bound
        if not final:
            return NEED_MORE
        if end > pos:  # the output ends inside the name
            return buf[pos:end].strip(), end, end
    return None


def followed_by(
    buf: str, pos: int, options: tuple[str, ...], final: bool, end_ok: bool = True
) -> bool | _NeedMore:
    """Is ``buf[pos:]`` optional whitespace and then one of ``options``?

    The end of the output counts as a match when ``end_ok``.
    """
    n = len(buf)
    k = pos
    limit = min(n, pos + MAX_GAP)
    while k < limit and buf[k] in _WS:
        k += 1
    if k == n:
        return end_ok if final else NEED_MORE
    if k == limit:
        return False
    undecided = False
    for option in options:
        if buf.startswith(option, k):
            return True
        if n - k < len(option) and option.startswith(buf[k:]):
            undecided = True
    if undecided:
        return end_ok if final else NEED_MORE
    return False


def closing_tag_end(
    buf: str, pos: int, stem: str, final: bool, partial_at_end: bool = True
) -> int | _NeedMore | None:
    """End of a closing tag ``stem>`` at ``pos``, tolerating drift (``stem1>``, ``stem\\n``).

    With ``final``, a beginning of the tag cut off by the end of the output
    counts as the tag when ``partial_at_end`` (it ends a value), else not.
    """
    n = len(buf)
    if not buf.startswith(stem, pos):
        if n - pos < len(stem) and stem.startswith(buf[pos:]):
            if not final:
                return NEED_MORE
            return n if partial_at_end else None
        return None
    k = pos + len(stem)
    limit = min(n, k + MAX_DRIFT)
    while k < limit:
        ch = buf[k]
        if ch == ">":
            return k + 1
        if ch == "\n":
            return k
        if ch in " \t\"'/<":  # `</parameter "`: text, not a drifted tag
            return None
        k += 1
    if k == n:
        return n if final else NEED_MORE
    return None


# Kinds of value closers.
PARAM = "param"  # </parameter>: the value ends, the function goes on
FUNCTION = "function"  # </function> without </parameter>: value and function end
CALL = "call"  # </tool_call> without </parameter> and </function>
NEXT_PARAM = "next_param"  # a new <parameter=NAME> line without </parameter>


PARAM_ATTR: Final = "<parameter name="  # drifted attribute markup (docs/drift.md)
INVOKE_END: Final = "</invoke"
AFTER_INVOKE_END = (*AFTER_FUNCTION_END, "<invoke name=", "<function name=")
_STEMS: Final = (("</parameter", PARAM, AFTER_PARAM_END), ("</function", FUNCTION, AFTER_FUNCTION_END))
_STEMS_ATTR: Final = (
    ("</parameter", PARAM, (*AFTER_PARAM_END, PARAM_ATTR, INVOKE_END)),
    ("</function", FUNCTION, AFTER_FUNCTION_END),
    (INVOKE_END, FUNCTION, AFTER_INVOKE_END),
)


def value_closer(
    buf: str,
    pos: int,
    line_start: bool,
    final: bool,
    implicit_param: Callable[[str], bool],
    tool_opener: Callable[[str], bool] | None = None,
    attr_key: Callable[[str, int, bool], str | _NeedMore | None] | None = None,
) -> tuple[str, int] | _NeedMore | None:
    """Is the ``<`` at ``buf[pos]`` the start of the closer of the current value?

    Returns ``(kind, end)``, where ``end`` is how far the closer's markup
    extends (for ``NEXT_PARAM`` it is ``pos``: the header is not consumed),
    ``NEED_MORE``, or None when this ``<`` is value text. ``line_start`` tells
    whether ``pos`` starts a line of the value; ``implicit_param(name)`` whether
    a ``<parameter=name>`` line may close a value whose ``</parameter>`` is
    missing; ``tool_opener(name)`` whether such a line may instead open a call
    to the tool ``name`` (a drifted opener), which it does when the header ends
    with ``>`` and is followed by ``AFTER_TOOL_OPENER``. ``attr_key``, for a call that uses the
    drifted attribute markup (docs/drift.md), reads a ``<parameter name="KEY">`` header's key:
    ``</invoke>`` then closes like ``</function>``, and such a header is markup that may follow
    ``</parameter>`` or close a value at a line start like ``<parameter=KEY>``.
    """
    for stem, kind, after in _STEMS if attr_key is None else _STEMS_ATTR:
        end = closing_tag_end(buf, pos, stem, final)
        if end is NEED_MORE:
            return NEED_MORE
        if end is not None:
            viable = followed_by(buf, end, after, final)
            if viable is NEED_MORE:
                return NEED_MORE
            return (kind, end) if viable else None
    found = match_tag(buf, pos, CALL_END, final)
    if found is NEED_MORE:
        return NEED_MORE
    if found:
        end = pos + len(CALL_END)
        viable = followed_by(buf, end, AFTER_CALL_END, final)
        if viable is NEED_MORE:
            return NEED_MORE
        return (CALL, end) if viable else None
    if line_start:
        found = match_tag(buf, pos, PARAM_START, final)
        if found is NEED_MORE:
            return NEED_MORE
        if found:
            header = match_name(buf, pos + len(PARAM_START), final)
            if header is NEED_MORE:
                return NEED_MORE
            if header is not None and implicit_param(header[0]):
                return (NEXT_PARAM, pos)
            if header is not None and tool_opener is not None:
                opener = drifted_opener(buf, header, final, tool_opener)
                if opener is NEED_MORE:
                    return NEED_MORE
                if opener:
                    return (NEXT_PARAM, pos)
        elif attr_key is not None:
            key = attr_key(buf, pos, final)
            if key is NEED_MORE:
                return NEED_MORE
            if key is not None and implicit_param(key):
                return (NEXT_PARAM, pos)
    return None


def drifted_opener(
    buf: str, header: tuple[str, int, int], final: bool, names_tool: Callable[[str], bool]
) -> bool | _NeedMore:
    """Is ``header`` (:func:`match_name`'s answer after ``<parameter=``) a drifted call opener?

    It is when the header ends with ``>``, ``names_tool(name)`` says the name
    is a tool (docs/drift.md), and ``AFTER_TOOL_OPENER`` follows: the text
    goes on like a call.
    """
    name, name_end, end = header
    if buf[name_end:end] != ">" or not names_tool(name):
        return False
    return followed_by(buf, end, AFTER_TOOL_OPENER, final, end_ok=False)


_JSON_SPECIAL = re.compile(r'[\[\]{}",\\]')


class JsonNesting:
    """Bracket nesting of JSON text fed in pieces (brackets inside strings do not count).

    ``feed`` returns the index just past the bracket that closes the top level
    (when ``stop_at_close``), or -1; it stops early once ``deepest`` reaches
    ``stop_at``. With ``commas`` (a list), the positions of the commas that
    separate the top-level object's members are appended to it. Each character
    is looked at once, so the cost is linear in the text (a Python step per
    bracket, quote, comma or backslash only).
    """

    __slots__ = (
        "_escaped", "_in_string", "commas", "deepest", "depth", "stop_at", "stop_at_close", "stopped_at", "strict"
    )

    def __init__(
        self, stop_at: int = 1 << 62, stop_at_close: bool = False, commas: list[int] | None = None,
        strict: bool = False,
    ) -> None:
        self.strict = strict  # feed returns NOT_JSON at a character outside strings that JSON never has there
        self.stopped_at = -1  # ... and this is where it is
        self.depth = 0
        self.deepest = 0
        self.stop_at = stop_at
        self.stop_at_close = stop_at_close
        self.commas = commas
        self._in_string = False
        self._escaped = False  # the piece ended with a backslash inside a string

    def feed(self, text: str, start: int, end: int) -> int:
        if self.strict:
            return self._feed_strict(text, start, end)
        if self._escaped and start < end:
            start += 1
            self._escaped = False
        depth, in_string, skip = self.depth, self._in_string, -1
        try:
            for m in _JSON_SPECIAL.finditer(text, start, end):
                i = m.start()
                if i == skip:
                    continue
                ch = text[i]
                if in_string:
                    if ch == '"':
                        in_string = False
                    elif ch == "\\":
                        skip = i + 1
                elif ch == '"':
                    in_string = True
                elif ch == "[" or ch == "{":
                    depth += 1
                    if depth > self.deepest:
                        self.deepest = depth
                        if depth >= self.stop_at:
                            return -1
                elif ch == "]" or ch == "}":
                    depth -= 1
                    if depth == 0 and self.stop_at_close:
                        return i + 1
                elif ch == "," and depth == 1 and self.commas is not None:
                    self.commas.append(i)
            if skip == end:
                self._escaped = True
            return -1
        finally:
            self.depth, self._in_string = depth, in_string

    def _feed_strict(self, text: str, start: int, end: int) -> int:
        """``feed`` that also returns ``NOT_JSON`` at a character outside strings that is not JSON
        (prose after a drifted opener): strings are skipped to their closing quote in one search."""
        i = start
        if self._escaped and i < end:
            i += 1
            self._escaped = False
        while i < end:
            if self._in_string:
                m = _STRING_STOP.search(text, i, end)
                if m is None:
                    return -1
                i = m.start()
                if text[i] == "\\":
                    if i + 1 == end:
                        self._escaped = True
                        return -1
                    i += 2
                    continue
                self._in_string = False
                i += 1
                continue
            m = _OUTSIDE.search(text, i, end)
            if m is None:
                return -1
            i = m.start()
            ch = text[i]
            i += 1
            if ch == '"':
                self._in_string = True
            elif ch == "[" or ch == "{":
                self.depth += 1
                self.deepest = max(self.deepest, self.depth)
            elif ch == "]" or ch == "}":
                self.depth -= 1
                if self.depth == 0 and self.stop_at_close:
                    return i
            else:
                self.stopped_at = i - 1
                return NOT_JSON
        return -1


NOT_JSON: Final = -2
_STRING_STOP = re.compile(r'["\\]')
# Outside strings: brackets and quotes, or a character no JSON text has there.
_OUTSIDE = re.compile(r'[\[\]{}"]|[^\s\[\]{}",:0-9.eE+\-truefalsn]')
