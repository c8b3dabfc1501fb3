"""The structural tag of ``qwen_xml_safe`` (qwen_xml_toolparser/_grammar.py) on the grammar itself.

xgrammar's ``GrammarMatcher``, compiled with the real Qwen3 tokenizer (qxt_support/qwen_tokenizer.py),
is given a rendered call token by token (as vLLM's structured-output backend does it); the same text
goes through the parser. Checked:

* round trip: a string value that contains ``</parameter>`` (in any position that is not a viable
  closer) is accepted under our grammar and the parser returns it unchanged; xgrammar's builtin
  ``qwen_3_coder`` tag rejects it (measured here, so that a change of xgrammar shows up);
* safety: whatever value our grammar accepts, the parser returns unchanged (hypothesis, values
  built from markup fragments); a value the parser would cut short is rejected;
* strict tools: the grammar accepts the schema's values in their JSON rendering, rejects values
  outside the schema (wrong type, enum, missing required key), and the parser's coercion gives
  exactly the value written; arguments validate against the schema (jsonschema);
* reasoning: with ``reasoning=True`` the think block is accepted before the call.

Needs xgrammar with structural tags (0.2+, vLLM 0.20+); skipped on the older matrix versions,
whose vLLM has no structural-tag path (docs/grammar.md).
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qwen_xml_toolparser import parse
from qwen_xml_toolparser._grammar import VALUE_EXCLUDES, declared_parameters, widen_structural_tag

xg = pytest.importorskip("xgrammar")
if not hasattr(xg, "get_model_structural_tag") or not hasattr(xg, "StructuralTag"):
    from importlib.metadata import version

    pytest.skip(f"xgrammar {version('xgrammar')} has no model structural tags (vLLM <= 0.17: no structural-tag path, "
                "docs/grammar.md)", allow_module_level=True)
jsonschema = pytest.importorskip("jsonschema")

EOS = 151645  # <|im_end|>

TOOLS = [
    {"type": "function", "function": {"name": "write_file", "parameters": {
        "type": "object",
        "properties": {"path": {"type": "string"}, "content": {"type": "string"}, "mode": {"type": "integer"}},
        "required": ["path", "content"]}}},
    {"type": "function", "function": {"name": "read_file", "parameters": {
        "type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}}},
]
STRICT_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "count": {"type": "integer", "minimum": 0},
        "ratio": {"type": "number"},
        "flag": {"type": "boolean"},
        "color": {"type": "string", "enum": ["red", "dark blue"]},
        "tags": {"type": "array", "items": {"type": "string"}},
        "meta": {"type": "object", "properties": {"k": {"type": "integer"}}, "required": ["k"],
                 "additionalProperties": False},
        "note": {"type": "string"},
    },
    "required": ["name", "count", "flag", "color"],
    "additionalProperties": False,
}
STRICT_TOOL = {"type": "function", "function": {"name": "configure", "strict": True, "parameters": STRICT_SCHEMA}}

# String values with closer text where the template does not put a closer: the parser reads them as
# text (docs/behaviour.md "Values").
CLOSER_VALUES = [
    "x</parameter>y",
    "</parameter>",
    "ends with </parameter>",
    "</parameter>\n",
    "\n</parameter>",
    "a\n</parameter>\nb",
    "<parameter>1</parameter>\n  <next/>",
    's = s.replace("</parameter>", "")',
    "</parameter >\n</parameter\n",
    "<b>bold</b> </param> </parameters>",
    "C:\\dir\\x <tag> & </tag> é 你好",
]
# Values the parser would end early (a viable closer inside): the grammar must not allow them.
AMBIGUOUS_VALUES = [
    "x</parameter>\n<parameter=mode>",
    "x</parameter>\n</function>",
    "x\n</function>\n</tool_call>",
    "x</tool_call>\n<tool_call>",
    "line\n<parameter=mode>\n1",
]


@lru_cache(maxsize=1)
def compiler() -> Any:
    from transformers import AutoTokenizer

    from qxt_support.qwen_tokenizer import ensure_tokenizer_dir

    tok = AutoTokenizer.from_pretrained(str(ensure_tokenizer_dir()))
    info = xg.TokenizerInfo.from_huggingface(tok, vocab_size=len(tok))
    return tok, info, xg.GrammarCompiler(info)


def builtin(tools: list[dict[str, Any]], tool_choice: Any = "required", reasoning: bool = False) -> Any:
    return xg.get_model_structural_tag("qwen_3_coder", tools=tools, tool_choice=tool_choice, reasoning=reasoning)


def json_excludes() -> bool:
    return "excludes" in xg.structural_tag.JSONSchemaFormat.model_fields


def ours(tools: list[dict[str, Any]], tool_choice: Any = "required", reasoning: bool = False) -> Any:
    data = widen_structural_tag(builtin(tools, tool_choice, reasoning).model_dump(), declared_parameters(tools),
                                json_excludes())
    return xg.StructuralTag.model_validate(data)


@lru_cache(maxsize=None)
def _compiled(tag_json: str) -> Any:
    return compiler()[2].compile_structural_tag(xg.StructuralTag.model_validate_json(tag_json))


def accepts(tag: Any, text: str, by_token: bool = False) -> bool:
    """Does the grammar take ``text`` followed by the end of the output (EOS)?"""
    matcher = xg.GrammarMatcher(_compiled(tag.model_dump_json()))
    if by_token:
        tok, info, _ = compiler()
        bitmask = xg.allocate_token_bitmask(1, info.vocab_size)
        for token in tok.encode(text, add_special_tokens=False):
            matcher.fill_next_token_bitmask(bitmask)
            if not (int(bitmask[0, token // 32]) >> (token % 32)) & 1 or not matcher.accept_token(token):
                return False
    elif not matcher.accept_string(text):
        return False
    return bool(matcher.accept_token(EOS))


def call(name: str, params: dict[str, str]) -> str:
    """A call as the Qwen3-Coder chat template renders it (values already text)."""
    body = "".join(f"<parameter={k}>\n{v}\n</parameter>\n" for k, v in params.items())
    return f"<tool_call>\n<function={name}>\n{body}</function>\n</tool_call>"


def parsed_args(text: str, tools: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [(c.name, json.loads(c.arguments)) for c in parse(text, tools).tool_calls]


# ── </parameter> in values ─────────────────────────────────────────────────────────────────────

@pytest.mark.parametrize("strict", [False, True], ids=["envelope", "strict"])
@pytest.mark.parametrize("value", CLOSER_VALUES)
def test_value_with_closer_text_round_trips_under_the_grammar(value, strict):
    tools = [dict(t, function=dict(t["function"], strict=strict)) for t in TOOLS]
    text = call("write_file", {"path": "f.xml", "content": value})
    assert accepts(ours(tools), text, by_token=True)
    assert parsed_args(text, tools) == [("write_file", {"path": "f.xml", "content": value})]


def test_builtin_tag_rejects_closer_text_in_values():
    """What the widening buys: xgrammar's builtin ends a string value at the first </parameter>."""
    tools = [dict(t, function=dict(t["function"], strict=True)) for t in TOOLS]
    rejected = [v for v in CLOSER_VALUES if not accepts(builtin(tools), call("write_file", {"path": "p", "content": v}))]
    assert "x</parameter>y" in rejected and "</parameter>" in rejected


@pytest.mark.parametrize("value", AMBIGUOUS_VALUES)
def test_values_the_parser_would_cut_are_not_generated(value):
    text = call("write_file", {"path": "p", "content": value})
    assert parsed_args(text, TOOLS) != [("write_file", {"path": "p", "content": value})]  # really ambiguous
    assert not accepts(ours(TOOLS), text)


FRAGMENTS = ["</parameter>", "</parameter", "</function>", "</tool_call>", "<tool_call>", "<function=write_file>",
             "<parameter=", "<parameter=mode>", "\n", " ", "\t", "x", ">", "<", "/", "=", '"', "é"]


@given(st.lists(st.sampled_from(FRAGMENTS), max_size=12).map("".join))
def test_every_value_the_grammar_allows_round_trips(value):
    text = call("write_file", {"path": "p", "content": value})
    allowed = accepts(ours(TOOLS), text)
    assert allowed == (not any(marker in value for marker in VALUE_EXCLUDES))
    if allowed:
        assert parsed_args(text, TOOLS) == [("write_file", {"path": "p", "content": value})]


# ── tool_choice shapes ─────────────────────────────────────────────────────────────────────────

def test_named_choice_allows_only_that_function():
    named = {"type": "function", "function": {"name": "read_file"}}
    assert accepts(ours(TOOLS, named), call("read_file", {"path": "a"}), by_token=True)
    assert not accepts(ours(TOOLS, named), call("write_file", {"path": "a", "content": "b"}))


def test_required_needs_a_call_and_auto_does_not():
    assert not accepts(ours(TOOLS, "required"), "no call here")
    assert accepts(ours(TOOLS, "auto"), "no call here")
    two = call("read_file", {"path": "a"}) + "\n" + call("read_file", {"path": "b"})
    assert accepts(ours(TOOLS, "required"), two)
    # Text before the first call: as the builtin decides (the tool-choice logic is xgrammar's).
    text = "Reading.\n" + call("read_file", {"path": "a"})
    assert accepts(ours(TOOLS, "required"), text) == accepts(builtin(TOOLS, "required"), text)


NON_STRICT = [dict(t, function=dict(t["function"], strict=False)) for t in TOOLS]  # as vLLM 0.31+ pins them


def test_envelope_allows_declared_parameters_in_any_order():
    assert accepts(ours(NON_STRICT), call("write_file", {"content": "c", "path": "p"}), by_token=True)
    assert accepts(ours(NON_STRICT), call("write_file", {"mode": "not a number"}))
    assert not accepts(ours(NON_STRICT), call("write_file", {"bogus": "c"}))


@pytest.mark.parametrize("reasoning", [False, True])
def test_reasoning_block_before_the_call(reasoning):
    thought = "Let me think </parameter> about <b>it</b>.\n</think>\n\n"
    text = call("read_file", {"path": "a"})
    assert accepts(ours(TOOLS, "required", reasoning), thought + text) == reasoning
    assert accepts(ours(TOOLS, "required", reasoning), text) == (not reasoning)
    assert parsed_args(thought + text, TOOLS) == [("read_file", {"path": "a"})]


# ── strict tools: the schema's values, exactly ─────────────────────────────────────────────────

def _render(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


STRICT_OK = [
    {"name": "n", "count": 0, "flag": True, "color": "red"},
    {"name": "a</parameter>b\n", "count": 12, "ratio": -1.5e-3, "flag": False, "color": "dark blue",
     "tags": ["x", "y </parameter> z"], "meta": {"k": 3}, "note": "\nindented\n"},
    {"name": "", "count": 7, "ratio": 2, "flag": True, "color": "red", "tags": []},
]


@pytest.mark.parametrize("args", STRICT_OK)
def test_strict_values_round_trip_exactly(args):
    text = call("configure", {k: _render(v) for k, v in args.items()})
    assert accepts(ours([STRICT_TOOL]), text, by_token=True)
    [(name, got)] = parsed_args(text, [STRICT_TOOL])
    assert name == "configure" and got == args and [type(v) for v in got.values()] == [type(v) for v in args.values()]
    jsonschema.validate(got, STRICT_SCHEMA)


@pytest.mark.parametrize("rendering, value", [
    ("1E2", 100.0), ("-0.5", -0.5), ("3", 3), ("1.50", 1.5),
])
def test_strict_number_renderings_coerce_to_the_written_number(rendering, value):
    text = call("configure", {"name": "n", "count": "1", "ratio": rendering, "flag": "true", "color": "red"})
    assert accepts(ours([STRICT_TOOL]), text)
    [(_, got)] = parsed_args(text, [STRICT_TOOL])
    assert got["ratio"] == value and json.loads(rendering) == value
    jsonschema.validate(got, STRICT_SCHEMA)


@pytest.mark.parametrize("params", [
    {"name": "n", "count": "-1", "flag": "true", "color": "red"},  # minimum
    {"name": "n", "count": "1.5", "flag": "true", "color": "red"},  # not an integer
    {"name": "n", "count": "1", "flag": "yes", "color": "red"},  # not a boolean
    {"name": "n", "count": "1", "flag": "true", "color": "green"},  # not in the enum
    {"name": "n", "count": "1", "flag": "true", "color": "\nred\n"},  # enum value with extra newlines
    {"name": "n", "count": "1", "flag": "true"},  # a required key missing
    {"name": "n", "count": "1", "flag": "true", "color": "red", "meta": '{"k": "x"}'},  # nested type
    {"count": "1", "name": "n", "flag": "true", "color": "red"},  # declared order
], ids=["minimum", "integer", "boolean", "enum", "enum-newlines", "required", "nested", "order"])
def test_strict_rejects_values_outside_the_schema(params):
    assert not accepts(ours([STRICT_TOOL]), call("configure", params))


@pytest.mark.parametrize("nested", ['["x </parameter><parameter=name>"]', '["<function=f>"]'])
def test_strict_nested_strings_cannot_end_the_value(nested):
    if not json_excludes():
        pytest.skip("xgrammar < 0.2.8 has no JSONSchemaFormat.excludes: arrays / objects keep xgrammar's rendering "
                    "(docs/grammar.md)")
    text = call("configure", {"name": "n", "count": "1", "flag": "true", "color": "red", "tags": nested})
    assert not accepts(ours([STRICT_TOOL]), text)


def test_builtin_strict_enum_allows_what_the_parser_reads_as_another_value():
    """Why strict string values get exact whitespace: xgrammar's qwen_xml style lets an enum value
    carry extra newlines, which the parser keeps (only one \\n is stripped on each side)."""
    text = call("configure", {"name": "n", "count": "1", "flag": "true", "color": "\nred\n"})
    assert accepts(builtin([STRICT_TOOL]), text)
    assert parsed_args(text, [STRICT_TOOL])[0][1]["color"] == "\nred\n"


# ── a forced call always ends: separators pinned, bounded values ───────────────────────────────

BOUNDED_SCHEMA = {
    "type": "object",
    "properties": {
        "mode": {"type": "string", "enum": ["fast", "safe", "dark blue"]},
        "level": {"type": "integer", "minimum": 0, "maximum": 9},
        "verbose": {"type": "boolean"},
        "label": {"type": "string", "minLength": 1, "maxLength": 8},
        "id": {"const": "x-1"},
        "nothing": {"type": "null"},
        "word": {"type": "string", "pattern": "^[a-z]{2}$"},
    },
    "required": ["mode", "level", "verbose"],
    "additionalProperties": False,
}
BOUNDED_TOOLS = [
    {"type": "function", "function": {"name": "set_mode", "strict": True, "parameters": BOUNDED_SCHEMA}},
    {"type": "function", "function": {"name": "ping", "strict": True, "parameters": {
        "type": "object", "properties": {}, "additionalProperties": False}}},
    {"type": "function", "function": {"name": "code", "strict": True, "parameters": {
        "type": "object", "properties": {"code": {"type": "string", "format": "date"}},  # xgrammar's qwen_xml
        "required": ["code"], "additionalProperties": False}}},
    {"type": "function", "function": {"name": "pick", "strict": True, "parameters": {  # not decomposed: builtin content
        "anyOf": [{"type": "object", "properties": {"a": {"type": "integer", "maximum": 5, "minimum": 0}},
                   "required": ["a"], "additionalProperties": False}]}}},
]
WHITESPACE = [" ", "\t", "\n", "\r\n"]
SET_MODE = call("set_mode", {"mode": "fast", "level": "3", "verbose": "true"})


def _prefix_accepted(tag: Any, text: str) -> bool:
    return bool(xg.GrammarMatcher(_compiled(tag.model_dump_json())).accept_string(text))


_BETWEEN_TAGS = [
    "<tool_call>\n<function=set_mode>\n",  # after the header
    "<tool_call>\n<function=set_mode>\n<parameter=mode>\nfast\n</parameter>\n",  # between parameters
    "<tool_call>\n<function=set_mode>\n<parameter=mode>\nfast\n</parameter>\n<parameter=level>\n3\n</parameter>\n"
    "<parameter=verbose>\ntrue\n</parameter>\n",  # before </function>
    SET_MODE[: -len("</tool_call>")],  # before </tool_call>
    "<tool_call>\n<function=ping>\n",  # a function without parameters
]
# In the envelope a free value may go on after '</parameter>\n' (value text, not a separator).
_POSITIONS = [(True, where) for where in _BETWEEN_TAGS] + [
    (False, where) for where in _BETWEEN_TAGS if not where.endswith("</parameter>\n")]


@pytest.mark.parametrize("strict, where", _POSITIONS,
                         ids=[f"{'strict' if s else 'envelope'}-{i}" for i, (s, _) in enumerate(_POSITIONS)])
@pytest.mark.parametrize("ws", WHITESPACE, ids=repr)
def test_no_whitespace_of_its_own_between_the_tags(where, ws, strict):
    """Between the tags the grammar allows only what the template writes; xgrammar's builtin allows
    any amount of whitespace after the header (what a random model spent its tokens on)."""
    tools = BOUNDED_TOOLS if strict else [dict(t, function=dict(t["function"], strict=False)) for t in BOUNDED_TOOLS]
    assert _prefix_accepted(ours(tools), where)
    assert not _prefix_accepted(ours(tools), where + ws)
    if strict and where.endswith("<function=set_mode>\n"):
        assert _prefix_accepted(builtin(tools), where + ws * 50)


@pytest.mark.parametrize("choice", ["required", {"type": "function", "function": {"name": "set_mode"}}],
                         ids=["required", "named"])
def test_nothing_after_the_forced_calls_but_more_calls(choice):
    """required: calls separated by the template's \\n and the end of the output; the builtin lets
    any text follow the first call (a random model fills max_tokens with it)."""
    two = SET_MODE + "\n" + call("ping", {})
    assert accepts(ours(BOUNDED_TOOLS, choice), SET_MODE)
    for after in [" ", "\n", "\n\n" + call("ping", {}), "text"]:
        assert not accepts(ours(BOUNDED_TOOLS, choice), SET_MODE + after)
    assert accepts(ours(BOUNDED_TOOLS, choice), two) == (choice == "required")
    if choice == "required":
        assert accepts(builtin(BOUNDED_TOOLS, choice), SET_MODE + "\n\n  text")


def test_xgrammar_renderings_have_bounded_whitespace():
    """Where xgrammar renders a value itself (the qwen_xml fallback of a pattern string, a schema
    it keeps whole), at most MAX_WHITESPACE whitespace characters in a row."""
    from qwen_xml_toolparser._grammar import MAX_WHITESPACE

    head = "<tool_call>\n<function=code>\n"
    for where in (head, head + "<parameter=code>"):
        assert _prefix_accepted(ours(BOUNDED_TOOLS), where + "\n" * MAX_WHITESPACE)
        assert not _prefix_accepted(ours(BOUNDED_TOOLS), where + "\n" * (MAX_WHITESPACE + 1))
        assert _prefix_accepted(builtin(BOUNDED_TOOLS), where + "\n" * 40)
    assert accepts(ours(BOUNDED_TOOLS), call("code", {"code": "2026-12-07"}))
    pick = "<tool_call>\n<function=pick>\n"
    assert accepts(ours(BOUNDED_TOOLS, {"type": "function", "function": {"name": "pick"}}),
                   call("pick", {"a": "5"}))
    assert not _prefix_accepted(ours(BOUNDED_TOOLS), pick + " " * (MAX_WHITESPACE + 1))
    assert _prefix_accepted(builtin(BOUNDED_TOOLS), pick + " " * 40)


def _allowed(matcher: Any, bitmask: Any, vocab: int) -> Any:
    import numpy as np

    matcher.fill_next_token_bitmask(bitmask)
    bits = np.unpackbits(bitmask[0].numpy().view(np.uint8), bitorder="little")[:vocab]
    return np.flatnonzero(bits)


@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize("choice", ["required", {"type": "function", "function": {"name": "set_mode"}}],
                         ids=["required", "named"])
def test_a_whitespace_loving_model_still_finishes_the_call(choice, seed):
    """The issue-19 model: it writes whitespace whenever the grammar allows it, else the end of the
    output when that is allowed, else a random allowed token (mostly one- or two-character pieces).
    Under our grammar its first call ends (strict tools, bounded values), and every call it finishes is valid
    (required: the template's \n between calls is whitespace too, so it goes on to another call);
    under the builtin no call ever ends."""
    import random

    tok, info, _ = compiler()
    rng = random.Random(seed)
    ws_tokens = {i for i in range(len(tok)) if (t := tok.decode([i])) and not t.strip() and len(t) < 8}

    def walk(tag: Any, limit: int) -> list[int]:
        matcher = xg.GrammarMatcher(_compiled(tag.model_dump_json()))
        bitmask = xg.allocate_token_bitmask(1, info.vocab_size)
        ids: list[int] = []
        while len(ids) < limit:
            allowed = _allowed(matcher, bitmask, info.vocab_size)
            ws = [int(i) for i in allowed if int(i) in ws_tokens]
            if ws:
                token = rng.choice(ws)
            elif EOS in allowed:
                break
            else:
                token = int(rng.choice(list(allowed)))
            assert matcher.accept_token(token)
            ids.append(token)
        return ids

    tools = BOUNDED_TOOLS[:2]  # decomposed by _grammar (xgrammar's own renderings may carry a space: docs/grammar.md)
    ids = walk(ours(tools, choice), 300)
    text = tok.decode(ids)
    assert "</tool_call>" in text
    calls = parse(text, tools, cut_off=len(ids) == 300).tool_calls
    assert calls and (len(calls) == 1 or choice == "required")
    for c in calls:
        schema = next(t["function"]["parameters"] for t in tools if t["function"]["name"] == c.name)
        jsonschema.validate(json.loads(c.arguments), schema)
    assert "</tool_call>" not in tok.decode(walk(builtin(tools, choice), 300))


# Every value the parser reads back (in the template's rendering) is still generable.

_SAFE_TEXT = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12).filter(
    lambda v: not any(m in v for m in VALUE_EXCLUDES))
_BOUNDED_ARGS = st.fixed_dictionaries(
    {"mode": st.sampled_from(["fast", "safe", "dark blue"]), "level": st.integers(0, 9), "verbose": st.booleans()},
    optional={"label": _SAFE_TEXT.filter(lambda v: 1 <= len(v) <= 8 and "<" not in v[:1]), "id": st.just("x-1"),
              "nothing": st.none(), "word": st.from_regex(r"[a-z]{2}", fullmatch=True)})


@settings(max_examples=60, deadline=None)
@given(_BOUNDED_ARGS)
def test_every_schema_value_in_the_template_rendering_is_generable(args):
    ordered = {k: args[k] for k in BOUNDED_SCHEMA["properties"] if k in args}  # strict: declared order
    text = call("set_mode", {k: _render(v) for k, v in ordered.items()})
    assert accepts(ours(BOUNDED_TOOLS), text)
    assert parsed_args(text, BOUNDED_TOOLS) == [("set_mode", ordered)]


@settings(max_examples=40, deadline=None)
@given(st.dictionaries(st.sampled_from(["k", "long key", "é"]),
                       st.one_of(st.integers(), st.booleans(), st.none(), _SAFE_TEXT,
                                 st.lists(st.integers(), max_size=3)), max_size=3),
       st.lists(st.one_of(st.integers(), _SAFE_TEXT), max_size=4))
def test_json_values_in_the_template_rendering_are_generable(obj, arr):
    """Objects and arrays as the template writes them (tojson: ", " and ": ") fit the whitespace bound."""
    if not json_excludes():
        pytest.skip("xgrammar < 0.2.8: objects and arrays keep xgrammar's rendering")
    schema = {"type": "object", "properties": {"o": {"type": "object"}, "a": {"type": "array"}},
              "required": ["o", "a"], "additionalProperties": False}
    tools = [{"type": "function", "function": {"name": "f", "strict": True, "parameters": schema}}]
    text = call("f", {"o": json.dumps(obj, ensure_ascii=False), "a": json.dumps(arr, ensure_ascii=False)})
    assert accepts(ours(tools), text)
    assert parsed_args(text, tools) == [("f", {"o": obj, "a": arr})]


@pytest.mark.parametrize("value, ok", [("a", True), ("12345678", True), ("", False), ("123456789", False),
                                       ("<b>", False), ("a<b>", True), ("a<function=x>", False)])
def test_string_lengths_are_bounded(value, ok):
    text = call("set_mode", {"mode": "fast", "level": "1", "verbose": "false", "label": value})
    assert accepts(ours(BOUNDED_TOOLS), text) == ok
    if ok:
        assert parsed_args(text, BOUNDED_TOOLS)[0][1]["label"] == value
