"""Recorded public model outputs (tests/fixtures/public_reports.jsonl, a copy of
../shared/recorded/public_reports.jsonl) through the real vLLM interface.

Every case with ``expected_calls`` runs non-streaming and streaming in every
split mode of ``tests.support.vllm_driver`` (whole, special tokens, one token,
random groups of 1-8 tokens with several seeds, single characters). For each
run we compare:

* the call names, in order;
* ``json.loads(arguments)`` with the expected arguments, type-strictly
  (``1``, ``1.0`` and ``True`` are different);
* the content, after ``.strip()`` on both sides (``None`` counts as ``""``): the
  recorded notes say engines differ on the whitespace around calls, and the
  exact whitespace is pinned by the core unit tests (docs/behaviour.md);

and the docs/contract.md §2 invariants of ``tests.support.invariants`` hold (streamed ==
non-streamed, arguments JSON, partial-JSON prefixes, id/name once, no markup in
content, parser state).

Cases with ``expected_calls: null`` (policy choices, fragments, truncated
outputs) run the same way; for them only "no exception" and the invariants are
asserted. Truncated ones (contract §5) also run with ``finish="length"`` (max_tokens:
no EOS token reaches the parser).

THE TOOL PARSER'S INPUT. vLLM hands the tool parser what the reasoning parser
leaves (``--reasoning-parser qwen3``); the recorded ``output`` is the raw
completion. The rule used here (``tool_parser_input``):

1. if the output contains ``</think>``: the input is the text after the first
   ``</think>`` -- unless a ``<tool_call>`` comes before that ``</think>`` (a call
   inside reasoning: reasoning ends at ``<tool_call>``), then the input starts
   at that ``<tool_call>``;
2. the case "Tool call starts inside the prefilled <think> block without
   </think>" (a Qwen3.5 completion that starts inside the prefilled
   ``<think>``): reasoning ends at ``<tool_call>``, the input starts there;
3. otherwise the whole output (Qwen3-Coder has no reasoning).

Test-side schema supplement (the fixture file is unchanged): the recorded case
from vllm PR #47643 (``update_record``: ``id`` 42 and ``metadata`` ``None``)
expects ``{"id": 42, "metadata": null}`` but records ``tools: null``; its note
says the expectation "needs a schema where id is integer and metadata allows
null (schema not quoted)". We supply exactly that schema for the typed run, and
also run it without tools, where contract §3 ("no schema -> string") gives
``{"id": "42", "metadata": "None"}``.
"""

from __future__ import annotations

import pytest

from tests.support import runs
from tests.support.invariants import check_run, is_truncated
from tests.support.recorded import (  # noqa: F401  (re-exported for the other suites)
    CASES,
    FIXTURES,
    MARKUP_IS_CONTENT,
    PREFILLED_THINK_NOTE,
    SCHEMA_SUPPLEMENTS,
    _case_key,
    _compare,
    _expected,
    _slug,
    tool_parser_input,
)


def _params():
    out = []
    for i, case in enumerate(CASES):
        tools = SCHEMA_SUPPLEMENTS.get(case["source"], case["tools"])
        variants = [("", tools)]
        if case["source"] in SCHEMA_SUPPLEMENTS:
            variants.append(("-noschema", case["tools"]))
        for suffix, t in variants:
            text = tool_parser_input(case)
            for plan in runs.split_plans(truncated=is_truncated(text), seed_base=i):
                mode, seed, finish = plan
                pid = f"{_slug(i, case)}{suffix}-{mode}{seed if mode == 'random' else ''}-{finish}"
                out.append(pytest.param(i, suffix, t, plan, id=pid))
            out.append(pytest.param(i, suffix, t, None, id=f"{_slug(i, case)}{suffix}-nonstreaming"))
    return out


@pytest.mark.parametrize("i,suffix,tools,plan", _params())
def test_recorded_case(driver, i, suffix, tools, plan):
    case = CASES[i]
    text = tool_parser_input(case)
    whole = runs.whole(text, tools)
    expected = _expected(case, suffix)
    allow_markup = _case_key(case) in MARKUP_IS_CONTENT
    if plan is None:
        problems = []
        from tests.support.invariants import markup_in, truncation_problems, whole_problems
        problems += whole_problems(whole)
        if is_truncated(text):
            problems += truncation_problems(whole)
        if expected is not None:
            problems += _compare("non-streaming", whole.calls, whole.content, case, expected)
        elif not allow_markup and not is_truncated(text) and markup_in(whole.content):
            problems.append(f"markup {markup_in(whole.content)} in content {whole.content!r}")
        assert not problems, "\n".join(problems + [f"note: {case['note']}", whole.describe()])
        return
    mode, seed, finish = plan
    run = runs.stream(text, tools, mode, seed, finish)
    check_run(run, whole, allow_markup=allow_markup)
    if expected is not None:
        problems = _compare(f"streamed ({run.label()})", run.calls, run.content, case, expected)
        assert not problems, "\n".join(problems + [f"note: {case['note']}", run.describe()])


def test_fixture_copy_is_complete():
    """The copy holds all recorded cases; keys are as the tests expect."""
    assert len(CASES) >= 56
    for case in CASES:
        assert {"source", "output", "tools", "expected_calls", "expected_content", "note"} <= case.keys()
    assert sum(c["expected_calls"] is not None for c in CASES) >= 47
    assert sum(c["note"].startswith(PREFILLED_THINK_NOTE) for c in CASES) == 1
