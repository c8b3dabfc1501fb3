"""Hostile input (issue 14): schemas, output shapes and API misuse from outside.

* Scaling: every shape of tests/hostile_shapes.py at 10k .. 1M characters, as one
  delta and streamed in 1-16-character deltas; the work per character (characters
  copied into the parser's state and state steps, counted by CountingParser, not
  timed) must not grow with the size. 1M streamed only with QXT_THOROUGH=1.
* Hostile schemas: each is read within a work budget (schema nodes visited) and
  degrades to untyped strings with one log line; none raises.
* The other findings of the issue, each with a test that fails without its fix.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random

import pytest

from qwen_xml_toolparser import ArgumentsDelta, StreamParser, parse
from qwen_xml_toolparser._coerce import MAX_INT_DIGITS, MAX_JSON_DEPTH, NonStringPrefix, coerce
from qwen_xml_toolparser._schema import MAX_TOTAL_WORK, MAX_WORK, FunctionSchema, Resolver, ValueType, function_schemas
from tests.core.helpers import check, stream
from tests.hostile_shapes import REASONING_SHAPES, SHAPES, measure, measure_reasoning, random_hostile_schema

THOROUGH = os.environ.get("QXT_THOROUGH", "") not in ("", "0")


def _reject(name: str) -> None:
    raise ValueError(f"non-finite {name}")


def strict_args(text: str) -> dict:
    """Arguments text as a strict client reads it: UTF-8, JSON without NaN/Infinity, an object."""
    text.encode("utf-8")  # raises on a lone surrogate
    value = json.loads(text, parse_constant=_reject, parse_float=_finite)
    assert isinstance(value, dict)
    return value


def _finite(text: str) -> float:
    value = float(text)
    assert math.isfinite(value), text
    return value


# ── scaling ──────────────────────────────────────────────────────────────────

SINGLE_SIZES = (10_000, 1_000_000)
STREAM_SIZES = (10_000, 100_000, 1_000_000) if THOROUGH else (10_000, 100_000)


@pytest.mark.parametrize("streamed", [False, True], ids=["one-delta", "streamed"])
@pytest.mark.parametrize("shape", SHAPES, ids=[s.name for s in SHAPES])
def test_work_per_character_does_not_grow(shape, streamed):
    sizes = STREAM_SIZES if streamed else SINGLE_SIZES
    works = [measure(shape.name, n, streamed) for n in sizes]
    for w in works:
        if shape.calls is None:
            assert w.calls >= 1
        else:
            assert w.calls == shape.calls, (shape.name, w)
    small, large = works[0], works[-1]
    # Constant work per character: the largest size may not cost more per character
    # than the smallest (10 % and a small constant of slack for rounding at the edges).
    assert large.copied_per_char <= small.copied_per_char * 1.1 + 0.05, (shape.name, works)
    assert large.steps_per_char <= small.steps_per_char * 1.1 + 0.05, (shape.name, works)
    # ... and that constant is small: at most the scanner's look-ahead window per delta.
    assert large.copied_per_char < 20, (shape.name, works)


REASONING_SINGLE_SIZES = (10_000, 1_000_000) if THOROUGH else (10_000, 200_000)  # CI time: 1M costs ~30 s more


@pytest.mark.parametrize("streamed", [False, True], ids=["one-delta", "streamed"])
@pytest.mark.parametrize("shape", REASONING_SHAPES, ids=[s.name for s in REASONING_SHAPES])
def test_reasoning_split_work_per_character_does_not_grow(shape, streamed):
    """The reasoning parser's split (docs/contract.md §8, rule 7) on hostile thinking-model output,
    then the tool parser on the content: constant work per character."""
    sizes = STREAM_SIZES if streamed else REASONING_SINGLE_SIZES
    works = [measure_reasoning(shape.name, n, streamed)[0] for n in sizes]
    for w in works:
        assert w.calls == shape.calls, (shape.name, w)
    small, large = works[0], works[-1]
    assert large.copied_per_char <= small.copied_per_char * 1.1 + 0.05, (shape.name, works)
    assert large.steps_per_char <= small.steps_per_char * 1.1 + 0.05, (shape.name, works)
    assert large.copied_per_char < 20, (shape.name, works)


def test_counting_splitter_sees_quadratic_copying(monkeypatch):
    """The instrument: a START phase that kept leading whitespace in its buffer (re-read on every
    delta, as before it was set aside) is caught."""
    from qwen_xml_toolparser._reasoning import Phase, ReasoningSplitter

    def rescanning_start(self, final):
        buf = self._buf
        if buf.strip() == "" and not final:
            self._held_ws = buf  # the whole run copied again on every delta
            return False
        return original(self, final)

    original = ReasoningSplitter._handlers[Phase.START]
    monkeypatch.setitem(ReasoningSplitter._handlers, Phase.START, rescanning_start)
    works = [measure_reasoning("r_whitespace", n, True)[0] for n in (2_000, 20_000)]
    assert works[1].copied_per_char > works[0].copied_per_char * 2


def test_counting_parser_sees_quadratic_copying():
    """The instrument itself: a parser that re-accumulates held text is caught."""
    from tests.hostile_shapes import TOOLS, CountingParser, deltas, shape

    class Accumulating(CountingParser):
        def feed(self, text):
            self.held = getattr(self, "held", "") + text  # the old `_undecided += text`
            return super().feed(text)

    counts = []
    for n in (2_000, 8_000):
        text = shape("string").build(n)
        parser = Accumulating(TOOLS)
        for piece in deltas(text):
            parser.feed(piece)
            parser._note()
        counts.append(parser.copied / len(text))
    assert counts[1] > 3 * counts[0]


# ── finding 1 / 2: hostile schemas ──────────────────────────────────────────

CALL_A = "<tool_call>\n<function=f>\n<parameter=a>\n42\n</parameter>\n</function>\n</tool_call>"


def _fn(parameters) -> list:
    return [{"type": "function", "function": {"name": "f", "parameters": parameters}}]


def _self_ref(combinator: str) -> dict:
    return {"$defs": {"a": {combinator: [{"$ref": "#/$defs/a"}, {"$ref": "#/$defs/a"}]}},
            "type": "object", "properties": {"a": {"$ref": "#/$defs/a"}}}


def _chain(depth: int, leaf: dict) -> dict:
    defs = {f"d{i}": {"anyOf": [{"$ref": f"#/$defs/d{i + 1}"}, {"$ref": f"#/$defs/d{i + 1}"}]} for i in range(depth)}
    defs[f"d{depth}"] = leaf
    return {"$defs": defs, "type": "object", "properties": {"a": {"$ref": "#/$defs/d0"}}}


def _resolve(parameters) -> tuple[ValueType, Resolver]:
    fs = FunctionSchema("f", parameters)
    return fs.param_type("a"), fs._resolver


@pytest.mark.parametrize("combinator", ["anyOf", "oneOf", "allOf"])
def test_self_referential_schema_is_read_in_linear_work(combinator, caplog):
    schema = _self_ref(combinator)
    assert len(json.dumps(schema, separators=(",", ":"))) < 130
    vt, resolver = _resolve(schema)
    assert vt.is_string_only  # a cycle contributes no type
    assert resolver.work < 20
    assert parse(CALL_A, _fn(schema)).tool_calls[0].arguments == '{"a": "42"}'


def test_chain_of_two_branch_refs_is_memoised():
    vt, resolver = _resolve(_chain(16, {"type": "integer"}))
    assert vt.types == {"integer"}
    assert resolver.work < 200  # 2**16 paths, 17 nodes: about 8 units per node
    assert parse(CALL_A, _fn(_chain(16, {"type": "integer"}))).tool_calls[0].arguments == '{"a": 42}'


def test_schema_over_the_work_budget_is_untyped_with_one_log_line(caplog):
    wide = {"$defs": {"i": {"type": "integer"}}, "type": "object",
            "properties": {"a": {"anyOf": [{"type": "integer"}] * (MAX_WORK + 10)}, "b": {"type": "integer"}}}
    with caplog.at_level(logging.WARNING, logger="qwen_xml_toolparser"):
        result = parse(CALL_A.replace("</function>", "<parameter=b>\n7\n</parameter>\n</function>"), _fn(wide))
    assert json.loads(result.tool_calls[0].arguments) == {"a": "42", "b": 7}
    assert len([r for r in caplog.records if "too complex" in r.getMessage()]) == 1
    fs = FunctionSchema("f", wide)
    fs.param_type("a")
    assert fs._resolver.work <= MAX_WORK


def test_total_work_per_request_is_bounded(caplog):
    heavy = {"type": "object", "properties": {f"p{i}": {"anyOf": [{"type": "integer"}] * (MAX_WORK // 3)}
                                              for i in range(20)}}
    schemas = function_schemas([{"type": "function", "function": {"name": f"f{k}", "parameters": heavy}}
                                for k in range(10)])
    types = [schemas[f"f{k}"].param_type(f"p{i}").types for k in range(10) for i in range(20)]
    assert sum(fs._resolver.work for fs in schemas.values()) <= MAX_TOTAL_WORK
    assert types[0] == {"integer"} and types[-1] == frozenset()  # later ones over the total: untyped


def test_deep_non_recursive_schema_is_untyped():
    vt, _ = _resolve(_chain(40, {"type": "integer"}))
    assert vt.is_string_only


@pytest.mark.parametrize("ref", ["#/L/²", "#/L/" + "9" * 5000, "#/L/-1", "#/L/1e3", "#/L/0x1", "#/" + "/" * 10_000,
                                 "#/$defs/%", "http://x/y", "#/L/0/type/0"])
def test_strange_pointers_never_raise(ref, caplog):
    schema = {"L": [{"type": "integer"}], "type": "object", "properties": {"a": {"$ref": ref}}}
    result = parse(CALL_A, _fn(schema))
    assert result.tool_calls[0].arguments == '{"a": "42"}'


class _BadDump:
    def model_dump(self, **kw):
        raise RuntimeError("boom")


class _BadMapping(dict):
    def get(self, *a):
        raise RuntimeError("boom")


@pytest.mark.parametrize("tools", [
    5, "tools", [None, 5, "x", 1.5], [_BadDump()], [{"type": "function", "function": _BadDump()}],
    _fn("not a schema"), _fn({"type": "object", "properties": ["a"]}), _fn({"properties": {"a": 5}}),
    _fn({"properties": {"a": {"type": {"x": 1}, "enum": {"x": 1}, "anyOf": "x", "allOf": [5, None]}}}),
    _fn({"properties": {"a": {"$ref": 5}}}), _fn({"properties": {"a": _BadMapping(type="integer")}}),
    [{"type": "function", "function": {"name": "f", "parameters": _BadMapping(properties={})}}],
], ids=lambda t: type(t).__name__ if not isinstance(t, list) else "list")
def test_unreadable_tools_degrade_to_strings(tools, caplog):
    with caplog.at_level(logging.WARNING, logger="qwen_xml_toolparser"):
        result = parse(CALL_A, tools)
        events = StreamParser(tools).feed(CALL_A)
    assert [c.name for c in result.tool_calls] == ["f"]
    assert json.loads(result.tool_calls[0].arguments)["a"] in ("42", 42)
    assert events


def test_random_hostile_schemas_stay_within_budget():
    rng = random.Random(14)
    for _ in range(2000 if not THOROUGH else 20_000):
        schema = random_hostile_schema(rng)
        fs = FunctionSchema("f", schema)
        vt = fs.param_type("a")
        assert fs._resolver.work <= MAX_WORK
        value = "[1]" if "array" in vt.types else "42"
        args = parse(CALL_A.replace("\n42\n", f"\n{value}\n"), _fn(schema)).tool_calls[0].arguments
        strict_args(args)


# ── finding 3: union values stream as soon as only a string is possible ─────

UNIONS = [["string", "integer"], ["string", "number"], ["string", "null"], ["string", "boolean"],
          ["string", "object"], ["string", "array"], ["string", "integer", "boolean", "null"]]
SAMPLES = ["42", "-7", "007", "1e3", "3.14", "-0.5e-3", "1.7976931348623157e+308", "true", "False", "None",
           "null", "nul", "{}", '{"a": 1}', "[1, 2]", "{'a': True}", "4" * MAX_INT_DIGITS,
           "-" + "4" * MAX_INT_DIGITS, "4" * (MAX_INT_DIGITS + 1), "1" * 40 + ".5", "12abc", "", "-", "٣٤"]


@pytest.mark.parametrize("types", UNIONS, ids=lambda t: "+".join(t))
def test_prefix_rule_is_a_superset_of_the_exact_reading(types):
    vt = FunctionSchema("f", {"properties": {"a": {"type": types}}}).param_type("a")
    for sample in SAMPLES:
        value, _ = coerce(sample, vt)
        if not isinstance(value, str):
            tracker = NonStringPrefix(vt)
            for ch in sample:  # one character at a time: still alive at every prefix
                assert tracker.feed(ch), (sample, types)


def _streamed_before_closer(value: str, schema: dict) -> bool:
    """Did some of ``value`` go out as arguments before the value's closer was fed?"""
    head = "<tool_call>\n<function=f>\n<parameter=a>\n"
    parser = StreamParser(_fn({"type": "object", "properties": {"a": schema}}))
    events = parser.feed(head)
    for k in range(0, len(value), 7):
        events += parser.feed(value[k : k + 7])
    text = "".join(e.text for e in events if isinstance(e, ArgumentsDelta))
    return value[:5] in text


def test_union_value_streams_once_only_a_string_is_possible():
    union = {"type": ["string", "integer"]}
    assert _streamed_before_closer("12345abc" * 100, union)
    assert _streamed_before_closer("9" * (MAX_INT_DIGITS + 10), union)  # too long for an int
    assert not _streamed_before_closer("9" * MAX_INT_DIGITS, union)
    assert not _streamed_before_closer('{"a": ' + "1, " * 1000, {"anyOf": [{"type": "string"}, {"type": "object"}]})


# ── finding 5: fences, </think>, Hermes bodies ───────────────────────────────

CALL_F = "<tool_call>\n<function=f>\n<parameter=a>\n1\n</parameter>\n</function>\n</tool_call>"


@pytest.mark.parametrize("prose", [
    "```ls -la``` first.\n",  # inline code at a line start is no fence
    "``` `x` ```\n",
    "```\n~~~~~~~~~~\n```\n",  # a tilde line inside a backtick fence neither closes nor opens
    "~~~\nx\n```\n~~~\n",  # and the other way round
    "````\n```\n````\n",  # a shorter run does not close; the same length does
    "```py\ncode\n```   \n",  # spaces after a closing fence
    "   ```\nx\n   ```\n",  # indented up to 3 spaces
    "    ```\n",  # indented code, not a fence
    "<think>\n```\nunclosed fence in reasoning\n</think>\n\n",
])
def test_call_after_fence_like_text_is_a_call(prose):
    content, calls = check(prose + CALL_F, _fn({"type": "object", "properties": {"a": {"type": "string"}}}))
    assert calls == [("f", {"a": "1"})], (prose, content)
    # without a reasoning parser think markup is content as written (docs/contract.md §5)
    assert content == (prose.rstrip() or None)


def test_think_end_closes_a_fence_next_to_a_reasoning_parser():
    prose = "<think>\n```\nunclosed fence in reasoning\n</think>\n\n"
    tools = _fn({"type": "object", "properties": {"a": {"type": "string"}}})
    result = parse(prose + CALL_F, tools, drop_think=True)
    assert [(c.name, json.loads(c.arguments)) for c in result.tool_calls] == [("f", {"a": "1"})]
    assert result.content == "\n```\nunclosed fence in reasoning"  # stray markers dropped


@pytest.mark.parametrize("prose", [
    "```\n", "~~~~~~~~~~\nx\n~~~\n", "```\n~~~\n", "````\n```\n", "```\n``` x\n", "~~~ ```\n",
])
def test_call_inside_an_open_fence_is_content(prose):
    content, calls = check(prose + CALL_F)
    assert calls == [] and CALL_F in content


@pytest.mark.parametrize("after", [
    "\n<tool_call>\n<function=g>\n<parameter=b>\n2\n</parameter>\n</function>\n</tool_call>",
    "\n<function=g>\n<parameter=b>\n2\n</parameter>\n</function>",
    "<tool_call>\n{\"name\": \"g\", \"arguments\": {\"b\": \"2\"}}\n</tool_call>",
])
def test_hermes_body_without_closer_then_another_call(after):
    text = '<tool_call>\n{"name": "f", "arguments": {"a": "1"}}' + after
    content, calls = check(text)
    assert calls == [("f", {"a": "1"}), ("g", {"b": "2"})], content
    assert not content


def test_hermes_body_with_text_after_the_object_is_still_read_to_its_closer():
    text = '<tool_call>\n{"name": "f", "arguments": {"a": "1"}} trailing\n</tool_call>'
    content, calls = check(text)
    assert calls == [] and content == text  # unchanged: not a JSON call, kept as content


def test_hermes_body_with_call_markup_inside_a_string_is_one_call():
    args = {"code": "<tool_call>\n<function=g>\n</function>", "n": [1, {"b": "<function=x>"}]}
    text = "<tool_call>\n" + json.dumps({"name": "f", "arguments": args}) + "\n</tool_call>"
    content, calls = check(text)
    assert calls == [("f", args)] and not content


@pytest.mark.parametrize("body", ['{"x": 1}', '{"name": \n```"h", "arguments": {}}', '{"name": 5}'])
def test_hermes_body_that_is_no_call_stays_content_verbatim(body):
    text = f"Hi <tool_call>\n{body}\n \n</tool_call> there"
    content, calls = check(text)
    assert calls == [] and content == text


# ── finding 6: never NaN / Infinity, never a raw lone surrogate ─────────────


@pytest.mark.parametrize("value", ['{"k": 1e999}', '{"k": [1, -1e999]}', '{"k": {"x": NaN}}', "[1e999]",
                                   '[{"a": [Infinity]}]', "[-Infinity]", '{"k": 1E400}'])
def test_non_finite_numbers_in_values_stay_text(value):
    schema = {"type": "object", "properties": {"a": {"anyOf": [{"type": "object"}, {"type": "array"}]},
                                               "s": {"anyOf": [{"type": "string"}, {"type": "object"}]}}}
    for key in ("a", "s"):
        text = f"<tool_call>\n<function=f>\n<parameter={key}>\n{value}\n</parameter>\n</function>\n</tool_call>"
        _, calls = check(text, _fn(schema))
        assert calls == [("f", {key: value})]
        strict_args(parse(text, _fn(schema)).tool_calls[0].arguments)


def test_non_finite_numbers_in_hermes_bodies_become_their_text():
    body = '{"name": "f", "arguments": {"a": NaN, "b": 1, "c": [1e999], "d": {"e": -Infinity}}}'
    _, calls = check(f"<tool_call>\n{body}\n</tool_call>")
    assert calls == [("f", {"a": "NaN", "b": 1, "c": "[1e999]", "d": '{"e": -Infinity}'})]


@pytest.mark.parametrize("text", [
    '<tool_call>\n<function=f>\n<parameter=a>\n["\\ud800", "x"]\n</parameter>\n</function>\n</tool_call>',
    '<tool_call>\n<function=f>\n<parameter=a>\n{"\\udfff": "\\ud83d"}\n</parameter>\n</function>\n</tool_call>',
    '<tool_call>\n{"name": "f", "arguments": {"\\ud800": "\\udc00 x", "a": ["\\ud800"]}}\n</tool_call>',
])
def test_lone_surrogates_are_written_as_escapes(text):
    schema = {"type": "object", "properties": {"a": {"anyOf": [{"type": "array"}, {"type": "object"}]}}}
    result = parse(text, _fn(schema))
    args = result.tool_calls[0].arguments
    strict_args(args)
    assert "\\ud" in args
    _, calls, _ = stream(text, _fn(schema), [3] * (len(text) // 3))
    assert calls[0][1] == args
    expected = json.loads(text.split("<parameter=a>\n")[1].split("\n</parameter>")[0]) if "<parameter" in text \
        else json.loads(text.split("\n")[1])["arguments"]
    loaded = json.loads(args)
    assert loaded == ({"a": expected} if "<parameter" in text else expected)


# ── finding 7: API misuse ────────────────────────────────────────────────────


@pytest.mark.parametrize("bad", [b"<tool_call>", bytearray(b"x"), 123, 0, None, ["a", "b"], 1.5])
def test_feed_rejects_non_text_with_one_clear_error(bad):
    parser = StreamParser()
    with pytest.raises(TypeError, match=r"StreamParser.feed\(\) takes the model output as str, not \w+: "):
        parser.feed(bad)
    assert parser.feed("ok") + parser.finish()  # the parser is still usable


@pytest.mark.parametrize("bad", [None, b"x", 0, ["x"]])
def test_parse_rejects_non_text(bad):
    with pytest.raises(TypeError, match=r"parse\(\) takes the model output as str"):
        parse(bad)


def test_bytes_error_names_the_fix():
    with pytest.raises(TypeError, match=r"decode\('utf-8'\)"):
        StreamParser().feed(b"x")


# ── finding 8: big literal ints, deep JSON ───────────────────────────────────


def test_python_literal_with_a_big_int_parses_like_json():
    big = "7" * 3900
    schema = {"type": "object", "properties": {"a": {"type": "array"}}}
    as_json = parse(CALL_A.replace("\n42\n", f'\n[{big}, "x"]\n'), _fn(schema)).tool_calls[0].arguments
    as_literal = parse(CALL_A.replace("\n42\n", f"\n[{big}, 'x']\n"), _fn(schema)).tool_calls[0].arguments
    assert as_json == as_literal == '{"a": [' + big + ', "x"]}'
    too_big = "7" * (MAX_INT_DIGITS + 1)
    kept = parse(CALL_A.replace("\n42\n", f"\n[{too_big}, 'x']\n"), _fn(schema)).tool_calls[0].arguments
    assert json.loads(kept)["a"] == f"[{too_big}, 'x']"


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH - 6, MAX_JSON_DEPTH + 1, 990, 5000])
def test_deep_json_is_read_the_same_at_any_stack_depth(depth):
    deep = "[" * depth + "]" * depth
    schema = {"type": "object", "properties": {"a": {"type": "array"}}}
    xml = parse(CALL_A.replace("\n42\n", f"\n{deep}\n"), _fn(schema)).tool_calls[0].arguments
    hermes = parse('<tool_call>\n{"name": "f", "arguments": {"a": ' + deep + "}}\n</tool_call>", _fn(schema))
    assert [c.name for c in hermes.tool_calls] == ["f"]  # the call is never dropped
    assert hermes.tool_calls[0].arguments == xml
    if depth <= MAX_JSON_DEPTH:
        assert isinstance(json.loads(xml)["a"], list)
    else:
        assert json.loads(xml)["a"] == deep  # too deep for JSON: the text


def test_python_literal_fallback_does_not_warn():
    """ast.literal_eval of model text such as ``[1and 2]`` must not print SyntaxWarnings in the server log."""
    import warnings

    schema = {"type": "object", "properties": {"a": {"type": "array"}}}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        args = parse(CALL_A.replace("\n42\n", "\n[1and 2, 0x1for]\n"), _fn(schema)).tool_calls[0].arguments
    assert json.loads(args) == {"a": "[1and 2, 0x1for]"}
    assert not [w for w in caught if issubclass(w.category, SyntaxWarning)]
