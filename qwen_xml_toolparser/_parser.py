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

The buffer only ever holds text whose meaning is still undecided (a possible
marker, a held-back newline), so the work per delta is proportional to the
delta, whatever the length of the output or of a value.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterable
from typing import Any

from . import _scanner as sc
from ._coerce import coerce, coerce_json_value, could_be_non_string
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

# Value modes
_STRING = 0  # streamed as a JSON string as it arrives
_UNDECIDED = 1  # string or something else: held until only one reading remains
_TYPED = 2  # not a string: collected, emitted when complete
_DISCARD = 3  # duplicate parameter or a dropped call: read and thrown away


def _default_id() -> str:
    return "call_" + uuid.uuid4().hex[:24]


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


class _Fences:
    """Tracks whether content is inside a Markdown code fence (``` or ~~~)."""

    __slots__ = ("inside", "_head")

    def __init__(self) -> None:
        self.inside = False
        self._head: str | None = ""  # start of the current line while undecided

    def feed(self, text: str) -> None:
        start = 0
        while True:
            newline = text.find("\n", start)
            if self._head is not None:
                piece = text[start : newline if newline >= 0 else start + 8][:8]
                head = self._head + piece
                stripped = head.lstrip(" ")
                if len(head) - len(stripped) > 3:
                    self._head = None
                elif len(stripped) >= 3:
                    if stripped.startswith(("```", "~~~")):
                        self.inside = not self.inside
                    self._head = None
                elif stripped and not ("```".startswith(stripped) or "~~~".startswith(stripped)):
                    self._head = None
                else:
                    self._head = head
            if newline < 0:
                return
            self._head = ""
            start = newline + 1


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
        self._content_markers = _CONTENT_MARKERS + _THINK_MARKERS if drop_think else _CONTENT_MARKERS
        self._schemas = function_schemas(tools)
        self._new_id = id_factory
        self._buf = ""
        self._offset = 0  # position of _buf[0] in the whole output
        self._out: list[Event] = []
        self._state: Callable[[bool], bool] = self._on_content
        self._finished = False
        # content
        self._fences = _Fences()
        self._ws_held = ""  # trailing whitespace of content, dropped if a call follows
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
        self._undecided = ""
        # Hermes-style JSON body
        self._json_parts: list[str] = []

    # ── public API ───────────────────────────────────────────────────────────

    def feed(self, text: str) -> list[Event]:
        """Parse the next piece of output text and return the new events."""
        if self._finished:
            raise ParserFinishedError("feed() after finish(): use a new StreamParser for each output")
        if not text:
            return []
        self._buf += text
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
            out.append(ContentDelta(self._ws_held))
        self._ws_held = ""
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
        self._buf = self._buf[n:]
        self._offset += n

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
            self._out.append(ContentDelta(self._ws_held + body if self._ws_held else body))
            self._ws_held = text[len(body) :]
        else:
            self._ws_held += text

    def _args(self, text: str) -> None:
        call = self._call
        assert call is not None
        self._out.append(ArgumentsDelta(call.index, text))

    def _start_call(self, name: str) -> None:
        self._ws_held = ""
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

    def _on_content(self, final: bool) -> bool:
        buf = self._buf
        if not buf:
            return False
        lt = buf.find("<")
        if lt < 0:
            self._content(buf)
            self._consume(len(buf))
            return False
        if lt:
            self._content(buf[:lt])
            self._consume(lt)
            return True
        if self._fences.inside:
            return self._literal("<")
        for marker in self._content_markers:
            found = sc.match_tag(buf, 0, marker, final)
            if found is sc.NEED_MORE:
                return False
            if found:
                return self._content_marker(marker, final)
        return self._literal("<")

    def _literal(self, text: str) -> bool:
        self._content(text)
        self._consume(len(text))
        return True

    def _content_marker(self, marker: str, final: bool) -> bool:
        buf = self._buf
        if marker in _THINK_MARKERS:  # drop_think: reasoning markup never reaches content
            self._consume(len(marker))
            return True
        if marker == sc.CALL_END:
            if self._after_call:  # the closer of a bare <function=...> call
                self._consume(len(marker))
                return True
            return self._literal(marker)
        if marker == sc.CALL_START:
            k = len(marker)
            while k < len(buf) and buf[k] in _WS and k < sc.MAX_GAP:
                k += 1
            follow = next((f for f in (sc.FUNCTION_START, "{") if buf.startswith(f, k)), None)
            if follow is None:
                rest = buf[k:]
                if len(rest) < len(sc.FUNCTION_START) and sc.FUNCTION_START.startswith(rest):
                    if not final:
                        return False
                    self._block_offset = self._offset - len(self._ws_held)
                    self._unfinish(len(buf))  # a lone <tool_call> at the end of the output
                    return True
                return self._literal(marker)
            self._block_offset = self._offset - len(self._ws_held)
            if follow == "{":
                self._block_head = buf[:k]
                self._consume(k)
                self._json_parts = []
                self._state = self._on_json_body
                return True
            self._block_head = buf[: k + len(follow)]
            self._consume(k + len(follow))
            self._state = self._on_call_header
            return True
        # A bare <function=NAME>: a call only if a parameter or </function> follows.
        header = sc.match_name(buf, len(marker), final)
        if header is sc.NEED_MORE:
            return False
        if header is not None and header[0] and buf[header[1] : header[1] + 1] == ">":
            follows = sc.followed_by(buf, header[2], (sc.PARAM_START, sc.FUNCTION_END), final, end_ok=False)
            if follows is sc.NEED_MORE:
                return False
            if follows:
                self._block_offset = self._offset - len(self._ws_held)
                self._block_head = marker
                self._consume(len(marker))
                self._state = self._on_call_header
                return True
        return self._literal(marker)

    def _on_call_header(self, final: bool) -> bool:
        header = sc.match_name(self._buf, 0, final)
        if header is sc.NEED_MORE:
            return False
        if header is not None and header[1] == len(self._buf):
            # The output ended inside the header: an unfinished call, not content.
            self._unfinish(len(self._buf))
            self._state = self._on_content
            return True
        if header is None or not header[0]:
            # No usable function name: the markup was text after all.
            text, self._block_head = self._block_head, ""
            self._state = self._on_content
            self._content(text)
            return True
        name, _, end = header
        self._consume(end)
        self._start_call(name)
        self._state = self._on_function_body
        return True

    def _unfinish(self, consume: int) -> None:
        """The output ends in the markup that opens a call: drop it (see unfinished_offset)."""
        self._unfinished = self._block_offset
        self._consume(consume)
        self._block_head = ""
        self._ws_held = ""

    def _on_function_body(self, final: bool) -> bool:
        buf = self._buf
        k = 0
        while k < len(buf) and buf[k] in _WS:
            k += 1
        if k:
            self._consume(k)
            return True
        if not buf:
            return False
        for marker in _BODY_MARKERS:
            if marker == "</function":  # also drifted closers such as </function_invocation>
                end = sc.closing_tag_end(buf, 0, marker, final, partial_at_end=False)
                if end is sc.NEED_MORE:
                    return False
                if end is None:
                    continue
                self._consume(end)
                self._end_call()
                self._state = self._on_after_function
                return True
            found = sc.match_tag(buf, 0, marker, final)
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
        nxt = buf.find("<", 1)
        dropped = buf if nxt < 0 else buf[:nxt]
        if final and nxt < 0 and sc.PARAM_START.startswith(buf):
            self._value_cut = True  # the output ended inside the next parameter's header
        logger.debug("dropping %d characters of text inside a function body", len(dropped))
        self._consume(len(dropped))
        return True

    def _on_param_header(self, final: bool) -> bool:
        header = sc.match_name(self._buf, 0, final)
        if header is sc.NEED_MORE:
            return False
        if header is None:  # not a parameter header after all: skip the marker text
            self._state = self._on_function_body
            return True
        if header[1] == len(self._buf):
            self._consume(len(self._buf))  # the output ended inside a parameter header
            self._value_cut = True
            self._state = self._on_function_body
            return True
        name, _, end = header
        self._consume(end)
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
        self._undecided = ""
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
        buf = self._buf
        if self._value_start:
            if not buf:
                if not final:
                    return False
            elif buf[0] == "\n":
                self._consume(1)
                buf = self._buf
            self._value_start = False
        n = len(buf)
        pos = 0
        while True:
            lt = buf.find("<", pos)
            if lt < 0:
                if final:  # the output ended inside the value
                    self._value_cut = True
                    if self._cut_off and self._mode != _STRING:
                        self._mode = _DISCARD  # never complete a cut number, object, ... from its start
                    self._value_piece(buf[:-1] if buf.endswith("\n") else buf)
                    self._consume(n)
                    self._finish_value()
                    return False
                keep = 1 if buf[-1:] == "\n" else 0
                if n - keep:
                    piece = buf[: n - keep]
                    if self._mode == _STRING:  # the hot path, inlined: stream the piece
                        self._value_empty = False
                        self._value_text.parts.append(piece)  # type: ignore[union-attr]
                        self._out.append(ArgumentsDelta(self._call.index, escape_chunk(piece)))  # type: ignore[union-attr]
                    else:
                        self._value_piece(piece)
                    self._buf = buf[n - keep :]
                    self._offset += n - keep
                return False
            line_start = buf[lt - 1] == "\n" if lt else self._value_empty
            closer = sc.value_closer(buf, lt, line_start, final, self._implicit_param)
            if closer is None:
                pos = lt + 1
                continue
            held = lt - 1 if lt and buf[lt - 1] == "\n" else lt
            if held:
                self._value_piece(buf[:held])
            if closer is sc.NEED_MORE:
                self._consume(held)
                return False
            kind, end = closer
            self._consume(end)
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
            self._undecided += text
            assert self._vtype is not None
            if not could_be_non_string(self._undecided, self._vtype):
                self._begin_string(self._undecided)

    def _begin_string(self, text: str) -> None:
        """An undecided value turned out to be a string: start streaming it."""
        call = self._call
        assert call is not None
        value = _Text()
        value.parts.append(text)
        call.args[self._key] = value
        self._value_text = value
        self._mode = _STRING
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
            raw = self._undecided if mode == _UNDECIDED else str(self._value_text)
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
        self._undecided = ""
        self._state = self._on_function_body

    def _on_after_function(self, final: bool) -> bool:
        buf = self._buf
        k = 0
        while k < len(buf) and buf[k] in _WS:
            k += 1
        self._consume(k)
        if not self._buf:
            if final:
                self._state = self._on_content
            return final
        found = sc.match_tag(self._buf, 0, sc.CALL_END, final)
        if found is sc.NEED_MORE:
            return False
        if found:
            self._consume(len(sc.CALL_END))
        self._state = self._on_content
        return True

    def _on_json_body(self, final: bool) -> bool:
        buf = self._buf
        end = buf.find(sc.CALL_END)
        if end < 0 and not final:
            keep = 0  # keep a possible partial "</tool_call>" at the end
            for k in range(1, len(sc.CALL_END)):
                if buf.endswith(sc.CALL_END[:k]):
                    keep = k
            if len(buf) - keep:
                self._json_parts.append(buf[: len(buf) - keep])
                self._consume(len(buf) - keep)
            return False
        body_end = end if end >= 0 else len(buf)
        self._json_parts.append(buf[:body_end])
        body = "".join(self._json_parts)
        self._json_parts = []
        self._consume(body_end + (len(sc.CALL_END) if end >= 0 else 0))
        self._state = self._on_content
        call = self._json_call(body)
        if call is None:
            raw = self._block_head + body + (sc.CALL_END if end >= 0 else "")
            self._block_head = ""
            logger.info("<tool_call> body is neither XML nor a JSON call; kept as content")
            self._content(raw)
            return True
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
        return True

    @staticmethod
    def _json_call(body: str) -> tuple[str, dict[str, Any]] | None:
        try:
            obj = json.loads(body)
        except (ValueError, RecursionError):
            return None
        if not isinstance(obj, dict) or not isinstance(obj.get("name"), str) or not obj["name"]:
            return None
        arguments = obj.get("arguments", obj.get("parameters", {}))
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments)
            except (ValueError, RecursionError):
                return None
        if not isinstance(arguments, dict):
            return None
        return obj["name"], arguments
