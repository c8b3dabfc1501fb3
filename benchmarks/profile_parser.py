"""Where a parser's time per streaming delta goes (companion to bench_streaming.py).

Drives one workload of bench_streaming.py (default: write_file 32k) through a parser in vLLM's
serving loop (``qwen_xml_toolparser._vllm_loop.ServingLoop``) as the benchmark does and prints:

1. a breakdown in µs per delta: the whole ``extract_tool_calls_streaming`` call, the parser core
   alone (``StreamParser.feed`` on the same deltas, qwen_xml_safe only), and the floor (building
   one argument ``DeltaMessage``);
2. ``cProfile``: the functions with the most own time, as µs per delta;
3. with ``--lines`` (needs ``line_profiler``): per-line µs of the adapter and core hot path.

    python benchmarks/profile_parser.py                       # qwen_xml_safe, write_file 32k
    python benchmarks/profile_parser.py --parser qwen3_coder --size 8000
    python benchmarks/profile_parser.py --lines

Profilers add their own overhead per Python call, so read their figures as shares; the
breakdown in (1) is measured without a profiler.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import math
import pstats
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import os  # noqa: E402

from benchmarks import harness, workloads  # noqa: E402
from qwen_xml_toolparser._vllm_loop import make_chunks
from qxt_support.vllm import PLUGIN_PATH  # noqa: E402

pc = time.perf_counter_ns


def stream_times(name, tok, wl, repeats):
    best = None
    for _ in range(repeats):
        r = harness.timed_stream(name, tok, wl)
        if r["errors"]:
            print("CHECK FAILED:", r["errors"])
        m = statistics.fmean(r["times"]) / 1e3
        best = m if best is None else min(best, m)
    return best


def core_times(tok, wl, repeats):
    from qwen_xml_toolparser._parser import StreamParser

    best = None
    for _ in range(repeats):
        core = StreamParser(harness.request(wl).tools)
        gc.collect()
        tot = 0
        for d in wl.deltas[:-1]:
            t0 = pc()
            core.feed(d)
            tot += pc() - t0
        t0 = pc()
        core.finish()
        tot += pc() - t0
        m = tot / len(wl.deltas) / 1e3
        best = m if best is None else min(best, m)
    return best


def run_stream(loop, chunks):
    """One stream through the serving loop (one token per chunk, the EOS step finishes it)."""
    sent = None
    for step in loop.run(chunks):
        sent = step.sent
    return sent


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--parser", default=harness.OURS)
    ap.add_argument("--workload", default=None, help="workload name (default: write_file of --size)")
    ap.add_argument("--size", type=int, default=32000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--lines", action="store_true", help="line_profiler on the hot path")
    a = ap.parse_args()

    harness.V.load()
    from qxt_support.qwen_tokenizer import ensure_tokenizer_dir

    tok = harness.V.get_tokenizer(str(ensure_tokenizer_dir()))
    if a.parser == harness.OURS:
        harness.V.ToolParserManager.import_tool_parser(str(PLUGIN_PATH))
    wls = workloads.make_workloads([a.size])
    wl = next(w for w in wls if w.name == (a.workload or f"write_file {workloads._size_label(a.size)}"))
    workloads.tokenize([wl], tok)
    n = len(wl.deltas)
    print(f"{a.parser} on {wl.name}: {n} deltas; load {os.getloadavg()[0]:.2f}")

    harness.timed_stream(a.parser, tok, wl)  # warm-up
    floor = min(statistics.fmean(harness.floor_run([d for d in wl.deltas if d][:500], 5000))
                for _ in range(a.repeats)) / 1e3
    full = stream_times(a.parser, tok, wl, a.repeats)
    print(f"\n(1) µs per delta, best of {a.repeats}")
    print(f"    extract_tool_calls_streaming  {full:6.2f}  ({full / floor:.2f}x floor)")
    if a.parser == harness.OURS:
        core = core_times(tok, wl, a.repeats)
        print(f"    core StreamParser.feed alone  {core:6.2f}")
        print(f"    adapter + delta objects       {full - core:6.2f}")
    print(f"    floor (one argument DeltaMessage) {floor:6.2f}")
    DM, DTC, DFC = harness.V.DeltaMessage, harness.V.DeltaToolCall, harness.V.DeltaFunctionCall
    frag = [d for d in wl.deltas if d][:500]
    for label, build in (
            ("nested objects (the floor)",
             lambda f: DM(tool_calls=[DTC(index=0, function=DFC(arguments=f))])),
            ("from dicts, validated by pydantic",
             lambda f: DM(tool_calls=[{"index": 0, "function": {"arguments": f}}])),
            ("model_construct (no validation)",
             lambda f: DM.model_construct(tool_calls=[DTC.model_construct(
                 index=0, function=DFC.model_construct(arguments=f))]))):
        best = math.inf
        for _ in range(a.repeats):
            gc.collect()
            t0 = pc()
            for k in range(5000):
                build(frag[k % len(frag)])
            best = min(best, (pc() - t0) / 5000 / 1e3)
        print(f"    building the delta {label:38s} {best:6.2f}")

    chunks = make_chunks(wl.deltas, wl.ids)
    loop = harness.serving_loop(a.parser, tok, wl)
    prof = cProfile.Profile()
    gc.collect()
    prof.enable()
    run_stream(loop, chunks)
    prof.disable()
    st = pstats.Stats(prof)
    rows = []
    for (fn, line, func), (cc, nc, tt, ct, _) in st.stats.items():
        rows.append((tt, ct, nc, f"{Path(fn).name}:{line}({func})"))
    rows.sort(reverse=True)
    total = sum(r[0] for r in rows)
    print(f"\n(2) cProfile, own time per delta (profiled total {total / n * 1e6:.1f} µs/delta, "
          f"inflated by the profiler)")
    print(f"    {'own µs':>7} {'cum µs':>7} {'calls/delta':>11}  function")
    for tt, ct, nc, name in rows[: a.top]:
        print(f"    {tt / n * 1e6:7.2f} {ct / n * 1e6:7.2f} {nc / n:11.2f}  {name}")

    if a.lines:
        try:
            from line_profiler import LineProfiler
        except ImportError:
            print("line_profiler not installed")
            return
        lp = LineProfiler()
        targets = []
        if a.parser == harness.OURS:
            from qwen_xml_toolparser import _parser, _vllm_adapter

            cls = _vllm_adapter.QwenXmlSafeToolParser
            sp = _parser.StreamParser
            names = [(cls, "extract_tool_calls_streaming"), (cls, "_message"), (cls, "_tool_call"),
                     (cls, "_is_final"), (sp, "feed"), (sp, "_on_value"), (sp, "_value_piece"),
                     (sp, "_consume"), (sp, "_args")]
            targets = [getattr(o, n) for o, n in names if hasattr(o, n)]
        for t in targets:
            lp.add_function(t)
        loop = harness.serving_loop(a.parser, tok, wl)
        lp.enable_by_count()
        run_stream(loop, chunks)
        lp.disable_by_count()
        out = io.StringIO()
        lp.print_stats(stream=out, output_unit=1e-6)
        print(f"\n(3) line_profiler (µs; divide 'Time' by {n} deltas for µs per delta)")
        print(out.getvalue())


if __name__ == "__main__":
    main()
