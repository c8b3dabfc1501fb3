"""Drifted output (docs/drift.md) through the real server: the calls are recovered, streaming and
not, and each recovery is one line in the server's own log, where an operator counts them."""

from __future__ import annotations

import json
import re
import time

import pytest
import stack
from qxt_support.scripted import reply_of, reply_of_stream, says

pytestmark = pytest.mark.e2e

USER = [{"role": "user", "content": "Go."}]
TOOLS = json.loads((stack.REPO / "examples" / "tools" / "coding_agent.json").read_text())
TEXT = (stack.REPO / "examples" / "outputs" / "drift_qwen36.txt").read_text(encoding="utf-8")
CALLS = [("read_file", {"path": "src/app.py"}), ("run_command", {"command": "pytest -q tests/", "timeout": 120})]
# <parameter=read_file> as the opener, its doubled </function>, <function=function=run_command>,
# "<parameter=command> pytest", and the doubled </tool_call> after </function_invocation>
SHAPES = ["parameter-as-function", "stray-closer", "doubled-prefix", "value-on-opener-line", "stray-closer"]
RECOVERED = re.compile(r"\bINFO\b.* drift recovered: ([a-z-]+)")


def recoveries(server: stack.ManagedServer) -> list[str]:
    return RECOVERED.findall(server.log_path.read_text(errors="replace"))


# The 2026 dialects (issue 20): Qwen3.8 under Claude Code-style prompts. An attribute opener with an
# attribute parameter, the residue of a mangled closer, <function>NAME</function> + JSON arguments,
# and a nameless call whose keys fit one declared tool (write_file: path and content, both required).
TEXT_2026 = (stack.REPO / "examples" / "outputs" / "drift_qwen38.txt").read_text(encoding="utf-8")
CALLS_2026 = [("read_file", {"path": "src/app.py"}), ("run_command", {"command": "pytest -q tests/", "timeout": 120}),
              ("write_file", {"path": "notes.md", "content": "tests pass"})]
SHAPES_2026 = ["attribute-opener", "closer-residue", "json-arguments", "inferred-name"]
OUTPUTS = {
    "qwen36": (TEXT, CALLS, "I will read the file, then run the tests.", SHAPES),
    "qwen38-2026": (TEXT_2026, CALLS_2026, "Reading the config, then running the tests and noting the result.",
                    SHAPES_2026),
}


@pytest.mark.parametrize("output", list(OUTPUTS))
@pytest.mark.parametrize("stream", [False, True], ids=["nonstream", "stream"])
def test_drift_is_recovered_and_counted_in_the_server_log(vllm, openai_client, model, stream, output):
    text, calls, content, shapes = OUTPUTS[output]
    before = len(recoveries(vllm))
    r = openai_client.chat.completions.create(model=model, messages=USER, tools=TOOLS, stream=stream, **says(text))
    r = reply_of_stream(r) if stream else reply_of(r)
    assert [(c.name, c.args) for c in r.calls] == calls
    assert (r.content or "").strip() == content
    assert r.finish_reason == "tool_calls"
    deadline = time.monotonic() + 10
    while len(recoveries(vllm)) < before + len(shapes) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert recoveries(vllm)[before:] == shapes
