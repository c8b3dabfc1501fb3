"""Old parser against new over the fixtures and the fuzz corpus, in one process (for refactors).

Loads the package of a git revision (as benchmarks/bench_revisions.py does) next to the working
tree's and feeds both the same outputs: the recorded public reports (tests/fixtures), random
renders of the fuzz generator (tests/support/gen.py), the hostile shapes at a small size, and the
drift cases of tests/test_drift.py; each whole, one character at a time and in random pieces, and
compares every event (ids made deterministic) and every "drift recovered" log record::

    python -m tests.support.differential --base 3c0c600 --turns 400

Prints each output whose events differ (a refactor must have none; a change of behaviour lists
exactly the outputs it means to change) and exits 1 when any differs. Run it with a vLLM venv's
Python (the drift cases import the vLLM test driver). It lives in tests/ because its corpus is the
tests' own cases (nothing outside tests/ imports from tests/).
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import random
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.bench_revisions import load_revision  # noqa: E402


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        if msg.startswith("drift recovered"):
            self.lines.append(msg)


def run(package: Any, text: str, tools: Any, pieces: list[str]) -> tuple[list[str], list[str]]:
    handler = _Records()
    log = logging.getLogger("qwen_xml_toolparser")
    log.addHandler(handler)
    level = log.level
    log.setLevel(logging.INFO)
    try:
        counter = itertools.count()
        parser = package.StreamParser(tools, id_factory=lambda: f"call_{next(counter)}")
        events: list[Any] = []
        for piece in pieces:
            events += parser.feed(piece)
        events += parser.finish()
    finally:
        log.removeHandler(handler)
        log.setLevel(level)
    return [repr(e).replace(package.__name__, "pkg") for e in _merged(events)], handler.lines


def _merged(events: list[Any]) -> list[Any]:
    """Adjacent content / arguments pieces joined (piece boundaries carry no meaning)."""
    out: list[Any] = []
    for e in events:
        name = type(e).__name__
        if out and name == type(out[-1]).__name__ == "ContentDelta":
            out[-1] = type(e)(out[-1].text + e.text)
        elif out and name == type(out[-1]).__name__ == "ArgumentsDelta" and e.index == out[-1].index:
            out[-1] = type(e)(e.index, out[-1].text + e.text)
        else:
            out.append(e)
    return out


def corpus(turns: int) -> list[tuple[str, str, Any]]:
    from qxt_support import hostile_shapes
    from tests import test_drift as td
    from tests.support import gen

    items: list[tuple[str, str, Any]] = []
    for i, line in enumerate((REPO / "tests" / "fixtures" / "public_reports.jsonl").read_text().splitlines()):
        rec = json.loads(line)
        items.append((f"fixture {i}", rec["output"], rec.get("tools")))
    for seed in range(turns):
        turn = gen.random_turn(seed)
        items.append((f"fuzz {seed}", turn.text, turn.tools))
    for shape in hostile_shapes.SHAPES:
        items.append((f"hostile {shape.name}", shape.build(3000), hostile_shapes.TOOLS))
    for case in td.CASES + td.RAILS:
        items.append((f"drift {case[0]}", case[1], case[2]))
    return items


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", default="HEAD", help="git revision to compare with (default HEAD)")
    ap.add_argument("--turns", type=int, default=300, help="random renders of the fuzz generator")
    args = ap.parse_args()
    import qwen_xml_toolparser as work

    with tempfile.TemporaryDirectory() as tmp:
        base = load_revision(args.base, Path(tmp) / "base", "qxt_base")
        items = corpus(args.turns)
        differ = 0
        for label, text, tools in items:
            rng = random.Random(label)
            cuts = sorted(rng.sample(range(1, len(text)), min(len(text) - 1, 12))) if len(text) > 1 else []
            plans = {"whole": [text], "by char": list(text),
                     "random": [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]}
            for plan, pieces in plans.items():
                if run(base, text, tools, pieces) != run(work, text, tools, pieces):
                    differ += 1
                    print(f"DIFFERS: {label} ({plan}): {text[:100]!r}")
                    break
        print(f"{len(items)} outputs x 3 split plans; {differ} differ (base {args.base}, work: the working tree)")
        return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
