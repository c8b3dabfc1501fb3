"""Qwen3.5+ thinking through vLLM's own /v1/messages, as Claude Code sees it: with
``--reasoning-parser qwen_xml_safe`` the model's ``<think>…</think>`` comes back as a ``thinking``
block, then our plugin's calls as ``tool_use`` blocks; a draft call inside the thinking is not a
``tool_use`` block, and an answer written without a think block is text (docs/contract.md §8).

Runs on test_reasoning.py's server (the reasoning parser, plus the forcing logits processor that
scripts the model through ``vllm_xargs``; see anthropic_scripted.py). The test template opens no
think block, so scripted outputs that think start with ``<think>``.
"""

from __future__ import annotations

import pytest

from tests.e2e.anthropic_scripted import CLAUDE_CODE_TOOLS, non_blank, says, stream
from tests.e2e.scripted import tool_call
from tests.e2e.test_anthropic_messages import BASH, TODOS, check_tool_uses
from tests.e2e.test_reasoning import REASONING_ARGS

pytestmark = pytest.mark.e2e

STREAM = pytest.mark.parametrize("streamed", [False, True], ids=["nonstream", "stream"])
THOUGHT = "The test fails in C:\\src\\a.py; look at <it> first, then plan."


@pytest.fixture(scope="module")
def client(vllm_pool):
    from anthropic import Anthropic

    server = vllm_pool.get(REASONING_ARGS, label="reasoning")
    return Anthropic(base_url=server.base_url, api_key="dummy", max_retries=0, timeout=300)


def ask(client, model, text, streamed, **kw):
    request = {"model": model, "messages": [{"role": "user", "content": "Fix the failing test."}],
               "tools": CLAUDE_CODE_TOOLS, **says(text), **kw}
    return stream(client, **request) if streamed else client.messages.create(**request)


@STREAM
def test_thinking_then_tool_uses(client, model, streamed):
    text = ("<think>\n" + THOUGHT + "\n</think>\n\n" + tool_call("Read", file_path="C:\\src\\a.py") + "\n"
            + tool_call("TodoWrite", **TODOS))
    got = ask(client, model, text, streamed)
    msg = got.message if streamed else got
    blocks = non_blank(msg.content)
    assert [b.type for b in blocks] == ["thinking", "tool_use", "tool_use"], msg.content
    assert blocks[0].thinking.strip() == THOUGHT
    check_tool_uses(blocks, [("Read", {"file_path": "C:\\src\\a.py"}), ("TodoWrite", TODOS)])
    assert msg.stop_reason == "tool_use"
    if streamed:
        assert got.stop_reason == "tool_use"
        assert [got.inputs()[i] for i in sorted(got.fragments)] == [{"file_path": "C:\\src\\a.py"}, TODOS]
        thinking = [i for i, b in got.starts.items() if b.type == "thinking"]
        assert len(thinking) == 1 and got.text[thinking[0]].strip() == THOUGHT


@STREAM
def test_thinking_enabled_request(client, model, streamed):
    """Claude Code's extended-thinking request field (thinking.type "enabled", a token budget),
    which vLLM maps to its thinking_token_budget: the reasoning, then the call."""
    text = "<think>\n" + THOUGHT + "\n</think>\n\nRunning the tests.\n" + tool_call("Bash", **BASH)
    # the budget must be below max_tokens (Anthropic's rule, enforced by vLLM)
    got = ask(client, model, text, streamed, thinking={"type": "enabled", "budget_tokens": 1024}, max_tokens=2048)
    msg = got.message if streamed else got
    blocks = non_blank(msg.content)
    assert [b.type for b in blocks] == ["thinking", "text", "tool_use"], msg.content
    assert blocks[0].thinking.strip() == THOUGHT and blocks[1].text.strip() == "Running the tests."
    check_tool_uses(blocks, [("Bash", BASH)])
    assert msg.stop_reason == "tool_use"


@STREAM
def test_thinking_then_text(client, model, streamed):
    text = "<think>\n" + THOUGHT + "\n</think>\n\nNo tool needed: the <tool_call> tag is just text."
    got = ask(client, model, text, streamed)
    msg = got.message if streamed else got
    assert [b.type for b in non_blank(msg.content)] == ["thinking", "text"]
    assert msg.content[-1].text.strip() == "No tool needed: the <tool_call> tag is just text."
    assert msg.stop_reason == "end_turn"


@STREAM
def test_rejected_draft_is_not_run(client, model, streamed):
    """Claude Code runs every tool_use block: a Bash call the model rejected inside its thinking
    must not be one."""
    draft = tool_call("Bash", command="rm -rf build", description="clean")
    text = ("<think>\nFirst:\n" + draft + "\nNo, keep the build; just run the tests.\n</think>\n\n"
            + tool_call("Bash", **BASH))
    got = ask(client, model, text, streamed)
    msg = got.message if streamed else got
    blocks = non_blank(msg.content)
    assert [b.type for b in blocks] == ["thinking", "tool_use"], msg.content
    assert draft in blocks[0].thinking
    check_tool_uses(blocks, [("Bash", BASH)])
    assert msg.stop_reason == "tool_use"


@STREAM
def test_final_answer_without_think_block_is_text(client, model, streamed):
    """After a tool result the model answers without thinking: a text block, not thinking."""
    got = ask(client, model, "The tests pass now.", streamed)
    msg = got.message if streamed else got
    assert [(b.type, getattr(b, "text", None)) for b in non_blank(msg.content)] == [("text", "The tests pass now.")]
    assert msg.stop_reason == "end_turn"
