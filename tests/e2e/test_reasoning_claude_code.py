"""The real Claude Code CLI (``claude -p``, npm ``@anthropic-ai/claude-code``, ci/e2e-claude-code.txt)
against vLLM's own ``/v1/messages`` with ``--reasoning-parser qwen_xml_safe``, through
examples/claude-code/claude-vllm.sh, on loopback: one agent run of two model turns.

1. The model thinks, writes a draft Bash call inside the thinking, rejects it, closes ``</think>``
   and makes the real Bash call. Claude Code runs every ``tool_use`` block it gets: only the real
   command may run, which is checked by side effect (the draft would create a file, the real one
   creates another).
2. After the tool result the model answers without a think block: Claude Code's result must be
   that text (docs/contract.md §8: an answer without a think block is content, not reasoning).

Claude Code sends its own requests, so the scripting is server side: the reasoning server of
test_reasoning.py also runs the test-only middleware ``e2e_hooks.ScriptedMessages``, which gives
each ``/v1/messages`` request carrying ``x-qxt-script: FILE`` (sent by Claude Code from
``ANTHROPIC_CUSTOM_HEADERS``) the next text of FILE as ``vllm_xargs.qxt_says``, forced by
``e2e_hooks.ForceOutput``, and logs the request. Claude Code runs with a fresh HOME, telemetry and
non-essential traffic off (the example script's variables), and only its Bash tool (a smaller
prompt for the 16k-token test server; the parsing does not depend on the tool set).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import stack
from tests.e2e.scripted import tool_call
from tests.e2e.test_reasoning import REASONING_ARGS

pytestmark = pytest.mark.e2e

CLAUDE_VLLM = stack.REPO / "examples" / "claude-code" / "claude-vllm.sh"
ANSWER = "The run is recorded in real-ran.txt; nothing was cleaned."


def run_claude(claude: str, base_url: str, model: str, script: Path, project: Path, home: Path,
               prompt: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8",
           "CLAUDE": claude, "VLLM_URL": base_url, "MODEL": model, "DISABLE_AUTOUPDATER": "1",
           "ANTHROPIC_CUSTOM_HEADERS": f"x-qxt-script: {script}"}
    cmd = ["bash", str(CLAUDE_VLLM), "-p", prompt, "--tools", "Bash", "--allowedTools", "Bash",
           "--output-format", "stream-json", "--verbose"]
    return subprocess.run(cmd, cwd=project, env=env, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=300)


@pytest.fixture(scope="module")
def server(vllm_pool):
    return vllm_pool.get(REASONING_ARGS, label="reasoning")


def test_claude_code_runs_the_call_not_the_rejected_draft(server, e2e_setup, model, tmp_path):
    claude = e2e_setup.get("E2E_CLAUDE")
    assert claude, "scripts/e2e/setup.sh printed no E2E_CLAUDE (npm install of ci/e2e-claude-code.txt)"
    project, home = tmp_path / "project", tmp_path / "home"
    project.mkdir()
    home.mkdir()
    draft_file, real_file = project / "draft-ran.txt", project / "real-ran.txt"
    draft = tool_call("Bash", command=f"rm -rf {project}/build && touch {draft_file}", description="clean")
    real_command = f"echo real-ran > {real_file} && cat {real_file}"
    thought = ("The tests need a clean tree first:\n" + draft
               + "\nNo: cleaning would lose the build. Just record the run.")
    turn1 = "<think>\n" + thought + "\n</think>\n\n" + tool_call("Bash", command=real_command, description="record")
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"says": [turn1, ANSWER]}))

    done = run_claude(claude, server.base_url, model, script, project, home, "Record the test run.")
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    log = [json.loads(line) for line in script.with_name(script.name + ".log").read_text().splitlines()]
    detail = f"exit {done.returncode}\nstderr: {done.stderr[-2000:]}\nstdout: {done.stdout[-4000:]}"

    # side effects: the real call ran, the rejected draft did not
    assert real_file.exists() and real_file.read_text() == "real-ran\n", detail
    assert not draft_file.exists(), detail
    # two model turns, each scripted once: no extra request reached the model
    assert [entry["says"] for entry in log] == [turn1, ANSWER], detail

    blocks = [b for e in events if e.get("type") == "assistant" for b in e["message"]["content"]]
    uses = [b for b in blocks if b["type"] == "tool_use"]
    assert [(u["name"], u["input"]) for u in uses] == [("Bash", {"command": real_command, "description": "record"})]
    thinking = [b for b in blocks if b["type"] == "thinking"]
    assert len(thinking) == 1 and thinking[0]["thinking"].strip() == thought, blocks
    texts = [b["text"] for b in blocks if b["type"] == "text" and b["text"].strip()]
    assert texts == [ANSWER], blocks
    result = [e for e in events if e.get("type") == "result"]
    assert len(result) == 1 and not result[0]["is_error"] and result[0]["result"] == ANSWER, detail
    assert done.returncode == 0, detail

    # what Claude Code sent back for the second turn: the real call and its output, once
    history = log[1]["request"]["messages"]
    sent = [(m["role"], b) for m in history if isinstance(m["content"], list) for b in m["content"]]
    assert [(role, b.get("type")) for role, b in sent].count(("assistant", "tool_use")) == 1, history
    results = [b for _, b in sent if b.get("type") == "tool_result"]
    assert len(results) == 1 and "real-ran" in json.dumps(results[0]["content"]), history
