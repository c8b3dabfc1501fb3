"""Adversarial output shapes and a deterministic work counter (issue 14).

Used by tests/test_hostile.py (work per character must not grow with size) and
benchmarks/hostile_scaling.py (time per character). Independent of
tests/support: it drives the sans-I/O core only.

Work is counted without touching the parser's hot path: :class:`CountingParser`
wraps ``feed`` and every state method (``_on_*``) and, after each step, adds the
length of every ``str`` attribute of the parser that now holds a *new* string
object. Re-slicing the buffer per marker, re-accumulating a held value or held
whitespace (``s += piece``) all replace an attribute with a new string as long
as everything held so far, so quadratic copying shows up as a count that grows
with the input; a linear parser copies each character into its state a bounded
number of times. ``steps`` counts state-method calls (work that loops without
copying).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from qwen_xml_toolparser import StreamParser

TOOL = {
    "type": "function",
    "function": {
        "name": "w",
        "parameters": {
            "type": "object",
            "properties": {
                "content": {"type": "string"},
                "n": {"type": ["string", "integer"]},
                "doc": {"anyOf": [{"type": "string"}, {"type": "object"}]},
                "obj": {"type": "object", "properties": {"k": {"type": "integer"}}},
            },
        },
    },
}
TOOLS = [TOOL]


def _call(param: str, value: str) -> str:
    return f"<tool_call>\n<function=w>\n<parameter={param}>\n{value}\n</parameter>\n</function>\n</tool_call>"


def _repeat(unit: str, n: int) -> str:
    return (unit * (n // len(unit) + 1))[:n]


def _json_doc(n: int) -> str:
    """A JSON object of about n characters (nested lists of strings and numbers)."""
    item = json.dumps({"id": 12345, "name": "node <b>&amp;</b>", "tags": ["a", "b\\n"], "ok": True}) + ", "
    body = _repeat(item, max(0, n - 20)).rsplit(", ", 1)[0]
    body = body[: body.rfind("}") + 1] if "}" in body else ""
    return '{"k": 1, "items": [' + body + "]}"


@dataclass(frozen=True)
class Shape:
    name: str
    build: Callable[[int], str]  # n -> model output of about n characters
    calls: int | None  # expected number of calls (None: at least one)
    note: str


SHAPES: list[Shape] = [
    Shape("string", lambda n: _call("content", _repeat("def f(x):\n    return x * 2  # ok\n", n)), 1,
          "a string value of code without '<'"),
    Shape("string_lt_dense", lambda n: _call("content", _repeat('<a href="x">y</a><p>\n</parameter> z\n', n)), 1,
          "a string value of '<'-dense markup, closer look-alikes included"),
    Shape("content_lt_dense", lambda n: _repeat("<div><p>a &lt; b</p></div>\n<tool_call> no\n", n), 0,
          "content: '<'-dense HTML with '<tool_call>' that is prose"),
    Shape("union_digits", lambda n: _call("n", _repeat("1234567890", n)), 1,
          "a [string, integer] value of digits"),
    Shape("union_json", lambda n: _call("doc", _json_doc(n)), 1,
          "an anyOf [string, object] value holding a JSON document"),
    Shape("typed_object", lambda n: _call("obj", _json_doc(n)), 1,
          "an object value (JSON document)"),
    Shape("newlines", lambda n: "\n" * n + _call("content", "x"), 1,
          "whitespace-only content (a model emitting newlines), then a call"),
    Shape("calls", lambda n: "\n".join(_call("content", "v") for _ in range(max(1, n // 84))), None,
          "many small calls"),
    Shape("unclosed_markers", lambda n: _repeat("<function=abc def\n<parameter=q\n</parameter <tool_call>x\n", n),
          0, "content full of call markup that never completes"),
    Shape("closer_lookahead", lambda n: _call("content", _repeat("x\n</parameter>" + " " * 200 + "y\n", n)), 1,
          "a value with '</parameter>' followed by the longest whitespace the scanner looks past"),
    Shape("hermes_json", lambda n: '<tool_call>\n{"name": "w", "arguments": '
          + _json_doc(n) + "}\n</tool_call>", 1, "a Hermes JSON body"),
    Shape("hermes_markup", lambda n: '<tool_call>\n{"name": "w", "arguments": {"content": '
          + json.dumps(_repeat("<function=x> <tool_call> a\n", n)) + "}}\n</tool_call>", 1,
          "a Hermes body whose string holds call markup (its JSON nesting is then followed)"),
    Shape("fences", lambda n: _repeat("```py\nx = '<tool_call>'\n```\n~~~~~~\n<b>\n~~~~~~\n", n), 0,
          "content with closed code fences holding call markup"),
    Shape("drift_lookalikes", lambda n: _repeat("<parameter=w> is the tool\n<tool_call>\n<parameter=w>x\n", n), 0,
          "content: drifted openers of a declared tool that never frame a call (docs/drift.md)"),
    Shape("drift_calls", lambda n: _repeat("<parameter=w>\n<parameter=content>\nv\n</parameter>\n</function>\n"
                                           "</function>\n</tool_call>\n</tool_call>\n", n), None,
          "many drifted calls: <parameter=TOOL> openers and doubled closers"),
    Shape("drift_value", lambda n: _call("content", _repeat("x <parameter=w>\n<parameter=function=w> y\n", n)), 1,
          "a string value full of drifted-opener look-alikes that do not open a call"),
]
# Issue 20: look-alikes of every 2026 dialect shape that never frame a call, such calls, made-up
# results around them, and nameless parameters held for name inference.
_LOOKALIKES_2026 = (
    '<function name="w"> is the opener\n<invoke name="w>\n<tool_name>w</tool_name> x\n<name>\nw\n</name> y\n'
    '<function=name>\nw\nz\n<parameter=name>\nw\n{"function=w> no\n{"name": "w", no\n<function>w</function> no\n'
    '<function>{"name": "w" no\n<name>w, "arguments": no\n<tool_use>\n<function_calls>\n| <invoke name="w"> |\n'
    "tool>\n_call>\n</tool\n"
)
_CALLS_2026 = (
    '<invoke name="w">\n<parameter name="content">v</parameter>\n</invoke>\n<function>w</function>\n'
    '{"content": "v"}\n<tool_name>w</tool_name>\n<parameter=content>\nv\n</parameter>\n</function>\ntool>\n'
    '{"function=w>\n<parameter=content>\nv\n</parameter>\n</function>\n<name>w, "arguments": {"n": 1}}\n'
    '<function>{"name": "w", "arguments": {}}</function>\n'
)
SHAPES += [
    Shape("drift2026_lookalikes", lambda n: _repeat(_LOOKALIKES_2026, n), 0,
          "content: line-start openers of every 2026 dialect shape that never frame a call (docs/drift.md)"),
    Shape("drift2026_calls", lambda n: _repeat(_CALLS_2026, n), None,
          "many calls in the 2026 dialects (attribute, name tag, JSON arguments, ...) and closer residue"),
    Shape("drift2026_in_results", lambda n: _repeat('<tool_response>\n<invoke name="w">\n<parameter=content>\nv\n'
                                                    "</parameter>\n</invoke>\n</tool_response>\n", n), 0,
          "drifted calls inside made-up tool results: content"),
    Shape("nameless_unclosed", lambda n: _repeat("<parameter=content>\nv\n</parameter>\n\n", n), 0,
          "nameless parameters never closed by </function>: held for name inference, then content"),
    Shape("nameless_calls", lambda n: _repeat("\n<parameter=content>\nv\n</parameter>\n</function>\n", n), None,
          "many nameless calls, each named from its keys"),
]
SHAPE_NAMES = [s.name for s in SHAPES]


def shape(name: str) -> Shape:
    return next(s for s in SHAPES if s.name == name)


def deltas(text: str, seed: int = 0, lo: int = 1, hi: int = 16) -> Iterator[str]:
    """``text`` in pieces of lo..hi characters (deterministic)."""
    rng = random.Random(seed)
    pos = 0
    while pos < len(text):
        k = rng.randint(lo, hi)
        yield text[pos : pos + k]
        pos += k


class CountingParser(StreamParser):
    """A StreamParser that counts characters copied into its string attributes, and state steps."""

    def __init__(self, tools: Any = None) -> None:
        super().__init__(tools)
        self.copied = 0
        self.steps = 0
        self._known: dict[str, int] = {}
        self._handlers = {state: self._counted(handler) for state, handler in StreamParser._handlers.items()}
        self._step = self._handlers[self._state]
        self._note()

    def _note(self) -> None:
        known = self._known
        for key, value in vars(self).items():
            if type(value) is str and known.get(key) != id(value):
                known[key] = id(value)
                self.copied += len(value)

    def _counted(self, handler: Callable[[StreamParser, bool], bool]) -> Callable[[StreamParser, bool], bool]:
        def step(parser: StreamParser, final: bool) -> bool:
            self.steps += 1
            result = handler(parser, final)
            self._note()
            return result

        return step


@dataclass
class Work:
    chars: int
    copied: int
    steps: int
    calls: int
    events: int

    @property
    def copied_per_char(self) -> float:
        return self.copied / max(1, self.chars)

    @property
    def steps_per_char(self) -> float:
        return self.steps / max(1, self.chars)


def run(text: str, pieces: Iterator[str] | None, parser: StreamParser | None = None) -> tuple[StreamParser, list]:
    """Feed ``text`` (or its pieces) and finish; return the parser and all events."""
    p = parser if parser is not None else StreamParser(TOOLS)
    events: list = []
    for piece in (pieces if pieces is not None else [text]):
        events += p.feed(piece)
    events += p.finish()
    return p, events


def measure(name: str, n: int, streamed: bool, seed: int = 0) -> Work:
    text = shape(name).build(n)
    parser = CountingParser(TOOLS)
    _, events = run(text, deltas(text, seed) if streamed else None, parser)
    return Work(len(text), parser.copied, parser.steps, parser.calls_started, len(events))


def _random_schema(rng: random.Random, depth: int, refs: list[str]):
    k = rng.randrange(9)
    if depth > 4 or k == 0:
        return rng.choice([{"type": "integer"}, {"type": "string"}, {"type": ["string", "null"]}, {},
                           {"enum": [1, "a"]}, {"$ref": rng.choice(refs)}, {"const": 3}])
    if k <= 3:
        return {rng.choice(["anyOf", "oneOf", "allOf"]): [_random_schema(rng, depth + 1, refs)
                                                         for _ in range(rng.randint(0, 3))]}
    if k <= 5:
        return {"$ref": rng.choice(refs)}
    if k == 6:
        return {"type": "object", "properties": {"k": _random_schema(rng, depth + 1, refs)}}
    if k == 7:
        return {"type": "array", "items": _random_schema(rng, depth + 1, refs)}
    return {"type": rng.choice(["integer", "number", "boolean", "object", "array", "null", "weird"])}


def random_hostile_schema(rng: random.Random) -> dict:
    """Random parameters with $defs that refer to each other (cycles included) and odd pointers."""
    names = [f"d{i}" for i in range(rng.randint(1, 6))]
    refs = [f"#/$defs/{n}" for n in names] + ["#/$defs/missing", "#/properties/a", "#", "#/L/²"]
    defs = {n: _random_schema(rng, 0, refs) for n in names}
    return {"$defs": defs, "type": "object", "properties": {"a": _random_schema(rng, 0, refs)}}


# ── reasoning shapes (issue 18): the reasoning / content split on hostile thinking-model output ──

REASONING_SHAPES: list[Shape] = [
    Shape("r_prose", lambda n: _repeat("The fix is in a.py; the test reads the config twice.\n", n), 0,
          "plain reasoning, never closed"),
    Shape("r_mentions", lambda n: _repeat("wrap it in <tool_call> tags or <function=x> <b>\n", n), 0,
          "'<'-dense reasoning with call markup mid-line"),
    Shape("r_line_start", lambda n: _repeat("<tool_call> is the wrapper\n<function=w> alone\n<function=w>\nx\n", n),
          0, "line-start call markup that is not a call: a probe on every line"),
    Shape("r_fences", lambda n: _repeat("```\n" + _call("content", "v") + "\n```\n", n), 0,
          "fenced example calls in the reasoning"),
    Shape("r_held_draft", lambda n: _call("content", "draft") + "\n" + _repeat("still thinking <b>\n", n)
          + "</think>\n" + _call("content", "real"), 1, "a draft call, a long reasoning held after it, </think>"),
    Shape("r_held_answer", lambda n: "plan\n" + _call("content", _repeat("text </thin\n", n)), 1,
          "a call in open reasoning with a long value full of '</thin', never closed: the answer"),
    Shape("r_whitespace", lambda n: "\n" * n + "<think>\nr\n</think>\nanswer", 0,
          "whitespace before <think> when the prompt opened no think block"),
]


class CountingSplitter:
    """A ReasoningSplitter that counts characters copied into its string attributes, state steps,
    and characters fed to the tool parser (its probes, then the content)."""

    def __init__(self, in_reasoning: bool) -> None:
        from qwen_xml_toolparser._reasoning import ReasoningSplitter

        self.copied = 0
        self.steps = 0
        self._known: dict[str, int] = {}
        outer = self

        class Counted(ReasoningSplitter):
            pass

        def counted(handler: Callable[[Any, bool], bool]) -> Callable[[Any, bool], bool]:
            def step(splitter: Any, final: bool) -> bool:
                outer.steps += 1
                result = handler(splitter, final)
                outer._note(splitter)
                return result

            return step

        Counted._handlers = {phase: counted(h) for phase, h in ReasoningSplitter._handlers.items()}
        self.splitter = Counted(in_reasoning=in_reasoning)

    def _note(self, splitter: Any) -> None:
        for key, value in vars(splitter).items():
            if type(value) is str and self._known.get(key) != id(value):
                self._known[key] = id(value)
                self.copied += len(value)


def measure_reasoning(name: str, n: int, streamed: bool, seed: int = 0) -> tuple[Work, str]:
    """Split the shape's output (the prompt opened the think block, except r_whitespace), then parse
    the content with the tool parser; the work of both, and the reasoning text."""
    from qwen_xml_toolparser import ContentDelta
    from qwen_xml_toolparser._reasoning import ReasoningDelta

    s = next(x for x in REASONING_SHAPES if x.name == name)
    text = s.build(n)
    counting = CountingSplitter(in_reasoning=name != "r_whitespace")
    events: list = []
    for piece in deltas(text, seed) if streamed else [text]:
        events += counting.splitter.feed(piece)
    events += counting.splitter.finish()
    content = "".join(e.text for e in events if type(e) is ContentDelta)
    reasoning = "".join(e.text for e in events if type(e) is ReasoningDelta)
    parser = CountingParser(TOOLS)
    _, parsed = run(content, deltas(content, seed) if streamed else None, parser)
    work = Work(len(text), counting.copied + parser.copied, counting.steps + parser.steps, parser.calls_started,
                len(events) + len(parsed))
    return work, reasoning
