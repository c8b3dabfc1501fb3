"""The recorded public model outputs (tests/fixtures/public_reports.jsonl) and what the tests
expect of them, independent of the engine (no vLLM or SGLang import): tests/test_fixtures_recorded.py
runs them through vLLM, tests/sglang/test_recorded.py through SGLang. The rules (the tool parser's
input, the schema supplement, markup that is content) are documented in
tests/test_fixtures_recorded.py.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.invariants import first_difference

FIXTURES = Path(__file__).parents[1] / "fixtures" / "public_reports.jsonl"
PREFILLED_THINK_NOTE = "Tool call starts inside the prefilled <think> block without </think>"

CASES = [json.loads(line) for line in FIXTURES.read_text(encoding="utf-8").splitlines() if line.strip()]


def _slug(i: int, case: dict) -> str:
    src = case["source"]
    tail = [p for p in src.replace("#", "/").split("/") if p][-2:]
    return f"{i:02d}-" + "-".join(tail)[:40].replace(" ", "_")


SCHEMA_SUPPLEMENTS = {
    "https://github.com/vllm-project/vllm/pull/47643": [
        {"type": "function", "function": {"name": "update_record", "parameters": {
            "type": "object",
            "properties": {"id": {"type": "integer"},
                           "metadata": {"anyOf": [{"type": "object"}, {"type": "null"}]}}}}}
    ],
}

# Null-expectation cases whose content legitimately contains markup text
# (it is not a call by docs/behaviour.md, so it is content, markup included).
MARKUP_IS_CONTENT = {
    # '<parameter=content>...' fragment without <function=...>: prose.
    "https://github.com/raullenchai/Rapid-MLX/issues/1542#fragment",
}


def tool_parser_input(case: dict) -> str:
    out = case["output"]
    think_end = out.find("</think>")
    call = out.find("<tool_call>")
    if case["note"].startswith(PREFILLED_THINK_NOTE):
        assert call >= 0 and think_end < 0
        return out[call:]
    if think_end >= 0:
        if 0 <= call < think_end:
            return out[call:]
        return out[think_end + len("</think>"):]
    return out


def _case_key(case: dict) -> str:
    src = case["source"]
    if src.startswith("https://github.com/raullenchai/Rapid-MLX/issues/1542") and case["output"].startswith("<parameter="):
        return src + "#fragment"
    return src


def _expected(case: dict, suffix: str):
    if suffix == "-noschema":  # contract §3: no schema -> every value is a string
        return [{"name": "update_record", "arguments": {"id": "42", "metadata": "None"}}]
    return case["expected_calls"]


def _compare(label: str, got_calls, got_content, case: dict, expected) -> list[str]:
    problems = []
    names = [c.name for c in got_calls]
    want_names = [c["name"] for c in expected]
    if names != want_names:
        problems.append(f"{label}: call names {names}, expected {want_names}")
    else:
        for k, (c, e) in enumerate(zip(got_calls, expected)):
            try:
                args = json.loads(c.arguments)
            except Exception as ex:
                problems.append(f"{label}: call {k} arguments not JSON ({ex}): {c.arguments!r}")
                continue
            d = first_difference(args, e["arguments"])
            if d:
                problems.append(f"{label}: call {k} ({c.name}) arguments {c.arguments!r}: {d}")
    want_content = (case["expected_content"] or "").strip()
    if (got_content or "").strip() != want_content:
        problems.append(f"{label}: content {got_content!r} (stripped) != expected {want_content!r}")
    return problems
