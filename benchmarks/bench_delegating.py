"""Per-delta cost through vLLM 0.33's own ``DelegatingParser.parse_delta`` (issue 11, item 5).

``bench_streaming.py`` times ``extract_tool_calls_streaming`` alone and builds the texts vLLM
would pass outside its timer. This one times what the API server runs per generated token
with ``--tool-call-parser NAME`` and no reasoning parser: the composed parser from
``ParserManager.get_parser`` (built per request by ``_vllm_loop.new_parser``: ``cls(tokenizer,
request.tools)``, then ``adjust_request``), ``parse_delta(delta_text, delta_token_ids, request,
prompt_token_ids, finished=...)`` — ``StreamState.advance`` (accumulated ``previous_text`` /
``current_text`` for a legacy tool parser, the delta alone for an engine-based one), the tool
parser's call, ``finalize_generation`` and ``finish_streaming()`` on the last delta. Same
workloads, tokenizer deltas and floor as ``bench_streaming.py`` (from ``workloads.py`` and ``harness.py``).

Figures: mean wall µs per delta and, for a shared machine, the mean thread CPU µs per delta
(``time.thread_time_ns`` around the whole stream; other processes' time slices excluded; it also
counts the client-side reassembly, ``_vllm_loop.Received``, so it is an upper bound of the
parser's share).

Parsers: ``qwen_xml_safe`` (engine-based: ``engine_based_streaming = True``), the same class
with ``engine_based_streaming = False`` (``qwen_xml_safe-legacy``: the path before issue 11),
and vLLM's in-tree ``qwen3_coder``. Interleaved run by run, best of ``--repeats`` per figure::

    python benchmarks/bench_delegating.py --sizes 1000,8000,32000,128000 --repeats 5

Needs vLLM 0.23+ (``vllm.parser``; ``parse_delta(..., finished=)``). No timing is asserted.
"""

from __future__ import annotations

import argparse
import array
import gc
import inspect
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.harness import INTREE, OURS, V, check, floor_run, pc, request  # noqa: E402
from benchmarks.workloads import Workload, make_workloads, tokenize  # noqa: E402
from qwen_xml_toolparser._vllm_loop import Received, new_parser  # noqa: E402
from qxt_support.vllm import PLUGIN_PATH  # noqa: E402

LEGACY = OURS + "-legacy"


def parser_class(name: str):
    from vllm.parser.parser_manager import ParserManager

    tool = OURS if name == LEGACY else name
    kwargs = dict(tool_parser_name=tool, reasoning_parser_name=None, enable_auto_tools=True,
                  model_name="qwen3-coder", tokenizer=V.tok)
    params = inspect.signature(ParserManager.get_parser).parameters
    kwargs = {k: v for k, v in kwargs.items() if k in params}
    cls = ParserManager.get_parser(**kwargs)
    if name == LEGACY:  # the same plugin, fed as before issue 11 (accumulated texts, no flush)
        legacy_tool = type("QwenXmlSafeLegacy", (cls.tool_parser_cls,), {"engine_based_streaming": False})
        cls = type("LegacyDelegating", (cls,), {"tool_parser_cls": legacy_tool})
    return cls


def timed_stream(name: str, wl: Workload, prompt_ids: list[int]) -> dict:
    p, req = new_parser(parser_class(name), V.tok, request(wl))
    got = Received()
    n = len(wl.ids)
    one = [[i] for i in wl.ids]
    times = array.array("q", bytes(8 * n))
    call = p.parse_delta
    c0 = time.thread_time_ns()
    for k in range(n):
        last = k == n - 1
        t0 = pc()
        dm = call(wl.deltas[k], one[k], req, prompt_ids, finished=last)
        times[k] = pc() - t0
        got.take(dm)
    cpu = time.thread_time_ns() - c0  # includes Received.take; subtracted below with the floor's
    return {"times": times, "cpu_us": cpu / n / 1000, "errors": check(wl, got),
            "engine": bool(getattr(p.tool_parser, "engine_based_streaming", False))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1000,8000,32000,128000")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--parsers", default=f"{OURS},{LEGACY},{INTREE}")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    V.load()
    try:
        from vllm.parser.abstract_parser import DelegatingParser  # noqa: F401
    except ImportError:
        print(f"vLLM {V.version} has no vllm.parser.DelegatingParser (0.23+)", file=sys.stderr)
        return 2
    from qxt_support.qwen_tokenizer import ensure_tokenizer_dir

    V.tok = V.get_tokenizer(str(ensure_tokenizer_dir()))
    V.ToolParserManager.import_tool_parser(str(PLUGIN_PATH))
    sizes = [int(x) for x in args.sizes.split(",")]
    wls = [wl for wl in make_workloads(sizes) if wl.name.startswith("write_file")]
    tokenize(wls, V.tok)
    prompt_ids = V.tok.encode("<|im_start|>user\ndo it<|im_end|>\n<|im_start|>assistant\n")
    parsers = args.parsers.split(",")
    gc.collect()
    gc.freeze()
    best: dict = {}
    errors: dict = {}
    for _ in range(args.repeats):
        for wl in wls:
            frags = [d for d in wl.deltas if d]
            c0 = time.thread_time_ns()
            floor = statistics.fmean(floor_run(frags, len(wl.deltas))) / 1000
            best.setdefault((wl.name, "floor cpu"), []).append((time.thread_time_ns() - c0) / len(wl.deltas) / 1000)
            best.setdefault((wl.name, "floor"), []).append(floor)
            for name in parsers:
                r = timed_stream(name, wl, prompt_ids)
                best.setdefault((wl.name, name), []).append(statistics.fmean(r["times"]) / 1000)
                best.setdefault((wl.name, name + " cpu"), []).append(r["cpu_us"])
                if r["errors"]:
                    errors[(wl.name, name)] = r["errors"][:3]
    rows = []
    out = {"vllm": V.version, "repeats": args.repeats, "rows": []}
    for suffix, label in (("", "wall"), (" cpu", "thread CPU")):
        head = (f"| workload ({label}) | floor µs | " + " | ".join(f"{p} µs" for p in parsers)
                + " | ours/floor | in-tree/ours |")
        rows += ["", head, "|" + "---|" * (head.count("|") - 1)]
        for wl in wls:
            f = min(best[(wl.name, "floor" + suffix)])
            vals = {p: min(best[(wl.name, p + suffix)]) for p in parsers}
            ours = vals.get(OURS)
            ratio = f"{ours / f:.2f}×" if ours else "–"
            speed = f"{vals[INTREE] / ours:.2f}×" if ours and INTREE in vals else "–"
            rows.append(f"| {wl.name} | {f:.2f} | " + " | ".join(f"{vals[p]:.2f}" for p in parsers)
                        + f" | {ratio} | {speed} |")
            out["rows"].append({"workload": wl.name, "clock": label, "floor_us": f,
                                **{f"{p}_us": v for p, v in vals.items()}})
    print(f"vLLM {V.version}: mean µs per delta through DelegatingParser.parse_delta, "
          f"best of {args.repeats}")
    print("\n".join(rows))
    for key, errs in errors.items():
        print(f"CHECK FAILED {key}: {errs}")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 1 if any(k[1] != INTREE for k in errors) else 0


if __name__ == "__main__":
    sys.exit(main())
