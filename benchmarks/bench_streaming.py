"""Streaming latency benchmark: ``qwen_xml_safe`` against vLLM's in-tree ``qwen3_coder``.

Both parsers are driven through vLLM's ``ToolParser`` interface the way the serving loop drives
them (``qwen_xml_toolparser._vllm_loop``, the one emulation of it), in one process, interleaved
run by run:

* per-token deltas of a real Qwen3 tokenizer (``_vllm_loop.token_texts``: vLLM's incremental
  detokenizer, ``tokenizers.decoders.DecodeStream``), one token per call;
* ``extract_tool_calls_streaming(previous_text, current_text, delta_text, previous_token_ids,
  current_token_ids, delta_token_ids, request)`` with the texts and id lists built *outside* the
  timer by ``ServingLoop.arguments``, as the installed vLLM builds them (0.33's
  ``StreamState.advance``): accumulated (``previous_text + delta_text``, ``previous_token_ids +
  delta_token_ids``) for legacy parsers, ``("", delta_text, [], delta_ids)`` for engine-based
  ones on 0.26+ (``engine_based_streaming = True``, which is what 0.33's in-tree ``qwen3_coder``
  is); older vLLM always accumulates;
* a ``ChatCompletionRequest`` carrying the tool schema, and the parser built from it as the
  serving layer builds it (``_vllm_loop.chat_request`` / ``new_parser``: ``cls(tokenizer,
  request.tools)`` on 0.19+, then ``adjust_request``);
* the final step: the EOS token id (``<|im_end|>``) with an empty delta text, then what the
  serving layer does to the final delta (``ServingLoop.finish``; 0.23+: ``Parser.finalize_generation``
  appends ``get_remaining_unstreamed_args()`` to the last tool call of the final delta, then
  ``finish_streaming()`` for engine-based parsers; older versions' own remainder logic). This
  "finalize" step is timed separately and included in the per-stream total.

Only the ``extract_tool_calls_streaming`` call sits between the two ``perf_counter_ns()`` reads.
The floor is the cost of building the delta objects that carry one argument fragment,
``DeltaMessage(tool_calls=[DeltaToolCall(index=0, function=DeltaFunctionCall(arguments=f))])``,
timed the same way in the same run. Peak memory per stream is measured in a separate untimed pass
with ``tracemalloc`` (the harness's own strings and lists are subtracted, see ``memory_pass``).
Every stream is checked: the streamed arguments of every call parse to exactly the generated
arguments (types included), names and ids are sent once, and prose before a call ends up in
``content``.

Run from the repository root with the vLLM venv's python::

    python benchmarks/bench_streaming.py            # full run (~1 min on a quiet 2-core machine)
    python benchmarks/bench_streaming.py --quick    # CI: tiny sizes, 1 repeat, no files (~18 s)

A full run writes ``results.json``, ``results.md`` and ``latency_32k.png`` to ``--out``
(default ``benchmarks/out/``, not tracked by git); ``--json`` / ``--markdown`` / ``--plot`` name
the files one by one. The committed figures (``benchmarks/RESULTS.md``,
``benchmarks/results-vllm-*.json``, ``benchmarks/latency_32k.png``) are copied from such a run on
purpose; no run writes them.

``--quick`` is a correctness check: every stream of every parser is checked as above, and the
timings it prints are indicative only (tiny sizes, one repeat): they are not judged. A full run
evaluates the targets (reported, never asserted). The exit code is 1 only when a correctness check
fails for ``qwen_xml_safe`` (failures of the in-tree parser are reported, not fatal), 2 on setup
errors. ``qwen_xml_safe`` is loaded from ``qwen_xml_toolparser/plugin.py`` with
``ToolParserManager.import_tool_parser``; when that file does not exist it is skipped with a
warning (``--require-plugin`` turns that into an error).

Modules: ``workloads.py`` (what is streamed), ``harness.py`` (driving and timing a parser),
``report.py`` (statistics, tables, targets, plot), this file (the command line).
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import statistics
import sys
import time
import tracemalloc
import warnings
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.harness import (  # noqa: E402
    INTREE,
    OURS,
    V,
    _gc_cb,
    chunk_run,
    floor_run,
    memory_pass,
    serving_loop,
    timed_stream,
    timer_overhead,
)
from benchmarks.report import aggregate, machine_info, plot, report, targets  # noqa: E402
from benchmarks.workloads import make_workloads, tokenize  # noqa: E402
from qxt_support.vllm import PLUGIN_PATH  # noqa: E402

DEFAULT_OUT = REPO / "benchmarks" / "out"
QUICK_NOTE = ("--quick checks correctness only: every stream of every parser must deliver each call's "
              "arguments exactly as generated (JSON, types included), id and name once, the prose before "
              "a call as content. Its timings are indicative (tiny sizes, one repeat) and not judged; "
              "a full run (without --quick) measures and evaluates the targets.")

# --------------------------------------------------------------------------------------------

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="correctness check of every stream at tiny sizes, 1 repeat; timings not judged (CI)")
    ap.add_argument("--sizes", default=None, help="write_file content sizes, e.g. 1000,8000")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--parsers", default=f"{OURS},{INTREE}")
    ap.add_argument("--require-plugin", action="store_true",
                    help="fail when qwen_xml_toolparser/plugin.py cannot be loaded")
    ap.add_argument("--no-memory", action="store_true", help="skip the tracemalloc pass")
    ap.add_argument("--out", default=None,
                    help="directory for results.json, results.md and latency_32k.png (default for a full "
                         "run: benchmarks/out/, untracked; a --quick run writes no file unless asked)")
    ap.add_argument("--json", default=None, help="write all figures (and per-run stats) here")
    ap.add_argument("--plot", default=None,
                    help="PNG of per-delta latency on the 32k case (needs matplotlib)")
    ap.add_argument("--floor-calls", type=int, default=None)
    ap.add_argument("--markdown", default=None, help="write the summary tables here (markdown)")
    ap.add_argument("--extra-plugin", action="append", default=[], metavar="PATH",
                    help="also import this tool-parser plugin file (to benchmark a variant "
                         "registered under its own name, listed in --parsers)")
    ap.add_argument("--texts", choices=["serving", "delta"], default="serving",
                    help="serving (default): the texts vLLM 0.33 passes each parser; delta: "
                         "per-delta texts for every parser (diagnostic: removes the harness's "
                         "O(n) string and list copies from around legacy parsers)")
    args = ap.parse_args(argv)

    sizes = ([int(x) for x in args.sizes.split(",")] if args.sizes
             else [300, 1000] if args.quick else [1000, 8000, 32000, 128000])
    repeats = args.repeats or (1 if args.quick else 5)
    floor_calls = args.floor_calls or (2000 if args.quick else 20000)
    out_dir = Path(args.out) if args.out else (None if args.quick else DEFAULT_OUT)
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
    json_path = args.json or (str(out_dir / "results.json") if out_dir else None)
    markdown_path = args.markdown or (str(out_dir / "results.md") if out_dir else None)
    plot_path = args.plot or (str(out_dir / "latency_32k.png") if out_dir else None)
    load0 = os.getloadavg()
    t_start = time.time()

    warnings.filterwarnings("ignore")
    try:
        V.load()
        from qxt_support.qwen_tokenizer import ensure_tokenizer_dir
        tok = V.get_tokenizer(str(ensure_tokenizer_dir()))
    except Exception as e:  # noqa: BLE001
        print(f"setup failed: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    parsers = [p for p in args.parsers.split(",") if p]
    if OURS in parsers:
        try:
            if not PLUGIN_PATH.exists():
                raise FileNotFoundError(PLUGIN_PATH)
            V.ToolParserManager.import_tool_parser(str(PLUGIN_PATH))
            V.ToolParserManager.get_tool_parser(OURS)
        except Exception as e:  # noqa: BLE001
            msg = f"{OURS} not available ({type(e).__name__}: {e})"
            if args.require_plugin:
                print("setup failed: " + msg, file=sys.stderr)
                return 2
            print("WARNING: " + msg + "; benchmarking the others only", file=sys.stderr)
            parsers.remove(OURS)
    for path in args.extra_plugin:
        V.ToolParserManager.import_tool_parser(str(Path(path).resolve()))
    if not parsers:
        print("no parser to benchmark", file=sys.stderr)
        return 2

    wls = make_workloads(sizes)
    tokenize(wls, tok)
    info = machine_info()
    if load0[0] > 0.5 * (os.cpu_count() or 1) and not args.quick:
        print(f"WARNING: load average {load0[0]:.2f} on {os.cpu_count()} cores: other work is "
              "running, timings will be noisy (best-of and the clean max help, but rerun "
              "when the machine is quiet)", file=sys.stderr)
    print(f"vLLM {V.version} (delta types from {V.delta_module}); parsers {parsers}; "
          f"sizes {sizes}; repeats {repeats}; load {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}",
          flush=True)
    if args.quick:
        print(QUICK_NOTE, flush=True)

    # floor fragments: the real per-token fragments of a code value
    code_wl = wls[0]
    frags = [d for d in code_wl.deltas if d][10:-10] or ["x"]
    # warm-up (imports, regex compiles, pydantic validators), untimed
    for pn in parsers:
        for wl in wls[-3:]:
            timed_stream(pn, tok, wl, args.texts)
    floor_run(frags, 2000)

    gc.collect()
    gc.freeze()  # the import heap is not the parsers' garbage; keep full collections small
    gc.callbacks.append(_gc_cb)

    runs = {wl.name: {pn: [] for pn in parsers} for wl in wls}
    errors = {wl.name: {pn: [] for pn in parsers} for wl in wls}
    meta = {}
    floor_means = []
    chunk_means = []
    plot_wl = next((wl for wl in wls if wl.name.endswith(" 32k")), None)
    for rep in range(repeats):
        order = parsers if rep % 2 == 0 else parsers[::-1]
        for wl in wls:
            floor_means.append(statistics.fmean(floor_run(frags, floor_calls // len(wls))) / 1e3)
            ch = chunk_run(frags, max(100, floor_calls // len(wls) // 4))
            if ch is not None:
                chunk_means.append(statistics.fmean(ch) / 1e3)
            for pn in order:
                r = timed_stream(pn, tok, wl, args.texts)
                runs[wl.name][pn].append(r)
                meta[pn] = {"class": r["cls"], "engine_based_mode": r["engine"]}
                for e in r["errors"]:
                    if e not in errors[wl.name][pn]:
                        errors[wl.name][pn].append(e)
        print(f"  repeat {rep + 1}/{repeats} done, {time.time() - t_start:.0f} s, "
              f"load {os.getloadavg()[0]:.2f}", flush=True)
    gc.callbacks.remove(_gc_cb)
    gc.unfreeze()

    res = {"machine": info, "load_start": load0, "repeats": repeats, "sizes": sizes,
           "texts": args.texts,
           "parsers": parsers, "parser_meta": meta, "vllm_delta_module": V.delta_module,
           "timer_overhead_ns": timer_overhead(),
           "floor": {"best": min(floor_means), "median": statistics.median(floor_means),
                     "runs": floor_means},
           "chunk": ({"best": min(chunk_means), "median": statistics.median(chunk_means),
                      "runs": chunk_means} if chunk_means else None),
           "workloads": [{"name": wl.name, "tokens": len(wl.ids), "chars": wl.chars,
                          "text_chars": len(wl.text),
                          "sha256_12": hashlib.sha256(wl.text.encode()).hexdigest()[:12]}
                         for wl in wls],
           "results": {}}
    for wl in wls:
        res["results"][wl.name] = {}
        for pn in parsers:
            agg = aggregate(runs[wl.name][pn])
            agg["errors"] = errors[wl.name][pn]
            res["results"][wl.name][pn] = agg

    if not args.no_memory:
        tracemalloc.start()
        for wl in wls:
            harness = {}
            for pn in parsers:
                engine = serving_loop(pn, tok, wl, args.texts).delta_texts
                if engine not in harness:
                    harness[engine] = memory_pass(None, tok, wl, None, delta_texts=engine)
                res["results"][wl.name][pn]["memory"] = memory_pass(pn, tok, wl, harness[engine],
                                                                    texts=args.texts)
        tracemalloc.stop()

    res["load_end"] = os.getloadavg()
    res["wall_s"] = time.time() - t_start

    # the plot: best run (lowest mean) per parser on the 32k case
    if plot_path and plot_wl is not None:
        best = {pn: min(runs[plot_wl.name][pn], key=lambda r: statistics.fmean(r["times"]))
                for pn in parsers}
        res["plot"] = plot_path if plot(res, {"name": plot_wl.name, "data": best}, plot_path) else None

    out = [f"vLLM {V.version} | {info['cpu']} ({info['cores']} cores) | Python {info['python']} | "
           f"{info['date']} | load {load0[0]:.2f} at start, {res['load_end'][0]:.2f} at end | "
           f"git {info['git_head']}{' (package dirty)' if info['git_dirty_package'] else ''} "
           f"package {info['package_sha256_12']} | {repeats} repeats | "
           f"wall {res['wall_s']:.0f} s", ""]
    for pn, m in meta.items():
        mode = "per-delta (engine-based)" if m["engine_based_mode"] else "accumulated (legacy)"
        out.append(f"- {pn}: {m['class']}, {mode} texts"
                   + (" [--texts delta]" if args.texts == "delta" else ""))
    out += ["", f"### Best of {repeats} runs (each figure separately)", "", report(res, "best"), ""]
    if args.quick:
        out += ["Targets: not judged in quick mode (timings above are indicative only)."]
    else:
        out += ["Targets (best of):", ""] + [f"- {line}" for line in targets(res, "best")]
    if repeats > 1:
        out += ["", f"### Median of {repeats} runs", "", report(res, "median"), ""]
        out += ["Targets (median):", ""] + [f"- {line}" for line in targets(res, "median")]
    for wl in wls:
        for pn in parsers:
            for e in res["results"][wl.name][pn]["errors"]:
                out.append(f"CHECK FAILED {pn} / {wl.name}: {e}")
    out += ["", "Correctness (checked on every stream):"]
    for pn in parsers:
        bad = [wl.name for wl in wls if res["results"][wl.name][pn]["errors"]]
        verdict = "every stream correct" if not bad else "FAILED on " + ", ".join(bad)
        fatal = "" if pn == OURS or not bad else " (reported, not fatal: not this package's parser)"
        out.append(f"- {pn}: {verdict} ({len(wls)} workloads x {repeats} repeats){fatal}")
    print()
    print("\n".join(out))
    if markdown_path:
        Path(markdown_path).write_text("\n".join(out) + "\n")
        print(f"markdown written to {markdown_path}")

    if json_path:
        Path(json_path).write_text(json.dumps(res, indent=1, ensure_ascii=False))
        print(f"figures written to {json_path}")
    ours_bad = any(res["results"][wl.name][OURS]["errors"] for wl in wls) if OURS in parsers else False
    if args.quick:
        print(f"\nquick check {'FAILED' if ours_bad else 'passed'}: correctness of every stream "
              f"({'a ' + OURS + ' stream is wrong, see CHECK FAILED above' if ours_bad else 'timings not judged'})")
    return 1 if ours_bad else 0


if __name__ == "__main__":
    sys.exit(main())
