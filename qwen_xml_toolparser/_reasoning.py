"""Splitting a thinking model's output into reasoning and content (docs/contract.md §8).

Qwen3.5+ prompts end with ``<think>\\n``: the output starts inside the reasoning
and normally closes it with ``</think>`` before the answer or the calls. The
:class:`ReasoningSplitter` decides where the reasoning ends, with the tool
parser's own rules for what opens a call (no second grammar):

1. The reasoning ends at ``</think>``, or implicitly where a call opens in
   *template position*: at the start of a line, outside a Markdown code fence
   (:class:`~._fences.Fences`), markup that :class:`~._parser.StreamParser`
   reads as the start of a call (``<tool_call>`` followed by a call's frame, a
   bare ``<function=NAME>`` followed by ``<parameter=`` or ``</function>``). A
   fresh ``StreamParser`` (the *probe*) is fed the text from the ``<`` on until
   it decides: it starts reading a call, or it gives the ``<`` back as content.
   A mention mid-line, in a fence or in inline code never ends the reasoning.
2. With ``hold_calls`` (the default), such a call is *held* from its opener
   on: followed later in the output by ``</think>``, it was a draft and
   everything up to ``</think>`` is reasoning; not followed by ``</think>``
   (the output ends), the reasoning ended at the opener and the held text is
   content (the tool parser then reads the calls). Text before the opener is
   reasoning at once; only the held text waits. Without ``hold_calls`` the
   reasoning ends at the opener at once (for servers that give a reasoning
   parser no end-of-output signal).
3. Nothing is lost or duplicated: the reasoning and content texts, with the
   ``<think>`` / ``</think>`` markers that were dropped, reproduce the output,
   whatever the pieces it is fed in. ``</think>`` never reaches content.
4. ``in_reasoning=False`` (the prompt did not open a think block): the output
   is content unless it starts, after whitespace, with ``<think>``.

The machine (a :class:`Phase` per state, one handler each; ``TRANSITIONS``)::

    start     -> reasoning "<think>" first (after whitespace)
    start     -> content   anything else first
    reasoning -> probe     a line-start "<" outside a fence that may open a call
    reasoning -> content   "</think>"
    probe     -> reasoning the probe gives the "<" back as content: reasoning text
    probe     -> held      the probe reads a call (hold_calls)
    probe     -> content   the probe reads a call (no hold_calls), or the output ends in its markup
    held      -> content   "</think>" (the held text was reasoning), or the end (it was the answer)

Cost: every character is looked at a bounded number of times. Reasoning text
is scanned once (a probe reads at most the bounded lookahead of the scanner
before it decides, and that text is scanned again once); held text is searched
once for ``</think>``, kept as the pieces it arrived in.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import ClassVar, Final

from . import _scanner as sc
from . import _table
from ._events import ContentDelta, Event, ToolCallStart
from ._fences import Fences
from ._parser import StreamParser, not_text_error

__all__ = ["Phase", "ReasoningDelta", "ReasoningSplitter", "SplitEvent", "TRANSITIONS", "split", "texts"]

_WS = " \t\r\n"
_OPENERS = (sc.CALL_START, sc.FUNCTION_START)  # what may open a call in reasoning (no tools: docs/contract.md §8)
_END_OVERLAP = len(sc.THINK_END) - 1


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    """Text for the message's ``reasoning`` (``reasoning_content``)."""

    text: str


SplitEvent = ReasoningDelta | ContentDelta


class Phase(enum.Enum):
    START = "start"  # the prompt opened no think block: "<think>" or the answer comes first
    REASONING = "reasoning"
    PROBE = "probe"  # a line-start "<" in the reasoning: does the tool parser read a call there?
    HELD = "held"  # a call opened inside open reasoning: a draft or the answer, undecided
    CONTENT = "content"  # the reasoning is over

    __hash__ = object.__hash__


_P = Phase
TRANSITIONS: Final[tuple[tuple[Phase, Phase, str], ...]] = (
    (_P.START, _P.REASONING, '"<think>" first (after whitespace)'),
    (_P.START, _P.CONTENT, "anything else first"),
    (_P.REASONING, _P.PROBE, 'a line-start "<" outside a fence that may open a call'),
    (_P.REASONING, _P.CONTENT, '"</think>"'),
    (_P.PROBE, _P.REASONING, 'the probe gives the "<" back as content: reasoning text'),
    (_P.PROBE, _P.HELD, "the probe reads a call (hold_calls)"),
    (_P.PROBE, _P.CONTENT, "the probe reads a call (no hold_calls), or the output ends in its markup"),
    (_P.HELD, _P.CONTENT, '"</think>" (the held text was reasoning), or the end (it was the answer)'),
)
_NEXT: Final[dict[Phase, frozenset[Phase]]] = _table.successors(TRANSITIONS, Phase)


def diagram() -> str:
    """The transition table as the text of the module docstring's diagram."""
    return _table.diagram(TRANSITIONS, Phase)


class ReasoningSplitter:
    """Incremental reasoning / content split of one output (see the module docstring).

    ``feed`` and ``finish`` return :class:`ReasoningDelta` and
    :class:`~._events.ContentDelta` events. ``ended`` turns true once the
    reasoning is known to be over (what follows is content); ``implicit`` tells
    that it ended at a call's opener rather than at ``</think>``.
    """

    _handlers: ClassVar[dict[Phase, Callable[[ReasoningSplitter, bool], bool]]]

    def __init__(self, *, in_reasoning: bool = True, hold_calls: bool = True) -> None:
        self._hold = hold_calls
        self._phase = Phase.REASONING if in_reasoning else Phase.START
        self._step = self._handlers[self._phase]
        self._buf = ""  # undecided text: _buf[_pos:]
        self._pos = 0
        self._out: list[SplitEvent] = []
        self._fences = Fences()
        self._line_start = True  # the next reasoning character starts a line
        self._at_start = in_reasoning  # nothing read yet: a leading "<think>" is dropped
        self._probe: StreamParser | None = None
        self._probed = 0  # _buf[:_probed] has been fed to the probe (from _pos, the "<")
        self._lead: list[str] = []  # START: the whitespace read so far
        self._held: list[str] = []  # the held text, as it arrived
        self._tail = ""  # the held text's last characters (a "</think>" may straddle pieces)
        self._finished = False
        self.ended = False
        self.implicit = False

    # ── public API ───────────────────────────────────────────────────────────

    def feed(self, text: str) -> list[SplitEvent]:
        if not isinstance(text, str):
            raise not_text_error("ReasoningSplitter.feed()", text)
        if self._finished:
            raise RuntimeError("feed() after finish(): use a new ReasoningSplitter for each output")
        if not text:
            return []
        pos = self._pos
        if pos == len(self._buf):
            self._buf = text
        else:  # bounded: a possible marker, or what a probe has not decided yet
            self._buf = self._buf[pos:] + text
            self._probed -= pos
        self._pos = 0
        return self._run(False)

    def finish(self) -> list[SplitEvent]:
        """The output ended: decide what is left (a held call is the answer)."""
        if self._finished:
            raise RuntimeError("finish() called twice: use a new ReasoningSplitter for each output")
        self._finished = True
        return self._run(True)

    @property
    def phase(self) -> Phase:
        return self._phase

    # ── the machine ──────────────────────────────────────────────────────────

    def _run(self, final: bool) -> list[SplitEvent]:
        out: list[SplitEvent] = []
        self._out = out
        while self._step(self, final):
            pass
        return out

    def _goto(self, phase: Phase) -> None:
        if phase not in _NEXT[self._phase]:
            raise AssertionError(f"splitter bug: no transition {self._phase.value} -> {phase.value}")
        self._phase = phase
        self._step = self._handlers[phase]
        if phase is Phase.CONTENT:
            self.ended = True

    def _reasoning(self, text: str) -> None:
        if text:
            self._fences.feed(text)
            self._line_start = text[-1] == "\n"
            self._emit(ReasoningDelta(text))

    def _content(self, text: str) -> None:
        if text:
            self._emit(ContentDelta(text))

    def _emit(self, event: SplitEvent) -> None:
        out = self._out
        if out and type(out[-1]) is type(event):  # one event per kind and run
            out[-1] = type(event)(out[-1].text + event.text)
        else:
            out.append(event)

    # ── phases ───────────────────────────────────────────────────────────────

    def _on_start(self, final: bool) -> bool:
        buf, p = self._buf, self._pos
        k = p
        while k < len(buf) and buf[k] in _WS:
            k += 1
        if k > p:  # leading whitespace: kept aside (markup before "<think>", else content)
            self._lead.append(buf[p:k])
            self._pos = k
        if k == len(buf) and not final:
            return False  # only whitespace so far
        found = sc.match_tag(buf, k, sc.THINK_START, final)
        if found is sc.NEED_MORE:
            return False
        lead, self._lead = "".join(self._lead), []
        if found:
            self._pos = k + len(sc.THINK_START)
            self._goto(Phase.REASONING)
        else:
            self._content(lead)
            self._goto(Phase.CONTENT)
        return True

    def _on_reasoning(self, final: bool) -> bool:
        buf, p = self._buf, self._pos
        if p == len(buf):
            return False
        if self._at_start:  # the model repeated the template's "<think>": markup, dropped
            found = sc.match_tag(buf, p, sc.THINK_START, final)
            if found is sc.NEED_MORE:
                return False
            self._at_start = False
            if found:
                self._pos = p + len(sc.THINK_START)
                return True
        step = self._text_then_think_end(self._reasoning, final)
        if step is not None:
            return step
        if self._pos > p:  # "</think>"
            self._fences.reset()
            self._goto(Phase.CONTENT)
            return True
        if self._line_start and not self._fences.inside:
            for opener in _OPENERS:
                found = sc.match_tag(buf, p, opener, final)
                if found is sc.NEED_MORE:
                    return False
                if found:
                    self._probe = StreamParser()
                    self._probed = p
                    self._goto(Phase.PROBE)
                    return True
        self._reasoning("<")
        self._pos = p + 1
        return True

    def _on_probe(self, final: bool) -> bool:
        probe = self._probe
        assert probe is not None
        buf = self._buf
        # One character at a time, so that the decision falls at the same character however the
        # output is cut into pieces (the probe leaves its content state at the opener, or gives
        # the "<" back as content). It decides within the scanner's bounded lookahead.
        events: list[Event] = []
        while not events and not probe.reading_call and self._probed < len(buf):
            events = probe.feed(buf[self._probed])
            self._probed += 1
        if final and not events and not probe.reading_call:
            events = probe.finish()
        first = events[0] if events else None
        if type(first) is ContentDelta:
            call = False  # the tool parser gives the "<" back as text: reasoning
        elif type(first) is ToolCallStart or probe.reading_call:
            call = True
        elif final:
            call = probe.unfinished_offset is not None  # the output ends inside a call's opener
        else:
            return False  # undecided: wait for more text
        self._probe = None
        if not call:
            self._reasoning("<")
            self._pos += 1
            self._goto(Phase.REASONING)  # the rest is read again as reasoning (bounded)
        elif self._hold and not final:
            self._goto(Phase.HELD)
        else:
            self.implicit = True
            self._goto(Phase.CONTENT)
        return True

    def _on_held(self, final: bool) -> bool:
        buf, p = self._buf, self._pos
        piece = buf[p:] if p else buf
        self._pos = len(buf)
        tail = self._tail + piece
        at = tail.find(sc.THINK_END)
        if at < 0:
            if piece:
                self._held.append(piece)
                self._tail = tail[-_END_OVERLAP:]
            if not final:
                return False
            # The output ended: the call was the answer, the reasoning ended at its opener.
            self._content("".join(self._held))
            self._held = []
            self.implicit = True
            self._goto(Phase.CONTENT)
            return True
        # "</think>" after the call: a draft. Everything before "</think>" was reasoning.
        cut = at - len(self._tail)  # where "</think>" starts in piece (< 0: in the held text)
        held = "".join(self._held)
        self._held, self._tail = [], ""
        self._reasoning(held[: len(held) + cut] if cut < 0 else held + piece[:cut])
        self._pos = p + cut + len(sc.THINK_END)
        self._fences.reset()
        self._goto(Phase.CONTENT)
        return True

    def _on_content(self, final: bool) -> bool:
        p = self._pos
        if p == len(self._buf):
            return False
        step = self._text_then_think_end(self._content, final)
        if step is not None:
            return step
        if self._pos == p:  # a "<" that is not "</think>" (a stray "</think>" is markup: dropped)
            self._content("<")
            self._pos = p + 1
        return True

    def _text_then_think_end(self, emit: Callable[[str], None], final: bool) -> bool | None:
        """Emit the text before the next ``<``, or read a ``</think>`` at the position.

        Returns the handler's answer when the step is over (text emitted, or undecided); None
        at a ``<``, having consumed it when it starts ``</think>``.
        """
        buf, p = self._buf, self._pos
        lt = buf.find("<", p)
        if lt != p:
            end = len(buf) if lt < 0 else lt
            emit(buf[p:end])
            self._pos = end
            return lt >= 0
        found = sc.match_tag(buf, p, sc.THINK_END, final)
        if found is sc.NEED_MORE:
            return False
        if found:
            self._pos = p + len(sc.THINK_END)
        return None


ReasoningSplitter._handlers = {
    Phase.START: ReasoningSplitter._on_start,
    Phase.REASONING: ReasoningSplitter._on_reasoning,
    Phase.PROBE: ReasoningSplitter._on_probe,
    Phase.HELD: ReasoningSplitter._on_held,
    Phase.CONTENT: ReasoningSplitter._on_content,
}


def split(text: str, *, in_reasoning: bool = True, hold_calls: bool = True) -> tuple[str, str, bool]:
    """Split a whole output: ``(reasoning, content, ended)``."""
    splitter = ReasoningSplitter(in_reasoning=in_reasoning, hold_calls=hold_calls)
    reasoning, content = texts(splitter.feed(text) + splitter.finish())
    return reasoning, content, splitter.ended


def texts(events: Iterable[SplitEvent]) -> tuple[str, str]:
    """The reasoning and the content text of split events, each joined."""
    events = list(events)
    reasoning = "".join(e.text for e in events if type(e) is ReasoningDelta)
    content = "".join(e.text for e in events if type(e) is ContentDelta)
    return reasoning, content
