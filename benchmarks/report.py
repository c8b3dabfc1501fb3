"""Statistics of the timed runs, the machine description, the summary tables, the targets, the plot."""

from __future__ import annotations

import datetime as _dt
import hashlib
import importlib
import math
import os
import platform
import statistics
import subprocess
import sys

from benchmarks.harness import INTREE, OURS
from qxt_support.vllm import REPO

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
