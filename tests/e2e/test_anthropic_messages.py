"""Claude Code's path, natively: the Anthropic SDK against vLLM's own ``/v1/messages``, no proxy.

vLLM turns the Anthropic request into a chat request, runs the configured tool parser (our
plugin) on the model's output, and turns the parsed calls back into ``tool_use`` blocks
(streaming: ``content_block_start`` with the id and name, then ``input_json_delta`` fragments).

The server is ``vllm serve`` with two API-server processes (the first server of
test_api_servers.py) and the forcing logits processor that scripts the model through
``vllm_xargs`` (anthropic_scripted.py: /v1/messages has no structured_outputs). Thinking (Qwen3.5+,
``--reasoning-parser qwen3``) is in test_reasoning_anthropic.py, on the reasoning server.
"""

from __future__ import annotations

import json

import pytest

from tests.e2e.anthropic_scripted import CLAUDE_CODE_TOOLS, SERVE_2, non_blank, says, stream
from qxt_support.scripted import tool_call

pytestmark = pytest.mark.e2e

STREAM = pytest.mark.parametrize("streamed", [False, True], ids=["nonstream", "stream"])

BASH = {"command": "cd \"C:\\Users\\dev\\proj\" && pytest -x -k 'not slow' 2>&1 | tail -n 20",
        "timeout": 120000, "description": "Run the fast tests", "run_in_background": False}
READ = {"file_path": "/home/dev/proj/src/ünïcode <a&b>.py", "offset": 10, "limit": 200}
EDIT = {"file_path": "/home/dev/proj/src/app.py",
        "old_string": "def main():\n    print(\"hi\")\n    return 0\n",
        "new_string": "def main() -> int:\n    print(\"héllo\\tworld\", r'C:\\temp\\x')  # ✓ 👋\n"
                      "    s = '</parameter>' + \"</function>\"\n    return 0\n",
        "replace_all": True}
MULTI_EDIT = {"file_path": "/home/dev/proj/README.md", "edits": [
    {"old_string": "# Old", "new_string": "# New \"title\""},
    {"old_string": "a\\b", "new_string": "c\nd", "replace_all": True},
]}
WRITE = {"file_path": "/home/dev/proj/notes/日本語.md",
         "content": "".join(f"line {i}: {{\"k\": [{i}, null]}} \\ <tag/> ✓\n" for i in range(6))}
GREP = {"pattern": "def \\w+\\(self", "path": "src", "glob": "*.py", "output_mode": "content",
        "-n": True, "-i": False, "-C": 2, "head_limit": 50}
GLOB = {"pattern": "**/*.{ts,tsx}", "path": "/home/dev/proj/web"}
TODOS = {"todos": [
    {"content": "Reproduce the failing test", "status": "completed", "activeForm": "Reproducing the failing test"},
    {"content": "Fix the parser's \"edge\" case", "status": "in_progress", "activeForm": "Fixing the edge case"},
    {"content": "Run the suite", "status": "pending", "activeForm": "Running the suite"},
]}

ALL_CALLS = [("Bash", BASH), ("Read", READ), ("Edit", EDIT), ("MultiEdit", MULTI_EDIT), ("Write", WRITE),
             ("Grep", GREP), ("Glob", GLOB), ("TodoWrite", TODOS)]


@pytest.fixture(scope="module")
def vllm(vllm_pool):
    return vllm_pool.get_serve(**SERVE_2)  # the same server as test_api_servers.py's first one


@pytest.fixture(scope="module")
def client(vllm):
    from anthropic import Anthropic

    return Anthropic(base_url=vllm.base_url, api_key="dummy", max_retries=0, timeout=300)


def ask(client, model, text, streamed, messages=None, **kw):
    request = dict(model=model, messages=messages or [{"role": "user", "content": "Go."}],
                   tools=CLAUDE_CODE_TOOLS, **says(text, **kw))
    if streamed:
        return stream(client, **request)
    return client.messages.create(**request)


def check_tool_uses(blocks, expected):
    uses = [b for b in blocks if b.type == "tool_use"]
    assert [(b.name, b.input) for b in uses] == expected
    ids = [b.id for b in uses]
    assert all(ids) and len(set(ids)) == len(ids), ids
    return uses


@STREAM
def test_text_and_parallel_tool_uses(client, model, streamed):
    text = "I'll run the tests and read the file.\n" + tool_call("Bash", **BASH) + "\n" + tool_call("Read", **READ)
    got = ask(client, model, text, streamed)
    msg = got.message if streamed else got
    assert msg.stop_reason == "tool_use"
    assert [b.type for b in non_blank(msg.content)] == ["text", "tool_use", "tool_use"]
    assert msg.content[0].text.strip() == "I'll run the tests and read the file."
    uses = check_tool_uses(msg.content, [("Bash", BASH), ("Read", READ)])
    if streamed:
        assert got.stop_reason == "tool_use"
        indexes = [i for i, b in got.starts.items() if b.type == "tool_use"]
        # content_block_start carries the id and name the final message has
        assert [(got.starts[i].id, got.starts[i].name) for i in indexes] == [(u.id, u.name) for u in uses]
        # input_json_delta fragments alone reassemble to each block's input, in several pieces
        assert [got.inputs()[i] for i in indexes] == [BASH, READ]
        assert all(len(got.fragments[i]) > 1 for i in indexes), got.fragments


@STREAM
def test_claude_code_tool_set(client, model, streamed):
    """Every Claude-Code-shaped tool in one turn (streamed: spelled in 3-character pieces): nested
    arrays of objects, enums, optional fields left out, numbers and booleans typed by the schema,
    flag keys like "-n", XML-looking strings inside values."""
    text = "\n".join(tool_call(name, **args) for name, args in ALL_CALLS)
    got = ask(client, model, text, streamed, piece=3 if streamed else 0)
    msg = got.message if streamed else got
    assert msg.stop_reason == "tool_use"
    check_tool_uses(msg.content, ALL_CALLS)
    assert isinstance(msg.content[0].input["timeout"], int) and msg.content[0].input["run_in_background"] is False
    if streamed:
        assert [got.inputs()[i] for i in sorted(got.fragments)] == [args for _, args in ALL_CALLS]


@STREAM
def test_text_only_answer(client, model, streamed):
    text = "Nothing to run: the <tool_call> tag in your question is just text. 👋"
    got = ask(client, model, "The answer: " + text, streamed)
    msg = got.message if streamed else got
    assert msg.stop_reason == "end_turn"
    assert [b.type for b in msg.content] == ["text"]
    assert msg.content[0].text == "The answer: " + text


def test_multiturn_tool_result_echo(client, model, vllm, tmp_path):
    """Turn 1 streams Edit + Bash calls; turn 2 sends the assistant's blocks back with
    tool_result blocks, as Claude Code does. The prompt the engine got for turn 2 (written by the
    forcing logits processor) renders both calls' arguments intact and both results."""
    from tokenizers import Tokenizer

    from qxt_support.qwen_tokenizer import ensure_tokenizer_dir
    from tests.e2e.test_multiturn import expected_call_xml

    first = ask(client, model, "Editing.\n" + tool_call("Edit", **EDIT) + "\n" + tool_call("Bash", **BASH), True)
    msg = first.message
    uses = check_tool_uses(msg.content, [("Edit", EDIT), ("Bash", BASH)])
    results = ["The file /home/dev/proj/src/app.py has been updated. ✓",
               "===== 3 passed in 0.12s =====\n<tool_response> \"C:\\\\x\""]
    messages = [
        {"role": "user", "content": "Fix main() and run the tests."},
        {"role": "assistant", "content": [b.model_dump(exclude_none=True, include={"type", "text", "id", "name", "input"})
                                          for b in msg.content]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": u.id, "content": r}
                                     for u, r in zip(uses, results)]},
    ]
    dump = tmp_path / "prompt.json"
    second = ask(client, model, "Done: main() is fixed and 3 tests pass.", False, messages=messages, prompt_to=str(dump))
    assert second.stop_reason == "end_turn"
    assert second.content[0].text == "Done: main() is fixed and 3 tests pass."

    prompt = Tokenizer.from_file(str(ensure_tokenizer_dir() / "tokenizer.json")).decode(
        json.loads(dump.read_text()), skip_special_tokens=False)
    edit_strings = {k: v for k, v in EDIT.items() if isinstance(v, str)}
    assert "<function=Edit>\n" + expected_call_xml(edit_strings) + "<parameter=replace_all>\nTrue\n</parameter>\n" \
        "</function>" in prompt, prompt
    assert ("<function=Bash>\n<parameter=command>\n" + BASH["command"] + "\n</parameter>\n<parameter=timeout>\n120000\n"
            "</parameter>\n") in prompt, prompt
    for r in results:
        assert "<tool_response>\n" + r + "\n</tool_response>" in prompt, prompt
    assert "arguments not a mapping" not in prompt


CLAUDE_STANDIN = r"""
import json, os, sys
from anthropic import Anthropic
# what Claude Code does with its environment: the SDK reads ANTHROPIC_BASE_URL / ANTHROPIC_AUTH_TOKEN
client = Anthropic(max_retries=0)
assert client.auth_token == os.environ["ANTHROPIC_AUTH_TOKEN"] and not os.environ.get("ANTHROPIC_API_KEY")
kw = json.loads(sys.argv[1])
msg = client.messages.create(model=os.environ["ANTHROPIC_SMALL_FAST_MODEL"], **kw)
print(json.dumps({"env": {k: v for k, v in os.environ.items() if k.startswith(("ANTHROPIC_", "CLAUDE_", "API_", "DISABLE_"))},
                  "stop_reason": msg.stop_reason, "blocks": [b.model_dump(exclude_none=True) for b in msg.content]}))
"""


def test_claude_code_example_config(vllm, model, tmp_path):
    """examples/claude-code/claude-vllm.sh, with a stand-in for `claude` that makes the request the
    way Claude Code's SDK does from that environment, reaches vLLM's /v1/messages and gets the call;
    settings.json holds the same environment."""
    import os
    import subprocess
    import sys

    import stack

    script = stack.REPO / "examples" / "claude-code" / "claude-vllm.sh"
    (tmp_path / "claude").write_text(CLAUDE_STANDIN)
    kw = {"messages": [{"role": "user", "content": "List the tests."}], "tools": CLAUDE_CODE_TOOLS,
          **says(tool_call("Glob", **GLOB))}
    env = {**os.environ, "VLLM_URL": vllm.base_url, "CLAUDE": sys.executable, "ANTHROPIC_API_KEY": "sk-not-this"}
    out = subprocess.run([str(script), str(tmp_path / "claude"), json.dumps(kw)], env=env, check=True,
                         stdout=subprocess.PIPE, text=True, timeout=120).stdout
    got = json.loads(out)
    assert got["stop_reason"] == "tool_use"
    assert [(b["name"], b["input"]) for b in got["blocks"] if b["type"] == "tool_use"] == [("Glob", GLOB)]
    settings = json.loads((script.parent / "settings.json").read_text())["env"]
    expected = {**got["env"], "ANTHROPIC_BASE_URL": "http://127.0.0.1:8000"}
    assert settings == {k: expected[k] for k in settings}
    assert model == got["env"]["ANTHROPIC_MODEL"]
