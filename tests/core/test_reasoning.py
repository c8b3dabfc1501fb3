"""The reasoning / content split (qwen_xml_toolparser/_reasoning.py, docs/contract.md §8), no vLLM.

Every case is checked whole, one character at a time and in random pieces (chunking
invariance), and the split is checked to reproduce the output (nothing lost or duplicated).
"""

from __future__ import annotations

import json
import random
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qwen_xml_toolparser import _reasoning, parse
from qwen_xml_toolparser._events import ContentDelta
from qwen_xml_toolparser._reasoning import TRANSITIONS, Phase, ReasoningDelta, ReasoningSplitter, split, texts
from qxt_support.reasoning_shapes import NOT_REASONING, SHAPES, TOOLS, call
from tests.core.helpers import feed_in_pieces


def run(text: str, sizes: list[int] | None = None, **kw: bool) -> tuple[str, str, bool, bool]:
    splitter = ReasoningSplitter(**kw)
    reasoning, content = texts(feed_in_pieces(splitter, text, sizes))
    return reasoning, content, splitter.ended, splitter.implicit


def pieces(text: str, seed: int) -> list[list[int]]:
    rnd = random.Random(seed)
    out: list[list[int]] = [[1] * len(text)]
    for _ in range(4):
        sizes, left = [], len(text)
        while left > 0:
            sizes.append(rnd.randint(1, 9))
            left -= sizes[-1]
        out.append(sizes)
    return out


def check(text: str, **kw: bool) -> tuple[str, str, bool, bool]:
    """Split whole and in pieces; all agree and reproduce the output. Returns the whole split."""
    whole = run(text, **kw)
    for sizes in pieces(text, len(text)):
        assert run(text, sizes, **kw) == whole, sizes
    reasoning, content, _, _ = whole
    expected = text[len("<think>"):] if kw.get("in_reasoning", True) and text.startswith("<think>") else text
    if not kw.get("in_reasoning", True):
        expected = re.sub(r"^\s*<think>", "", text)
    assert reasoning + content == expected.replace("</think>", "")
    assert "</think>" not in content
    return whole


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.name)
def test_shapes(shape):
    """The issue's shapes: reasoning, content and (through the tool parser) the calls."""
    reasoning, content, ended, _ = check(shape.output)
    assert reasoning.strip() == shape.reasoning
    assert ended
    result = parse(content, TOOLS, drop_think=True)
    assert (result.content or "").strip() == shape.content
    assert tuple((c.name, json.loads(c.arguments)) for c in result.tool_calls) == shape.calls


@pytest.mark.parametrize("name, opens, output, reasoning, content", NOT_REASONING, ids=[c[0] for c in NOT_REASONING])
def test_not_reasoning(name, opens, output, reasoning, content):
    """Rule 4: the prompt did not open a think block: content unless the output opens one."""
    r, c, ended, _ = check(output, in_reasoning=opens)
    assert (r.strip(), c.strip(), ended) == (reasoning, content, True)


# ── rule 1: what ends the reasoning, and what never does ────────────────────

@pytest.mark.parametrize("text", [
    "A mention mid-line: <tool_call><function=read_file><parameter=path>x</parameter></function></tool_call>",
    "Indented:\n  " + call("x").replace("\n", "\n  "),
    "Inline code: `<tool_call>`\n`<function=read_file>` then\n<parameter=path>",
    "Fenced:\n```xml\n" + call("x") + "\n```\nno fence closer before the end",
    "Tilde fence:\n~~~\n" + call("x", bare=True) + "\n~~~",
    "Quoted transcript:\n> " + call("x").replace("\n", "\n> "),
    "Said in quotes: \"" + call("x").replace("\n", " ") + "\"",
    "Not a frame:\n<tool_call> is the wrapper\n<function=read_file> alone is not a call either\n",
    "A bare function without parameters or closer:\n<function=read_file>\nand text",
    "<tool_call> at the very start is prose when no frame follows, then more",
])
def test_never_ends_reasoning(text):
    reasoning, content, ended, _ = check(text)
    assert (reasoning, content, ended) == (text, "", False)


@pytest.mark.parametrize("opener", [
    call("x"),
    call("x", bare=True),
    "<function=read_file>\n</function>",
    '<tool_call>\n{"name": "read_file", "arguments": {"path": "x"}}\n</tool_call>',
    "<tool_call><function=read_file><parameter=path>x</parameter></function></tool_call>",
    "<tool_call>\n<function=function=read_file>\n<parameter=path>\nx\n</parameter>\n</function>",
])
def test_line_start_call_ends_reasoning_at_its_opener(opener):
    """A call in template position with no </think> after it: the reasoning ended at its opener."""
    text = "Thinking.\n" + opener + "\n"
    reasoning, content, ended, implicit = check(text)
    assert (reasoning, content, ended, implicit) == ("Thinking.\n", opener + "\n", True, True)


def test_call_after_fence_closes_ends_reasoning():
    text = "Example:\n```\n" + call("e") + "\n```\n" + call("real")
    reasoning, content, _, implicit = check(text)
    assert content == call("real") and implicit


def test_think_end_ends_reasoning_anywhere_and_closes_fences():
    text = "open fence\n```\ncode </think>" + "\n" + call("x")
    reasoning, content, ended, implicit = check(text)
    assert (reasoning, content, ended, implicit) == ("open fence\n```\ncode ", "\n" + call("x"), True, False)


# ── rule 2: the draft decision ──────────────────────────────────────────────

@pytest.mark.parametrize("between", ["", "\nWait, wrong path.\n", "\n" + call("second draft") + "\n"])
def test_draft_followed_by_think_end_stays_reasoning(between):
    text = "Plan:\n" + call("draft") + between + "</think>\n\n" + call("real")
    reasoning, content, ended, implicit = check(text)
    assert reasoning == "Plan:\n" + call("draft") + between
    assert content == "\n\n" + call("real") and ended and not implicit


def test_held_call_not_followed_by_think_end_is_the_answer():
    text = "Plan:\n" + call("a") + "\n" + call("b") + "\nDone, those two."
    reasoning, content, ended, implicit = check(text)
    assert reasoning == "Plan:\n" and content == text[len("Plan:\n"):] and ended and implicit


def test_hold_back_only_what_is_undecided():
    """Text before the opener is reasoning at once; the call is held until </think> or the end."""
    splitter = ReasoningSplitter()
    assert splitter.feed("I will call.\n") == [ReasoningDelta("I will call.\n")]
    assert splitter.feed(call("a") + "\nand more") == []
    assert splitter.phase is Phase.HELD and not splitter.ended
    assert splitter.feed(" reasoning</thi") == []
    assert splitter.feed("nk>The answer") == [ReasoningDelta(call("a") + "\nand more reasoning"),
                                             ContentDelta("The answer")]
    assert splitter.ended and not splitter.implicit


def test_decided_at_the_end():
    splitter = ReasoningSplitter()
    splitter.feed("Go.\n" + call("a"))
    assert splitter.finish() == [ContentDelta(call("a"))]
    assert splitter.ended and splitter.implicit


def test_without_hold_the_reasoning_ends_at_the_opener_at_once():
    splitter = ReasoningSplitter(hold_calls=False)
    events = splitter.feed("Plan:\n" + call("draft") + "\n</think>\n" + call("real"))
    assert splitter.ended and splitter.implicit
    assert events == [ReasoningDelta("Plan:\n"), ContentDelta(call("draft") + "\n\n" + call("real"))]


def test_output_ending_inside_an_opener_is_content():
    """Unfinished call markup at the end: content, which the tool parser drops (contract §5)."""
    for text in ("Go.\n<tool_call>", "Go.\n<tool_call>\n<function=rea", "Go.\n<funct"):
        reasoning, content, ended, _ = check(text)
        if text.endswith("<funct"):
            assert (reasoning, content, ended) == (text, "", False)
        else:
            assert (reasoning, content, ended) == ("Go.\n", text[4:], True)


def test_leading_think_and_stray_markers():
    assert check("<think>\nR\n</think>\nA</think>B") == ("\nR\n", "\nAB", True, False)
    assert check("R <think> inside\n</think>A")[:2] == ("R <think> inside\n", "A")
    assert check("   \n", in_reasoning=False)[:3] == ("", "   \n", True)


# ── chunking invariance and round trip over generated outputs ───────────────

_ATOMS = ["<tool_call>", "</tool_call>", "<function=read_file>", "</function>", "<parameter=path>",
          "</parameter>", "</think>", "<think>", "\n", "\n", "```", "`", "x", " ", "<", "wait",
          '{"name": "read_file", "arguments": {}}', "~~~"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_ATOMS), max_size=30), st.booleans(), st.booleans(), st.integers(0, 1000))
def test_generated_outputs_split_the_same_in_any_pieces(atoms, in_reasoning, hold, seed):
    text = "".join(atoms)
    whole = run(text, in_reasoning=in_reasoning, hold_calls=hold)
    rnd = random.Random(seed)
    sizes, left = [], len(text)
    while left > 0:
        sizes.append(rnd.randint(1, 7))
        left -= sizes[-1]
    assert run(text, sizes, in_reasoning=in_reasoning, hold_calls=hold) == whole
    assert run(text, [1] * len(text), in_reasoning=in_reasoning, hold_calls=hold) == whole
    reasoning, content, _, _ = whole
    expected = re.sub(r"^\s*<think>", "", text) if not in_reasoning else (
        text[7:] if text.startswith("<think>") else text)
    assert reasoning + content == expected.replace("</think>", "")
    assert "</think>" not in content


# ── the machine ─────────────────────────────────────────────────────────────

def test_docstring_diagram_is_the_transition_table():
    drawn = "\n".join("    " + line for line in _reasoning.diagram().splitlines())
    assert drawn in (_reasoning.__doc__ or ""), "regenerate the diagram in _reasoning's docstring from diagram()"


ROUTES = {
    (Phase.START, Phase.REASONING): ("<think>x", False),
    (Phase.START, Phase.CONTENT): ("x", False),
    (Phase.REASONING, Phase.PROBE): ("<tool_call> x", True),
    (Phase.REASONING, Phase.CONTENT): ("x</think>", True),
    (Phase.PROBE, Phase.REASONING): ("<tool_call> x", True),
    (Phase.PROBE, Phase.HELD): (call("a") + "\n</think>", True),
    (Phase.PROBE, Phase.CONTENT): ("<tool_call>", True),
    (Phase.HELD, Phase.CONTENT): (call("a"), True),
}


@pytest.mark.parametrize("edge", [(f, t) for f, t, _ in TRANSITIONS], ids=lambda e: f"{e[0].value}->{e[1].value}")
def test_every_transition_is_taken(edge, monkeypatch):
    taken = []
    goto = ReasoningSplitter._goto

    def spy(self, phase):
        taken.append((self._phase, phase))
        goto(self, phase)

    monkeypatch.setattr(ReasoningSplitter, "_goto", spy)
    text, in_reasoning = ROUTES[edge]
    splitter = ReasoningSplitter(in_reasoning=in_reasoning)
    splitter.feed(text)
    splitter.finish()
    assert edge in taken


def test_no_other_transition():
    splitter = ReasoningSplitter()
    with pytest.raises(AssertionError):
        splitter._goto(Phase.HELD)


def test_feed_after_finish_and_bad_input():
    splitter = ReasoningSplitter()
    splitter.finish()
    with pytest.raises(RuntimeError):
        splitter.feed("x")
    with pytest.raises(TypeError):
        ReasoningSplitter().feed(b"x")  # type: ignore[arg-type]


def test_split_helper():
    assert split("R</think>C") == ("R", "C", True)
