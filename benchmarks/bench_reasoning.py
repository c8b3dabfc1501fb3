"""Per-delta cost of the reasoning parser beside vLLM's ``qwen3`` (issue 18, item 7), same run.

What the API server runs per generated token of a thinking model: the composed parser vLLM builds
for ``--reasoning-parser NAME --tool-call-parser qwen_xml_safe`` (``ParserManager.get_parser``),
``parse_delta(delta_text, delta_token_ids, request, prompt_token_ids, finished=...)`` for every
token of the output (real Qwen3 tokenizer deltas, ``_vllm_loop.token_texts``), the prompt ending in
``<think>\\n`` as Qwen3.5's does. NAME is ``qwen_xml_safe`` or vLLM's ``qwen3``; interleaved,
best of ``--repeats``. Every stream is checked (reasoning, content and the call as expected; for
qwen3 only where it gets the shape right, see docs/contract.md §8).

Workloads, each at ``--sizes`` characters of reasoning:

* ``think-then-call``: prose reasoning (with inline ``<tool_call>`` mentions, a fenced example
  call, line-start ``<`` markup that is not a call), ``</think>``, then one call;
* ``draft-held``: a draft call at the start of the reasoning, then the prose, ``</think>``, then
  the call: everything after the draft is held (rule 2), so this is the held path's cost;
* ``hostile``: reasoning that is nothing but line-start ``<tool_call>`` / ``<function=x>`` prose
  lines (a probe per line), then ``</think>`` and a call.

Figures: mean wall µs per delta (``time.perf_counter_ns`` around ``parse_delta``) and the ratio
of the largest to the smallest size (flat = the cost per delta does not grow with the output)::

    python benchmarks/bench_reasoning.py --sizes 2000,16000,64000 --repeats 3

Needs vLLM 0.26+ (``vllm.parser``; the engine-based reasoning hooks). No timing is asserted.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from qxt_support.qwen_tokenizer import EOS_ID  # noqa: E402
from qxt_support.reasoning_shapes import TOOLS, call  # noqa: E402
from qxt_support.vllm import PLUGIN_NAME, PLUGIN_PATH  # noqa: E402

OURS, QWEN3 = PLUGIN_NAME, "qwen3"
PROMPT = "<|im_start|>user\nFix it.<|im_end|>\n<|im_start|>assistant\n<think>\n"
PROSE = ("The failing test reads the config twice; every call must be wrapped in <tool_call> tags, and "
         "`<function=read_file>` takes a path.\nAn example of the format:\n```\n" + call("example.txt")
         + "\n```\n<b>not markup</b> and a line that starts with a tag:\n<tool_call> is only named here.\n")
HOSTILE = "<tool_call> wrapper\n<function=x> named\n<function=y>\nprose\n"


def workloads(size: int) -> list[tuple[str, str, str, list]]:
    """(name, output, expected reasoning, expected calls)."""
    prose = (PROSE * (size // len(PROSE) + 1))[:size].rsplit("\n", 1)[0] + "\n"
    hostile = (HOSTILE * (size // len(HOSTILE) + 1))[:size].rsplit("\n", 1)[0] + "\n"
    real = call("b.conf")
    calls = [("read_file", {"path": "b.conf"})]
    draft = "Draft:\n" + call("a.conf") + "\n"
    return [
        ("think-then-call", prose + "</think>\n\n" + real, prose, calls),
        ("draft-held", draft + prose + "</think>\n\n" + real, draft + prose, calls),
        ("hostile", hostile + "</think>\n\n" + real, hostile, calls),
    ]


def deltas(tok, text: str) -> tuple[list[str], list[int]]:
    from qwen_xml_toolparser._vllm_loop import token_texts

    ids = tok.encode(text, add_special_tokens=False)
    pieces = token_texts(tok, ids, skip_special_tokens=False)
    assert "".join(pieces) == text
    return pieces + [""], ids + [EOS_ID]


def run(parser_cls, tok, request, pieces, ids, prompt_ids) -> tuple[list[int], dict]:
    parser = parser_cls(tok, request.tools)
    one = [[i] for i in ids]
    times = []
    reasoning, content, args, names = [], [], [], []
    n = len(pieces)
    for k in range(n):
        t0 = time.perf_counter_ns()
        dm = parser.parse_delta(pieces[k], one[k], request, prompt_ids, finished=k == n - 1)
        times.append(time.perf_counter_ns() - t0)
        if dm is not None:
            reasoning.append(dm.reasoning or "")
            content.append(dm.content or "")
            for tc in dm.tool_calls or []:
                if tc.function and tc.function.name:
                    names.append(tc.function.name)
                if tc.function and tc.function.arguments:
                    args.append(tc.function.arguments)
    got = {"reasoning": "".join(reasoning), "content": "".join(content).strip(),
           "calls": [(names[0], json.loads("".join(args)))] if len(names) == 1 else names}
    return times, got


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="2000,16000,64000")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    import vllm
    from vllm.parser.parser_manager import ParserManager

    from qwen_xml_toolparser._compat import ToolParserManager
    from qwen_xml_toolparser._vllm_loop import chat_request
    from qxt_support.qwen_tokenizer import ensure_tokenizer_dir
    from qxt_support.vllm import get_tokenizer

    tok = get_tokenizer(ensure_tokenizer_dir())
    ToolParserManager.import_tool_parser(str(PLUGIN_PATH))  # registers both parsers
    classes = {name: ParserManager.get_parser(tool_parser_name=OURS, reasoning_parser_name=name,
                                              enable_auto_tools=True) for name in (OURS, QWEN3)}
    request = chat_request(TOOLS, tool_choice="auto")
    prompt_ids = tok.encode(PROMPT, add_special_tokens=False)
    sizes = [int(s) for s in args.sizes.split(",")]
    cases = [(size, *w) for size in sizes for w in workloads(size)]
    streams = {(size, name): deltas(tok, text) for size, name, text, _, _ in cases}
    gc.collect()
    gc.freeze()
    best: dict = {}
    wrong: dict = {}
    for _ in range(args.repeats):
        for size, name, _text, reasoning, calls in cases:
            pieces, ids = streams[(size, name)]
            for parser in (OURS, QWEN3):
                times, got = run(classes[parser], tok, request, pieces, ids, prompt_ids)
                best.setdefault((size, name, parser), []).append(statistics.fmean(times) / 1000)
                best.setdefault((size, name, parser, "max"), []).append(max(times) / 1000)
                ok = got["reasoning"] == reasoning and got["calls"] == calls and not got["content"]
                if not ok:
                    wrong[(size, name, parser)] = True
    print(f"vLLM {vllm.__version__}: mean µs per delta through parse_delta (--reasoning-parser NAME "
          f"--tool-call-parser qwen_xml_safe), best of {args.repeats}")
    head = "| workload | chars | deltas | qwen_xml_safe µs | qwen3 µs | ours/qwen3 | ours max µs | qwen3 max µs |"
    rows = [head, "|" + "---|" * (head.count("|") - 1)]
    out: dict = {"vllm": vllm.__version__, "repeats": args.repeats, "rows": []}
    for size, name, *_ in cases:
        ours, theirs = min(best[(size, name, OURS)]), min(best[(size, name, QWEN3)])
        mo, mt = min(best[(size, name, OURS, "max")]), min(best[(size, name, QWEN3, "max")])
        mark = lambda p: " (wrong)" if (size, name, p) in wrong else ""  # noqa: E731
        rows.append(f"| {name} | {size} | {len(streams[(size, name)][0])} | {ours:.2f}{mark(OURS)} | "
                    f"{theirs:.2f}{mark(QWEN3)} | {ours / theirs:.2f}× | {mo:.0f} | {mt:.0f} |")
        out["rows"].append({"workload": name, "chars": size, "ours_us": ours, "qwen3_us": theirs,
                            "ours_wrong": (size, name, OURS) in wrong, "qwen3_wrong": (size, name, QWEN3) in wrong})
    print("\n".join(rows))
    if len(sizes) > 1:
        print(f"\ngrowth of the mean per delta, {sizes[-1]} vs {sizes[0]} chars:")
        for name in dict.fromkeys(n for _, n, *_ in cases):
            for parser in (OURS, QWEN3):
                lo, hi = min(best[(sizes[0], name, parser)]), min(best[(sizes[-1], name, parser)])
                print(f"  {name:16} {parser:14} {hi / lo:.2f}×")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 1 if any(k[2] == OURS for k in wrong) else 0


if __name__ == "__main__":
    sys.exit(main())
