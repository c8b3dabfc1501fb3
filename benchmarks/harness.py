"""Driving a tool parser as vLLM's serving loop does, timed per delta (and the memory pass).

Only the ``extract_tool_calls_streaming`` call sits between the two ``perf_counter_ns()`` reads;
everything the serving loop builds around it (accumulated texts and id lists, the request) is
built outside the timer. ``finalize`` is what the serving layer does to a stream's last delta
(``qxt_support.vllm.apply_finish``, the four generations of docs/compat-notes.md §4), timed apart.
"""

from __future__ import annotations

import array
import gc
import json
import math
import time
import tracemalloc

from benchmarks.workloads import Workload
from qxt_support.equality import strict_equal
from qxt_support.vllm import CHAT_PROTOCOL, PLUGIN_NAME, PROTOCOL, TOKENIZERS, TOOL_PARSERS, apply_finish, symbol

OURS, INTREE = PLUGIN_NAME, "qwen3_coder"
pc = time.perf_counter_ns


class V:
    """The vLLM names the benchmark needs, resolved once."""

    @classmethod
    def load(cls) -> None:
        import vllm

        cls.version = vllm.__version__
        cls.ToolParserManager = symbol("ToolParserManager", *TOOL_PARSERS)
        cls.ChatCompletionRequest = symbol("ChatCompletionRequest", *CHAT_PROTOCOL)
        # where the 0.33 parsers import the delta types from, then 0.15-0.32, then <=0.14
        cls.DeltaMessage = symbol("DeltaMessage", *PROTOCOL)
        cls.DeltaToolCall = symbol("DeltaToolCall", *PROTOCOL)
        cls.DeltaFunctionCall = symbol("DeltaFunctionCall", *PROTOCOL)
        cls.delta_module = cls.DeltaMessage.__module__
        try:  # for the reference cost of one SSE chunk in the serving layer
            cls.StreamResponse = symbol("ChatCompletionStreamResponse", *CHAT_PROTOCOL)
            cls.StreamChoice = symbol("ChatCompletionResponseStreamChoice", *CHAT_PROTOCOL)
        except ImportError:
            cls.StreamResponse = cls.StreamChoice = None
        cls.get_tokenizer = symbol("get_tokenizer", *TOKENIZERS)
        # 0.33 gives engine-based parsers per-delta texts (StreamState.advance); before the
        # StreamState existed every parser got accumulated texts.
        try:
            from vllm.parser.abstract_parser import StreamState  # noqa: F401
            cls.has_engine_mode = True
        except ImportError:
            cls.has_engine_mode = False


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



def finalize(p, dm, engine):
    """What the serving layer does to the final delta of a tool-call stream.

    vLLM 0.23+ (``Parser.finalize_generation``): ``get_remaining_unstreamed_args()`` appended to
    the last tool call of the delta; older versions replace the delta by the remainder they
    compute themselves (``qxt_support.vllm.apply_finish`` holds all four generations). Then, on
    0.33, ``finish_streaming()`` of engine-based parsers is merged in.
    """
    dm = apply_finish(p, dm)
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
        if not strict_equal(got, args):
            diff = [k for k in set(args) | set(got) if not strict_equal(got.get(k), args.get(k))]
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
