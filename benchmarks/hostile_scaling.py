"""Time per character of the core parser on hostile output shapes, and the worst schema time (issue 14).

For every shape of qxt_support/hostile_shapes.py and every size (10k / 100k / 1M / 10M characters):
the sans-I/O ``StreamParser`` fed the whole output as one delta (what ``parse()`` and a
non-streaming request do) and streamed in deltas of 1-16 characters (deterministic sizes; the
pieces are cut outside the timer). Reported: ns per character (best of ``--repeats``), and the
ratio of the largest size's figure to the 10k one (about 1 for linear time). A cell whose
estimated time exceeds ``--max-seconds`` is skipped and marked "-".

Then the worst schema: the slowest of a set of hostile tool schemas (self-referential
anyOf/oneOf/allOf, two-branch ``$ref`` chains, schemas at the work budget, odd pointers,
thousands of random hostile schemas), timed as ``parse()`` of a one-call output with that
schema, which includes reading it.

    python benchmarks/hostile_scaling.py                 # 10k..1M
    python benchmarks/hostile_scaling.py --max-size 10000000 --max-seconds 120
    python benchmarks/hostile_scaling.py --shapes union_digits,newlines --markdown out.md

Needs only the package (no vLLM). Timings are wall-clock on whatever else the machine is doing;
the deterministic check of linear time is tests/test_hostile.py.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qwen_xml_toolparser import StreamParser, parse
from qwen_xml_toolparser._schema import MAX_WORK
from qxt_support.hostile_shapes import SHAPES, TOOLS, deltas, random_hostile_schema, shape

SIZES = (10_000, 100_000, 1_000_000, 10_000_000)


def time_shape(name: str, n: int, streamed: bool, repeats: int) -> float:
    """Best ns per character."""
    text = shape(name).build(n)
    pieces = list(deltas(text)) if streamed else [text]
    best = float("inf")
    for _ in range(repeats):
        gc.collect()
        parser = StreamParser(TOOLS)
        t0 = time.perf_counter()
        for piece in pieces:
            parser.feed(piece)
        parser.finish()
        best = min(best, time.perf_counter() - t0)
    return best * 1e9 / len(text)


def hostile_schemas() -> list[tuple[str, dict]]:
    out: list[tuple[str, dict]] = []
    for comb in ("anyOf", "oneOf", "allOf"):
        out.append((f"self-referential {comb} (120 bytes)", {
            "$defs": {"a": {comb: [{"$ref": "#/$defs/a"}, {"$ref": "#/$defs/a"}]}},
            "type": "object", "properties": {"a": {"$ref": "#/$defs/a"}}}))
    for depth in (16, 31, 64):
        defs = {f"d{i}": {"anyOf": [{"$ref": f"#/$defs/d{i + 1}"}, {"$ref": f"#/$defs/d{i + 1}"}]} for i in range(depth)}
        defs[f"d{depth}"] = {"type": "integer"}
        out.append((f"{depth}-deep chain of two-branch anyOf $refs", {
            "$defs": defs, "type": "object", "properties": {"a": {"$ref": "#/$defs/d0"}}}))
    for width in (MAX_WORK // 3, MAX_WORK * 10):
        out.append((f"anyOf with {width} branches", {
            "type": "object", "properties": {"a": {"anyOf": [{"type": "integer"}] * width}}}))
    wide_defs = {f"d{i}": {"anyOf": [{"$ref": f"#/$defs/d{j}"} for j in range(200)]} for i in range(200)}
    out.append(("200 defs, each an anyOf of refs to all 200", {
        "$defs": wide_defs, "type": "object", "properties": {"a": {"$ref": "#/$defs/d0"}}}))
    props = {"a": {"anyOf": [{"type": "integer"}] * (MAX_WORK // 3)}}
    props.update({f"p{i}": {"anyOf": [{"type": "integer"}] * (MAX_WORK // 3)} for i in range(100)})
    out.append(("100 parameters at the per-value budget", {"type": "object", "properties": props}))
    chain = {f"c{i}": {"$ref": f"#/$defs/c{i + 1}"} for i in range(31)}
    chain["c31"] = {"type": "integer"}
    distinct = {**chain, **{f"r{i}": {"$ref": "#/$defs/c0", "x": i} for i in range(3000)}}
    out.append(("anyOf of 3,000 distinct $refs, each into a 31-step $ref chain", {
        "$defs": distinct, "type": "object",
        "properties": {"a": {"anyOf": [{"$ref": f"#/$defs/r{i}"} for i in range(3000)]}}}))
    out.append(("enum of 100,000 values, no type", {
        "type": "object", "properties": {"a": {"enum": list(range(100_000))}}}))
    for ref in ("#/L/²", "#/L/" + "9" * 5000, "#/" + "a/" * 50_000):
        out.append((f"pointer {ref[:12]!r}... ({len(ref)} chars)", {
            "L": [{"type": "integer"}], "type": "object", "properties": {"a": {"$ref": ref}}}))
    rng = random.Random(14)
    out += [("random hostile schema", random_hostile_schema(rng)) for _ in range(3000)]
    return out


def worst_schema(repeats: int) -> list[tuple[float, str]]:
    call = "<tool_call>\n<function=f>\n<parameter=a>\n42\n</parameter>\n" + "".join(
        f"<parameter=p{i}>\n1\n</parameter>\n" for i in range(100)) + "</function>\n</tool_call>"
    results = []
    for label, schema in hostile_schemas():
        tools = [{"type": "function", "function": {"name": "f", "parameters": schema}}]
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            parse(call, tools)
            best = min(best, time.perf_counter() - t0)
        results.append((best, label))
    results.sort(reverse=True)
    return results


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--max-size", type=int, default=1_000_000)
    ap.add_argument("--max-seconds", type=float, default=60.0, help="skip a cell estimated to take longer")
    ap.add_argument("--repeats", type=int, default=3, help="for sizes up to 100k (1 above)")
    ap.add_argument("--shapes", default=None, help="comma-separated shape names (default: all)")
    ap.add_argument("--markdown", default=None, help="also write the tables to this file")
    ap.add_argument("--no-schemas", action="store_true")
    args = ap.parse_args()
    import logging

    logging.disable(logging.CRITICAL)  # hostile inputs log by design
    names = args.shapes.split(",") if args.shapes else [s.name for s in SHAPES]
    sizes = [n for n in SIZES if n <= args.max_size]
    lines = ["| shape | mode | " + " | ".join(f"{n:,} ns/char" for n in sizes) + " | largest / 10k |",
             "|---|---|" + "---|" * (len(sizes) + 1)]
    print(lines[0], flush=True)
    print(lines[1], flush=True)
    for name in names:
        for streamed in (False, True):
            cells, first, last, estimate = [], None, None, 0.0
            for n in sizes:
                if estimate * n / 1e9 > args.max_seconds:
                    cells.append("-")
                    continue
                ns = time_shape(name, n, streamed, args.repeats if n <= 100_000 else 1)
                estimate = ns
                first = ns if first is None else first
                last = ns
                cells.append(f"{ns:,.0f}")
            ratio = f"{last / first:.2f}" if first and last else "-"
            line = f"| {name} | {'streamed 1-16' if streamed else 'one delta'} | " + " | ".join(cells) + f" | {ratio} |"
            lines.append(line)
            print(line, flush=True)
    if not args.no_schemas:
        worst = worst_schema(3)
        lines += ["", "| slowest hostile schemas (parse() of one call, schema reading included) | ms |", "|---|---|"]
        lines += [f"| {label} | {t * 1e3:.2f} |" for t, label in worst[:8]]
        lines.append(f"| ({len(worst)} schemas; median) | {sorted(t for t, _ in worst)[len(worst) // 2] * 1e3:.3f} |")
        print("\n".join(lines[-(len(worst[:8]) + 3):]), flush=True)
    if args.markdown:
        Path(args.markdown).write_text("\n".join(lines) + "\n")
    print(json.dumps({"python": sys.version.split()[0]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
