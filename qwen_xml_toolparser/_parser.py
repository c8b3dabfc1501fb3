"""The streaming parser: Qwen XML text deltas in, content and tool-call events out.

Grammar of what the model writes (``ws`` is whitespace, dropped next to calls)::

    output    = { content | call }
    call      = [ "<tool_call>" ws ] function [ ws "</tool_call>" ]
              | "<tool_call>" ws json-object ws "</tool_call>"       (Hermes style)
    function  = "<function=" NAME ">" { ws parameter } ws [ "</function>" ]
    parameter = "<parameter=" NAME ">" [ "\\n" ] VALUE [ "\\n" ] [ "</parameter>" ]

A bare ``<function=NAME>`` (no ``<tool_call>``) starts a call only when
``<parameter=`` or ``</function>`` follows it. Where a value ends is decided by
lookahead (:func:`._scanner.value_closer`). The rules for content, values and
malformed output are in docs/behaviour.md.

State machine. The parser is always in one of these states; each state is one
method, ``_on_<state>``, which consumes from the buffer and returns True when
it made progress, False when it needs more input::

    content      -> call_header   on "<tool_call>" + "<function=", or a bare "<function=NAME>"
                 -> json_body     on "<tool_call>" + "{"
    call_header  -> function_body once NAME ends                      (emits ToolCallStart, "{")
    function_body-> param_header  on "<parameter="
                 -> after_function on "</function>"                   (emits "}", ToolCallEnd)
                 -> content       on "</tool_call>", "<tool_call>", "<function="  (call ends)
    param_header -> value         once NAME ends
    value        -> function_body / after_function / content          at the value's closer
    after_function -> content     (an optional "</tool_call>" is consumed)
    json_body    -> content       on "</tool_call>"                   (emits the whole call)
                 -> json_tail     when the top-level JSON object closes
    json_tail    -> content       on "</tool_call>", "<tool_call>", "<function=" (emits the call)
                 -> json_body     on anything else (the body goes on to "</tool_call>")

The buffer ``_buf[_pos:]`` only ever holds text whose meaning is still
undecided (a possible marker, a held-back newline) plus the delta being read;
states advance ``_pos`` and never copy the buffer, and ``feed`` drops the
consumed part once per delta. So the work per delta is proportional to the
delta, whatever the length of the output, of a value or of the delta.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from . import _scanner as sc
from ._coerce import NonStringPrefix, coerce, coerce_json_value, read_json_object
from ._events import ArgumentsDelta, ContentDelta, Event, ToolCallEnd, ToolCallStart
from ._jsonwriter import ArgumentsWriter, escape_chunk
from ._schema import FunctionSchema, ValueType, function_schemas

__all__ = ["ParserFinishedError", "StreamParser"]

logger = logging.getLogger("qwen_xml_toolparser")

_WS = " \t\r\n"
_CONTENT_MARKERS = (sc.CALL_START, sc.CALL_END, sc.FUNCTION_START)
_THINK_MARKERS = (sc.THINK_START, sc.THINK_END)
_BODY_MARKERS = (sc.PARAM_START, "</function", sc.CALL_END, sc.CALL_START, sc.FUNCTION_START, sc.PARAM_END)
_NOT_SCHEMA = FunctionSchema("", None)
_WS_RUN = re.compile(r"[ \t\r\n]*")
_JSON_BODY_MARKERS = (sc.CALL_END, sc.CALL_START, sc.FUNCTION_START)  # what may end a Hermes body
_FENCE_RUN = {"`": re.compile("`*"), "~": re.compile("~*")}

# Value modes
_STRING = 0  # streamed as a JSON string as it arrives
_UNDECIDED = 1  # string or something else: held until only one reading remains
_TYPED = 2  # not a string: collected, emitted when complete
_DISCARD = 3  # duplicate parameter or a dropped call: read and thrown away


def _default_id() -> str:
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
    __slots__ = ("index", "name", "schema", "args", "given", "writer")

    def __init__(self, index: int, name: str, schema: FunctionSchema) -> None:
        self.index = index
        self.name = name
        self.schema = schema
        self.args: dict[str, Any] = {}
        self.given: set[str] = set()  # parameter names seen, kept or not
        self.writer = ArgumentsWriter()

    def arguments(self) -> dict[str, Any]:
        return {k: str(v) if isinstance(v, _Text) else v for k, v in self.args.items()}


# Line phases of _Fences
_LINE_START = 0  # indentation (up to 3 spaces) of a new line
_LINE_RUN = 1  # a run of ` or ~ at the start of the line
_LINE_INFO = 2  # after an opening run: the info string, up to the end of the line
_LINE_TAIL = 3  # after a closing run: only spaces and tabs may follow
_LINE_TEXT = 4  # not a fence line: wait for the newline


class _Fences:
    """Whether content is inside a CommonMark fenced code block.

    A fence line has at most 3 spaces of indentation and a run of at least 3
    backticks or tildes; an opening backtick run's info string has no backtick
    (so ```` ```ls``` ```` at a line start is inline code). The block opens at
    the end of the opening line and closes at the end of a line holding only
    a run of the same character, at least as long, and spaces or tabs.
    """

    __slots__ = ("_char", "_indent", "_len", "_phase", "_run", "_run_char", "inside")

    def __init__(self) -> None:
        self.inside = False
        self._char = ""  # the open fence's character and length
        self._len = 0
        self._phase = _LINE_START
        self._indent = 0
        self._run_char = ""
        self._run = 0

    def reset(self) -> None:
        """Leave any fence and start a new line (``</think>`` ends everything)."""
        self.__init__()  # type: ignore[misc]

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
            if phase == _LINE_START:
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
            elif phase == _LINE_RUN:
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
                if (phase == _LINE_INFO and self._run_char == "`" and text.find("`", i, end) >= 0) or (
                    phase == _LINE_TAIL and text[i:end].strip(" \t")
                ):
                    self._phase = _LINE_TEXT  # not a fence line after all
                if newline < 0:
                    return
                self._end_line()
                i = newline + 1

    def _end_line(self) -> None:
        if self._phase == _LINE_INFO:
            self.inside, self._char, self._len = True, self._run_char, self._run
        elif self._phase == _LINE_TAIL:
            self.inside = False
        self._phase = _LINE_START
        self._indent = 0


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

    def __init__(
        self,
        tools: Iterable[Any] | None = None,
        *,
        id_factory: Callable[[], str] = _default_id,
        drop_think: bool = False,
    ) -> None:
        self._drop_think = drop_think
        # </think> is matched either way: it ends any fence (content unless drop_think).
        self._content_markers = _CONTENT_MARKERS + (_THINK_MARKERS if drop_think else (sc.THINK_END,))
        self._schemas = function_schemas(tools)
        self._new_id = id_factory
        self._buf = ""  # text not consumed yet: _buf[_pos:]
        self._pos = 0
        self._offset = 0  # position of _buf[0] in the whole output
        self._out: list[Event] = []
        self._state: Callable[[bool], bool] = self._on_content
        self._finished = False
        # content
        self._fences = _Fences()
        self._ws_held: list[str] = []  # trailing whitespace of content, dropped if a call follows
        self._ws_len = 0
        self._after_call = False  # drop leading whitespace (and an orphan </tool_call>)
        # calls
        self._calls: list[_Call] = []
        self._call: _Call | None = None
        self._block_offset = 0  # where the current call's markup starts
        self._block_head = ""  # markup consumed before the call header completed
        self._unfinished: int | None = None
        self._cut_off = False  # finish(cut_off=True): the token limit ended the output
        self._value_cut = False  # the output ended inside a value or a parameter header
        # the current parameter
        self._key = ""
        self._mode = _DISCARD
        self._vtype: ValueType | None = None
        self._value_start = False  # the optional leading newline is not seen yet
        self._value_empty = True
        self._value_text: _Text | None = None  # pieces of a typed / undecided value
        self._prefix: NonStringPrefix | None = None  # undecided: can it still be a non-string?
        # Hermes-style JSON body
        self._json_parts: list[str] = []
        self._json_watch = False  # may the body still end without </tool_call>?
        self._json_nesting: sc.JsonNesting | None = None  # following the body's JSON nesting

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
        while self._state(False):
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
        while self._state(True):
            pass
        if self._call is not None:  # the output ended inside a call
            self._end_call(truncated=self._value_cut)
        if self._ws_held and not self._after_call:
            out.append(ContentDelta("".join(self._ws_held)))
        self._drop_ws()
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
    def unfinished_offset(self) -> int | None:
        """Where the markup of a call starts when the output ended before its header did.

        Such markup (``<tool_call>``, ``<tool_call><function=na``) produces no
        event and is not content (in either mode); this is where it starts.
        """
        return self._unfinished

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

    def _args(self, text: str) -> None:
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
        if self._state is self._on_value:
            self._finish_value()
        self._args(call.writer.close())
        self._out.append(ToolCallEnd(call.index, truncated))
        self._call = None
        self._after_call = True

    # ── states ───────────────────────────────────────────────────────────────
    # Each state reads self._buf from self._pos (``buf``/``p``); offsets passed to
    # the scanner are absolute positions in ``buf``.

    def _on_content(self, final: bool) -> bool:
        buf, p = self._buf, self._pos
        n = len(buf)
        if p == n:
            return False
        lt = buf.find("<", p)
        if lt < 0:
            self._content(buf[p:] if p else buf)
            self._consume(n - p)
            return False
        if lt > p:
            self._content(buf[p:lt])
            self._consume(lt - p)
            return True
        if self._fences.inside:
            # A fence never crosses </think>: the reasoning ends there whatever it contained.
            found = sc.match_tag(buf, p, sc.THINK_END, final)
            if found is sc.NEED_MORE:
                return False
            if found:
                return self._think_end()
            return self._literal("<")
        for marker in self._content_markers:
            found = sc.match_tag(buf, p, marker, final)
            if found is sc.NEED_MORE:
                return False
            if found:
                return self._content_marker(marker, final)
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
        if marker == sc.CALL_END:
            if self._after_call:  # the closer of a bare <function=...> call
                self._consume(len(marker))
                return True
            return self._literal(marker)
        if marker == sc.CALL_START:
            k = p + len(marker)
            limit = min(len(buf), p + sc.MAX_GAP)
            while k < limit and buf[k] in _WS:
                k += 1
            follow = next((f for f in (sc.FUNCTION_START, "{") if buf.startswith(f, k)), None)
            if follow is None:
                rest = buf[k : k + len(sc.FUNCTION_START)]
                if len(rest) < len(sc.FUNCTION_START) and sc.FUNCTION_START.startswith(rest):
                    if not final:
                        return False
                    self._block_offset = self._here() - self._ws_len
                    self._unfinish(len(buf) - p)  # a lone <tool_call> at the end of the output
                    return True
                return self._literal(marker)
            self._block_offset = self._here() - self._ws_len
            if follow == "{":
                self._block_head = buf[p:k]
                self._consume(k - p)
                self._json_parts = []
                self._json_watch = True
                self._json_nesting = None
                self._state = self._on_json_body
                return True
            self._block_head = buf[p : k + len(follow)]
            self._consume(k + len(follow) - p)
            self._state = self._on_call_header
            return True
        # A bare <function=NAME>: a call only if a parameter or </function> follows.
        header = sc.match_name(buf, p + len(marker), final)
        if header is sc.NEED_MORE:
            return False
        if header is not None and header[0] and buf[header[1] : header[1] + 1] == ">":
            follows = sc.followed_by(buf, header[2], (sc.PARAM_START, sc.FUNCTION_END), final, end_ok=False)
            if follows is sc.NEED_MORE:
                return False
            if follows:
                self._block_offset = self._here() - self._ws_len
                self._block_head = marker
                self._consume(len(marker))
                self._state = self._on_call_header
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
            self._state = self._on_content
            return True
        if header is None or not header[0]:
            # No usable function name: the markup was text after all.
            text, self._block_head = self._block_head, ""
            self._state = self._on_content
            self._content(text)
            return True
        name, _, end = header
        self._consume(end - p)
        self._start_call(name)
        self._state = self._on_function_body
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
                self._state = self._on_after_function
                return True
            found = sc.match_tag(buf, p, marker, final)
            if found is sc.NEED_MORE:
                return False
            if not found:
                continue
            if marker == sc.PARAM_START:
                self._consume(len(marker))
                self._state = self._on_param_header
            elif marker == sc.CALL_END:
                self._consume(len(marker))
                self._end_call()
                self._state = self._on_content
            elif marker == sc.PARAM_END:  # a stray closer
                self._consume(len(marker))
            else:  # the next call starts without this one being closed
                self._end_call()
                self._state = self._on_content
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
            self._state = self._on_function_body
            return True
        if header[1] == len(buf):
            self._consume(len(buf) - p)  # the output ended inside a parameter header
            self._value_cut = True
            self._state = self._on_function_body
            return True
        name, _, end = header
        self._consume(end - p)
        self._open_value(name)
        self._state = self._on_value
        return True

    def _open_value(self, key: str) -> None:
        call = self._call
        assert call is not None
        self._key = key
        self._value_start = True
        self._value_empty = True
        self._value_text = None
        self._prefix = None
        if key in call.given:
            logger.warning("duplicate parameter %r in call to %r: the first one is kept", key, call.name)
            self._mode = _DISCARD
            return
        call.given.add(key)
        vtype = call.schema.param_type(key)
        self._vtype = vtype
        if vtype.is_string_only:
            self._mode = _STRING
            text = _Text()
            call.args[key] = text
            self._value_text = text
            self._args(call.writer.string_start(key))
        elif "string" in vtype.types:
            self._mode = _UNDECIDED
            self._value_text = _Text()
            self._prefix = NonStringPrefix(vtype)
        else:
            self._mode = _TYPED
            self._value_text = _Text()

    def _implicit_param(self, name: str) -> bool:
        call = self._call
        assert call is not None
        if name in call.given:
            return False
        return call.schema is _NOT_SCHEMA or call.schema.declares(name)

    def _on_value(self, final: bool) -> bool:
        buf, p = self._buf, self._pos
        if self._value_start:
            if p == len(buf):
                if not final:
                    return False
            elif buf[p] == "\n":
                p += 1
                self._pos = p
            self._value_start = False
        n = len(buf)
        pos = p
        while True:
            lt = buf.find("<", pos)
            if lt < 0:
                if final:  # the output ended inside the value
                    self._value_cut = True
                    if self._cut_off and self._mode != _STRING:
                        self._mode = _DISCARD  # never complete a cut number, object, ... from its start
                    self._value_piece(buf[p:-1] if buf.endswith("\n") else buf[p:])
                    self._pos = n
                    self._finish_value()
                    return False
                stop = n - 1 if buf[-1:] == "\n" else n
                if stop > p:
                    piece = buf[p:stop] if p or stop < n else buf
                    if self._mode == _STRING:  # the hot path, inlined: stream the piece
                        self._value_empty = False
                        self._value_text.parts.append(piece)  # type: ignore[union-attr]
                        self._out.append(ArgumentsDelta(self._call.index, escape_chunk(piece)))  # type: ignore[union-attr]
                    else:
                        self._value_piece(piece)
                    self._pos = stop
                return False
            line_start = buf[lt - 1] == "\n" if lt > p else (self._value_empty and lt == p)
            closer = sc.value_closer(buf, lt, line_start, final, self._implicit_param)
            if closer is None:
                pos = lt + 1
                continue
            held = lt - 1 if lt > p and buf[lt - 1] == "\n" else lt
            if held > p:
                self._value_piece(buf[p:held])
            if closer is sc.NEED_MORE:
                self._pos = held
                return False
            kind, end = closer
            self._pos = end
            self._finish_value()
            if kind == sc.FUNCTION:
                self._end_call()
                self._state = self._on_after_function
            elif kind == sc.CALL:
                self._end_call()
                self._state = self._on_content
            return True

    def _value_piece(self, text: str) -> None:
        if not text:
            return
        self._value_empty = False
        mode = self._mode
        if mode == _STRING:
            assert self._value_text is not None
            self._value_text.parts.append(text)
            self._args(escape_chunk(text))
        elif mode == _TYPED:
            assert self._value_text is not None
            self._value_text.parts.append(text)
        elif mode == _UNDECIDED:
            assert self._value_text is not None and self._prefix is not None
            self._value_text.parts.append(text)
            if not self._prefix.feed(text):
                self._begin_string(str(self._value_text))

    def _begin_string(self, text: str) -> None:
        """An undecided value turned out to be a string: start streaming it."""
        call = self._call
        assert call is not None
        value = _Text()
        value.parts.append(text)
        call.args[self._key] = value
        self._value_text = value
        self._mode = _STRING
        self._prefix = None
        self._args(call.writer.string_start(self._key) + escape_chunk(text))

    def _finish_value(self) -> None:
        """The current value is complete: emit what is left of it."""
        call = self._call
        assert call is not None
        mode = self._mode
        self._mode = _DISCARD
        if mode == _STRING:
            self._args(call.writer.string_end())
        elif mode in (_TYPED, _UNDECIDED):
            raw = str(self._value_text) if self._value_text is not None else ""
            assert self._vtype is not None
            value, fits = coerce(raw, self._vtype)
            if not fits:
                logger.info(
                    "value of %r in call to %r does not fit its schema %s; passed as a string",
                    self._key, call.name, sorted(self._vtype.types),
                )
            call.args[self._key] = value
            self._args(call.writer.value(self._key, value))
        self._value_text = None
        self._prefix = None
        self._state = self._on_function_body

    def _on_after_function(self, final: bool) -> bool:
        buf, p = self._buf, self._pos
        if p < len(buf) and buf[p] in _WS:
            p = self._pos = _WS_RUN.match(buf, p).end()  # type: ignore[union-attr]
        if p == len(buf):
            if final:
                self._state = self._on_content
            return final
        found = sc.match_tag(buf, p, sc.CALL_END, final)
        if found is sc.NEED_MORE:
            return False
        if found:
            self._consume(len(sc.CALL_END))
        self._state = self._on_content
        return True

    def _json_window(self, final: bool) -> tuple[int, int]:
        """(start of </tool_call> or -1, end of the body text that can be consumed now)."""
        buf, p = self._buf, self._pos
        end = buf.find(sc.CALL_END, p)
        if end >= 0 or final:
            return end, end if end >= 0 else len(buf)
        # Keep a possible partial marker at the end (every marker starts with "<").
        lt = buf.find("<", max(p, len(buf) - len(sc.CALL_END) + 1))
        while lt >= 0:
            tail = buf[lt:]
            if any(marker.startswith(tail) for marker in _JSON_BODY_MARKERS):
                return end, lt
            lt = buf.find("<", lt + 1)
        return end, len(buf)

    def _on_json_body(self, final: bool) -> bool:
        end, stop = self._json_window(final)
        buf, p = self._buf, self._pos
        if self._json_watch and self._json_nesting is None and (
            buf.find(sc.CALL_START, p, stop) >= 0 or buf.find(sc.FUNCTION_START, p, stop) >= 0
        ):
            # A call start inside the body: the body may have ended without </tool_call>.
            # From here on, follow its JSON nesting; the body so far is read again, once.
            if self._json_parts:
                done = "".join(self._json_parts)
                self._json_parts = []
                self._buf = done + buf[p:]
                self._offset += p - len(done)
                self._pos = 0
                end, stop = self._json_window(final)
                buf, p = self._buf, 0
            self._json_nesting = sc.JsonNesting(stop_at_close=True)
        nesting = self._json_nesting
        if nesting is not None:
            close = nesting.feed(buf, p, stop)
            if close >= 0:  # the top-level object closed: see what follows it
                self._json_nesting = None
                self._json_watch = False
                self._json_parts.append(buf[p:close])
                self._pos = close
                self._state = self._on_json_tail
                return True
        self._json_parts.append(buf[p:stop])
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
        follows = sc.followed_by(buf, k, (sc.CALL_END, sc.CALL_START, sc.FUNCTION_START), final, end_ok=False)
        if follows is sc.NEED_MORE:
            return False
        if follows and buf.startswith(sc.CALL_END, k):
            self._json_parts.append(buf[p:k])  # kept for the content fallback
            self._pos = k + len(sc.CALL_END)
            self._json_body_done(sc.CALL_END)
        elif follows:  # a new call starts: this one had no </tool_call>
            self._json_body_done("")
        else:  # text after the object: the body goes on up to </tool_call>, as before
            self._state = self._on_json_body
        return True

    def _json_body_done(self, closer: str) -> None:
        """Emit the Hermes call whose body is in _json_parts (or its text as content)."""
        body = "".join(self._json_parts)
        self._json_parts = []
        self._json_nesting = None
        self._json_watch = False
        self._state = self._on_content
        call = self._json_call(body)
        if call is None:
            raw = self._block_head + body + closer
            self._block_head = ""
            logger.info("<tool_call> body is neither XML nor a JSON call; kept as content")
            self._content(raw)
            return
        name, arguments = call
        self._start_call(name)
        current = self._call
        assert current is not None
        for key, value in arguments.items():
            schema = current.schema.param_type(key).schema if current.schema.declares(key) else None
            value = coerce_json_value(value, schema, current.schema.param_type(key).resolver)
            current.args[key] = value
            self._args(current.writer.value(key, value))
        self._end_call()

    @staticmethod
    def _json_call(body: str) -> tuple[str, dict[str, Any]] | None:
        """``{"name": ..., "arguments": {...}}``; members too deep for JSON or holding
        non-finite numbers are kept as their JSON text (docs/behaviour.md)."""
        read = read_json_object(body)
        if read is None:
            return None
        obj, kept = read
        name = obj.get("name")
        if not isinstance(name, str) or not name or "name" in kept:
            return None
        arguments = obj.get("arguments", obj.get("parameters", {}))
        if isinstance(arguments, str):  # JSON text of the arguments (or kept as text above)
            read = read_json_object(arguments)
            arguments = read[0] if read is not None else None
        if not isinstance(arguments, dict):
            return None
        return name, arguments
