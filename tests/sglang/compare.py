"""The recorded outputs through SGLang 0.5.23's FunctionCallParser: qwen_xml_safe against SGLang's
own qwen3_coder, per mode (the checks of tests/sglang/test_recorded.py, counted instead of asserted).

    venv=$(bash ci/sglang.sh); PYTHONPATH=$PWD $venv/bin/python -m tests.sglang.compare

Per detector and mode: the records with expected calls that give exactly those calls and that
content ("pass" / "fail"; an exception counts as a failure), and the docs/contract.md §2 invariant
violations over all records (problem lines). "non-reasoning": records whose output has no think
markup (Qwen3-Coder style); "all": every record, reasoning ones given what a reasoning parser leaves.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from tests.sglang import driver
from tests.sglang.test_recorded import STREAM_PLANS, plans, recorded_problems
from tests.support.recorded import CASES

# label -> the plans of case i in that mode (None: non-streaming); the plans of test_recorded.py.
MODES: dict[str, Callable[[int], list[tuple[str, int, str] | None]]] = {
    "non-streaming": lambda i: [None],
    **{
        f"{mode}{' (2 seeds)' if mode == 'random' else ''}": (
            lambda i, mode=mode: [p for p in plans(i) if p[0] == mode and p[2] == "stop"])
        for mode in dict.fromkeys(m for m, _ in STREAM_PLANS)
    },
}


def _reasoning(i: int) -> bool:
    out = CASES[i]["output"]
    return "<think>" in out or "</think>" in out or CASES[i]["note"].startswith("Tool call starts inside")


def count(name: str, indices: list[int]) -> dict[str, tuple[int, int, int]]:
    table = {}
    for label, mode_plans in MODES.items():
        passed = failed = violations = 0
        for i in indices:
            for plan in mode_plans(i):
                try:
                    results, invariants = recorded_problems(i, plan, name)
                except Exception as e:  # a detector that raises fails the request
                    results, invariants = [f"raised {type(e).__name__}: {e}"], []
                if CASES[i]["expected_calls"] is not None:
                    passed += not results
                    failed += bool(results)
                violations += len(invariants)
        table[label] = (passed, failed, violations)
    return table


def main() -> None:
    logging.disable(logging.CRITICAL)  # both detectors log warnings; counted through the invariants anyway
    subsets = {"non-reasoning": [i for i in range(len(CASES)) if not _reasoning(i)], "all": list(range(len(CASES)))}
    for subset, indices in subsets.items():
        n = sum(CASES[i]["expected_calls"] is not None for i in indices)
        print(f"\n{subset}: {len(indices)} records, {n} with expected calls (random: 2 seeds, so 2x)")
        print(f"| mode | {driver.OURS} pass / fail / invariant violations "
              f"| {driver.THEIRS} pass / fail / invariant violations |")
        print("|---|---|---|")
        ours, theirs = count(driver.OURS, indices), count(driver.THEIRS, indices)
        for label in MODES:
            print(f"| {label} | {' / '.join(map(str, ours[label]))} | {' / '.join(map(str, theirs[label]))} |")


if __name__ == "__main__":
    main()
