"""Recorded public model outputs (tests/fixtures/public_reports.jsonl) through SGLang 0.5.23's own
``FunctionCallParser`` with ``--tool-call-parser qwen_xml_safe`` (tests/sglang/driver.py).

Every case runs non-streaming (``has_tool_call`` + ``parse_non_stream``, as the chat serving layer
calls them) and streaming in the modes of the driver: the whole output in one engine output, one
token per output (the real Qwen tokenizer through SGLang's incremental detokenization), random
groups of 1-8 tokens (two seeds), one character per output. Outputs cut inside a call also run
with ``finish="length"``. The input is what SGLang's reasoning parser leaves
(``tests.test_fixtures_recorded.tool_parser_input``); outputs recorded without tools run with
their calls' functions declared without a schema (``driver.request_tools``).

Checked as on vLLM (tests/test_fixtures_recorded.py): the expected calls (names; arguments
compared type-strictly after ``json.loads``) and content (stripped), and the docs/contract.md §2
invariants of ``tests.support.invariants`` (arguments canonical JSON; every streamed prefix parses
with partial-json-parser to a prefix of the final arguments; streamed == non-streamed; no markup
in content; non-streaming with no call keeps the output verbatim; no error logged).
"""

from __future__ import annotations

import pytest

from tests.sglang import driver
from tests.support.invariants import is_truncated, markup_in, run_problems, truncation_problems, whole_problems
from tests.support.recorded import (
    CASES,
    MARKUP_IS_CONTENT,
    SCHEMA_SUPPLEMENTS,
    _case_key,
    _compare,
    _slug,
    tool_parser_input,
)

STREAM_PLANS = [("whole", 0), ("token", 0), ("random", 1), ("random", 2), ("char", 0)]


def case_input(i: int) -> tuple[str, list[dict], list | None, bool]:
    """(text, the request's tools, expected calls, markup allowed in content) of case ``i``."""
    case = CASES[i]
    expected = case["expected_calls"]
    tools = SCHEMA_SUPPLEMENTS.get(case["source"], case["tools"])
    tools = driver.request_tools(tools, [c["name"] for c in expected or ()])
    return tool_parser_input(case), tools, expected, _case_key(case) in MARKUP_IS_CONTENT


def recorded_problems(i: int, plan: tuple[str, int, str] | None,
                      name: str = driver.OURS) -> tuple[list[str], list[str]]:
    """(expected-result problems, invariant problems) of case ``i`` in one mode (``plan`` None:
    non-streaming) with detector ``name``."""
    case = CASES[i]
    text, tools, expected, allow_markup = case_input(i)
    whole = driver.parse_whole(text, tools, name)
    truncated = is_truncated(text)
    if plan is None:
        invariants = whole_problems(whole)
        if truncated:
            invariants += truncation_problems(whole)
        if expected is None and not allow_markup and not truncated and markup_in(whole.content):
            invariants.append(f"markup {markup_in(whole.content)} in content {whole.content!r}")
        results = []
        if expected is not None:
            results = _compare("non-streaming", whole.calls, whole.content, case, expected)
        return results, invariants
    mode, seed, finish = plan
    run = driver.stream(text, tools, mode, seed, finish, name)
    invariants = run_problems(run, whole, allow_markup=allow_markup, truncated=truncated)
    results = []
    if expected is not None:
        results = _compare(f"streamed ({run.label()})", run.calls, run.content, case, expected)
    return results, invariants


def plans(i: int) -> list[tuple[str, int, str]]:
    finishes = ("stop", "length") if is_truncated(tool_parser_input(CASES[i])) else ("stop",)
    return [(mode, i * 1000 + seed, finish) for finish in finishes for mode, seed in STREAM_PLANS]


def _params() -> list:
    out = []
    for i, case in enumerate(CASES):
        out.append(pytest.param(i, None, id=f"{_slug(i, case)}-nonstreaming"))
        for plan in plans(i):
            mode, seed, finish = plan
            out.append(pytest.param(i, plan, id=f"{_slug(i, case)}-{mode}{seed if mode == 'random' else ''}-{finish}"))
    return out


@pytest.mark.parametrize("i,plan", _params())
def test_recorded_case(i, plan):
    results, invariants = recorded_problems(i, plan)
    assert not results + invariants, "\n".join([*results, *invariants, f"note: {CASES[i]['note']}"])
