"""Properties of qwen_xml_safe through SGLang's FunctionCallParser (tests/sglang/driver.py).

* Chunking invariance: the same output streamed in any chunking (one engine output, per token,
  random token groups, per character, cut at random character positions) gives exactly the
  non-streamed result (content, call names, byte-equal arguments), and the docs/contract.md §2
  invariants hold on every run. Inputs: seeded random rendered turns (tests/support/gen.py:
  random schemas, hostile values) with their generated arguments checked type-strictly, and the
  recorded outputs cut at hypothesis-chosen positions.
* The non-streaming gate: SGLang asks ``has_tool_call(text)`` without the tools and keeps the
  output as it is when the answer is no; so "no" must mean that the parse with the tools gives
  the output verbatim with no call.
* The safety net: an internal error never reaches SGLang; the rest of the output is content and
  a call that was open gets JSON that closes it.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qwen_xml_toolparser import StreamParser
from tests.sglang import driver
from tests.support import gen
from tests.support.invariants import expected_problems, is_truncated, run_problems
from tests.support.recorded import CASES, MARKUP_IS_CONTENT, _case_key
from tests.sglang.test_recorded import case_input

N_GENERATED = 25


def _agree(run, whole) -> list[str]:
    got = (run.content, [(c.name, c.arguments) for c in run.calls])
    want = (whole.content or "", [(c.name, c.arguments) for c in whole.calls])
    return [] if got == want else [f"{run.label()}: {got} != non-streamed {want}"]


@pytest.mark.parametrize("seed", range(N_GENERATED))
def test_generated_turns_are_chunking_invariant(seed):
    turn = gen.random_turn(seed)
    tools = driver.request_tools(turn.tools, [name for name, _ in turn.calls])
    whole = driver.parse_whole(turn.text, tools)
    want = [(name, args) for name, args in turn.calls]
    problems = expected_problems("non-streaming", whole.calls, whole.content, want, turn.content, strip=True)
    rng = random.Random(seed)
    cuts = sorted(rng.sample(range(1, len(turn.text)), min(12, len(turn.text) - 1)))
    pieces = [turn.text[a:b] for a, b in zip([0, *cuts], [*cuts, len(turn.text)], strict=True)]
    for mode, pieces_arg in (("whole", None), ("token", None), ("random", None), ("char", None), ("pieces", pieces)):
        run = driver.stream(turn.text, tools, mode, seed, pieces=pieces_arg)
        problems += run_problems(run, whole, truncated=False) + _agree(run, whole)
    assert not problems, "\n".join([*problems, turn.describe()])


@given(st.data())
def test_recorded_outputs_cut_anywhere(data):
    i = data.draw(st.integers(0, len(CASES) - 1), label="case")
    text, tools, _, allow_markup = case_input(i)
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(text) - 1)), max_size=20), label="cuts"))
    pieces = [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True) if a < b]
    run = driver.stream(text, tools, "pieces", pieces=pieces)
    whole = driver.parse_whole(text, tools)
    problems = run_problems(run, whole, allow_markup=_case_key(CASES[i]) in MARKUP_IS_CONTENT or allow_markup,
                            truncated=is_truncated(text)) + _agree(run, whole)
    assert not problems, "\n".join(problems)


_PIECES = ["<tool_call>", "</tool_call>", "<function=", "</function>", "<parameter=", "</parameter>", "f>", "x>",
           "bash>", "<think>", "</think>", "\n", " ", "```", "{", "}", '"', "function=", "name=", ":", "<", ">",
           "</", "</function_x>", "text", "ls", '{"name": "bash", "arguments": {}}', "<tool_use>"]
_TOOLS = [{"type": "function", "function": {"name": "bash", "parameters": {
    "type": "object", "properties": {"command": {"type": "string"}, "x": {"type": "integer"}}}}},
    {"type": "function", "function": {"name": "f"}}]


@given(st.lists(st.sampled_from(_PIECES), max_size=14).map("".join))
def test_has_tool_call_no_means_the_output_is_content(text):
    parser = driver.new_parser(_TOOLS)
    if not parser.has_tool_call(text):
        result = parser.detector.detect_and_parse(text, parser.tools)
        assert (result.normal_text, result.calls) == (text, [])


def test_internal_error_passes_the_rest_through(monkeypatch, caplog):
    text = "Hi\n<tool_call>\n<function=bash>\n<parameter=command>\nls -la\n</parameter>\n</function>\n</tool_call>"
    outputs = driver.engine_outputs(text, "token")
    real_feed, fed = StreamParser.feed, []

    def feed(self, piece):
        fed.append(piece)
        if "".join(fed).endswith("ls"):
            raise RuntimeError("boom")
        return real_feed(self, piece)

    monkeypatch.setattr(StreamParser, "feed", feed)
    parser = driver.new_parser(_TOOLS)
    content, args = "", ""
    for delta in outputs:
        normal, items = parser.parse_stream_chunk(delta)
        content += normal
        args += "".join(item.parameters for item in items)
    end_text, end_items = parser.parse_stream_end()
    content += end_text
    assert json.loads(args) == {"command": ""}  # the open call's JSON closed
    assert content.startswith("Hi") and content.endswith(text[text.index("ls"):])  # the rest, as content
    assert [r.message for r in caplog.records if r.levelname == "ERROR"] == [
        "qwen_xml_safe: internal error; passing the rest of the output through as content"]

    monkeypatch.setattr("qwen_xml_toolparser._sglang_adapter.parse", lambda *a, **k: 1 / 0)
    result = driver.new_parser(_TOOLS).detector.detect_and_parse(text, [])
    assert (result.normal_text, result.calls) == (text, [])


_REPO = Path(__file__).resolve().parents[2]
_TEXT_2026 = (_REPO / "examples" / "outputs" / "drift_qwen38.txt").read_text(encoding="utf-8")
_TOOLS_2026 = json.loads((_REPO / "examples" / "tools" / "coding_agent.json").read_text(encoding="utf-8"))
_CALLS_2026 = [("read_file", {"path": "src/app.py"}), ("run_command", {"command": "pytest -q tests/", "timeout": 120}),
               ("write_file", {"path": "notes.md", "content": "tests pass"})]


@pytest.mark.parametrize("shape", ["invoke", "bundled"])
def test_the_gate_lets_the_2026_dialects_through(shape):
    """SGLang's gate asks without the tools: a drift shape with none of the template's markers
    (an attribute opener, a JSON object under <function>NAME</function>) still reaches the parser."""
    if shape == "invoke":
        text = '<invoke name="run_command">\n<parameter name="command">ls</parameter>\n</invoke>'
        expected = [("run_command", {"command": "ls"})]
    else:
        text, expected = _TEXT_2026, _CALLS_2026
    whole = driver.parse_whole(text, _TOOLS_2026)
    assert [(c.name, json.loads(c.arguments)) for c in whole.calls] == expected
    run = driver.stream(text, _TOOLS_2026, "token")
    assert [(c.name, json.loads(c.arguments)) for c in run.calls] == expected
