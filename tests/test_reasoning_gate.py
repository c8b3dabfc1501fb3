"""Forced tool choice with thinking on: structured outputs' reasoning gate (docs/contract.md §8.5).

vLLM applies the grammar of a forced call (``tool_choice="required"`` or a named function; the
structural tag without a reasoning prefix, as vLLM 0.33+ build it) only once the reasoning parser
says the reasoning has ended. Here a scripted model writes its output token by token through
vLLM's own ``StructuredOutputManager`` methods (the gate ``_get_constraint_bounds``,
``accept_tokens``, the mask ``_masked_reasoning_ends``) with the engine's own instance of the
reasoning parser, a real xgrammar grammar (our widened tag, compiled for the real Qwen tokenizer)
in vLLM's ``XgrammarGrammar``. vLLM 0.34 asks ``reasoning_end_token_ids`` /
``find_reasoning_end`` of any reasoning parser; 0.33 asks ``is_reasoning_end_streaming`` of ours.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

pytest.importorskip("vllm")
xg = pytest.importorskip("xgrammar")
som = pytest.importorskip("vllm.v1.structured_output")
if not hasattr(som.StructuredOutputManager, "_get_constraint_bounds"):
    pytest.skip("vLLM < 0.33: no reasoning gate of this shape (docs/compat-notes.md §8)", allow_module_level=True)

from vllm.v1.structured_output.backend_xgrammar import XgrammarGrammar  # noqa: E402
from vllm.v1.structured_output.request import StructuredOutputRequest  # noqa: E402

from qwen_xml_toolparser import parse  # noqa: E402
from qwen_xml_toolparser._compat import ReasoningParserManager  # noqa: E402
from qwen_xml_toolparser._vllm_reasoning import register_reasoning_parser  # noqa: E402
from qxt_support.vllm import version_tuple  # noqa: E402
from tests.test_grammar import EOS, TOOLS, call, compiler, ours  # noqa: E402

THINK_PROMPT = "<|im_start|>user\nGo.<|im_end|>\n<|im_start|>assistant\n<think>\n"
PLAIN_PROMPT = "<|im_start|>user\nGo.<|im_end|>\n<|im_start|>assistant\n"
CALL = call("read_file", {"path": "a.conf"})
DRAFT = call("read_file", {"path": "b.conf"})
MENTION = "Every call must be wrapped in <tool_call> tags, so I write one after thinking.\n"


@dataclass
class Run:
    """What the gate let the scripted model write."""

    written: list[int] = field(default_factory=list)
    blocked: int | None = None  # the first token the mask refused (the model would have to write another)
    rejected: int | None = None  # a token the grammar refused in accept_tokens (vLLM fails the request)
    gate_opened_at: int | None = None  # index of the token in whose step reasoning_ended latched
    terminated: bool = False  # the grammar took the output and then EOS


def gate(reasoning_parser: str, prompt: str, output: str, tool_choice: Any = "required",
         served: bool = True) -> Run:
    """``served``: the serving layer has answered for the prompt (vLLM 0.34's chat serving passes
    ``reasoning_ended=False`` for a prompt that leaves the reasoning open or opens no think block);
    otherwise the engine asks its own instance ``is_reasoning_end(prompt)`` first."""
    tok, info, comp = compiler()
    ctx = comp.compile_structural_tag(ours(TOOLS, tool_choice))
    grammar = XgrammarGrammar(matcher=xg.GrammarMatcher(ctx), vocab_size=info.vocab_size, ctx=ctx)
    mgr = som.StructuredOutputManager.__new__(som.StructuredOutputManager)
    mgr.enable_in_reasoning = False
    mgr.tokenizer = tok
    mgr.reasoner_cls = ReasoningParserManager.get_reasoning_parser(reasoning_parser)
    from vllm.sampling_params import StructuredOutputsParams

    sreq = StructuredOutputRequest(params=StructuredOutputsParams(structural_tag="{}"))
    sreq._grammar = grammar
    if served and version_tuple() >= (0, 34):
        sreq.reasoning_ended = False
    prompt_ids = tok.encode(prompt, add_special_tokens=False)
    all_ids = list(prompt_ids)
    request = SimpleNamespace(request_id="r", use_structured_output=True, structured_output_request=sreq,
                              prompt_token_ids=prompt_ids, all_token_ids=all_ids, _all_token_ids=all_ids)
    run = Run()
    for token in tok.encode(output, add_special_tokens=False) + [EOS]:
        _, constraint_start = mgr._get_constraint_bounds(request, [])
        if constraint_start == 0:  # the sampled token's bitmask row is the grammar's
            if not grammar.validate_tokens([token]):
                run.blocked = token
                return run
        elif token in mgr._masked_reasoning_ends(request):
            run.blocked = token
            return run
        all_ids.append(token)
        was_open = not sreq.reasoning_ended
        if not mgr.accept_tokens(request, [token]):
            run.rejected = token
            return run
        if was_open and sreq.reasoning_ended:
            run.gate_opened_at = len(run.written)
        run.written.append(token)
    run.terminated = grammar.is_terminated()
    return run


@pytest.fixture(scope="module", autouse=True)
def _registered() -> None:
    register_reasoning_parser()


def text(run: Run, upto: int | None = None) -> str:
    tok = compiler()[0]
    return str(tok.decode(run.written[:upto]))


@pytest.mark.parametrize("reasoning", [
    "Plain reasoning.\n",
    MENTION,
    "An example:\n```\n" + DRAFT + "\n```\n",
    "Draft:\n" + DRAFT + "\nWait, the path is a.conf.\n",
], ids=["plain", "mention", "fenced-example", "draft"])
@pytest.mark.parametrize("choice", ["required", {"type": "function", "function": {"name": "read_file"}}],
                         ids=["required", "named"])
@pytest.mark.parametrize("served", [True, False], ids=["served", "engine-asks-prompt"])
def test_the_grammar_applies_after_think_end(reasoning, choice, served):
    """Whatever the reasoning holds (a <tool_call> mention, a fenced example, a draft call), the
    grammar applies from the token after </think>, and the forced call is written under it."""
    output = reasoning + "</think>" + CALL
    run = gate("qwen_xml_safe", THINK_PROMPT, output, choice, served)
    assert run.blocked is None and run.rejected is None, text(run)
    assert run.terminated
    assert run.gate_opened_at is not None and text(run, run.gate_opened_at + 1).endswith("</think>")
    # and the parsers read what was written: the reasoning, then the one call
    result = parse(text(run).split("</think>", 1)[1], TOOLS)
    assert [(c.name, c.arguments) for c in result.tool_calls] == [("read_file", '{"path": "a.conf"}')]


@pytest.mark.parametrize("after", ["Sure, here it is: ", "\n\n"], ids=["answer-text", "template-blank-line"])
def test_a_required_call_comes_right_after_the_reasoning(after):
    """After </think> the grammar allows nothing but the call: no answer text, and not even the
    blank line the chat template writes there (the call tag, ours as xgrammar's builtin, starts at
    <tool_call>: the model is steered to write it right after </think>, which the parsers read)."""
    run = gate("qwen_xml_safe", THINK_PROMPT, "Thinking.\n</think>" + after + CALL)
    assert run.gate_opened_at is not None
    assert run.blocked is not None and text(run).endswith("</think>")


def test_an_unclosed_reasoning_keeps_the_gate_closed():
    """A call the model opens inside the reasoning, without </think>, is not under the grammar
    (the gate never opens); the reasoning parser decides it (rule 2: a call, §8.5)."""
    run = gate("qwen_xml_safe", THINK_PROMPT, "I will read it.\n" + CALL)
    assert run.blocked is None and run.rejected is None and run.gate_opened_at is None


@pytest.mark.skipif(version_tuple() < (0, 34), reason="vLLM 0.33 asks reasoning_end_token_ids of engine-based parsers only")
def test_token_id_gate_declared_on_0_34(monkeypatch):
    """vLLM 0.34 finds the end by token id: </think> alone, once the output is known to start
    inside a think block (the first step reads the prompt); no implicit end, so nothing is masked
    while reasoning (a <tool_call> mention stays writable). Per step the gate then looks at the
    step's tokens only, not at the whole output (the fallback reads back to <think> each step)."""
    tok = compiler()[0]
    cls = ReasoningParserManager.get_reasoning_parser("qwen_xml_safe")
    parser = cls(tok)
    end, start = tok.convert_tokens_to_ids("</think>"), tok.convert_tokens_to_ids("<tool_call>")
    assert parser.reasoning_end_token_ids == frozenset()  # nothing known of the prompt yet
    prompt = tok.encode(THINK_PROMPT, add_special_tokens=False)
    assert not parser.is_reasoning_end_streaming(prompt + [11], [11])
    assert parser.reasoning_end_token_ids == frozenset({end})
    assert parser.implicit_reasoning_end_token_ids == frozenset()
    assert parser.find_reasoning_end([start, 11, end, start]) == (2, False)
    assert parser.find_reasoning_end([start, 11]) == (2, False)
    plain = cls(tok)
    assert plain.is_reasoning_end_streaming(tok.encode(PLAIN_PROMPT + "Hi", add_special_tokens=False), [13048])
    assert plain.reasoning_end_token_ids == frozenset()
    asked = []
    original = cls.is_reasoning_end_streaming
    monkeypatch.setattr(cls, "is_reasoning_end_streaming", lambda self, *a: asked.append(1) or original(self, *a))
    run = gate("qwen_xml_safe", THINK_PROMPT, "Thinking it over at some length.\n" * 5 + "</think>" + CALL)
    assert run.terminated and len(asked) == 1


def test_vllm_qwen3_ends_reasoning_at_a_mention():
    """Why ours declares no implicit end: vLLM's qwen3 declares <tool_call>, so the grammar starts
    at a mention inside the reasoning and the rest of the reasoning is refused."""
    run = gate("qwen3", THINK_PROMPT, MENTION + "</think>" + CALL)
    assert run.gate_opened_at is not None and text(run, run.gate_opened_at + 1).endswith("<tool_call>")
    assert run.blocked is not None or run.rejected is not None


@pytest.mark.parametrize("served", [True, False], ids=["served", "engine-asks-prompt"])
def test_prompt_without_think_block(served):
    """The turn opened no think block (Qwen3-Coder's template): the grammar applies from the
    second output token. vLLM takes the token in whose step the parser reports the end for the end
    marker, and "the reasoning ended before the first token" can only be said of the prompt, where
    saying it would also skip the parser for a model that opens <think> itself (Qwen3 2504):
    the first token is free, so a model that starts with <tool_call> is made to write another
    (§8.5; the tool parser reads the second as the call)."""
    run = gate("qwen_xml_safe", PLAIN_PROMPT, CALL, served=served)
    assert run.gate_opened_at == 0
    assert run.blocked == compiler()[0].encode("\n", add_special_tokens=False)[0] and text(run) == "<tool_call>"
    run = gate("qwen_xml_safe", PLAIN_PROMPT, "<tool_call>" + CALL, served=served)
    assert run.blocked is None and run.rejected is None and run.terminated, text(run)
    assert [c.name for c in parse(text(run), TOOLS).tool_calls] == ["read_file"]
