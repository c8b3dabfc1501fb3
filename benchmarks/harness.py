"""Driving a tool parser as vLLM's serving loop does, timed per delta (and the memory pass).

The loop is ``qwen_xml_toolparser._vllm_loop`` (the one emulation of vLLM's serving loop that the
CLI, the tests and ``ci/smoke.py`` use too): ``chat_request`` and ``new_parser`` build the request
and the parser, ``ServingLoop.arguments`` / ``.commit`` build and keep the texts and id lists of
each call (accumulated, or the delta alone for an engine-based parser on 0.26+), and
``ServingLoop.finish`` is what the serving layer does to a stream's last delta (the four
generations of docs/compat-notes.md §4, then ``finish_streaming()``), timed apart. ``Received``
reassembles what a client sees.

Only the ``extract_tool_calls_streaming`` call sits between the two ``perf_counter_ns()`` reads;
everything the serving loop builds around it is built outside the timer.
"""

from __future__ import annotations

import array
import gc
import json
import math
import time
import tracemalloc

from benchmarks.workloads import Workload
from qwen_xml_toolparser._vllm_loop import Received, ServingLoop, chat_request, new_parser
from qxt_support.equality import strict_equal
from qxt_support.vllm import CHAT_PROTOCOL, PLUGIN_NAME, PROTOCOL, TOKENIZERS, TOOL_PARSERS, symbol

OURS, INTREE = PLUGIN_NAME, "qwen3_coder"
pc = time.perf_counter_ns


class V:
    """The vLLM names the benchmark needs, resolved once."""

    @classmethod
    def load(cls) -> None:
        import vllm

        cls.version = vllm.__version__
        cls.ToolParserManager = symbol("ToolParserManager", *TOOL_PARSERS)
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


def request(wl: Workload):
    """The stream's ``ChatCompletionRequest``, carrying the workload's tools."""
    return chat_request(wl.tools, model="qwen3-coder", stream=True)


def serving_loop(name: str, tok, wl: Workload, texts: str = "serving") -> ServingLoop:
    """A new parser ``name`` for one stream of ``wl``, in the serving loop (``.parser``,
    ``.request``; ``.delta_texts``: the parser gets the delta alone).

    ``texts="delta"`` (diagnostic) passes every parser the delta alone and flushes it with
    ``finish_streaming()`` at the end, as the installed vLLM does for an engine-based parser.
    """
    parser, req = new_parser(V.ToolParserManager.get_tool_parser(name), tok, request(wl))
    loop = ServingLoop(parser, req)
    if texts == "delta":
        loop.delta_texts = loop.flushes = True
    return loop


def check(wl: Workload, got: Received) -> list[str]:
    errs = []
    idx = sorted(got.calls)
    if idx != list(range(len(wl.calls))):
        errs.append(f"call indexes {idx}, expected {len(wl.calls)} calls")
    for i, (name, args) in enumerate(wl.calls):
        c = got.calls.get(i)
        if c is None:
            continue
        if c.names != [name]:
            errs.append(f"call {i}: names sent {c.names}")
        if len(c.ids) != 1:
            errs.append(f"call {i}: {len(c.ids)} ids sent")
        s = "".join(c.arguments)
        try:
            value = json.loads(s)
        except ValueError as e:
            errs.append(f"call {i}: arguments not JSON ({e}): {s[:80]!r}...{s[-80:]!r}")
            continue
        if not strict_equal(value, args):
            diff = [k for k in set(args) | set(value) if not strict_equal(value.get(k), args.get(k))]
            errs.append(f"call {i}: arguments differ in {sorted(diff)[:6]}: "
                        + "; ".join(f"{k}={str(value.get(k))[:40]!r}" for k in sorted(diff)[:3]))
    all_ids = [x for c in got.calls.values() for x in c.ids]
    if len(set(all_ids)) != len(all_ids):
        errs.append("duplicate tool call ids")
    content = got.text()
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
    loop = serving_loop(name, tok, wl, texts)
    p, req = loop.parser, loop.request
    got = Received()
    ids, deltas = wl.ids, wl.deltas
    n = len(ids)
    one = [[i] for i in ids]  # the delta_token_ids lists, built once
    times = array.array("q", bytes(8 * n))
    gc_hit = bytearray(n)
    switched = bytearray(n)
    adv = array.array("q", bytes(8 * n))
    cpu = array.array("q", bytes(8 * n))  # thread CPU time of switched-out deltas
    call = p.extract_tool_calls_streaming
    arguments, commit = loop.arguments, loop.commit
    # no gc.collect() here: the heap is frozen, and a full collection right before the
    # stream would leave the caches cold for the first delta (a serving process does not
    # collect before each request either)
    dm = None
    for k in range(n):
        # vLLM 0.33 StreamState.advance (timed apart: serving-side cost of accumulated texts)
        a0 = pc()
        pt, ct, d, pi, ci, dids = arguments(deltas[k], one[k])
        adv[k] = pc() - a0
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
            got.take(dm)
        commit(ct, ci)
    t0 = pc()
    dm = loop.finish(dm)
    fin = pc() - t0
    got.take(dm)
    errs = check(wl, got)
    return {"times": times, "gc_hit": gc_hit, "switched": switched, "cpu": cpu, "advance": adv,
            "finalize_ns": fin, "errors": errs, "messages": got.messages, "empty": got.empty,
            "engine": loop.delta_texts, "cls": type(p).__name__}


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
                delta_texts: bool = False, texts: str = "serving"):
    """Peak bytes attributable to the parser during one stream.

    tracemalloc's peak is reset right before every call. The harness-only pass (name=None, the
    loop's ``delta_texts`` as given) records, per step, the traced bytes held by the harness
    (accumulated texts and id lists); the parser pass subtracts them, so what is left is the
    parser's own state plus its transient allocations inside the call (and anything of the
    harness it keeps alive).
    """
    ids, deltas = wl.ids, wl.deltas
    n = len(ids)
    one = [[i] for i in ids]
    rec = array.array("q", bytes(8 * n))
    gc.collect()
    base = tracemalloc.get_traced_memory()[0]
    if name is None:
        loop = ServingLoop(_NullParser(), None)
        loop.delta_texts = delta_texts
    else:
        loop = serving_loop(name, tok, wl, texts)
    p, req = loop.parser, loop.request
    call = p.extract_tool_calls_streaming
    dm = None
    for k in range(n):
        pt, ct, d, pi, ci, dids = loop.arguments(deltas[k], one[k])
        dm = None
        tracemalloc.reset_peak()
        dm = call(pt, ct, d, pi, ci, dids, req)
        if k == n - 1 and name is not None:
            dm = loop.finish(dm)
        rec[k] = tracemalloc.get_traced_memory()[1] - base
        loop.commit(ct, ci)
    if harness is None:
        return rec
    peak = max(rec[k] - harness[k] for k in range(n))
    del dm, loop, pt, ct, pi, ci
    gc.collect()
    retained = tracemalloc.get_traced_memory()[0] - base
    del p, call
    return {"peak_kib": peak / 1024, "retained_kib": retained / 1024}
