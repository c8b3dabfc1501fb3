"""Drift as data: the shapes the parser recovers, their recognizers and guard rails (docs/drift.md).

Every drifted form the parser reads as a call is a :class:`Shape`: its value is the name in the
``drift recovered: <shape>`` log line, its ``wrote`` the "What the model wrote" column of
docs/drift.md's table (a test keeps the table and this enum equal). The parser asks this module at
the points where the template lets a call open (content, right after ``<tool_call>``) or a frame go
on (between parameters, inside a value); nothing here changes the parser's state.

Recognizers look at ``buf`` from a position and answer like the scanner's functions: a match,
None, or ``NEED_MORE`` (the buffer ends before the answer is known; never with ``final``). They
look at most ``WINDOW`` characters past the position plus the scanner's gap bound, so the work per
character stays bounded.

Guard rails shared by the shapes added in issue 20 (the older five keep their own rules, below):

* the name must be a declared tool (``names_tool``), and the text after the opener must go on like
  a call (``AFTER_OPENER``) or hold a JSON object of arguments;
* the opener starts a line (or follows ``<tool_call>`` / a call): prose, tables and inline code
  that quote the dialect stay text;
* nothing inside a made-up tool result (``<tool_response>``, ``<result>``, ``<output>``) opens a
  call by drift: the model is writing a transcript.

Misses: call-like markup that stays content is noted as a :class:`Miss`; the parser logs the
distinct ones once per output as ``drift missed: <hint>; <hint>``.
"""

from __future__ import annotations

import enum
import logging
import os
import re
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Final

from . import _scanner as sc
from ._schema import FunctionSchema

__all__ = [
    "AFTER_OPENER",
    "BodyTag",
    "Context",
    "Miss",
    "Opener",
    "Shape",
    "body_tag",
    "infer_enabled",
    "missed",
    "opener",
    "recovered",
    "residue",
    "result_tag",
    "tool_named",
    "wrapper",
]

logger = logging.getLogger("qwen_xml_toolparser")
_PROBING: ContextVar[bool] = ContextVar("qwen_xml_toolparser_probing", default=False)


def _not_probing(record: logging.LogRecord) -> bool:
    return not _PROBING.get()


logger.addFilter(_not_probing)  # a probe's records (see quietly) are not the output's


@contextmanager
def quietly() -> Iterator[None]:
    """Records of the package logged inside are dropped (a parser probing held text, per context)."""
    token = _PROBING.set(True)
    try:
        yield
    finally:
        _PROBING.reset(token)


class Shape(enum.Enum):
    """A recovered drift shape; the value is its log name."""

    wrote: str

    def __new__(cls, log_name: str, wrote: str) -> Shape:
        member = object.__new__(cls)
        member._value_ = log_name
        member.wrote = wrote
        return member

    PARAMETER_AS_FUNCTION = (
        "parameter-as-function",
        "`<parameter=bash>` where `<function=bash>` belongs, with or without `<tool_call>`, and several such calls "
        "in a row",
    )
    DOUBLED_PREFIX = ("doubled-prefix", "`<function=function=bash>`, `<parameter=function=bash>`")
    FUSED_JSON = (
        "fused-json",
        'inside `<tool_call>`: `{"function=bash", "arguments": {...}}`, `{"name=bash", ...}`, '
        """`{"name=\\"bash\\"", ...}`, `{"name='bash'", ...}` (spaces around `=` allowed; `"parameters"` for """
        '`"arguments"`; arguments as an object or as JSON text of one), and '
        '`{"function": "bash", "arguments": {...}}`',
    )
    STRAY_CLOSER = (
        "stray-closer",
        "right after a call (only whitespace in between): extra `</function>`, `</tool_call>`, `</parameter>` or "
        "drifted ones such as `</function_invocation>`, `</parameter_x>`",
    )
    VALUE_ON_OPENER_LINE = (
        "value-on-opener-line",
        "`<parameter=command> ls` (the value on the header's line, after exactly one space or tab)",
    )
    ATTRIBUTE_OPENER = (
        "attribute-opener",
        '`<function name="bash">`, `<invoke name="bash">` (closed by `</function>` or `</invoke>`), also with '
        """single quotes or the closing quote missing (`<function name="bash>`), bare, in `<tool_call>`, """
        "`<tool_use>` or `<function_calls>`",
    )
    ATTRIBUTE_PARAMETER = (
        "attribute-parameter",
        '`<parameter name="command">` (also mixed with `<parameter=KEY>`) in a call to a declared tool opened '
        "the template's way (one record per call)",
    )
    NAME_TAG = ("name-tag", "`<tool_name>bash</tool_name>` or `<name>bash</name>` as the opener")
    NAME_ON_NEXT_LINE = (
        "name-on-next-line",
        "a placeholder header with the name on the next line: `<name>\\nbash\\n</parameter>`, "
        "`<function=name>\\nbash`, `<parameter=name>\\nbash`",
    )
    JSON_HEAD_XML = (
        "json-head-xml",
        '`{"function=bash>`, `{"function="bash">` or `{"name": "bash",` followed by XML parameters',
    )
    JSON_ARGUMENTS = (
        "json-arguments",
        '`<function>bash</function>` followed by a JSON object of arguments; `<name>bash, "arguments": {...}}`',
    )
    HERMES_UNDER_FUNCTION = (
        "hermes-under-function",
        '`<function>{"name": "bash", "arguments": {...}}</function>`: a Hermes call object under `<function>`',
    )
    CLOSER_RESIDUE = (
        "closer-residue",
        "right after a call, on its own: the residue of a mangled closer, `tool>`, `_call>`, `call>`, "
        "`tool_call>`, `</tool`",
    )
    INFERRED_NAME = (
        "inferred-name",
        "parameters with no name at all, closed by a `</function>` that was never opened",
    )


class Miss(enum.Enum):
    """Call-like markup that stayed content; the value is the hint in ``drift missed: <hint>``."""

    UNOPENED_FUNCTION_END = "an unopened </function>"
    PARAMETER_OUTSIDE_CALL = "a <parameter= line outside any call"
    UNREAD_OPENER = "a declared tool's name in an opener that could not be read"


def recovered(shape: Shape) -> None:
    logger.info("drift recovered: %s", shape.value)


def missed(misses: Mapping[Miss, None]) -> None:
    """One record for the output: the distinct misses, in the order they were seen."""
    if misses:
        logger.info("drift missed: %s", "; ".join(m.value for m in misses))


INFER_ENV: Final = "QWEN_XML_INFER_TOOL_NAME"


def infer_enabled() -> bool:
    """Name inference from keys (``inferred-name``) is on unless ``QWEN_XML_INFER_TOOL_NAME=0``."""
    return os.environ.get(INFER_ENV, "1").strip().lower() not in ("0", "false", "no", "off")


INFER_MAX: Final = 1 << 16  # the longest nameless call held while waiting for its </function>
NAMELESS_ENDS: Final = (sc.FUNCTION_END, sc.CALL_START, sc.FUNCTION_START)
"""What ends a held nameless call: its evidence, or a call that starts (then nothing is inferred)."""


def fitting_tool(keys: Callable[[str], Collection[str]], tools: Mapping[str, FunctionSchema]) -> str | None:
    """The one declared tool whose parameters fit the keys given (``keys(tool)``: the keys as a call
    to ``tool`` reads them): all its required keys, no key it does not declare."""
    fits = []
    for name, schema in tools.items():
        given = keys(name)
        if given and all(k in given for k in schema.required) and all(schema.declares(k) for k in given):
            fits.append(name)
    return fits[0] if len(fits) == 1 else None


def declared_param(key: str, tools: Mapping[str, FunctionSchema]) -> bool:
    """Does some declared tool have a parameter ``key``?"""
    return any(schema.declares(key) for schema in tools.values())


class Context:
    """The drift state of one output, kept apart from the parser's own (docs/drift.md)."""

    __slots__ = (
        "held", "held_at", "held_head", "held_len", "held_scan", "held_tail", "infer", "infer_from", "misses",
        "names_tool", "results", "wrapper_end",
    )

    def __init__(self, tools: Mapping[str, FunctionSchema]) -> None:
        self.names_tool = names_tool(tools)
        self.wrapper_end = ""  # the closer of the wrapper a drifted call opened with (</tool_use>)
        self.results = 0  # depth of made-up tool results (<tool_response>, ...) in the content
        self.misses: dict[Miss, None] = {}  # call-like markup kept as content, logged at the end
        # inferred-name: a nameless call held (state NAMELESS) until its </function>
        self.infer = bool(tools) and infer_enabled()
        self.infer_from = 0  # no inference before this position: held text read again is content
        self.held: list[str] = []  # its text from earlier deltas
        self.held_len = 0
        self.held_tail = ""  # the last characters held (a marker may begin there)
        self.held_head = 0  # length of the <tool_call> markup before the parameters, if any
        self.held_scan = 0  # where the search for its end goes on in the buffer
        self.held_at = -1  # where it starts in the output


# ── the five shapes of issue 10 ─────────────────────────────────────────────

DOUBLED: Final = "function="  # <function=function=NAME>, <parameter=function=NAME>
STRAY_STEMS: Final = ("</function", "</parameter")  # with drifted forms, e.g. </function_invocation>


def tool_named(name: str, tools: Mapping[str, object]) -> tuple[str, bool] | None:
    """The declared tool ``name`` names, and whether through a doubled ``function=`` prefix."""
    if name in tools:
        return name, False
    if name.startswith(DOUBLED):
        tool = name[len(DOUBLED) :].strip()
        if tool in tools:
            return tool, True
    return None


# ── the shapes of issue 20 ──────────────────────────────────────────────────

WINDOW: Final = sc.MAX_NAME  # the longest opener we wait for
PARAM_ATTR: Final = sc.PARAM_ATTR
INVOKE_END: Final = sc.INVOKE_END
AFTER_OPENER: Final = (sc.PARAM_START, PARAM_ATTR, "</function", INVOKE_END, sc.CALL_END)
"""What must follow an opener of an XML call frame (after whitespace): the call goes on."""

_NAME = r"[ \t]*(?P<name>[^\s\"'<>,{}]+)[ \t]*"
_Q = "[\"']?"


class Kind(enum.Enum):
    XML = "xml"  # XML parameters follow: the call's body is read as usual
    ARGS = "args"  # a JSON object of the arguments follows
    ARGS_CLOSED = "args_closed"  # the arguments object and then one more "}" (the head's) follow
    HERMES = "hermes"  # the opener's "{" starts a Hermes JSON call object


@dataclass(frozen=True, slots=True)
class _Recognizer:
    head: str  # literal the opener starts with
    pattern: re.Pattern[str]  # the whole opener, from the head; group "name"
    shape: Shape
    kind: Kind
    lines: int  # newlines the opener may span (it is undecided until that many are in the buffer)
    attr: bool = False  # the call may go on with <parameter name="KEY"> / </invoke>
    tail: int = 1  # characters that must follow a match before it is decided (a name or an optional part may go on)


def _rec(
    head: str, pattern: str, shape: Shape, kind: Kind = Kind.XML, lines: int = 0, attr: bool = False, tail: int = 1
) -> _Recognizer:
    return _Recognizer(head, re.compile(pattern), shape, kind, lines, attr, tail)


_OPTIONAL_CLOSER = len("\r\n</parameter>") + 1


_RECOGNIZERS: Final = (
    _rec("<function name=", rf"<function name[ \t]*=[ \t]*{_Q}{_NAME}{_Q}[ \t]*>", Shape.ATTRIBUTE_OPENER, attr=True),
    _rec("<invoke name=", rf"<invoke name[ \t]*=[ \t]*{_Q}{_NAME}{_Q}[ \t]*>", Shape.ATTRIBUTE_OPENER, attr=True),
    _rec("<tool_name>", rf"<tool_name>{_NAME}</tool_name>", Shape.NAME_TAG),
    _rec("<name>", rf"<name>{_NAME}</name>", Shape.NAME_TAG),
    _rec("<name>", rf"<name>{_NAME},[ \t]*\"arguments\"[ \t]*:[ \t]*(?=\{{)", Shape.JSON_ARGUMENTS, Kind.ARGS_CLOSED),
    _rec("<name>", rf"<name>[ \t]*\r?\n{_NAME}\r?\n[ \t]*(?:</name>|</parameter>)?", Shape.NAME_ON_NEXT_LINE,
         lines=2, tail=_OPTIONAL_CLOSER),
    _rec("<function=name>", rf"<function=name>[ \t]*\r?\n{_NAME}(?:\r?\n[ \t]*(?:</name>|</parameter>))?",
         Shape.NAME_ON_NEXT_LINE, lines=2, tail=_OPTIONAL_CLOSER),
    _rec("<parameter=name>", rf"<parameter=name>[ \t]*\r?\n{_NAME}(?:\r?\n[ \t]*(?:</name>|</parameter>))?",
         Shape.NAME_ON_NEXT_LINE, lines=2, tail=_OPTIONAL_CLOSER),
    _rec("<function>", rf"<function>{_NAME}</function>\s*(?=\{{)", Shape.JSON_ARGUMENTS, Kind.ARGS, lines=1),
    _rec("<function>", rf"<function>\s*(?=\{{\s*\"name\"\s*:\s*\"{_NAME}\")", Shape.HERMES_UNDER_FUNCTION,
         Kind.HERMES, lines=1),
    _rec('{"function', rf"\{{\"function[ \t]*=[ \t]*\\?{_Q}{_NAME}\\?{_Q}[ \t]*\"?[ \t]*>", Shape.JSON_HEAD_XML),
    _rec('{"name', rf"\{{\"name[ \t]*=[ \t]*\\?{_Q}{_NAME}\\?{_Q}[ \t]*\"?[ \t]*>", Shape.JSON_HEAD_XML),
    _rec('{"name"', rf"\{{\"name\"[ \t]*:[ \t]*\"{_NAME}\"[ \t]*,", Shape.JSON_HEAD_XML),
)
_PLACEHOLDERS: Final = ("<function=name>", "<parameter=name>")
_HEADS: Final = tuple(dict.fromkeys(r.head for r in _RECOGNIZERS))
_ANY_HEAD = re.compile("|".join(re.escape(h) for h in _HEADS))
_HEAD_PREFIXES = frozenset(h[:i] for h in _HEADS for i in range(len(h)))
_LONGEST_HEAD = max(len(h) for h in _HEADS)
_LOOSE_NAME = re.compile(r"[\w.\-:]+")


@dataclass(frozen=True, slots=True)
class Opener:
    """A drifted opener read at a position: the call's tool, where the opener ends, how it goes on."""

    shape: Shape
    name: str
    end: int
    kind: Kind
    attr: bool


def opener(
    buf: str, pos: int, final: bool, tools: Mapping[str, object]
) -> Opener | sc._NeedMore | Miss | None:
    """Is ``buf[pos:]`` a drifted call opener (one of the issue-20 shapes) naming a declared tool?

    Returns the :class:`Opener`, None, ``NEED_MORE``, or ``Miss.UNREAD_OPENER`` when an opener's
    head is there and a declared tool is named near it but no shape reads it.
    """
    n = len(buf)
    if _ANY_HEAD.match(buf, pos) is None:  # the common case (<tool_call>, <function=NAME>, text)
        if final or n - pos >= _LONGEST_HEAD or buf[pos:] not in _HEAD_PREFIXES:
            return None  # no head, nor the start of one
        return sc.NEED_MORE  # the start of a head
    undecided = False
    matched_head = False
    for rec in _RECOGNIZERS:
        head = rec.head
        if not buf.startswith(head, pos):
            if not final and n - pos < len(head) and head.startswith(buf[pos:]):
                undecided = True
            continue
        matched_head = True
        limit = min(n, pos + WINDOW)
        m = rec.pattern.match(buf, pos, limit)
        if m is None:
            if not final and limit == n and buf.count("\n", pos, limit) <= rec.lines:
                undecided = True  # the opener may still complete
            continue
        if not final and n - m.end() < rec.tail:
            undecided = True  # the name, or an optional part of the opener, may go on
            continue
        name = m["name"]
        if name not in tools or (rec.head in _PLACEHOLDERS and "name" in tools):
            continue  # (a tool named "name" is called by <function=name>)
        end = m.end()
        if rec.kind is Kind.XML:
            follows = sc.followed_by(buf, end, AFTER_OPENER, final, end_ok=False)
            if follows is sc.NEED_MORE:
                return sc.NEED_MORE
            if not follows:
                continue
        elif rec.kind is not Kind.HERMES:
            k = end
            while k < n and buf[k] in " \t\r\n":
                k += 1
            end = k  # the arguments object starts here
        if undecided:  # an earlier reading is still open: it decides first
            return sc.NEED_MORE
        return Opener(rec.shape, name, end, rec.kind, rec.attr)
    if undecided:
        return sc.NEED_MORE
    if matched_head:  # a head without a readable opener: does it name a declared tool?
        line_end = buf.find("\n", pos, min(n, pos + WINDOW))
        stop = line_end if line_end >= 0 else min(n, pos + WINDOW)
        for word in _LOOSE_NAME.findall(buf, pos + 1, stop):
            if word in tools and word not in ("function", "name", "parameter", "invoke", "tool_name"):
                return Miss.UNREAD_OPENER
    return None


_ATTR_PARAM = re.compile(rf"<parameter name[ \t]*=[ \t]*{_Q}{_NAME}{_Q}[ \t]*>")


@dataclass(frozen=True, slots=True)
class BodyTag:
    """Drifted markup between the parameters of a call: a ``<parameter name="KEY">`` header
    (``key``) or an ``</invoke>`` closer (``key`` None); ``end`` is where it ends."""

    key: str | None
    end: int


def body_tag(buf: str, pos: int, final: bool) -> BodyTag | sc._NeedMore | None:
    """``<parameter name="KEY">`` or ``</invoke>`` at ``pos`` (inside a call to a declared tool)."""
    end = sc.closing_tag_end(buf, pos, INVOKE_END, final, partial_at_end=False)
    if end is sc.NEED_MORE:
        return sc.NEED_MORE
    if end is not None:
        return BodyTag(None, end)
    return attr_param(buf, pos, final)


def attr_param(buf: str, pos: int, final: bool) -> BodyTag | sc._NeedMore | None:
    n = len(buf)
    if not buf.startswith(PARAM_ATTR, pos):
        if not final and n - pos < len(PARAM_ATTR) and PARAM_ATTR.startswith(buf[pos:]):
            return sc.NEED_MORE
        return None
    limit = min(n, pos + WINDOW)
    m = _ATTR_PARAM.match(buf, pos, limit)
    if m is None:
        if not final and limit == n and buf.find("\n", pos, n) < 0:
            return sc.NEED_MORE
        return None
    return BodyTag(m["name"], m.end())


# A mangled closer right after a call, on its own: tool>, _call>, call>, tool_call>, /tool_call>,
# </tool, </tool_call (the complete </tool_call> and </function...> are stray closers).
_RESIDUE = re.compile(r"(?:/?tool_call>|tool>|_call>|call>|</tool(?:_call)?(?![>\w]))")


def residue(buf: str, pos: int, final: bool) -> int | sc._NeedMore | None:
    """End of a mangled closer's residue at ``pos`` (right after a call), or None."""
    n = len(buf)
    m = _RESIDUE.match(buf, pos, min(n, pos + 12))
    if m is None:
        if not final and n - pos < 12 and buf[pos] in "t_c/<" and "\n" not in buf[pos:]:
            return sc.NEED_MORE
        return None
    k = m.end()
    if k == n and not final and m[0].startswith("</tool") and not m[0].endswith("call"):
        return sc.NEED_MORE  # </tool may go on to </tool_call or </tool_calls
    while k < n and buf[k] in " \t":
        k += 1
    if k == n:
        return m.end() if final else sc.NEED_MORE
    return m.end() if buf[k] in "\r\n<" else None


WRAPPERS: Final = {"<tool_use>": "</tool_use>", "<function_calls>": "</function_calls>"}
"""Wrappers other dialects put around attribute openers; each is its opener's frame, like <tool_call>."""


def wrapper(buf: str, pos: int, final: bool) -> tuple[int, str] | sc._NeedMore | None:
    """A wrapper at ``pos`` and the whitespace after it: (where the opener may start, its closer)."""
    for tag, closer in WRAPPERS.items():
        found = sc.match_tag(buf, pos, tag, final)
        if found is sc.NEED_MORE:
            return sc.NEED_MORE
        if found:
            k = pos + len(tag)
            limit = min(len(buf), k + sc.MAX_GAP)
            while k < limit and buf[k] in " \t\r\n":
                k += 1
            return k, closer
    return None


_DRIFT_HEADS = (*_HEADS, "<tool_response>", "<result>", "<output>", "</tool_response>", "</result>", "</output>",
                *WRAPPERS)
_MAY_DRIFT = re.compile("|".join(re.escape(h) for h in _DRIFT_HEADS))
_DRIFT_PREFIXES = frozenset(h[:i] for h in _DRIFT_HEADS for i in range(len(h)))
_LONGEST_DRIFT = max(len(h) for h in _DRIFT_HEADS)


_TOOLS_MAY_READ = re.compile("|".join(re.escape(h) for h in (sc.CALL_START, DOUBLED, sc.PARAM_START, *_HEADS)))


def tools_may_read(text: str) -> bool:
    """False when declared tools cannot change how ``text`` parses: it holds neither a call's
    markup nor the head of any drift shape, so the parse without tools is the parse (an engine
    that asks "is there a call?" without the tools, as SGLang does, can trust the answer)."""
    return _TOOLS_MAY_READ.search(text) is not None


def may_drift(buf: str, pos: int) -> bool:
    """False when no drifted opener, wrapper or made-up result tag starts at ``pos``, nor may start
    there once more text arrives (a quick test before the recognizers)."""
    return _MAY_DRIFT.match(buf, pos) is not None or (len(buf) - pos < _LONGEST_DRIFT and buf[pos:] in _DRIFT_PREFIXES)


RESULT_TAGS: Final = ("tool_response", "result", "output")
_RESULT = re.compile(r"<(/?)(tool_response|result|output)>")


def result_tag(buf: str, pos: int, final: bool) -> tuple[int, int] | sc._NeedMore | None:
    """A made-up tool result's tag at ``pos``: (+1 opening / -1 closing, end), or None."""
    m = _RESULT.match(buf, pos, min(len(buf), pos + 17))
    if m is not None:
        return (-1 if m[1] else 1), m.end()
    if not final:
        rest = buf[pos:]
        if len(rest) < 17 and any(f"<{s}{t}>".startswith(rest) for s in ("", "/") for t in RESULT_TAGS):
            return sc.NEED_MORE
    return None


def names_tool(tools: Mapping[str, object]) -> Callable[[str], bool]:
    return lambda name: tool_named(name, tools) is not None
