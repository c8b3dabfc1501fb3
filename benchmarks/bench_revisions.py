"""The parser core at two git revisions, side by side in one process (for refactors).

A refactor must not slow the hot path, and two benchmark runs minutes apart on a shared 2-core
machine differ by more than the change being judged. This script loads the package of a git
revision (``git archive``, under another module name) next to the working tree's, and feeds
both the same per-token deltas of bench_streaming.py's workloads (a real Qwen3 tokenizer through
``_vllm_loop.token_texts``, vLLM's incremental detokenizer), alternating run by run::

    python benchmarks/bench_revisions.py                  # HEAD against the working tree
    python benchmarks/bench_revisions.py --base a7f7594 --repeats 15
    python benchmarks/bench_revisions.py --base a7f7594 --work e730325   # two revisions

It times ``StreamParser.feed`` per delta plus ``finish``, and reports the median µs per delta of
each workload for both revisions and their ratio. Every run's events are checked to be the same
for both revisions (a refactor must not change behaviour); a difference is an error (exit 1).
Needs ``tokenizers`` (the test venv has it); not vLLM.
"""

from __future__ import annotations

import argparse
import importlib
import itertools
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.workloads import Workload, make_workloads  # noqa: E402


def load_revision(rev: str, into: Path, module: str) -> ModuleType:
    """The package as of ``rev``, imported as ``module``."""
    try:
        data = subprocess.run(["git", "-C", str(REPO), "archive", rev, "qwen_xml_toolparser"],
                              check=True, capture_output=True).stdout
    except subprocess.CalledProcessError as exc:
        sys.exit(f"bench_revisions.py: git archive {rev} failed: {exc.stderr.decode().strip()}")
    with tarfile.open(fileobj=BytesIO(data)) as tar:
        tar.extractall(into, filter="data")
    (into / "qwen_xml_toolparser").rename(into / module)
    sys.path.insert(0, str(into))
    return importlib.import_module(module)


def deltas(wls: list[Workload]) -> None:
    from tokenizers import Tokenizer

    from qwen_xml_toolparser._vllm_loop import token_texts
    from qxt_support.qwen_tokenizer import ensure_tokenizer_dir

    tok = Tokenizer.from_file(str(ensure_tokenizer_dir() / "tokenizer.json"))
    for wl in wls:
        wl.deltas = token_texts(tok, tok.encode(wl.text, add_special_tokens=False).ids, skip_special_tokens=False)
        if "".join(wl.deltas) != wl.text:
            raise RuntimeError(f"{wl.name}: detokenized deltas do not rebuild the text")


def timed(package: ModuleType, wl: Workload) -> tuple[float, list[Any]]:
    """µs per delta for one stream, and its events (ids made deterministic)."""
    counter = itertools.count()
    parser = package.StreamParser(wl.tools, id_factory=lambda: f"call_{next(counter)}")
    feed = parser.feed
    events: list[Any] = []
    pc = time.perf_counter_ns
    total = 0
    for delta in wl.deltas:
        t0 = pc()
        out = feed(delta)
        total += pc() - t0
        events += out
    t0 = pc()
    events += parser.finish()
    total += pc() - t0
    return total / 1000 / (len(wl.deltas) + 1), [repr(e) for e in events]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", default="HEAD", help="git revision to compare with (default HEAD)")
    ap.add_argument("--work", default=None, help="git revision to compare (default: the working tree)")
    ap.add_argument("--repeats", type=int, default=9, help="runs per workload and revision (default 9)")
    ap.add_argument("--sizes", default="2000,32000", help="write_file sizes in characters")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = load_revision(args.base, Path(tmp) / "base", "qxt_base")
        if args.work is None:
            import qwen_xml_toolparser as work
        else:
            work = load_revision(args.work, Path(tmp) / "work", "qxt_work")
        wls = make_workloads([int(s) for s in args.sizes.split(",")])
        deltas(wls)
        print(f"core StreamParser, µs per delta (median of {args.repeats}); "
              f"base = {args.base}, work = {args.work or 'the working tree'}")
        print(f"{'workload':<20}{'deltas':>8}{'base':>10}{'work':>10}{'work/base':>11}")
        failed = False
        for wl in wls:
            times: dict[str, list[float]] = {"base": [], "work": []}
            for _ in range(args.repeats):
                base_t, base_events = timed(base, wl)
                work_t, work_events = timed(work, wl)
                times["base"].append(base_t)
                times["work"].append(work_t)
                if base_events != work_events:
                    failed = True
            b, w = statistics.median(times["base"]), statistics.median(times["work"])
            print(f"{wl.name:<20}{len(wl.deltas):>8}{b:>10.2f}{w:>10.2f}{w / b:>11.3f}")
        if failed:
            print("ERROR: the two revisions produced different events", file=sys.stderr)
            return 1
        return 0


if __name__ == "__main__":
    sys.exit(main())
