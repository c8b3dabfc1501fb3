"""Streaming latency benchmark: ``qwen_xml_safe`` against vLLM's in-tree ``qwen3_coder``.

Both parsers are driven through vLLM's ``ToolParser`` interface the way the serving loop drives
them, in one process, interleaved run by run:

* per-token deltas of a real Qwen3 tokenizer (``tokenizers.decoders.DecodeStream``, identical to
  vLLM's incremental detokenizer), one token per call;
* ``extract_tool_calls_streaming(previous_text, current_text, delta_text, previous_token_ids,
  current_token_ids, delta_token_ids, request)`` with the texts and id lists built *outside* the
  timer exactly as vLLM 0.33's ``StreamState.advance`` builds them: accumulated
  (``previous_text + delta_text``, ``previous_token_ids + delta_token_ids``) for legacy parsers,
  ``("", delta_text, [], delta_ids)`` for engine-based ones (``engine_based_streaming = True``,
  which is what 0.33's in-tree ``qwen3_coder`` is); older vLLM always accumulates;
* a ``ChatCompletionRequest`` carrying the tool schema, passed through the parser's
  ``adjust_request`` and (0.33) the parser built as ``cls(tokenizer, request.tools)``;
* the final step: the EOS token id 151645 with an empty delta text, then what 0.33's
  ``Parser.finalize_generation`` does: append ``get_remaining_unstreamed_args()`` to the last tool
  call of the final delta, then ``finish_streaming()`` for engine-based parsers. This "finalize"
  step is timed separately and included in the per-stream total.

Only the ``extract_tool_calls_streaming`` call sits between the two ``perf_counter_ns()`` reads.
The floor is the cost of building the delta objects that carry one argument fragment,
``DeltaMessage(tool_calls=[DeltaToolCall(index=0, function=DeltaFunctionCall(arguments=f))])``,
timed the same way in the same run. Peak memory per stream is measured in a separate untimed pass
with ``tracemalloc`` (the harness's own strings and lists are subtracted, see ``memory_pass``).
Every stream is checked: the streamed arguments of every call parse to exactly the generated
arguments (types included), names and ids are sent once, and prose before a call ends up in
``content``.

Run from the repository root with the vLLM venv's python::

    python benchmarks/bench_streaming.py                      # full run (~1 min on a quiet 2-core machine)
    python benchmarks/bench_streaming.py --quick              # CI: tiny sizes, 1 repeat, no plot (~18 s)
    python benchmarks/bench_streaming.py --json out.json --plot benchmarks/latency_32k.png

No timing is asserted anywhere. The exit code is 1 only when a correctness check fails for
``qwen_xml_safe`` (failures of the in-tree parser are reported, not fatal), 2 on setup errors.
``qwen_xml_safe`` is loaded from ``qwen_xml_toolparser/plugin.py`` with
``ToolParserManager.import_tool_parser``; when that file does not exist it is skipped with a
warning (``--require-plugin`` turns that into an error).
"""

from __future__ import annotations

import argparse
import array
import datetime as _dt
import gc
import hashlib
import importlib
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import sysconfig
import time
import tracemalloc
import warnings
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

for _k, _v in (("HF_HUB_OFFLINE", "1"), ("TRANSFORMERS_OFFLINE", "1"),
               ("VLLM_NO_USAGE_STATS", "1"), ("DO_NOT_TRACK", "1")):
    os.environ.setdefault(_k, _v)

EOS_ID = 151645  # <|im_end|>
PLUGIN_PATH = REPO / "qwen_xml_toolparser" / "plugin.py"
OURS, INTREE = "qwen_xml_safe", "qwen3_coder"
pc = time.perf_counter_ns


# --------------------------------------------------------------------------------------------
# vLLM imports, version-agnostic (0.33 paths first, then the older ones)
# --------------------------------------------------------------------------------------------

def _imp(attr: str, *modules: str):
    errors = []
    for name in modules:
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as e:
            errors.append(f"{name}: {e}")
            continue
        if hasattr(mod, attr):
            return getattr(mod, attr)
        errors.append(f"{name}: no {attr}")
    raise ImportError(f"{attr} not found: " + "; ".join(errors))


class V:
    """The vLLM names the benchmark needs, resolved once."""

    @classmethod
    def load(cls) -> None:
        import vllm

        cls.version = vllm.__version__
        cls.ToolParserManager = _imp("ToolParserManager", "vllm.tool_parsers",
                                     "vllm.entrypoints.openai.tool_parsers")
        cls.ChatCompletionRequest = _imp(
            "ChatCompletionRequest", "vllm.entrypoints.openai.chat_completion.protocol",
            "vllm.entrypoints.openai.protocol")
        # where the 0.33 parsers import the delta types from, then 0.15-0.32, then <=0.14
        delta_mods = ("vllm.entrypoints.generate.base.protocol",
                      "vllm.entrypoints.openai.engine.protocol",
                      "vllm.entrypoints.openai.protocol")
        cls.DeltaMessage = _imp("DeltaMessage", *delta_mods)
        cls.DeltaToolCall = _imp("DeltaToolCall", *delta_mods)
        cls.DeltaFunctionCall = _imp("DeltaFunctionCall", *delta_mods)
        cls.delta_module = cls.DeltaMessage.__module__
        try:  # for the reference cost of one SSE chunk in the serving layer
            chat = ("vllm.entrypoints.openai.chat_completion.protocol",
                    "vllm.entrypoints.openai.protocol")
            cls.StreamResponse = _imp("ChatCompletionStreamResponse", *chat)
            cls.StreamChoice = _imp("ChatCompletionResponseStreamChoice", *chat)
        except ImportError:
            cls.StreamResponse = cls.StreamChoice = None
        cls.get_tokenizer = _imp("get_tokenizer", "vllm.tokenizers",
                                 "vllm.transformers_utils.tokenizer")
        # 0.33 gives engine-based parsers per-delta texts (StreamState.advance); before the
        # StreamState existed every parser got accumulated texts.
        try:
            from vllm.parser.abstract_parser import StreamState  # noqa: F401
            cls.has_engine_mode = True
        except ImportError:
            cls.has_engine_mode = False


# --------------------------------------------------------------------------------------------
# Workloads
# --------------------------------------------------------------------------------------------

STDLIB_FILES = ["textwrap.py", "json/decoder.py", "shlex.py", "csv.py", "heapq.py",
                "difflib.py", "argparse.py", "dataclasses.py", "ipaddress.py", "pprint.py"]
CODE_HEADER = (
    '# -*- coding: utf-8 -*-\n'
    '"""Generated module. Überprüfung der Eingaben ✓ — 你好, 世界 👋."""\n'
    'from __future__ import annotations\n\n'
    'GREETING = "héllo \\"world\\"\\n"  # quotes, backslashes & <angle> brackets: a < b > c\n'
    "WINDOWS_PATH = r'C:\\tmp\\new_folder\\file.txt'\n"
    'HTML = "<div class=\\"x\\">&amp; <b>bold</b></div>"\n\n\n'
)


def _code_corpus() -> str:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    parts = [CODE_HEADER]
    for rel in STDLIB_FILES:
        p = stdlib / rel
        try:
            parts.append(f"\n# ---- {rel} ----\n" + p.read_text(encoding="utf-8"))
        except OSError:
            continue
    text = "".join(parts)
    if len(text) < 200_000:  # stdlib not readable: deterministic synthetic code instead
        out, i = [text], 0
        while sum(map(len, out)) < 200_000:
            out.append(f"def handler_{i}(req, limit={i % 97}):\n"
                       f"    if req.size < limit and req.kind != \"<tag{i}>\":\n"
                       f"        return {{'id': {i}, 'msg': \"héllo\\n\", "
                       f"'path': r'C:\\tmp\\f{i}'}}  # ✓\n"
                       f"    return None\n\n")
            i += 1
        text = "".join(out)
    return text


_CORPUS: str | None = None


def code_of(n: int) -> str:
    """Realistic Python source of about n chars (stdlib modules), stripped at both ends."""
    global _CORPUS
    if _CORPUS is None:
        _CORPUS = _code_corpus()
    reps = -(-n // len(_CORPUS))
    return (_CORPUS * reps)[:n].strip()


def render_value(v) -> str:
    """How the Qwen3-Coder chat template writes a parameter value."""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dict, list)):
        return json.dumps(v, ensure_ascii=False)
    return str(v)


def render_call(name: str, args: dict) -> str:
    params = "".join(f"<parameter={k}>\n{render_value(v)}\n</parameter>\n" for k, v in args.items())
    return f"<tool_call>\n<function={name}>\n{params}</function>\n</tool_call>"


def _fn(name: str, props: dict, required=None) -> dict:
    params = {"type": "object", "properties": props}
    if required:
        params["required"] = required
    return {"type": "function", "function": {"name": name, "description": f"{name} tool",
                                             "parameters": params}}


S, I, N, B = ({"type": "string"}, {"type": "integer"}, {"type": "number"}, {"type": "boolean"})

WRITE_FILE = _fn("write_file", {"path": S, "content": S}, ["path", "content"])
TWENTY_TOOL = _fn("configure_job", {
    "name": S, "replicas": I, "cpu": N, "memory_gb": N, "enabled": B,
    "priority": {"type": "string", "enum": ["low", "normal", "high"]},
    "tags": {"type": "array", "items": S}, "env": {"type": "object"}, "retries": I,
    "timeout_s": N, "schedule": S, "owner": S, "dry_run": B, "max_parallel": I, "region": S,
    "labels": {"type": "object"}, "ports": {"type": "array", "items": I}, "notes": S, "seed": I,
    "ratio": N})
TWENTY_ARGS = {
    "name": "nightly-etl", "replicas": 3, "cpu": 1.5, "memory_gb": 4, "enabled": True,
    "priority": "high", "tags": ["etl", "nightly", "billing"], "env": {"STAGE": "prod", "DEBUG": "0"},
    "retries": 5, "timeout_s": 90.5, "schedule": "*/15 2-5 * * 1-5", "owner": "ops@example.com",
    "dry_run": False, "max_parallel": 8, "region": "eu-west-1",
    "labels": {"team": "data", "cost-center": 4711}, "ports": [8080, 8443],
    "notes": 'Run after the "ingest" job; skip on holidays.', "seed": -42, "ratio": 0.25}
PARALLEL_TOOLS = [
    _fn("read_file", {"path": S}), _fn("grep", {"pattern": S, "path": S, "max_count": I}),
    _fn("run_command", {"command": S, "timeout": I}), WRITE_FILE,
    _fn("web_search", {"query": S, "top_k": I}),
]
PARALLEL_CALLS = [
    ("read_file", {"path": "src/app/config.py"}),
    ("grep", {"pattern": r"def \w+_handler\(", "path": "src/", "max_count": 50}),
    ("run_command", {"command": "pytest -q tests/test_config.py -k 'not slow'", "timeout": 120}),
    ("write_file", {"path": "src/app/__init__.py",
                    "content": 'from .config import load\n\n__all__ = ["load"]\n__version__ = "1.2.0"'}),
    ("web_search", {"query": "python tomllib load example", "top_k": 5}),
]
EDIT_TOOL = _fn("edit_file", {"path": S, "old_str": S, "new_str": S})
PROSE = (
    "I looked at `src/app/config.py` and found the problem: `load()` reads the TOML file with "
    "`open(path)` in text mode, but `tomllib.load` needs a binary file object, so every start-up "
    "with a config file raises `TypeError: File must be opened in binary mode`. The test suite "
    "never noticed because the fixtures pass a `dict` directly.\n\n"
    "Here is what I'm going to change:\n\n"
    "1. Open the file with `open(path, \"rb\")`.\n"
    "2. Keep the `FileNotFoundError` branch, but return the defaults instead of `None` — the "
    "callers already expect a mapping (see `app/__main__.py`, line 41).\n"
    "3. Add a regression test that writes a real file to `tmp_path`.\n\n"
    "Note: `tomllib` is only in the standard library from Python 3.11 onwards; `pyproject.toml` "
    "already declares `requires-python = \">=3.11\"`, so no fallback to `tomli` is needed. "
    "Ünïcödé in paths (e.g. `~/Données/app.toml`) is handled by `pathlib` already.\n\n"
    "Let me make the edit first."
)
EDIT_ARGS = {
    "path": "src/app/config.py",
    "old_str": "    with open(path) as f:\n        data = tomllib.load(f)",
    "new_str": "    with open(path, \"rb\") as f:\n        data = tomllib.load(f)",
}


@dataclass
class Workload:
    name: str
    text: str
    tools: list
    calls: list  # [(name, args)]
    content: str = ""
    chars: int = 0  # size of the big value, for the growth figures
    ids: list = field(default_factory=list)
    deltas: list = field(default_factory=list)


def make_workloads(sizes: list[int]) -> list[Workload]:
    wls = []
    for n in sizes:
        code = code_of(n)
        args = {"path": "src/generated/module.py", "content": code}
        wls.append(Workload(f"write_file {_size_label(n)}", render_call("write_file", args),
                            [WRITE_FILE], [("write_file", args)], chars=len(code)))
    wls.append(Workload("20 typed params", render_call("configure_job", TWENTY_ARGS),
                        [TWENTY_TOOL], [("configure_job", TWENTY_ARGS)]))
    wls.append(Workload("5 parallel calls", "\n".join(render_call(n, a) for n, a in PARALLEL_CALLS),
                        PARALLEL_TOOLS, list(PARALLEL_CALLS)))
    wls.append(Workload("text before call", PROSE + "\n\n" + render_call("edit_file", EDIT_ARGS),
                        [EDIT_TOOL], [("edit_file", EDIT_ARGS)], content=PROSE))
    for wl in wls:
        body = "".join(json.dumps(a) for _, a in wl.calls)
        for marker in ("<parameter=", "</parameter>", "<function=", "</function>", "<tool_call>"):
            assert marker not in body, (wl.name, marker)
    return wls


def _size_label(n: int) -> str:
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else f"{n}"


def tokenize(wls: list[Workload], tok) -> None:
    from tokenizers.decoders import DecodeStream

    backend = getattr(tok, "_tokenizer", None) or getattr(tok, "backend_tokenizer")
    for wl in wls:
        ids = tok.encode(wl.text, add_special_tokens=False)
        ds = DecodeStream(skip_special_tokens=False)
        deltas = [ds.step(backend, i) or "" for i in ids]
        if "".join(deltas) != wl.text:
            raise RuntimeError(f"{wl.name}: detokenized deltas do not rebuild the text")
        wl.ids, wl.deltas = ids + [EOS_ID], deltas + [""]  # final step: EOS, empty text


# --------------------------------------------------------------------------------------------
# Driving a parser as the serving loop does
# --------------------------------------------------------------------------------------------

def make_request(wl: Workload):
    return V.ChatCompletionRequest(model="qwen3-coder", stream=True, tools=wl.tools,
                                   messages=[{"role": "user", "content": "do it"}])


def make_parser(name: str, tok, wl: Workload):
    req = make_request(wl)
    cls = V.ToolParserManager.get_tool_parser(name)
    try:
        p = cls(tok, req.tools)  # 0.19+: the serving layer passes request.tools
    except TypeError:
        p = cls(tok)  # 0.10 - 0.18
    if getattr(p, "engine_based_streaming", False):
        # what 0.33's serving layer sets on engine-based tool parsers without a reasoning parser
        p.skip_reasoning_parsing = True
    if hasattr(p, "adjust_request"):
        req = p.adjust_request(req) or req
    engine = bool(V.has_engine_mode and getattr(p, "engine_based_streaming", False))
    return p, req, engine


def remaining_unstreamed(p) -> str:
    if hasattr(p, "get_remaining_unstreamed_args"):
        return p.get_remaining_unstreamed_args()
    # vLLM < 0.23 had this logic in the serving layer; this is the 0.23+ formula
    if not getattr(p, "prev_tool_call_arr", None):
        return ""
    i = len(p.prev_tool_call_arr) - 1
    args = p.prev_tool_call_arr[i].get("arguments", {})
    expected = args if isinstance(args, str) else json.dumps(args, ensure_ascii=False)
    actual = p.streamed_args_for_tool[i] if i < len(p.streamed_args_for_tool) else ""
    return expected[len(actual):] if expected.startswith(actual) else ""


try:  # the per-version copy of the serving layer's finishing logic (vLLM 0.10 - 0.33)
    from tests.serving.finish import apply_finish as _apply_finish
except Exception:  # noqa: BLE001
    _apply_finish = None


def finalize(p, dm, engine):
    """What the serving layer does to the final delta of a tool-call stream.

    vLLM 0.23+ (``Parser.finalize_generation``): ``get_remaining_unstreamed_args()`` appended to
    the last tool call of the delta; older versions replace the delta by the remainder they
    compute themselves (``tests/serving/finish.py`` holds all four generations and is used when
    importable). Then, on 0.33, ``finish_streaming()`` of engine-based parsers is merged in.
    """
    if _apply_finish is not None:
        dm = _apply_finish(p, dm)
    elif dm is not None and dm.tool_calls and dm.tool_calls[-1].function:
        last = dm.tool_calls[-1].function
        last.arguments = (last.arguments or "") + remaining_unstreamed(p)
    if engine and hasattr(p, "finish_streaming"):
        fd = p.finish_streaming()
        if fd is not None:
            if dm is None:
                dm = fd
            else:
                if fd.content:
                    dm.content = (dm.content or "") + fd.content
                if fd.tool_calls:
                    dm.tool_calls = (dm.tool_calls or []) + fd.tool_calls
    return dm


class Collector:
    """Rebuilds what a client sees from the deltas (outside the timer)."""

    def __init__(self):
        self.content = []
        self.calls = {}  # index -> dict(ids, names, args)
        self.messages = 0  # DeltaMessages returned
        self.empty = 0  # ... that carry nothing a client would see (no text, no id/name/args)

    def add(self, dm):
        if dm is None:
            return
        self.messages += 1
        if not dm.content and not any(
                tc.id or (tc.function is not None and (tc.function.name or tc.function.arguments))
                for tc in dm.tool_calls or []):
            self.empty += 1
        if dm.content:
            self.content.append(dm.content)
        for tc in dm.tool_calls or []:
            c = self.calls.setdefault(tc.index, {"ids": [], "names": [], "args": []})
            if tc.id:
                c["ids"].append(tc.id)
            if tc.function is not None:
                if tc.function.name:
                    c["names"].append(tc.function.name)
                if tc.function.arguments:
                    c["args"].append(tc.function.arguments)


def _same(a, b) -> bool:
    """Equality that does not confuse True with 1 or 1 with 1.0."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


def check(wl: Workload, col: Collector) -> list[str]:
    errs = []
    idx = sorted(col.calls)
    if idx != list(range(len(wl.calls))):
        errs.append(f"call indexes {idx}, expected {len(wl.calls)} calls")
    for i, (name, args) in enumerate(wl.calls):
        c = col.calls.get(i)
        if c is None:
            continue
        if c["names"] != [name]:
            errs.append(f"call {i}: names sent {c['names']}")
        if len(c["ids"]) != 1:
            errs.append(f"call {i}: {len(c['ids'])} ids sent")
        s = "".join(c["args"])
        try:
            got = json.loads(s)
        except ValueError as e:
            errs.append(f"call {i}: arguments not JSON ({e}): {s[:80]!r}...{s[-80:]!r}")
            continue
        if not _same(got, args):
            diff = [k for k in set(args) | set(got) if not _same(got.get(k), args.get(k))]
            errs.append(f"call {i}: arguments differ in {sorted(diff)[:6]}: "
                        + "; ".join(f"{k}={str(got.get(k))[:40]!r}" for k in sorted(diff)[:3]))
    all_ids = [x for c in col.calls.values() for x in c["ids"]]
    if len(set(all_ids)) != len(all_ids):
        errs.append("duplicate tool call ids")
    content = "".join(col.content)
    if content.strip() != wl.content.strip():
        errs.append(f"content {content[:60]!r}... expected {wl.content[:60]!r}...")
    return errs


_gc_count = 0
OFF_CPU_NS = 20_000  # wall minus thread CPU time above this: the thread was switched out
tt = time.thread_time_ns


def _gc_cb(phase, info):
    global _gc_count
    if phase == "stop":
        _gc_count += 1


def timed_stream(name: str, tok, wl: Workload, texts: str = "serving") -> dict:
    """One stream, one parser; returns per-delta times (ns) and the correctness verdict.

    Per delta it also records, outside the timer, whether a garbage collection ran and the
    thread's CPU time around the call (``thread_time_ns`` read before t0 and after t1). When the
    wall time exceeds the CPU time by more than OFF_CPU_NS the thread was switched out during the
    call (another process's time): the "clean" figures use the CPU time for such deltas.
    """
    p, req, engine = make_parser(name, tok, wl)
    if texts == "delta":
        engine = True
    col = Collector()
    ids, deltas = wl.ids, wl.deltas
    n = len(ids)
    one = [[i] for i in ids]  # the delta_token_ids lists, built once
    times = array.array("q", bytes(8 * n))
    gc_hit = bytearray(n)
    switched = bytearray(n)
    adv = array.array("q", bytes(8 * n))
    cpu = array.array("q", bytes(8 * n))  # thread CPU time of switched-out deltas
    call = p.extract_tool_calls_streaming
    prev_text, prev_ids = "", []
    # no gc.collect() here: the heap is frozen, and a full collection right before the
    # stream would leave the caches cold for the first delta (a serving process does not
    # collect before each request either)
    dm = None
    for k in range(n):
        d, dids = deltas[k], one[k]
        if engine:
            pt, ct, pi, ci = "", d, [], dids
        else:  # vLLM 0.33 StreamState.advance (timed apart: serving-side cost of the mode)
            a0 = pc()
            ct = prev_text + d
            ci = prev_ids + dids
            adv[k] = pc() - a0
            pt, pi = prev_text, prev_ids
        g0 = _gc_count
        c0 = tt()
        t0 = pc()
        dm = call(pt, ct, d, pi, ci, dids, req)
        t1 = pc()
        c1 = tt()
        times[k] = t1 - t0
        if (t1 - t0) - (c1 - c0) > OFF_CPU_NS:
            switched[k] = 1
            cpu[k] = c1 - c0
        if _gc_count != g0:
            gc_hit[k] = 1
        if k < n - 1:
            col.add(dm)
        if not engine:
            prev_text, prev_ids = ct, ci
    t0 = pc()
    dm = finalize(p, dm, engine)
    fin = pc() - t0
    col.add(dm)
    errs = check(wl, col)
    return {"times": times, "gc_hit": gc_hit, "switched": switched, "cpu": cpu, "advance": adv,
            "finalize_ns": fin, "errors": errs, "messages": col.messages, "empty": col.empty,
            "engine": engine, "cls": type(p).__name__}


def floor_run(fragments: list[str], n_calls: int) -> array.array:
    DM, DTC, DFC = V.DeltaMessage, V.DeltaToolCall, V.DeltaFunctionCall
    times = array.array("q", bytes(8 * n_calls))
    m = len(fragments)
    gc.collect()
    for k in range(n_calls):
        f = fragments[k % m]
        t0 = pc()
        DM(tool_calls=[DTC(index=0, function=DFC(arguments=f))])
        t1 = pc()
        times[k] = t1 - t0
    return times


def chunk_run(fragments: list[str], n_calls: int) -> array.array | None:
    """What vLLM 0.33's serving loop spends on one non-None delta: wrap it in a stream choice
    and a chunk, serialize it (``model_dump_json(exclude_unset=True)``) into an SSE line."""
    if V.StreamResponse is None:
        return None
    DM, DTC, DFC = V.DeltaMessage, V.DeltaToolCall, V.DeltaFunctionCall
    SR, SC = V.StreamResponse, V.StreamChoice
    times = array.array("q", bytes(8 * n_calls))
    m = len(fragments)
    created = int(time.time())
    gc.collect()
    for k in range(n_calls):
        dm = DM(tool_calls=[DTC(index=0, function=DFC(arguments=fragments[k % m]))])
        t0 = pc()
        choice = SC(index=0, delta=dm, logprobs=None, finish_reason=None, token_ids=None)
        chunk = SR(id="chatcmpl-0123456789abcdef", object="chat.completion.chunk",
                   created=created, choices=[choice], model="qwen3-coder", kv_transfer_params=None)
        data = chunk.model_dump_json(exclude_unset=True, exclude_none=not chunk.choices)
        _ = f"data: {data}\n\n"
        times[k] = pc() - t0
    return times


def timer_overhead(n: int = 20000) -> float:
    best = math.inf
    for _ in range(3):
        s = 0
        for _ in range(n):
            t0 = pc()
            t1 = pc()
            s += t1 - t0
        best = min(best, s / n)
    return best


# --------------------------------------------------------------------------------------------
# Memory (separate, untimed pass)
# --------------------------------------------------------------------------------------------

class _NullParser:
    """Stands in for a parser in the harness-only pass (same harness allocations)."""

    def extract_tool_calls_streaming(self, *a):
        return None


def memory_pass(name: str | None, tok, wl: Workload, harness: array.array | None,
                engine_hint: bool = False, force_engine: bool = False):
    """Peak bytes attributable to the parser during one stream.

    tracemalloc's peak is reset right before every call. The harness-only pass (name=None)
    records, per step, the traced bytes held by the harness (accumulated texts and id lists);
    the parser pass subtracts them, so what is left is the parser's own state plus its
    transient allocations inside the call (and anything of the harness it keeps alive).
    """
    ids, deltas = wl.ids, wl.deltas
    n = len(ids)
    one = [[i] for i in ids]
    rec = array.array("q", bytes(8 * n))
    gc.collect()
    base = tracemalloc.get_traced_memory()[0]
    if name is None:
        p, req, engine = _NullParser(), None, engine_hint
    else:
        p, req, engine = make_parser(name, tok, wl)
        engine = engine or force_engine
    call = p.extract_tool_calls_streaming
    prev_text, prev_ids = "", []
    dm = None
    for k in range(n):
        d, dids = deltas[k], one[k]
        if engine:
            pt, ct, pi, ci = "", d, [], dids
        else:
            pt, ct, pi, ci = prev_text, prev_text + d, prev_ids, prev_ids + dids
        dm = None
        tracemalloc.reset_peak()
        dm = call(pt, ct, d, pi, ci, dids, req)
        if k == n - 1 and name is not None:
            dm = finalize(p, dm, engine)
        rec[k] = tracemalloc.get_traced_memory()[1] - base
        if not engine:
            prev_text, prev_ids = ct, ci
    if harness is None:
        return rec
    peak = max(rec[k] - harness[k] for k in range(n))
    del dm, prev_text, prev_ids, pt, ct, pi, ci
    gc.collect()
    retained = tracemalloc.get_traced_memory()[0] - base
    del p, call
    return {"peak_kib": peak / 1024, "retained_kib": retained / 1024}


# --------------------------------------------------------------------------------------------
# Statistics and report
# --------------------------------------------------------------------------------------------

def _pct(s, q):
    return s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))]


def stats(run: dict) -> dict:
    t = run["times"]
    s = sorted(t)
    n = len(t)
    q = max(1, n // 10)
    no_gc = [x for x, g in zip(t, run["gc_hit"]) if not g] or list(t)
    clean = [c if w else x for x, c, w in zip(t, run["cpu"], run["switched"])]
    kmax = max(range(n), key=t.__getitem__)
    return {"n": n, "mean": statistics.fmean(t) / 1e3, "p50": _pct(s, 0.5) / 1e3,
            "p99": _pct(s, 0.99) / 1e3, "max": s[-1] / 1e3, "max_no_gc": max(no_gc) / 1e3,
            "max_clean": max(clean) / 1e3, "mean_clean": statistics.fmean(clean) / 1e3,
            "first_us": t[0] / 1e3, "max_after_first": max(t[1:]) / 1e3 if n > 1 else 0.0,
            "max_clean_after_first": max(clean[1:]) / 1e3 if n > 1 else 0.0,
            "switched_deltas": sum(run["switched"]),
            "messages": run["messages"], "empty_messages": run["empty"],
            "advance_mean": statistics.fmean(run["advance"]) / 1e3,
            "advance_last10": statistics.fmean(run["advance"][-q:]) / 1e3,
            "first10": statistics.fmean(t[:q]) / 1e3, "last10": statistics.fmean(t[-q:]) / 1e3,
            "finalize_us": run["finalize_ns"] / 1e3,
            "total_ms": (sum(t) + run["finalize_ns"]) / 1e6, "gc_deltas": sum(run["gc_hit"]),
            "argmax": kmax}


KEYS = ["mean", "p50", "p99", "max", "total_ms"]


def aggregate(runs: list[dict]) -> dict:
    st = [stats(r) for r in runs]
    out = {"best": {}, "median": {}}
    for k in st[0]:
        if k == "argmax":
            continue
        vals = [x[k] for x in st]
        out["best"][k] = min(vals)
        out["median"][k] = statistics.median(vals)
    out["runs"] = st
    return out


def machine_info() -> dict:
    cpu = platform.processor()
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    vers = {}
    for mod in ("vllm", "torch", "transformers", "tokenizers", "pydantic"):
        try:
            vers[mod] = importlib.import_module(mod).__version__
        except Exception:  # noqa: BLE001
            vers[mod] = "n/a"

    def git(*a):
        try:
            return subprocess.run(["git", "-C", str(REPO), *a], capture_output=True,
                                  text=True, timeout=10).stdout.strip()
        except Exception:  # noqa: BLE001
            return ""
    pkg = hashlib.sha256()
    for f in sorted((REPO / "qwen_xml_toolparser").glob("*.py")):
        pkg.update(f.name.encode() + b"\0" + f.read_bytes())
    return {"date": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
            "cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(),
            "platform": platform.platform(), "versions": vers,
            "git_head": git("rev-parse", "--short", "HEAD"),
            "git_dirty_package": bool(git("status", "--porcelain", "--", "qwen_xml_toolparser")),
            "package_sha256_12": pkg.hexdigest()[:12]}


def fmt(x, nd=1):
    if x is None:
        return "–"
    if x >= 1000:
        return f"{x:,.0f}"
    if x >= 100:
        return f"{x:.0f}"
    return f"{x:.{nd}f}"


def report(res: dict, which: str = "best") -> str:
    parsers = res["parsers"]
    floor = res["floor"][which]
    lines = [f"Floor (DeltaMessage + DeltaToolCall + DeltaFunctionCall for one fragment): "
             f"{floor:.2f} µs ({which} of {len(res['floor']['runs'])} measurements); "
             f"timer overhead {res['timer_overhead_ns']:.0f} ns per read pair"]
    if res.get("chunk"):
        lines.append(f"Serving layer, per non-None delta (stream choice + chunk + model_dump_json "
                     f"into an SSE line, outside any parser): {res['chunk'][which]:.2f} µs")
    lines.append("")
    hdr = ("| workload | tokens | parser | mean µs | mean clean | p50 | p99 | max | 1st delta "
           "| max after 1st | max clean | total ms | finalize µs | mean/floor | peak KiB "
           "| msgs (empty) | ok |")
    lines += [hdr, "|" + "|".join(["---"] * 17) + "|"]
    for wl in res["workloads"]:
        w = res["results"][wl["name"]]
        for pn in parsers:
            a = w[pn][which]
            mem = w[pn].get("memory", {}).get("peak_kib")
            ok = "✓" if not w[pn]["errors"] else "✗"
            lines.append(
                f"| {wl['name']} | {wl['tokens']} | {pn} | {fmt(a['mean'], 2)} "
                f"| {fmt(a['mean_clean'], 2)} | {fmt(a['p50'], 2)} "
                f"| {fmt(a['p99'])} | {fmt(a['max'])} | {fmt(a['first_us'])} "
                f"| {fmt(a['max_after_first'])} | {fmt(a['max_clean'])} "
                f"| {fmt(a['total_ms'], 2)} | {fmt(a['finalize_us'])} | {a['mean'] / floor:.2f}× "
                f"| {fmt(mem)} | {a['messages']:.0f} ({a['empty_messages']:.0f}) | {ok} |")
    others = [pn for pn in parsers if pn != INTREE]
    if INTREE in parsers and others:
        lines += ["", f"Ratios to {INTREE} (parser / {INTREE}; below 1 is faster or smaller):", ""]
        hdr = "| workload | parser | mean | p50 | p99 | max | max clean | total | peak memory |"
        lines += [hdr, "|" + "|".join(["---"] * 9) + "|"]
        for wl in res["workloads"]:
            w = res["results"][wl["name"]]
            ref = w[INTREE][which]
            rmem = w[INTREE].get("memory", {}).get("peak_kib")
            for pn in others:
                a = w[pn][which]
                mem = w[pn].get("memory", {}).get("peak_kib")
                cells = [a[k] / ref[k] if ref[k] else None
                         for k in ("mean", "p50", "p99", "max", "max_clean", "total_ms")]
                cells.append(mem / rmem if mem is not None and rmem else None)
                lines.append(f"| {wl['name']} | {pn} | "
                             + " | ".join("–" if c is None else f"{c:.3f}" if c < 0.1 else f"{c:.2f}"
                                          for c in cells) + " |")
    legacy = [pn for pn in parsers if not res["parser_meta"][pn]["engine_based_mode"]]
    if legacy:
        lines += ["", "Serving-side cost of accumulated texts (vLLM 0.33 StreamState.advance: "
                  "`previous_text + delta_text`, `previous_token_ids + delta_token_ids`), paid by "
                  "the API server for legacy parsers only, outside the parser timer:", "",
                  "| workload | µs per delta, mean | µs per delta, last 10 % |", "|---|---|---|"]
        for wl in res["workloads"]:
            a = res["results"][wl["name"]][legacy[0]][which]
            lines.append(f"| {wl['name']} | {fmt(a['advance_mean'], 2)} "
                         f"| {fmt(a['advance_last10'], 2)} |")
    return "\n".join(lines)


def targets(res: dict, which: str = "best") -> list[str]:
    """The issue's targets, evaluated (reported only, never asserted)."""
    def verdict(ok: bool) -> str:
        return "met" if ok else "MISSED"

    out = []
    w = res["results"]
    floor = res["floor"][which]
    big = [wl for wl in res["workloads"] if wl["chars"]]
    if OURS not in res["parsers"]:
        return ["qwen_xml_safe not benchmarked: targets not evaluated"]
    r1 = [(wl["name"], w[wl["name"]][OURS][which]["mean"] / floor) for wl in big]
    out.append(f"mean per delta within 1.5x the floor at every size: "
               f"{verdict(all(r <= 1.5 for _, r in r1))} ("
               + ", ".join(f"{n.split()[-1]} {r:.2f}x" for n, r in r1) + ")")
    if INTREE in res["parsers"]:
        r2 = [(wl["name"], w[wl["name"]][INTREE][which]["mean"] / w[wl["name"]][OURS][which]["mean"])
              for wl in big]
        out.append(f"mean at least 2x lower than {INTREE} at every size: "
                   f"{verdict(all(r >= 2 for _, r in r2))} ("
                   + ", ".join(f"{n.split()[-1]} {r:.2f}x lower" for n, r in r2) + ")")
    w32 = [wl for wl in big if wl["name"].endswith(" 32k")]
    if w32:
        a = w[w32[0]["name"]][OURS][which]
        out.append(f"slowest single delta at 32k under 100 µs: {verdict(a['max'] < 100)} "
                   f"(max {a['max']:.0f} µs, first delta {a['first_us']:.0f} µs, max after the "
                   f"first {a['max_after_first']:.0f} µs, clean max {a['max_clean']:.0f} µs)")
    if len(big) >= 2:
        m0 = w[big[0]["name"]][OURS][which]["mean"]
        m1 = w[big[-1]["name"]][OURS][which]["mean"]
        out.append(f"mean growth {big[0]['name'].split()[-1]} -> {big[-1]['name'].split()[-1]} "
                   f"under 10 %: {verdict(m1 / m0 - 1 < 0.10)} ({(m1 / m0 - 1) * 100:+.1f} %)")
    bad = [(wl, pn) for wl in w for pn in w[wl] if w[wl][pn]["errors"]]
    out.append("correctness invariants on every stream: " + ("met" if not bad else
               "FAILED: " + ", ".join(f"{pn} / {wl}" for wl, pn in bad)))
    return out


def plot(res: dict, series: dict, path: str) -> bool:
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot", file=sys.stderr)
        return False
    name, data = series["name"], series["data"]
    fig, ax = plt.subplots(figsize=(11, 5.5), dpi=110)
    colors = {OURS: "tab:blue", INTREE: "tab:red"}
    for pn, run in data.items():
        t = run["times"]
        bad = [bool(w) for w in run["switched"]]
        xs = [k for k in range(len(t)) if not bad[k]]
        ax.plot(xs, [t[k] / 1e3 for k in xs], ".", ms=1.6, alpha=0.6, color=colors.get(pn),
                label=f"{pn} (mean {statistics.fmean(t) / 1e3:.1f} µs, max {max(t) / 1e3:,.0f} µs)")
        xb = [k for k in range(len(t)) if bad[k]]
        if xb:
            ax.plot(xb, [t[k] / 1e3 for k in xb], "x", ms=3, alpha=0.5, color=colors.get(pn),
                    label=f"{pn}: thread switched out during the call ({len(xb)})")
        kmax = max(range(len(t)), key=t.__getitem__)
        ax.annotate(f"{t[kmax] / 1e3:,.0f} µs", (kmax, t[kmax] / 1e3), fontsize=8,
                    color=colors.get(pn), xytext=(-40, 4), textcoords="offset points")
    ax.axhline(res["floor"]["best"], color="gray", ls="--", lw=1,
               label=f"floor: one argument delta object ({res['floor']['best']:.1f} µs)")
    ax.set_yscale("log")
    ax.set_xlabel("token position in the stream (one delta per token)")
    ax.set_ylabel("µs per extract_tool_calls_streaming call (log)")
    m = res["machine"]
    ax.set_title(f"{name}: per-delta latency, vLLM {m['versions']['vllm']}, "
                 f"{m['date'][:10]}, run with the lowest mean of {res['repeats']}")
    ax.legend(loc="upper left", markerscale=4, fontsize=8)
    ax.grid(True, which="both", alpha=0.25)
    fig.tight_layout()
    fig.savefig(path)
    print(f"plot written to {path}")
    return True


# --------------------------------------------------------------------------------------------

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="tiny sizes, 1 repeat (CI smoke)")
    ap.add_argument("--sizes", default=None, help="write_file content sizes, e.g. 1000,8000")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--parsers", default=f"{OURS},{INTREE}")
    ap.add_argument("--require-plugin", action="store_true",
                    help="fail when qwen_xml_toolparser/plugin.py cannot be loaded")
    ap.add_argument("--no-memory", action="store_true", help="skip the tracemalloc pass")
    ap.add_argument("--json", default=None, help="write all figures (and per-run stats) here")
    ap.add_argument("--plot", default=None,
                    help="PNG of per-delta latency on the 32k case (default in full mode: "
                         "benchmarks/latency_32k.png; needs matplotlib)")
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
    plot_path = args.plot or (None if args.quick else str(REPO / "benchmarks" / "latency_32k.png"))
    load0 = os.getloadavg()
    t_start = time.time()

    warnings.filterwarnings("ignore")
    try:
        V.load()
        from tests.support.qwen_tokenizer import ensure_tokenizer_dir
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
                _, _, engine = make_parser(pn, tok, wl)
                engine = engine or args.texts == "delta"
                if engine not in harness:
                    harness[engine] = memory_pass(None, tok, wl, None, engine_hint=engine)
                res["results"][wl.name][pn]["memory"] = memory_pass(pn, tok, wl, harness[engine],
                                                                    force_engine=engine)
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
    out += ["Targets (best of):", ""] + [f"- {line}" for line in targets(res, "best")]
    if repeats > 1:
        out += ["", f"### Median of {repeats} runs", "", report(res, "median"), ""]
        out += ["Targets (median):", ""] + [f"- {line}" for line in targets(res, "median")]
    for wl in wls:
        for pn in parsers:
            for e in res["results"][wl.name][pn]["errors"]:
                out.append(f"CHECK FAILED {pn} / {wl.name}: {e}")
    print()
    print("\n".join(out))
    if args.markdown:
        Path(args.markdown).write_text("\n".join(out) + "\n")
        print(f"markdown written to {args.markdown}")

    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1, ensure_ascii=False))
        print(f"figures written to {args.json}")
    ours_bad = any(res["results"][wl.name][OURS]["errors"] for wl in wls) if OURS in parsers else False
    return 1 if ours_bad else 0


if __name__ == "__main__":
    sys.exit(main())
