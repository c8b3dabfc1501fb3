"""Split invariance: the same output fed in every split mode of
tests/support/vllm_driver.py (whole, special tokens, one token, random groups of
1-8 tokens with several seeds, single characters) gives the same result
(content, call names, byte-equal arguments), and the docs/contract.md §2 invariants of
tests/support/invariants.py hold on every run.

Runs whose end the parser can see must all agree: those ended by the model
(``finish`` "stop" / "stop-merged": the EOS token id) with each other, those cut
by the token limit ("length": ``max_tokens`` reached; a cut number, object...
is left out, docs/behaviour.md) with each other. Runs with
"length-unknown" (no EOS and no max_tokens: the parser is never told that the
output ended) are only checked for the invariants.

Inputs: every recorded case (tests/fixtures), and seeded random rendered turns
(tests/support/gen.py), complete and cut inside the last call (truncated).
"""

from __future__ import annotations

import random

import pytest

from tests.support import gen, runs
from tests.support.invariants import _CLOSER, check_run, is_truncated
from tests.test_fixtures_recorded import CASES, MARKUP_IS_CONTENT, SCHEMA_SUPPLEMENTS, _case_key, _slug, tool_parser_input

KNOWN_END = ("stop", "stop-merged", "length")
N_GENERATED = 120 if runs.THOROUGH else 30


def _result(run):
    return run.content, [(c.name, c.arguments) for c in run.calls]


def check_invariance(text, tools, *, seed_base: int, allow_markup: bool = False) -> None:
    truncated = is_truncated(text)
    whole = runs.whole(text, tools)
    firsts: dict = {}
    for mode, seed, finish in runs.split_plans(truncated=truncated, seed_base=seed_base):
        run = runs.stream(text, tools, mode, seed, finish)
        check_run(run, whole, allow_markup=allow_markup, truncated=truncated)
        if finish not in KNOWN_END:
            continue
        first = firsts.setdefault(finish == "length", run)
        if _result(run) != _result(first):
            raise AssertionError(
                f"split modes disagree:\n  {first.label()}: {_result(first)}\n  {run.label()}: {_result(run)}\n"
                f"{first.describe()}\n{run.describe()}")


@pytest.mark.parametrize("i", range(len(CASES)), ids=[_slug(i, c) for i, c in enumerate(CASES)])
def test_recorded_outputs_split_invariant(driver, i):
    case = CASES[i]
    tools = SCHEMA_SUPPLEMENTS.get(case["source"], case["tools"])
    check_invariance(tool_parser_input(case), tools, seed_base=i,
                     allow_markup=_case_key(case) in MARKUP_IS_CONTENT)


@pytest.mark.parametrize("seed", range(N_GENERATED))
def test_generated_outputs_split_invariant(driver, seed):
    turn = gen.random_turn(20_000 + seed)
    check_invariance(turn.text, turn.tools, seed_base=seed)


@pytest.mark.parametrize("seed", range(N_GENERATED))
def test_truncated_outputs_split_invariant(driver, seed):
    """The same turns cut at a random point inside the last call (contract §5)."""
    turn = gen.random_turn(30_000 + seed)
    text = turn.text
    start = text.rfind("<tool_call>") + len("<tool_call>\n<function=")
    # Cut before the first closer text after the opener (a value may contain "</function>" too).
    closer = _CLOSER.search(text, start)
    end = closer.start() if closer else len(text) - len("</function>\n</tool_call>")
    cut = random.Random(seed).randint(start + 1, max(start + 1, end))
    text = text[:cut]
    assert is_truncated(text), text
    check_invariance(text, turn.tools, seed_base=seed)
