"""tool_choice that demands a call, with NOTHING scripted: the tiny random model writes whatever the
grammar lets it (``temperature=1``, several seeds, ``max_tokens=120``).

vLLM (0.32 here) constrains generation with the tool parser's structural tag for
``tool_choice="required"``, a named tool, Anthropic ``any`` / ``tool`` (mapped onto those by vLLM's
own ``/v1/messages``) and strict tools (docs/grammar.md). The tools are strict and every value is
bounded by the schema (enums, an integer range, a ``maxLength`` string, a ``pattern`` string, a
boolean): every response must carry a call, complete and valid against its tool's schema
(jsonschema), and nothing else (no content); a named choice must call that function
(benchmarks/forced_calls.py: ``complete``, which also produces the figures of docs/grammar.md).
The 16 concurrent requests against two API servers are in test_api_servers.py.

Issue 19: a random model spends its tokens on whitespace wherever the grammar allows it. Before
the grammar pinned the template's separators these failed: xgrammar's renderings of the
``maxLength`` / ``pattern`` values allowed any whitespace before ``<parameter=`` (the call never
ended), and ``required`` allowed any text after the first call (content to the token limit).
``QWEN_XML_E2E_PARSER=qwen3_coder`` runs the same checks on vLLM's in-tree parser (0 complete).
"""

from __future__ import annotations

import pytest

pytest.importorskip("jsonschema", reason="run the e2e suite with scripts/e2e/run-tests.sh")

from benchmarks.forced_calls import CHECKS, STRICT_SCHEMAS, complete, named_in, request  # noqa: E402

pytestmark = pytest.mark.e2e

SEEDS = [0, 1, 2]
MAX_TOKENS = 120


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("check", CHECKS, ids=[f"{a}-{c}-{'stream' if s else 'nonstream'}" for a, c, s in CHECKS])
def test_forced_call_is_complete(vllm, model, check, seed):
    outcome = request(vllm.base_url, model, check, STRICT_SCHEMAS, True, seed, MAX_TOKENS)
    assert complete(outcome, STRICT_SCHEMAS, named_in(check, STRICT_SCHEMAS)), outcome
