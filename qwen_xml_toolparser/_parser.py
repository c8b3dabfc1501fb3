"""The streaming parser: Qwen XML text deltas in, content and tool-call events out.

Grammar of what the model writes (``ws`` is whitespace, dropped next to calls)::

    output    = { content | call }
    call      = [ "<tool_call>" ws ] function [ ws "</tool_call>" ]
              | "<tool_call>" ws json-object ws "</tool_call>"       (Hermes style)
    function  = "<function=" NAME ">" { ws parameter } ws [ "</function>" ]
    parameter = "<parameter=" NAME ">" [ "\\n" ] VALUE [ "\\n" ] [ "</parameter>" ]

A bare ``<function=NAME>`` (no ``<tool_call>``) starts a call only when
``<parameter=`` or ``</function>`` follows it (or, for a declared tool, a drifted
``<parameter name=``). Where a value ends is decided by lookahead
(:func:`._scanner.value_closer`). The rules for content, values and malformed
output are in docs/behaviour.md; the drifted forms that are read as calls and
their guard rails in docs/drift.md. The parser asks :mod:`._drift`, which owns
them (shapes, recognizers, guard rails, the drift state of an output), at the
points where a call may open or a frame go on.

The machine. The parser is always in one :class:`State`; each state has one
handler, ``StreamParser._on_<state>``, which reads from the buffer and returns
True when it made progress, False when it needs more input. A handler changes
state only through ``_goto``, which allows exactly the transitions of
``TRANSITIONS`` (this diagram is generated from that table; a test keeps them
equal)::

    content        -> call_header    "<tool_call><function=", a bare "<function=NAME>", a drifted "<parameter=TOOL>"
    content        -> json_body      "<tool_call>" + "{", or a drifted opener followed by JSON arguments
    content        -> function_body  a drifted opener naming a declared tool (docs/drift.md): ToolCallStart
    call_header    -> function_body  NAME read: ToolCallStart, "{"
    call_header    -> content        no usable NAME (the markup is content), or the output ends in it
    function_body  -> param_header   "<parameter="
    function_body  -> value          a drifted <parameter name=KEY> header (docs/drift.md)
    function_body  -> after_function "</function>" (or "</function…>", "</invoke>"): "}", ToolCallEnd
    function_body  -> content        "</tool_call>", "<tool_call>" or "<function=": the call ends
    param_header   -> value          NAME read
    param_header   -> function_body  not a header, or the output ends in it
    param_header   -> call_header    TOOL> naming a tool, not a parameter of this call (drift): the call ends
    value          -> function_body  a viable "</parameter>", a line-start "<parameter=KEY|TOOL>", or the end
    value          -> after_function a viable "</function>" (no "</parameter>"): the call ends
    value          -> content        a viable "</tool_call>" (no "</parameter>", "</function>"): the call ends
    after_function -> content        whitespace and an optional "</tool_call>" read
    json_body      -> json_tail      the top-level JSON object closes (a call start was seen in it, or drift)
    json_body      -> content        "</tool_call>" or the end: the call (or the text as content) is emitted
    json_tail      -> content        "</tool_call>", "<tool_call>" or "<function=": the call is emitted
    json_tail      -> json_body      other text: the body goes on to "</tool_call>"
    content        -> nameless       a line-start "<parameter=KEY>" outside a call, KEY a declared parameter
    nameless       -> function_body  "</function>" and the keys fit one declared tool: ToolCallStart, read again
    nameless       -> content        no fit, a call starts, or the end: the held text is read again as content

A value being read is a :class:`_Value` whose :class:`ValueMode` says how it is
read: streamed as a JSON string as it arrives, held until its type is known,
collected until complete, or discarded.

The buffer ``_buf[_pos:]`` only ever holds text whose meaning is still
undecided (a possible marker, a held-back newline) plus the delta being read;
states advance ``_pos`` and never copy the buffer, and ``feed`` drops the
consumed part once per delta. So the work per delta is proportional to the
delta, whatever the length of the output, of a value or of the delta.
"""

from __future__ import annotations

import enum
import json
import logging
import re
import uuid
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, Final

from . import _drift as dr
from . import _scanner as sc
from . import _table
from ._coerce import NonStringPrefix, coerce, coerce_json_value
from ._drift import Shape
from ._events import ArgumentsDelta, ContentDelta, Event, ToolCallEnd, ToolCallStart
from ._fences import Fences
from ._hermes import BODY_ENDS, JsonBody, json_call
from ._jsonwriter import ArgumentsWriter, escape_chunk
from ._schema import FunctionSchema, ValueType, function_schemas

__all__ = ["ParserFinishedError", "State", "StreamParser", "TRANSITIONS", "ValueMode", "diagram"]

logger = logging.getLogger("qwen_xml_toolparser")

_WS = " \t\r\n"
_CONTENT_MARKERS = (sc.CALL_START, sc.CALL_END, sc.FUNCTION_START)
_THINK_MARKERS = (sc.THINK_START, sc.THINK_END)
_BODY_MARKERS = (sc.PARAM_START, "</function", sc.CALL_END, sc.CALL_START, sc.FUNCTION_START, sc.PARAM_END)
_NOT_SCHEMA = FunctionSchema("", None)
_WS_RUN = re.compile(r"[ \t\r\n]*")
_BARE_FOLLOW = (sc.PARAM_START, sc.FUNCTION_END)  # what makes a bare <function=NAME> a call
_BARE_FOLLOW_ATTR = (*_BARE_FOLLOW, sc.PARAM_ATTR)  # ... for a declared tool (attribute-parameter)
_FUNCTION_STEM = "</function"
_PARAMETER_LINE = dr.Miss.PARAMETER_OUTSIDE_CALL


class State(enum.Enum):
    """Where the parser is in the output."""

    CONTENT = "content"
    CALL_HEADER = "call_header"  # after "<tool_call><function=" / a bare "<function=": the NAME
    FUNCTION_BODY = "function_body"  # between the parameters of a call
    PARAM_HEADER = "param_header"  # after "<parameter=": the NAME
    VALUE = "value"
    AFTER_FUNCTION = "after_function"  # after "</function>": an optional "</tool_call>"
    JSON_BODY = "json_body"  # a Hermes-style JSON call inside <tool_call>
    JSON_TAIL = "json_tail"  # after the JSON object of such a body
    NAMELESS = "nameless"  # parameters outside any call, held until a </function> (docs/drift.md)

    __hash__ = object.__hash__  # Enum's hashes the name in Python; states are looked up per transition


_S = State
TRANSITIONS: Final[tuple[tuple[State, State, str], ...]] = (
    (_S.CONTENT, _S.CALL_HEADER,
     '"<tool_call><function=", a bare "<function=NAME>", a drifted "<parameter=TOOL>"'),
    (_S.CONTENT, _S.JSON_BODY, '"<tool_call>" + "{", or a drifted opener followed by JSON arguments'),
    (_S.CONTENT, _S.FUNCTION_BODY, "a drifted opener naming a declared tool (docs/drift.md): ToolCallStart"),
    (_S.CALL_HEADER, _S.FUNCTION_BODY, 'NAME read: ToolCallStart, "{"'),
    (_S.CALL_HEADER, _S.CONTENT, "no usable NAME (the markup is content), or the output ends in it"),
    (_S.FUNCTION_BODY, _S.PARAM_HEADER, '"<parameter="'),
    (_S.FUNCTION_BODY, _S.VALUE, "a drifted <parameter name=KEY> header (docs/drift.md)"),
    (_S.FUNCTION_BODY, _S.AFTER_FUNCTION, '"</function>" (or "</function…>", "</invoke>"): "}", ToolCallEnd'),
    (_S.FUNCTION_BODY, _S.CONTENT, '"</tool_call>", "<tool_call>" or "<function=": the call ends'),
    (_S.PARAM_HEADER, _S.VALUE, "NAME read"),
    (_S.PARAM_HEADER, _S.FUNCTION_BODY, "not a header, or the output ends in it"),
    (_S.PARAM_HEADER, _S.CALL_HEADER, "TOOL> naming a tool, not a parameter of this call (drift): the call ends"),
    (_S.VALUE, _S.FUNCTION_BODY,
     'a viable "</parameter>", a line-start "<parameter=KEY|TOOL>", or the end'),
    (_S.VALUE, _S.AFTER_FUNCTION, 'a viable "</function>" (no "</parameter>"): the call ends'),
    (_S.VALUE, _S.CONTENT, 'a viable "</tool_call>" (no "</parameter>", "</function>"): the call ends'),
    (_S.AFTER_FUNCTION, _S.CONTENT, 'whitespace and an optional "</tool_call>" read'),
    (_S.JSON_BODY, _S.JSON_TAIL, "the top-level JSON object closes (a call start was seen in it, or drift)"),
    (_S.JSON_BODY, _S.CONTENT, '"</tool_call>" or the end: the call (or the text as content) is emitted'),
    (_S.JSON_TAIL, _S.CONTENT, '"</tool_call>", "<tool_call>" or "<function=": the call is emitted'),
    (_S.JSON_TAIL, _S.JSON_BODY, 'other text: the body goes on to "</tool_call>"'),
    (_S.CONTENT, _S.NAMELESS, 'a line-start "<parameter=KEY>" outside a call, KEY a declared parameter'),
    (_S.NAMELESS, _S.FUNCTION_BODY, '"</function>" and the keys fit one declared tool: ToolCallStart, read again'),
    (_S.NAMELESS, _S.CONTENT, "no fit, a call starts, or the end: the held text is read again as content"),
)
"""Every transition of the machine: (from, to, on what)."""

_NEXT: Final[dict[State, frozenset[State]]] = _table.successors(TRANSITIONS, State)


def diagram() -> str:
    """The transition table as the text of the module docstring's diagram."""
    return _table.diagram(TRANSITIONS, State)


class ValueMode(enum.Enum):
    """How a parameter value is read."""

    STRING = "string"  # streamed as a JSON string as it arrives
    UNDECIDED = "undecided"  # string or something else: held until only one reading remains
    TYPED = "typed"  # not a string: collected, emitted when complete
    DISCARD = "discard"  # a duplicate parameter, or a cut value that is left out: read and dropped


_STRING = ValueMode.STRING
_UNDECIDED = ValueMode.UNDECIDED
_TYPED = ValueMode.TYPED
_DISCARD = ValueMode.DISCARD


def new_call_id() -> str:
    return "call_" + uuid.uuid4().hex[:24]


def not_text_error(where: str, value: Any) -> TypeError:
    """The one-line error for a non-``str`` model output passed to the public API."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        hint = "decode it first, e.g. data.decode('utf-8')"
    elif value is None:
        hint = "pass '' for no text"
    else:
        hint = "pass the model output as a str"
    return TypeError(f"{where} takes the model output as str, not {type(value).__name__}: {hint}")


class ParserFinishedError(RuntimeError):
    """``feed()`` or ``finish()`` was called after ``finish()``."""


class _Text:
    """A string value kept as the pieces it arrived in; joined only when read."""

    __slots__ = ("parts",)

    def __init__(self) -> None:
        self.parts: list[str] = []

    def __str__(self) -> str:
        if len(self.parts) > 1:
            self.parts[:] = ["".join(self.parts)]
        return self.parts[0] if self.parts else ""


class _Call:
    __slots__ = ("attr", "index", "name", "schema", "args", "given", "writer")

    def __init__(self, index: int, name: str, schema: FunctionSchema) -> None:
        self.index = index
        self.name = name
        self.schema = schema
        self.args: dict[str, Any] = {}
        self.given: set[str] = set()  # parameter names seen, kept or not
        self.writer = ArgumentsWriter()
        self.attr = False  # drifted attribute markup (<parameter name="KEY">, </invoke>) may go on

    def arguments(self) -> dict[str, Any]:
        return {k: str(v) if isinstance(v, _Text) else v for k, v in self.args.items()}


class _Value:
    """The parameter value being read: its mode, its text so far, and the JSON it becomes.

    ``add`` and ``close`` return the call's arguments text to emit (``""`` for none).
    A string value is in ``call.args`` from its first character on, so that
    :meth:`StreamParser.call_arguments` sees it while it streams.
    """

    __slots__ = ("call", "empty", "key", "mode", "prefix", "text", "vtype", "at_start")

    def __init__(self, call: _Call, key: str) -> None:
        self.call = call
        self.key = key
        self.at_start = True  # the optional leading newline is not seen yet
        self.empty = True
        self.text = _Text()
        self.prefix: NonStringPrefix | None = None  # undecided: can it still be a non-string?
        vtype = call.schema.param_type(key)
        self.vtype: ValueType = vtype
        if key in call.given:
            logger.warning("duplicate parameter %r in call to %r: the first one is kept", key, call.name)
            self.mode = _DISCARD
            return
        call.given.add(key)
        if vtype.is_string_only:
            self.mode = _STRING
            call.args[key] = self.text
        elif "string" in vtype.types:
            self.mode = _UNDECIDED
            self.prefix = NonStringPrefix(vtype)
        else:
            self.mode = _TYPED

    def open(self) -> str:
        return self.call.writer.string_start(self.key) if self.mode is _STRING else ""

    def add(self, piece: str) -> str:
        if not piece:
            return ""
        self.empty = False
        mode = self.mode
        if mode is _DISCARD:
            return ""
        self.text.parts.append(piece)
        if mode is _STRING:
            return escape_chunk(piece)
        if mode is _UNDECIDED:
            assert self.prefix is not None
            if not self.prefix.feed(piece):  # it is a string after all: start streaming it
                self.mode = _STRING
                self.prefix = None
                self.call.args[self.key] = self.text
                return self.call.writer.string_start(self.key) + escape_chunk(str(self.text))
        return ""

    def close(self) -> str:
        """The value is complete."""
        mode = self.mode
        self.mode = _DISCARD
        self.prefix = None
        if mode is _STRING:
            return self.call.writer.string_end()
        if mode is _DISCARD:
            return ""
        call = self.call
        value, fits = coerce(str(self.text), self.vtype)
        if not fits:
            logger.info(
                "value of %r in call to %r does not fit its schema %s; passed as a string",
                self.key, call.name, sorted(self.vtype.types),
            )
        call.args[self.key] = value
        return call.writer.value(self.key, value)


class StreamParser:
    """Incremental parser for one model output.

    Feed the output's text in pieces of any size with :meth:`feed`, then call
    :meth:`finish` once at the end of the output; both return the new events.
    The concatenation of all ``ContentDelta`` texts is the content; for each
    call, the ``ArgumentsDelta`` texts concatenate to its JSON arguments.

    ``tools`` is the request's tool list (OpenAI chat-completions or Responses
    shapes); it drives type coercion. ``id_factory`` makes tool-call ids.
    ``<think>`` / ``</think>`` are content as written unless ``drop_think``
    (a reasoning parser handles reasoning; stray markers are then dropped).
    """

    _handlers: ClassVar[dict[State, Callable[[StreamParser, bool], bool]]]
    """The handler of each state (set below the class)."""

    def __init__(
        self,
        tools: Iterable[Any] | None = None,
        *,
        id_factory: Callable[[], str] = new_call_id,
        drop_think: bool = False,
    ) -> None:
        self._drop_think = drop_think
        # </think> is matched either way: it ends any fence (content unless drop_think).
        self._content_markers = _CONTENT_MARKERS + (_THINK_MARKERS if drop_think else (sc.THINK_END,))
        self._schemas = function_schemas(tools)
        if self._schemas:  # <parameter=TOOL> may open a call (docs/drift.md)
            self._content_markers += (sc.PARAM_START,)
        self._new_id = id_factory
        self._buf = ""  # text not consumed yet: _buf[_pos:]
        self._pos = 0
        self._offset = 0  # position of _buf[0] in the whole output
        self._out: list[Event] = []
        self._state = State.CONTENT
        self._step = self._handlers[State.CONTENT]  # the state's handler
        self._finished = False
        # content
        self._fences = Fences()
        self._ws_held: list[str] = []  # trailing whitespace of content, dropped if a call follows
        self._ws_len = 0
        self._after_call = False  # drop leading whitespace (and stray closers)
        self._call_end_seen = True  # the last call's </tool_call> has been read
        # calls
        self._calls: list[_Call] = []
        self._call: _Call | None = None
        self._block_offset = 0  # where the current call's markup starts
        self._block_head = ""  # markup consumed before the call header completed
        self._drifted_opener = False  # the call header follows a <parameter=TOOL> opener
        self._unfinished: int | None = None
        # drift (docs/drift.md)
        self._dr = dr.Context(self._schemas)  # the drift state of this output (docs/drift.md)
        self._cut_off = False  # finish(cut_off=True): the token limit ended the output
        self._value_cut = False  # the output ended inside a value or a parameter header
        self._value: _Value | None = None  # the value being read (in state VALUE)
        self._json = JsonBody()  # the Hermes-style body being read (in states JSON_BODY, JSON_TAIL)

    # ── public API ───────────────────────────────────────────────────────────

    def feed(self, text: str) -> list[Event]:
        """Parse the next piece of output text and return the new events.

        ``text`` must be a ``str`` (decoded model output): anything else raises one
        ``TypeError`` that says what to pass instead.
        """
        if not isinstance(text, str):
            raise not_text_error("StreamParser.feed()", text)
        if self._finished:
            raise ParserFinishedError("feed() after finish(): use a new StreamParser for each output")
        if not text:
            return []
        buf = self._buf
        pos = self._pos
        if pos == len(buf):
            self._buf = text
        else:  # undecided text (a possible marker) is kept and read again with the new text
            self._buf = buf[pos:] + text
        if pos:
            self._offset += pos
            self._pos = 0
        out: list[Event] = []
        self._out = out
        while self._step(self, False):
            pass
        return out

    def finish(self, cut_off: bool = False) -> list[Event]:
        """Signal the end of the output; release held text and close what is open.

        ``cut_off``: the token limit ended the output, not the model. A value
        that was not emitted yet (a number, an object, ...) and was open at the
        end is then left out instead of being completed from its beginning.
        A call open at the end is closed either way; its ``ToolCallEnd`` is
        ``truncated`` when the output ended inside one of its values.
        """
        if self._finished:
            raise ParserFinishedError("finish() called twice: use a new StreamParser for each output")
        self._finished = True
        self._cut_off = cut_off
        out: list[Event] = []
        self._out = out
        while self._step(self, True):
            pass
        if self._call is not None:  # the output ended inside a call
            self._end_call(truncated=self._value_cut)
        if self._ws_held and not self._after_call:
            out.append(ContentDelta("".join(self._ws_held)))
        self._drop_ws()
        dr.missed(self._dr.misses)
        return out

    @property
    def calls_started(self) -> int:
        """How many tool calls have started so far."""
        return len(self._calls)

    def call_arguments(self, index: int) -> dict[str, Any]:
        """Arguments of call ``index`` as emitted so far, with open values closed.

        ``json.dumps(..., ensure_ascii=False)`` of this dict starts with the
        arguments text emitted so far for the call (and equals it once ended).
        """
        return self._calls[index].arguments()

    def closing_text(self) -> str:
        """The JSON text that would close the open call's arguments now, if any."""
        return self._call.writer.closer() if self._call is not None else ""

    @property
    def reading_call(self) -> bool:
        """Whether the parser is inside a call's markup (its opener was read as one; parameters held
        for name inference are not, until their call starts)."""
        return self._state is not State.CONTENT and self._state is not State.NAMELESS

    @property
    def unfinished_offset(self) -> int | None:
        """Where the markup of a call starts when the output ended before its header did.

        Such markup (``<tool_call>``, ``<tool_call><function=na``) produces no
        event and is not content (in either mode); this is where it starts.
        """
        return self._unfinished

    # ── the machine ──────────────────────────────────────────────────────────

    def _goto(self, state: State) -> None:
        """The one place the state changes; only transitions of TRANSITIONS are allowed."""
        if state not in _NEXT[self._state]:
            raise AssertionError(f"parser bug: no transition {self._state.value} -> {state.value}")
        self._state = state
        self._step = self._handlers[state]

    # ── helpers ──────────────────────────────────────────────────────────────

    def _consume(self, n: int) -> None:
        self._pos += n

    def _here(self) -> int:
        """Position of the next unread character in the whole output."""
        return self._offset + self._pos

    def _drop_ws(self) -> None:
        self._ws_held = []
        self._ws_len = 0

    def _content(self, text: str) -> None:
        """Emit content, dropping whitespace next to calls."""
        self._fences.feed(text)
        if self._after_call:
            text = text.lstrip(_WS)
            if not text:
                return
            self._after_call = False
        body = text.rstrip(_WS)
        if body:
            tail = text[len(body) :]
            if self._ws_held:
                body = "".join(self._ws_held) + body
            self._out.append(ContentDelta(body))
            self._ws_held = [tail] if tail else []
            self._ws_len = len(tail)
        else:
            self._ws_held.append(text)
            self._ws_len += len(text)

    def _lines_before(self) -> int:
        """At the next content character: 0 mid-line, 1 at a line start, 2 at a paragraph start (the
        output's start, after a blank line or a call). The whitespace before it is still held."""
        if self._after_call or self._here() == self._ws_len:  # only whitespace since a call / the start
            return 2
        if not self._ws_len:
            return 0
        held = self._ws_held[0] if len(self._ws_held) == 1 else "".join(self._ws_held)
        return min(2, held.count("\n"))

    def _args(self, text: str) -> None:
        if text:
            call = self._call
            assert call is not None
            self._out.append(ArgumentsDelta(call.index, text))

    def _start_call(self, name: str) -> None:
        self._drop_ws()
        self._block_head = ""
        schema = self._schemas.get(name)
        if schema is None:
            if self._schemas:
                logger.warning("tool call to undeclared function %r", name)
            schema = _NOT_SCHEMA
        call = _Call(len(self._calls), name, schema)
        self._call = call
        self._calls.append(call)
        self._out.append(ToolCallStart(call.index, self._new_id(), name, self._block_offset))
        self._args(call.writer.open())

    def _end_call(self, truncated: bool = False) -> None:
        call = self._call
        assert call is not None
        self._args(call.writer.close())
        self._out.append(ToolCallEnd(call.index, truncated))
        self._call = None
        self._after_call = True
        self._call_end_seen = False

    def _open_call(self, head: int, drifted: bool = False, read: str = "") -> None:
        """A call's markup starts here (after ``read``, its part already consumed); ``head``
        more characters of it are read, the function's name comes next."""
        self._block_offset = self._here() - self._ws_len - len(read)
        self._block_head = read + self._buf[self._pos : self._pos + head]
        self._drifted_opener = drifted
        self._consume(head)
        self._goto(State.CALL_HEADER)

    # ── drift (docs/drift.md) ────────────────────────────────────────────────

    def _miss(self, miss: dr.Miss) -> None:
        self._dr.misses[miss] = None

    def _drift_open(self, opener: dr.Opener) -> bool:
        """A drifted opener read from ``_pos`` (docs/drift.md): the call to its tool starts."""
        buf, start = self._buf, self._pos
        self._block_offset = self._here() - self._ws_len
        self._pos = opener.end
        if opener.kind is dr.Kind.XML:
            dr.recovered(opener.shape)
            self._start_call(opener.name)
            call = self._call
            assert call is not None
            call.attr = opener.attr
            self._goto(State.FUNCTION_BODY)
            return True
        self._block_head = buf[start : opener.end]
        body = self._json = JsonBody()
        body.shape = opener.shape
        body.watch = False
        body.nesting = sc.JsonNesting(stop_at_close=True, strict=True)
        if opener.kind is not dr.Kind.HERMES:
            body.prefix = '{"name": ' + json.dumps(opener.name) + ', "arguments": '
            if opener.kind is dr.Kind.ARGS_CLOSED:  # the text closes the head's "{" itself
                body.nesting.feed(body.prefix, 0, len(body.prefix))
            else:
                body.suffix = "}"
        self._goto(State.JSON_BODY)
        return True

    def _drift_at(self, final: bool) -> bool | sc._NeedMore | None:
        """In content, at a line start: a made-up result's tag or a drifted opener at ``_pos``."""
        buf, p = self._buf, self._pos
        if buf[p] == "<":
            tag = dr.result_tag(buf, p, final)
            if tag is sc.NEED_MORE:
                return sc.NEED_MORE
            if tag is not None:
                self._dr.results = max(0, self._dr.results + tag[0])
                return self._literal(buf[p : tag[1]])
        if self._dr.results:
            return None
        at, wrapper_end = p, ""
        wrapper = dr.wrapper(buf, p, final)
        if wrapper is sc.NEED_MORE:
            return sc.NEED_MORE
        if wrapper is not None:
            at, wrapper_end = wrapper
        opener = dr.opener(buf, at, final, self._schemas)
        if opener is sc.NEED_MORE:
            return sc.NEED_MORE
        if isinstance(opener, dr.Opener):
            if wrapper_end and not opener.attr:
                return None  # <tool_use> and <function_calls> wrap attribute openers only
            if wrapper_end:
                self._dr.wrapper_end = wrapper_end
            return self._drift_open(opener)
        if opener is not None:
            self._miss(opener)
        return None

    def _opens_call(self, name: str) -> bool:
        """May ``<parameter=name>`` inside the open call open a call to a tool instead?

        Only when the open call's function is declared and has no parameter
        ``name``: otherwise it is a parameter, as the template means it.
        """
        call = self._call
        assert call is not None
        schema = call.schema
        return schema is not _NOT_SCHEMA and not schema.declares(name) and self._dr.names_tool(name)

    def _attr_key(self, buf: str, pos: int, final: bool) -> str | sc._NeedMore | None:
        tag = dr.attr_param(buf, pos, final)
        return tag if tag is sc.NEED_MORE or tag is None else tag.key

    def _tool_opener(self, pos: int, final: bool) -> bool | sc._NeedMore:
        """In content: is ``_buf[pos:]`` (just after ``<parameter=``) a drifted call opener
        ``TOOL>`` followed by a call's markup?"""
        header = sc.match_name(self._buf, pos, final)
        if header is sc.NEED_MORE:
            return sc.NEED_MORE
        return header is not None and sc.drifted_opener(self._buf, header, final, self._dr.names_tool)

    def _stray_closer(self, final: bool) -> bool | sc._NeedMore:
        """Right after a call: read a closer of it at ``_pos`` (``</tool_call>``, ``</function>``, ...)."""
        buf, p = self._buf, self._pos
        undecided = False
        for stem in dr.STRAY_STEMS:
            end = sc.closing_tag_end(buf, p, stem, final, partial_at_end=False)
            if end is sc.NEED_MORE:
                undecided = True
            elif end is not None:
                self._pos = end
                dr.recovered(Shape.STRAY_CLOSER)
                return True
        found = sc.match_tag(buf, p, sc.CALL_END, final)
        if found is sc.NEED_MORE or undecided:
            return sc.NEED_MORE
        if found:
            self._consume(len(sc.CALL_END))
            if self._call_end_seen:
                dr.recovered(Shape.STRAY_CLOSER)
            self._call_end_seen = True  # a bare call's own </tool_call> (the Qwen3-Coder-30B habit)
        return found

    # ── states ───────────────────────────────────────────────────────────────
    # Each state reads self._buf from self._pos (``buf``/``p``); offsets passed to
    # the scanner are absolute positions in ``buf``.

    def _on_content(self, final: bool) -> bool:
        buf, p = self._buf, self._pos
        n = len(buf)
        if p == n:
            return False
        if self._after_call:  # whitespace (dropped) and mangled closers right after a call
            k = _WS_RUN.match(buf, p).end()  # type: ignore[union-attr]
            if k > p:
                return self._literal(buf[p:k])
            if self._dr.wrapper_end and buf[p] == "<":
                found = sc.match_tag(buf, p, self._dr.wrapper_end, final)
                if found is sc.NEED_MORE:
                    return False
                if found:  # the wrapper's own closer: dropped like a call's </tool_call>
                    self._pos += len(self._dr.wrapper_end)
                    self._dr.wrapper_end = ""
                    return True
            if buf[p] != "<" or buf.startswith("</tool", p):
                end = dr.residue(buf, p, final)
                if end is sc.NEED_MORE:
                    return False
                if end is not None:
                    self._pos = end
                    dr.recovered(Shape.CLOSER_RESIDUE)
                    return True
        lt = buf.find("<", p)
        end = lt if lt >= 0 else n
        if self._schemas and buf.find("{", p, end) >= 0:  # a drifted JSON head may start at '{"'
            brace = buf.find('{"', p, end)
            if brace < 0 and end == n and buf[-1] == "{":  # ... or at a '{' that ends the buffer
                brace = n - 1
            if brace >= 0:
                lt = brace
        if lt < 0:
            self._content(buf[p:] if p else buf)
            self._consume(n - p)
            return False
        if lt > p:
            self._content(buf[p:lt])
            self._consume(lt - p)
            return True
        if buf[p] == "{":  # with tools only: a drifted JSON head at a line start?
            if not self._fences.inside and self._lines_before():
                drift = self._drift_at(final)
                if drift is sc.NEED_MORE:
                    return False
                if drift:
                    return True
            return self._literal("{")
        if self._fences.inside:
            # A fence never crosses </think>: the reasoning ends there whatever it contained.
            found = sc.match_tag(buf, p, sc.THINK_END, final)
            if found is sc.NEED_MORE:
                return False
            if found:
                return self._think_end()
            return self._literal("<")
        if self._after_call and buf.startswith("</", p):  # every stray closer starts so
            stray = self._stray_closer(final)
            if stray is sc.NEED_MORE:
                return False
            if stray:
                return True
        if self._schemas and dr.may_drift(buf, p) and self._lines_before():
            drift = self._drift_at(final)
            if drift is sc.NEED_MORE:
                return False
            if drift:
                return True
        for marker in self._content_markers:
            found = sc.match_tag(buf, p, marker, final)
            if found is sc.NEED_MORE:
                return False
            if found:
                return self._content_marker(marker, final)
        for miss_at, miss in ((_FUNCTION_STEM, dr.Miss.UNOPENED_FUNCTION_END), (sc.PARAM_START, _PARAMETER_LINE)):
            found = sc.match_tag(buf, p, miss_at, final)
            if found is sc.NEED_MORE:
                return False
            if found and (miss is not _PARAMETER_LINE or self._lines_before()):
                self._miss(miss)
        return self._literal("<")

    def _literal(self, text: str) -> bool:
        self._content(text)
        self._consume(len(text))
        return True

    def _think_end(self) -> bool:
        """``</think>``: content unless drop_think; either way no fence crosses it."""
        if self._drop_think:
            self._consume(len(sc.THINK_END))
        else:
            self._literal(sc.THINK_END)
        self._fences.reset()
        return True

    def _content_marker(self, marker: str, final: bool) -> bool:
        buf, p = self._buf, self._pos
        if marker == sc.THINK_END:
            return self._think_end()
        if marker == sc.THINK_START:  # drop_think only: reasoning markup never reaches content
            self._consume(len(marker))
            return True
        if marker == sc.CALL_END:  # not right after a call (see _stray_closer): text
            return self._literal(marker)
        if marker == sc.CALL_START:
            k = p + len(marker)
            limit = min(len(buf), p + sc.MAX_GAP)
            while k < limit and buf[k] in _WS:
                k += 1
            if self._schemas and not self._dr.results:
                drift = dr.opener(buf, k, final, self._schemas)
                if drift is sc.NEED_MORE:
                    return False
                if isinstance(drift, dr.Opener):
                    return self._drift_open(drift)
            follow = next((f for f in (sc.FUNCTION_START, "{") if buf.startswith(f, k)), None)
            if follow is None and self._schemas and not self._dr.results and buf.startswith(sc.PARAM_START, k):
                opener = self._tool_opener(k + len(sc.PARAM_START), final)
                if opener is sc.NEED_MORE:
                    return False
                if opener:
                    follow = sc.PARAM_START
            if (
                follow is None and self._dr.infer and not self._dr.results and self._here() >= self._dr.infer_from
                and buf.startswith(sc.PARAM_START, k)
            ):  # <tool_call> and parameters without a name
                header = sc.match_name(buf, k + len(sc.PARAM_START), final)
                if header is sc.NEED_MORE:
                    return False
                if header is not None and dr.declared_param(header[0], self._schemas):
                    self._hold_nameless(k - p)
                    return True
            if follow is None:
                rest = buf[k : k + len(sc.PARAM_START)]
                if not final and self._schemas and len(rest) < len(sc.PARAM_START) and sc.PARAM_START.startswith(rest):
                    return False
                rest = rest[: len(sc.FUNCTION_START)]
                if len(rest) < len(sc.FUNCTION_START) and sc.FUNCTION_START.startswith(rest):
                    if not final:
                        return False
                    self._block_offset = self._here() - self._ws_len
                    self._unfinish(len(buf) - p)  # a lone <tool_call> at the end of the output
                    return True
                return self._literal(marker)
            if follow == "{":
                self._block_offset = self._here() - self._ws_len
                self._block_head = buf[p:k]
                self._consume(k - p)
                self._json = JsonBody()
                self._goto(State.JSON_BODY)
                return True
            self._open_call(k + len(follow) - p, drifted=follow == sc.PARAM_START)
            return True
        if marker == sc.PARAM_START:  # <parameter=TOOL> as the opener of a call to TOOL (drift)
            opener = self._tool_opener(p + len(marker), final) if not self._dr.results else False
            if opener is sc.NEED_MORE:
                return False
            if opener:
                self._open_call(len(marker), drifted=True)
                return True
            if (
                self._dr.infer and not self._dr.results and self._here() >= self._dr.infer_from
                and self._lines_before() > 1
            ):
                header = sc.match_name(buf, p + len(marker), final)
                if header is sc.NEED_MORE:
                    return False
                if header is not None and dr.declared_param(header[0], self._schemas):
                    self._hold_nameless(0)
                    return True
            if self._lines_before():
                self._miss(dr.Miss.PARAMETER_OUTSIDE_CALL)
            return self._literal(marker)
        # A bare <function=NAME>: a call only if a parameter or </function> follows.
        header = sc.match_name(buf, p + len(marker), final)
        if header is sc.NEED_MORE:
            return False
        if header is not None and header[0] and buf[header[1] : header[1] + 1] == ">":
            after = _BARE_FOLLOW_ATTR if header[0] in self._schemas else _BARE_FOLLOW
            follows = sc.followed_by(buf, header[2], after, final, end_ok=False)
            if follows is sc.NEED_MORE:
                return False
            if follows:
                self._open_call(len(marker))
                return True
        return self._literal(marker)

    def _on_call_header(self, final: bool) -> bool:
        buf, p = self._buf, self._pos
        header = sc.match_name(buf, p, final)
        if header is sc.NEED_MORE:
            return False
        if header is not None and header[1] == len(buf):
            # The output ended inside the header: an unfinished call, not content.
            self._unfinish(len(buf) - p)
            self._goto(State.CONTENT)
            return True
        if header is None or not header[0]:
            # No usable function name: the markup was text after all.
            text, self._block_head = self._block_head, ""
            self._goto(State.CONTENT)
            self._content(text)
            return True
        name, _, end = header
        self._consume(end - p)
        shape = Shape.PARAMETER_AS_FUNCTION if self._drifted_opener else None
        self._drifted_opener = False
        tool = dr.tool_named(name, self._schemas)
        if tool is not None and tool[1]:
            name, shape = tool[0], Shape.DOUBLED_PREFIX
        if shape is not None:
            dr.recovered(shape)
        self._start_call(name)
        self._goto(State.FUNCTION_BODY)
        return True

    def _unfinish(self, consume: int) -> None:
        """The output ends in the markup that opens a call: drop it (see unfinished_offset)."""
        self._unfinished = self._block_offset
        self._consume(consume)
        self._block_head = ""
        self._drop_ws()

    def _on_function_body(self, final: bool) -> bool:
        buf, p = self._buf, self._pos
        if p == len(buf):
            return False
        if buf[p] in _WS:
            self._pos = _WS_RUN.match(buf, p).end()  # type: ignore[union-attr]
            return True
        for marker in _BODY_MARKERS:
            if marker == "</function":  # also drifted closers such as </function_invocation>
                end = sc.closing_tag_end(buf, p, marker, final, partial_at_end=False)
                if end is sc.NEED_MORE:
                    return False
                if end is None:
                    continue
                self._consume(end - p)
                self._end_call()
                self._goto(State.AFTER_FUNCTION)
                return True
            found = sc.match_tag(buf, p, marker, final)
            if found is sc.NEED_MORE:
                return False
            if not found:
                continue
            if marker == sc.PARAM_START:
                self._consume(len(marker))
                self._goto(State.PARAM_HEADER)
            elif marker == sc.CALL_END:
                self._consume(len(marker))
                self._end_call()
                self._call_end_seen = True
                self._goto(State.CONTENT)
            elif marker == sc.PARAM_END:  # a stray closer
                self._consume(len(marker))
            else:  # the next call starts without this one being closed
                self._end_call()
                self._goto(State.CONTENT)
            return True
        call = self._call
        assert call is not None
        if buf[p] == "<" and call.schema is not _NOT_SCHEMA:  # <parameter name="KEY">, </invoke> (drift)
            tag = dr.body_tag(buf, p, final)
            if tag is sc.NEED_MORE:
                return False
            if tag is not None:
                self._pos = tag.end
                if tag.key is None:
                    self._end_call()
                    self._goto(State.AFTER_FUNCTION)
                    return True
                if not call.attr:
                    dr.recovered(Shape.ATTRIBUTE_PARAMETER)
                    call.attr = True
                value = self._value = _Value(call, tag.key)
                self._args(value.open())
                self._goto(State.VALUE)
                return True
        # Text that is not markup inside a function body is not content: drop it.
        nxt = buf.find("<", p + 1)
        dropped = (len(buf) if nxt < 0 else nxt) - p
        if final and nxt < 0 and sc.PARAM_START.startswith(buf[p:]):
            self._value_cut = True  # the output ended inside the next parameter's header
        logger.debug("dropping %d characters of text inside a function body", dropped)
        self._consume(dropped)
        return True

    def _on_param_header(self, final: bool) -> bool:
        buf, p = self._buf, self._pos
        header = sc.match_name(buf, p, final)
        if header is sc.NEED_MORE:
            return False
        if header is None:  # not a parameter header after all: skip the marker text
            self._goto(State.FUNCTION_BODY)
            return True
        if header[1] == len(buf):
            self._consume(len(buf) - p)  # the output ended inside a parameter header
            self._value_cut = True
            self._goto(State.FUNCTION_BODY)
            return True
        if self._schemas:
            opener = sc.drifted_opener(buf, header, final, self._opens_call)
            if opener is sc.NEED_MORE:
                return False
            if opener:  # <parameter=TOOL>: this call ends, TOOL's starts (drift)
                self._end_call()
                self._open_call(0, drifted=True, read=sc.PARAM_START)
                return True
        name, _, end = header
        self._consume(end - p)
        call = self._call
        assert call is not None
        value = self._value = _Value(call, name)
        self._args(value.open())
        self._goto(State.VALUE)
        return True

    def _implicit_param(self, name: str) -> bool:
        call = self._call
        assert call is not None
        if name in call.given:
            return False
        return call.schema is _NOT_SCHEMA or call.schema.declares(name)

    def _on_value(self, final: bool) -> bool:
        buf, p = self._buf, self._pos
        value = self._value
        assert value is not None
        if value.at_start:
            if p == len(buf):
                if not final:
                    return False
            elif buf[p] == "\n":
                p += 1
                self._pos = p
            elif buf[p] in " \t":  # "<parameter=KEY> value": one space, then the value (drift)
                if p + 1 == len(buf) and not final:
                    return False
                if p + 1 < len(buf) and buf[p + 1] not in " \t\r\n<":
                    p += 1
                    self._pos = p
                    dr.recovered(Shape.VALUE_ON_OPENER_LINE)
            value.at_start = False
        n = len(buf)
        pos = p
        while True:
            lt = buf.find("<", pos)
            if lt < 0:
                if final:  # the output ended inside the value
                    self._value_cut = True
                    if self._cut_off and value.mode is not _STRING:
                        value.mode = _DISCARD  # never complete a cut number, object, ... from its start
                    self._args(value.add(buf[p:-1] if buf.endswith("\n") else buf[p:]))
                    self._pos = n
                    self._args(value.close())
                    self._goto(State.FUNCTION_BODY)
                    return False
                stop = n - 1 if buf[-1:] == "\n" else n
                if stop > p:
                    piece = buf[p:stop] if p or stop < n else buf
                    if value.mode is _STRING:  # the hot path, inlined: stream the piece
                        value.empty = False
                        value.text.parts.append(piece)
                        self._out.append(ArgumentsDelta(value.call.index, escape_chunk(piece)))
                    else:
                        self._args(value.add(piece))
                    self._pos = stop
                return False
            line_start = buf[lt - 1] == "\n" if lt > p else (value.empty and lt == p)
            closer = sc.value_closer(
                buf, lt, line_start, final, self._implicit_param, self._opens_call if self._schemas else None,
                self._attr_key if value.call.attr else None,
            )
            if closer is None:
                pos = lt + 1
                continue
            held = lt - 1 if lt > p and buf[lt - 1] == "\n" else lt
            if held > p:
                self._args(value.add(buf[p:held]))
            if closer is sc.NEED_MORE:
                self._pos = held
                return False
            kind, end = closer
            self._pos = end
            self._args(value.close())
            if kind == sc.FUNCTION:
                self._end_call()
                self._goto(State.AFTER_FUNCTION)
            elif kind == sc.CALL:
                self._end_call()
                self._call_end_seen = True
                self._goto(State.CONTENT)
            else:
                self._goto(State.FUNCTION_BODY)
            return True

    def _on_after_function(self, final: bool) -> bool:
        buf, p = self._buf, self._pos
        if p < len(buf) and buf[p] in _WS:
            p = self._pos = _WS_RUN.match(buf, p).end()  # type: ignore[union-attr]
        if p == len(buf):
            if final:
                self._goto(State.CONTENT)
            return final
        found = sc.match_tag(buf, p, sc.CALL_END, final)
        if found is sc.NEED_MORE:
            return False
        if found:
            self._consume(len(sc.CALL_END))
            self._call_end_seen = True
        self._goto(State.CONTENT)
        return True

    def _on_json_body(self, final: bool) -> bool:
        body = self._json
        end, stop = body.window(self._buf, self._pos, final)
        buf, p = self._buf, self._pos
        if body.watch and body.nesting is None and (
            buf.find(sc.CALL_START, p, stop) >= 0 or buf.find(sc.FUNCTION_START, p, stop) >= 0
        ):
            # A call start inside the body: the body may have ended without </tool_call>.
            # From here on, follow its JSON nesting; the body so far is read again, once.
            if body.parts:
                done = body.take()
                self._buf = done + buf[p:]
                self._offset += p - len(done)
                self._pos = 0
                end, stop = body.window(self._buf, 0, final)
                buf, p = self._buf, 0
            body.nesting = sc.JsonNesting(stop_at_close=True)
        nesting = body.nesting
        if nesting is not None:
            close = nesting.feed(buf, p, stop)
            if close == sc.NOT_JSON:  # a drifted frame's "JSON" is prose: its text is content
                body.parts.append(buf[p : nesting.stopped_at])
                self._pos = nesting.stopped_at
                self._json_body_done("", not_json=True)
                return True
            if close >= 0:  # the top-level object closed: see what follows it
                body.nesting = None
                body.watch = False
                body.parts.append(buf[p:close])
                self._pos = close
                self._goto(State.JSON_TAIL)
                return True
        body.parts.append(buf[p:stop])
        self._pos = stop
        if end < 0 and not final:
            return False
        if end >= 0:
            self._consume(len(sc.CALL_END))
        self._json_body_done(sc.CALL_END if end >= 0 else "")
        return True

    def _on_json_tail(self, final: bool) -> bool:
        """After a Hermes body's JSON object: its </tool_call>, or a next call without one."""
        buf, p = self._buf, self._pos
        k = _WS_RUN.match(buf, p, min(len(buf), p + sc.MAX_GAP)).end()  # type: ignore[union-attr]
        if self._json.shape is not None:  # a drifted frame's JSON: done, with its </function> if any
            found = sc.followed_by(buf, k, (sc.FUNCTION_END,), final, end_ok=False)
            if found is sc.NEED_MORE:
                return False
            if found and self._json.shape is Shape.HERMES_UNDER_FUNCTION:
                self._pos = k + len(sc.FUNCTION_END)
            self._json_body_done("")
            return True
        follows = sc.followed_by(buf, k, BODY_ENDS, final, end_ok=False)
        if follows is sc.NEED_MORE:
            return False
        if follows and buf.startswith(sc.CALL_END, k):
            self._json.parts.append(buf[p:k])  # kept for the content fallback
            self._pos = k + len(sc.CALL_END)
            self._json_body_done(sc.CALL_END)
        elif follows:  # a new call starts: this one had no </tool_call>
            self._json_body_done("")
        else:  # text after the object: the body goes on up to </tool_call>, as before
            self._goto(State.JSON_BODY)
        return True

    def _hold_nameless(self, head: int) -> None:
        """Parameters without a name start here, after ``head`` characters of ``<tool_call>`` markup.

        The text is not consumed while it stays in the buffer; only at the end of a delta does the
        rest move to ``_nameless`` (so each character is copied at most once more).
        """
        self._dr.held_at = self._here()
        self._dr.held_head = head
        self._dr.held_scan = self._pos + head
        self._goto(State.NAMELESS)  # held until its </function> (docs/drift.md)

    def _on_nameless(self, final: bool) -> bool:
        """Parameters outside any call: held until a ``</function>`` says a call ended here."""
        buf, p = self._buf, self._pos
        scan = max(self._dr.held_scan, p)
        tail = self._dr.held_tail  # the end of the text held from earlier deltas
        limit = min(len(buf), p + max(0, dr.INFER_MAX - self._dr.held_len))
        ends = []
        for marker in dr.NAMELESS_ENDS:
            if tail:  # a marker that began in an earlier delta
                j = (tail + buf[scan : scan + len(marker) - 1]).find(marker)
                if j >= 0:
                    ends.append((scan + j - len(tail), marker))
                    continue
            i = buf.find(marker, scan, limit)
            if i >= 0:
                ends.append((i, marker))
        if not ends:
            if final or limit < len(buf):  # the end, or too long: content
                self._nameless_done(None, self._offset + len(buf))
                return True
            rest = buf[p:]  # the delta ends: hold what is left of it
            self._dr.held.append(rest)
            self._dr.held_len += len(rest)
            self._dr.held_tail = (tail + rest)[-(len(sc.FUNCTION_END) - 1) :]
            self._pos = len(buf)
            self._dr.held_scan = 0  # the next delta's buffer is read from its start
            return False
        i, marker = min(ends)
        stop = i + len(marker)
        if marker != sc.FUNCTION_END:  # a call starts: read everything again as content
            self._nameless_done(None, self._offset + max(i, p))
            return True
        # From where the held call starts (``_nameless_at``): the held text, then this buffer's.
        text = ("".join(self._dr.held) + buf[p:stop])[self._dr.held_head :]
        tool = dr.fitting_tool(lambda name: self._keys_as_call(name, text), self._schemas)
        self._nameless_done(tool, self._offset + stop)
        return True

    def _keys_as_call(self, tool: str, text: str) -> set[str]:
        """The parameter names a call to ``tool`` with the parameters ``text`` is given."""
        probe = StreamParser(None)
        probe._schemas, probe._dr.names_tool = self._schemas, self._dr.names_tool
        with dr.quietly():  # its records would repeat the output's own
            probe.feed(sc.FUNCTION_START + tool + ">\n" + text)
            probe.finish()
        return probe._calls[0].given if probe._calls else set()

    def _nameless_done(self, tool: str | None, until: int) -> None:
        """Read the held text again from where it started: as a call to ``tool``, or as content
        (with no inference before ``until``, so that each character is held once)."""
        if self._dr.held:  # text held from earlier deltas goes back in front of the buffer
            self._buf = "".join(self._dr.held) + self._buf[self._pos :]
            self._offset = self._dr.held_at
            self._pos = 0
        head = self._dr.held_head
        self._dr.held, self._dr.held_len, self._dr.held_tail, self._dr.held_head = [], 0, "", 0
        if tool is None:
            self._dr.infer_from = max(until, self._dr.held_at + 1)
            self._goto(State.CONTENT)
            return
        self._consume(head)  # the <tool_call> markup before the parameters
        self._block_offset = self._dr.held_at - self._ws_len
        dr.recovered(Shape.INFERRED_NAME)
        self._start_call(tool)
        self._goto(State.FUNCTION_BODY)

    def _json_body_done(self, closer: str, not_json: bool = False) -> None:
        """Emit the Hermes call whose body has been read (or its text as content)."""
        json_body = self._json
        body = json_body.take()  # the next body gets a new JsonBody where it starts
        self._goto(State.CONTENT)
        shape = json_body.shape
        if not_json:
            call = None
        elif shape is None:
            call = json_call(body, self._schemas)
        else:  # a drifted frame (docs/drift.md): a call to a declared tool, or its text as content
            text = json_body.prefix + body + json_body.suffix
            call = json_call(text, self._schemas)
            if call is None and json_body.prefix and not json_body.suffix:
                call = json_call(text + "}", self._schemas)
            if call is not None and call[0] not in self._schemas:
                call = None
        if call is None:
            raw = self._block_head + body + closer
            self._block_head = ""
            logger.info("<tool_call> body is neither XML nor a JSON call; kept as content")
            self._content(raw)
            return
        name, arguments, drifted = call
        if shape is not None:
            dr.recovered(shape)
        elif drifted:
            dr.recovered(Shape.FUSED_JSON)
        self._start_call(name)
        current = self._call
        assert current is not None
        for key, value in arguments.items():
            schema = current.schema.param_type(key).schema if current.schema.declares(key) else None
            value = coerce_json_value(value, schema, current.schema.param_type(key).resolver)
            current.args[key] = value
            self._args(current.writer.value(key, value))
        self._end_call()
        self._call_end_seen = bool(closer)


StreamParser._handlers = {
    State.CONTENT: StreamParser._on_content,
    State.CALL_HEADER: StreamParser._on_call_header,
    State.FUNCTION_BODY: StreamParser._on_function_body,
    State.PARAM_HEADER: StreamParser._on_param_header,
    State.VALUE: StreamParser._on_value,
    State.AFTER_FUNCTION: StreamParser._on_after_function,
    State.JSON_BODY: StreamParser._on_json_body,
    State.JSON_TAIL: StreamParser._on_json_tail,
    State.NAMELESS: StreamParser._on_nameless,
}
