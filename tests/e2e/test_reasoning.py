"""With a reasoning parser, as for Qwen3.5+ (examples/vllm-serve-qwen3.5.sh): the package's own
``--reasoning-parser qwen_xml_safe`` (docs/contract.md §8) splits the reasoning off, then the tool
parser parses the calls.

This module runs against its own vLLM server (started after the default one is stopped) with
``--reasoning-parser-plugin …/plugin.py --reasoning-parser qwen_xml_safe`` (the engine process
looks the reasoning parser up at start-up, so the file must reach it: this server checks that the
flag is enough); ``enable_in_reasoning`` lets the forced output cover the thinking part too (by
default vLLM only constrains output after the reasoning ends). The test template opens no think
block, so the scripted outputs that think start with ``<think>``; one that does not is the answer.
"""

from __future__ import annotations

import pytest
import stack
from qxt_support.scripted import SPELLINGS, TOOLS, reply_of, reply_of_stream, says, tool_call

pytestmark = pytest.mark.e2e

# (FORCE_ARGS: test_reasoning_anthropic.py scripts /v1/messages on this same server; SCRIPTED_ARGS:
# test_reasoning_claude_code.py scripts Claude Code's own requests there)
REASONING_ARGS = ("--reasoning-parser-plugin", str(stack.PLUGIN), "--reasoning-parser", stack.PLUGIN_PARSER,
                  "--structured-outputs-config.enable_in_reasoning", "true", *stack.FORCE_ARGS,
                  *stack.SCRIPTED_ARGS)
STREAM = pytest.mark.parametrize("stream", [False, True], ids=["nonstream", "stream"])


@pytest.fixture(scope="module")
def vllm(vllm_pool):
    return vllm_pool.get(REASONING_ARGS, label="reasoning")


def chat(client, model, text, stream, spelling="special"):
    r = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "Fix the bug."}],
                                       tools=TOOLS, stream=stream, **says(text, spelling))
    return reply_of_stream(r) if stream else reply_of(r)


@pytest.mark.parametrize("spelling", SPELLINGS)
@STREAM
def test_think_then_content_then_call(openai_client, model, stream, spelling):
    """Spelled in pieces too ("split"): the split reads the text, not the marker token ids (vLLM's
    qwen3 keeps everything as reasoning there when streaming)."""
    text = ("<think>\nThe bug is in C:\\src\\a.py; read it <first>.\n</think>\n\n"
            "Let me look.\n" + tool_call("read_file", path="C:\\src\\a.py"))
    r = chat(openai_client, model, text, stream, spelling)
    assert r.reasoning is not None and r.reasoning.strip() == "The bug is in C:\\src\\a.py; read it <first>."
    assert (r.content or "").strip() == "Let me look."
    assert r.finish_reason == "tool_calls"
    assert r.call.name == "read_file" and r.call.args == {"path": "C:\\src\\a.py"}


@STREAM
def test_think_then_parallel_calls(openai_client, model, stream):
    text = ("<think>\nTwo things to do.\n</think>\n\n" + tool_call("read_file", path="a.py") + "\n"
            + tool_call("run_command", command="pytest -x", timeout=600, background=False))
    r = chat(openai_client, model, text, stream)
    assert (r.reasoning or "").strip() == "Two things to do."
    assert not (r.content or "").strip()
    assert [(c.name, c.args) for c in r.calls] == [
        ("read_file", {"path": "a.py"}),
        ("run_command", {"command": "pytest -x", "timeout": 600, "background": False}),
    ]


@STREAM
def test_think_without_call(openai_client, model, stream):
    text = "<think>\nNothing to call.\n</think>\n\nThe answer is 42."
    r = chat(openai_client, model, text, stream)
    assert (r.reasoning or "").strip() == "Nothing to call."
    assert (r.content or "").strip() == "The answer is 42."
    assert r.calls == [] and r.finish_reason == "stop"


@STREAM
def test_call_inside_unclosed_think(openai_client, model, stream):
    """The model starts a call before closing </think> (vllm#39056): the call must still come back
    (the reasoning ended at its opener: no </think> follows)."""
    text = "<think>\nI need the file.\n" + tool_call("read_file", path="b.py")
    r = chat(openai_client, model, text, stream)
    assert (r.reasoning or "").strip() == "I need the file."
    assert r.finish_reason == "tool_calls"
    assert r.call.name == "read_file" and r.call.args == {"path": "b.py"}


# The shapes of issue 18 that vLLM's qwen3 reasoning parser gets wrong (docs/contract.md §8).

@STREAM
def test_draft_call_before_think_end_is_not_a_call(openai_client, model, stream):
    draft = tool_call("read_file", path="a.conf")
    text = ("<think>\nLet me read it.\n" + draft + "\nWait, the path is b.conf.\n</think>\n\n"
            + tool_call("read_file", path="b.conf"))
    r = chat(openai_client, model, text, stream)
    assert (r.reasoning or "").strip() == "Let me read it.\n" + draft + "\nWait, the path is b.conf."
    assert [(c.name, c.args) for c in r.calls] == [("read_file", {"path": "b.conf"})]
    assert r.finish_reason == "tool_calls"


@STREAM
def test_bare_function_after_unclosed_think(openai_client, model, stream):
    text = "<think>\nI need the file.\n\n<function=read_file>\n<parameter=path>\nb.py\n</parameter>\n</function>"
    r = chat(openai_client, model, text, stream)
    assert (r.reasoning or "").strip() == "I need the file."
    assert [(c.name, c.args) for c in r.calls] == [("read_file", {"path": "b.py"})]


@STREAM
def test_mention_and_fenced_example_stay_reasoning(openai_client, model, stream):
    thought = ("Every call is wrapped in <tool_call> tags, like:\n```\n" + tool_call("read_file", path="x")
               + "\n```\nSo I read b.py.")
    r = chat(openai_client, model, "<think>\n" + thought + "\n</think>\n\n" + tool_call("read_file", path="b.py"),
             stream)
    assert (r.reasoning or "").strip() == thought
    assert [(c.name, c.args) for c in r.calls] == [("read_file", {"path": "b.py"})]
    assert not (r.content or "").strip()


@STREAM
def test_answer_without_think_block_is_content(openai_client, model, stream):
    """The final answer after a tool result, written without a think block: text, not reasoning."""
    r = chat(openai_client, model, "Done: the tests pass.", stream)
    assert (r.content or "") == "Done: the tests pass." and not r.reasoning
    assert r.calls == [] and r.finish_reason == "stop"
