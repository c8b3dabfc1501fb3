"""Per-delta cost on SGLang 0.5.23: ``qwen_xml_safe`` against SGLang's own ``qwen3_coder`` detector.

Both run through SGLang's ``FunctionCallParser`` the way its chat serving layer drives it
(``OpenAIServingChat._process_tool_call_stream``), in one process, interleaved stream by stream:
``qwen_xml_safe`` registered by SGLang's own plugin loading (``sglang.srt.plugins.load_plugins``,
the package's entry point), one ``FunctionCallParser(tools, name, tokenizer)`` per stream (built
outside the timer), then per token ``parser.parse_stream_chunk(delta_text)`` and at the end
``parser.parse_stream_end()`` (SGLang's ``flush`` on the output that carries the finish reason;
timed as "finish" and included in the per-stream total). The deltas are the per-token texts of the
real Qwen3 tokenizer (benchmarks/workloads.py; SGLang's incremental detokenizer gives the same
text per token). Only the ``parse_stream_chunk`` call sits between the two ``perf_counter_ns()``
reads. The floor is what one argument fragment costs SGLang to represent at all:
``StreamingParseResult(calls=[ToolCallItem(tool_index=0, parameters=f)])``, built the way its own
detectors build it, timed the same way in the same run.

Every stream is checked: the items reassemble (a name opens call ``tool_index``, later items add
arguments) to exactly the workload's calls (names; ``json.loads`` of the arguments equal, types
included) and the prose before a call is the content. Failures of ``qwen3_coder`` are reported,
not fatal; the exit code is 1 when a check fails for ``qwen_xml_safe``.

    venv=$(bash ci/sglang.sh)
    PYTHONPATH=$PWD $venv/bin/python benchmarks/bench_sglang.py            # full (~1 min)
    PYTHONPATH=$PWD $venv/bin/python benchmarks/bench_sglang.py --quick    # CI: tiny sizes, 1 repeat

``--markdown FILE`` also writes the table (the committed benchmarks/RESULTS-sglang.md is copied
from a full run on purpose; no run writes it).
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.workloads import Workload, make_workloads, tokenize

OURS, THEIRS = "qwen_xml_safe", "qwen3_coder"


def make_parser(name: str, tok, wl: Workload):
    from sglang.srt.entrypoints.openai.protocol import Tool
    from sglang.srt.function_call.function_call_parser import FunctionCallParser

    return FunctionCallParser([Tool.model_validate(t) for t in wl.tools], name, tokenizer=tok)


def timed_stream(name: str, tok, wl: Workload) -> dict:
    parser = make_parser(name, tok, wl)
    times: list[int] = []
    outputs = []
    clock = time.perf_counter_ns
    gc.collect()
    for delta in wl.deltas:
        t0 = clock()
        out = parser.parse_stream_chunk(delta)
        times.append(clock() - t0)
        outputs.append(out)
    t0 = clock()
    end = parser.parse_stream_end()
    finish = clock() - t0
    outputs.append(end)
    piece = max((len(item.parameters) for _, items in outputs for item in items), default=0)
    return {"times": times, "finish": finish, "problems": check(wl, outputs), "piece": piece}


def check(wl: Workload, outputs: list) -> list[str]:
    content, calls = "", []
    for normal, items in outputs:
        content += normal or ""
        for item in items:
            if item.name:
                if item.tool_index != len(calls):
                    return [f"call {item.tool_index} opened with {len(calls)} calls so far"]
                calls.append([item.name, item.parameters])
            elif 0 <= item.tool_index < len(calls):
                calls[item.tool_index][1] += item.parameters
            else:
                return [f"arguments for call {item.tool_index} that was never opened"]
    problems = []
    if [n for n, _ in calls] != [n for n, _ in wl.calls]:
        return [f"calls {[n for n, _ in calls]}, expected {[n for n, _ in wl.calls]}"]
    for (name, args), (_, want) in zip(calls, wl.calls, strict=True):
        try:
            got = json.loads(args)
        except ValueError as e:
            problems.append(f"{name}: arguments not JSON ({e})")
            continue
        if got != want or json.dumps(got, sort_keys=True) != json.dumps(want, sort_keys=True):
            diff = [k for k in want if got.get(k) != want[k] or type(got.get(k)) is not type(want[k])]
            problems.append(f"{name}: arguments differ at {diff or sorted(set(got) ^ set(want))}")
    if content.strip() != wl.content.strip():
        problems.append(f"content {content[:60]!r}..., expected {wl.content[:60]!r}...")
    return problems


def floor_run(n: int) -> list[int]:
    from sglang.srt.function_call.core_types import StreamingParseResult, ToolCallItem

    clock = time.perf_counter_ns
    times = []
    for i in range(n):
        t0 = clock()
        StreamingParseResult(calls=[ToolCallItem(tool_index=0, parameters=str(i))])
        times.append(clock() - t0)
    return times


def _us(ns: float) -> str:
    return f"{ns / 1000:.1f}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes, one repeat (CI)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--markdown", type=Path, help="also write the table here")
    args = ap.parse_args(argv)

    from sglang.srt.plugins import load_plugins
    from transformers import AutoTokenizer

    from qxt_support.qwen_tokenizer import ensure_tokenizer_dir

    load_plugins()
    tok = AutoTokenizer.from_pretrained(str(ensure_tokenizer_dir()))
    sizes = [1_000, 2_000] if args.quick else [1_000, 8_000, 32_000]
    repeats = 1 if args.quick else args.repeats
    wls = make_workloads(sizes)
    tokenize(wls, tok)
    import sglang

    lines = [f"SGLang {sglang.__version__}, Python {sys.version.split()[0]}; per token, {repeats} repeat(s), "
             "interleaved; µs per parse_stream_chunk call (median / p99 / max), finish = parse_stream_end, "
             "total = the stream's parser time in ms; largest piece = the longest arguments text sent in one "
             "item (a value not streamed arrives whole).", "",
             "| workload | tokens | parser | median µs | p99 µs | max µs | finish µs | total ms | largest piece "
             "| correct |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    failed_ours = False
    for wl in wls:
        per: dict[str, list[dict]] = {OURS: [], THEIRS: []}
        for _ in range(repeats):
            for name in (OURS, THEIRS):
                per[name].append(timed_stream(name, tok, wl))
        for name in (OURS, THEIRS):
            times = sorted(t for run in per[name] for t in run["times"])
            p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
            total = statistics.median(sum(run["times"]) + run["finish"] for run in per[name])
            finish = statistics.median(run["finish"] for run in per[name])
            problems = per[name][0]["problems"]
            failed_ours |= name == OURS and bool(problems)
            verdict = "yes" if not problems else "NO: " + "; ".join(problems)[:120]
            lines.append(f"| {wl.name} | {len(wl.deltas)} | {name} | {_us(statistics.median(times))} | {_us(p99)} "
                         f"| {_us(times[-1])} | {_us(finish)} | {total / 1e6:.2f} | {per[name][0]['piece']} "
                         f"| {verdict} |")
    floor = sorted(floor_run(2_000 if args.quick else 20_000))
    lines += ["", f"Floor (SGLang's own StreamingParseResult with one ToolCallItem): median "
                  f"{_us(statistics.median(floor))} µs, p99 {_us(floor[int(len(floor) * 0.99)])} µs."]
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        args.markdown.write_text(text + "\n", encoding="utf-8")
    if args.quick:
        print("(--quick: tiny sizes, one repeat: the timings are indicative only; the checks are what counts)")
    return 1 if failed_ours else 0


if __name__ == "__main__":
    sys.exit(main())
