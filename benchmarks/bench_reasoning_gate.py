"""Per-step cost of structured outputs' reasoning gate (a forced call with thinking on), beside vLLM's
``qwen3`` in the same run (docs/contract.md §8.5).

What vLLM's engine core runs per generated token of a request with a forced call while the model
reasons: ``StructuredOutputManager.accept_tokens(request, [token])``, which asks the engine's own
instance of the reasoning parser whether the reasoning ended (vLLM 0.34: by token id where the
parser reports ``reasoning_end_token_ids``; 0.33: ``is_reasoning_end_streaming`` over all the
token ids so far). A scripted reasoning of ``--sizes`` tokens after a prompt ending in
``<think>\\n``, then ``</think>`` and the call, through vLLM's own manager methods with a real
xgrammar grammar (as tests/test_reasoning_gate.py). Figures: mean µs per step over the last 500
reasoning steps, per size; flat = the cost does not grow with the reasoning::

    python benchmarks/bench_reasoning_gate.py --sizes 1000,8000,32000

Needs vLLM 0.33+. No timing is asserted.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from types import SimpleNamespace

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def run(name: str, prompt_ids: list[int], output_ids: list[int], reasoning_steps: int, ctx, info, tok) -> float:
    import xgrammar as xg
    from vllm.sampling_params import StructuredOutputsParams
    from vllm.v1.structured_output import StructuredOutputManager
    from vllm.v1.structured_output.backend_xgrammar import XgrammarGrammar
    from vllm.v1.structured_output.request import StructuredOutputRequest

    from qwen_xml_toolparser._compat import ReasoningParserManager

    mgr = StructuredOutputManager.__new__(StructuredOutputManager)
    mgr.enable_in_reasoning = False
    mgr.tokenizer = tok
    mgr.reasoner_cls = ReasoningParserManager.get_reasoning_parser(name)
    sreq = StructuredOutputRequest(params=StructuredOutputsParams(structural_tag="{}"))
    sreq._grammar = XgrammarGrammar(matcher=xg.GrammarMatcher(ctx), vocab_size=info.vocab_size, ctx=ctx)
    sreq.reasoning_ended = False  # as vLLM 0.34's chat serving resolves a prompt that opened <think>
    ids = list(prompt_ids)
    request = SimpleNamespace(request_id="r", use_structured_output=True, structured_output_request=sreq,
                              prompt_token_ids=prompt_ids, all_token_ids=ids, _all_token_ids=ids)
    steps = []
    for token in output_ids:
        ids.append(token)
        start = time.perf_counter_ns()
        if not mgr.accept_tokens(request, [token]):
            raise SystemExit(f"{name}: the grammar refused token {token}")
        steps.append(time.perf_counter_ns() - start)
    if not sreq.reasoning_ended:
        raise SystemExit(f"{name}: the reasoning never ended")
    last = steps[reasoning_steps - 500:reasoning_steps]  # the last 500 reasoning steps
    return sum(last) / len(last) / 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1000,8000,32000")  # each at least 500
    args = ap.parse_args()
    import xgrammar as xg
    import vllm
    from transformers import AutoTokenizer

    from qwen_xml_toolparser._grammar import declared_parameters, widen_structural_tag
    from qwen_xml_toolparser._vllm_reasoning import register_reasoning_parser
    from qxt_support.qwen_tokenizer import ensure_tokenizer_dir

    register_reasoning_parser()
    tok = AutoTokenizer.from_pretrained(str(ensure_tokenizer_dir()))
    info = xg.TokenizerInfo.from_huggingface(tok, vocab_size=len(tok))
    tools = [{"type": "function", "function": {"name": "read_file", "parameters": {
        "type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}}}]
    tag = xg.get_model_structural_tag("qwen_3_coder", tools=tools, tool_choice="required", reasoning=False)
    ctx = xg.GrammarCompiler(info).compile_structural_tag(
        xg.StructuralTag.model_validate(widen_structural_tag(tag.model_dump(), declared_parameters(tools))))
    prompt = tok.encode("<|im_start|>user\nGo.<|im_end|>\n<|im_start|>assistant\n<think>\n", add_special_tokens=False)
    line = tok.encode("Checking the config files one by one before I read any.\n", add_special_tokens=False)
    tail = tok.encode("</think><tool_call>\n<function=read_file>\n<parameter=path>\na.conf\n</parameter>\n"
                      "</function>\n</tool_call>", add_special_tokens=False)
    print(f"vLLM {vllm.__version__}: mean µs per step of accept_tokens, the last 500 reasoning steps")
    print(f"{'reasoning tokens':>16} | {'qwen_xml_safe':>13} | {'qwen3':>7}")
    for size in (int(s) for s in args.sizes.split(",")):
        reasoning = (line * (size // len(line) + 1))[:size]
        figures = [run(name, prompt, reasoning + tail, size, ctx, info, tok) for name in ("qwen_xml_safe", "qwen3")]
        print(f"{size:>16} | {figures[0]:>13.1f} | {figures[1]:>7.1f}")


if __name__ == "__main__":
    main()
