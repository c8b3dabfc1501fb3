"""Compile time of the structural tag per tool set: ours (qwen_xml_toolparser/_grammar.py) against
xgrammar's builtin ``qwen_3_coder`` tag that vLLM's in-tree ``qwen3_coder`` uses.

    python benchmarks/grammar_compile.py                 # 1, 10, 50 tools; 5 repeats
    python benchmarks/grammar_compile.py --tools 50 --repeats 10

Run with a vLLM venv's python (xgrammar with structural tags, transformers). vLLM compiles one
grammar per distinct request tool set (and tool choice), on the first request that uses it; that
latency is what is measured here: ``GrammarCompiler.compile_structural_tag`` with the real Qwen3
tokenizer (qxt_support/qwen_tokenizer.py), the compiler's cache off, each tag compiled
``--repeats`` times, builtin and ours interleaved (the median and the worst of each are shown; the
worst is sensitive to other load on the machine). Tool sets: ``n`` tools drawn from a mix of
schemas (free strings, enums, bounded strings and integers, booleans, nested objects and arrays,
patterns, a top-level ``anyOf``), every tool strict, or none (the envelope), for
``tool_choice`` required, named and auto. Reported: the worst (max) time of each, and the ratio of
the worst times (target: ours at most 2x the builtin's for 50 tools; docs/grammar.md).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from qwen_xml_toolparser._grammar import declared_parameters, widen_structural_tag  # noqa: E402

SCHEMAS: list[dict[str, Any]] = [
    {"type": "object", "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
     "required": ["path", "content"]},
    {"type": "object", "properties": {"mode": {"type": "string", "enum": ["fast", "safe", "dark blue"]},
                                      "level": {"type": "integer", "minimum": 0, "maximum": 9},
                                      "verbose": {"type": "boolean"}}, "required": ["mode", "level"]},
    {"type": "object", "properties": {"query": {"type": "string", "minLength": 1, "maxLength": 200},
                                      "limit": {"type": "integer"}, "ratio": {"type": "number"}},
     "required": ["query"]},
    {"type": "object", "properties": {"edits": {"type": "array", "items": {
        "type": "object", "properties": {"old": {"type": "string"}, "new": {"type": "string"}},
        "required": ["old", "new"]}}, "file": {"type": "string", "pattern": "^[\\w./-]+$"}},
     "required": ["edits"]},
    {"type": "object", "properties": {"meta": {"type": "object", "properties": {"k": {"type": "integer"}}},
                                      "tags": {"type": "array", "items": {"type": "string"}},
                                      "note": {"type": ["string", "null"]}}},
    {"anyOf": [{"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]},
               {"type": "object", "properties": {"b": {"type": "string"}}, "required": ["b"]}]},
    {"type": "object", "properties": {}},
]


def tool_set(n: int, strict: bool) -> list[dict[str, Any]]:
    return [{"type": "function", "function": {"name": f"tool_{i}", "description": f"tool {i}", "strict": strict,
                                              "parameters": SCHEMAS[i % len(SCHEMAS)]}} for i in range(n)]


def main() -> None:
    import xgrammar as xg
    from transformers import AutoTokenizer

    from qxt_support.qwen_tokenizer import ensure_tokenizer_dir

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tools", default="1,10,50")
    ap.add_argument("--repeats", type=int, default=5)
    a = ap.parse_args()
    tok = AutoTokenizer.from_pretrained(str(ensure_tokenizer_dir()))
    info = xg.TokenizerInfo.from_huggingface(tok, vocab_size=len(tok))
    excludes = "excludes" in xg.structural_tag.JSONSchemaFormat.model_fields
    from importlib.metadata import version

    print(f"xgrammar {version('xgrammar')}; median / worst of {a.repeats} compiles, seconds")
    print("| tools | strict | tool_choice | builtin | ours | ours / builtin (median) | ours / builtin (worst) |")
    print("|---|---|---|---|---|---|---|")
    rows = []
    for n in (int(x) for x in a.tools.split(",")):
        for strict in (True, False):
            tools = tool_set(n, strict)
            for choice in ("required", {"type": "function", "function": {"name": "tool_0"}}, "auto"):
                builtin = xg.get_model_structural_tag("qwen_3_coder", tools=tools, tool_choice=choice, reasoning=False)
                ours = xg.StructuralTag.model_validate(
                    widen_structural_tag(builtin.model_dump(), declared_parameters(tools), excludes))
                times: dict[str, list[float]] = {"builtin": [], "ours": []}
                for _ in range(a.repeats):
                    for label, tag in (("builtin", builtin), ("ours", ours)):
                        compiler = xg.GrammarCompiler(info, cache_enabled=False)
                        t0 = time.perf_counter()
                        compiler.compile_structural_tag(tag)
                        times[label].append(time.perf_counter() - t0)
                b, o = max(times["builtin"]), max(times["ours"])
                bm, om = statistics.median(times["builtin"]), statistics.median(times["ours"])
                name = choice if isinstance(choice, str) else "named"
                rows.append({"tools": n, "strict": strict, "choice": name, "builtin": b, "ours": o,
                             "builtin_median": bm, "ours_median": om})
                print(f"| {n} | {strict} | {name} | {bm:.3f} / {b:.3f} | {om:.3f} / {o:.3f} | {om / bm:.2f} | "
                      f"{o / b:.2f} |", flush=True)
    worst = max(rows, key=lambda r: r["ours_median"] / r["builtin_median"])
    print("largest median ratio:", json.dumps(worst))


if __name__ == "__main__":
    main()
