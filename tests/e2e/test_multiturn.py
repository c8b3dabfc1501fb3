"""Multi-turn: the assistant's tool call and the tool's result go back in the history.

This is where users got HTTP 400 (or, on vLLM 0.29+, arguments silently rendered as ``{}``):
the echoed ``arguments`` string must parse, and must reach the prompt with every value intact.
The prompt is checked through vLLM's own ``/tokenize`` endpoint with the same messages and
tools, decoded with the same (offline) tokenizer the server uses.
"""

from __future__ import annotations

import json

import pytest
import stack
from qxt_support.scripted import SPELLINGS, TOOLS, reply_of, reply_of_stream, says, tool_call
from qxt_support.qwen_tokenizer import ensure_tokenizer_dir

pytestmark = pytest.mark.e2e

TRICKY = {
    "path": "C:\\Users\\dev\\My Projects\\new\\test.py",
    "content": (
        'print("héllo\\tworld")\n'
        "path = r'C:\\temp\\x' + \"\\\\server\\share\"\n"
        "s = 'it''s' \"quoted\" `back` \\n not a newline\n"
        "日本語 — ✓ 👋 \u00a0nbsp\n"
        "{\"json\": [1, 2, {\"k\": null}]}\n"
    ),
}
TOOL_RESULT = 'Wrote 6 lines to C:\\Users\\dev\\My Projects\\new\\test.py\n"ok": ✓ 👋 <tool_response>'


@pytest.fixture(scope="module")
def tokenizer():
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(ensure_tokenizer_dir() / "tokenizer.json"))


def rendered_prompt(vllm, tokenizer, messages, tools) -> str:
    status, body = stack.http_post_json(vllm.base_url + "/tokenize", {
        "model": stack.SERVED_MODEL, "messages": messages, "tools": tools, "add_generation_prompt": True})
    assert status == 200, body
    return tokenizer.decode(body["tokens"], skip_special_tokens=False)


def history(call, content):
    """The messages of turn 2: the assistant's call exactly as the client received it."""
    return [
        {"role": "user", "content": "Create the test file."},
        {"role": "assistant", "content": content,
         "tool_calls": [{"id": call.id, "type": "function",
                         "function": {"name": call.name, "arguments": call.arguments}}]},
        {"role": "tool", "tool_call_id": call.id, "content": TOOL_RESULT},
    ]


def expected_call_xml(args):
    """How the chat template renders the echoed call (string values verbatim)."""
    return "".join(f"<parameter={k}>\n{v}\n</parameter>\n" for k, v in args.items())


@pytest.mark.parametrize("spelling", SPELLINGS)
@pytest.mark.parametrize("stream", [False, True], ids=["nonstream", "stream"])
def test_echo_tool_call_and_result(openai_client, model, vllm, tokenizer, stream, spelling):
    first_text = "Creating it.\n" + tool_call("write_file", **TRICKY)
    r = openai_client.chat.completions.create(model=model, messages=[{"role": "user", "content": "Create the test file."}],
                                              tools=TOOLS, stream=stream, **says(first_text, spelling))
    turn1 = reply_of_stream(r) if stream else reply_of(r)
    call = turn1.call
    assert call.args == TRICKY

    messages = history(call, turn1.content)
    r2 = openai_client.chat.completions.create(model=model, messages=messages, tools=TOOLS,
                                               **says("Done: the file is written."))
    turn2 = reply_of(r2)
    assert turn2.content == "Done: the file is written."
    assert turn2.calls == []

    prompt = rendered_prompt(vllm, tokenizer, messages, TOOLS)
    assert "<function=write_file>\n" + expected_call_xml(TRICKY) + "</function>" in prompt, prompt
    assert "<tool_response>\n" + TOOL_RESULT + "\n</tool_response>" in prompt
    assert "arguments not a mapping" not in prompt


def test_echo_parallel_calls_with_typed_arguments(openai_client, model, vllm, tokenizer):
    args1 = {"command": "dir \"C:\\Program Files\"", "timeout": 5, "background": False,
             "env": {"PATH": "C:\\bin;%PATH%", "Q": "\"'"}}
    args2 = {"path": "notes\\ünïcödé\n.md"}
    text = tool_call("run_command", **args1) + "\n" + tool_call("read_file", **args2)
    r = openai_client.chat.completions.create(model=model, messages=[{"role": "user", "content": "Go."}],
                                              tools=TOOLS, stream=True, **says(text))
    turn1 = reply_of_stream(r)
    assert [c.args for c in turn1.calls] == [args1, args2]
    messages = [
        {"role": "user", "content": "Go."},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in turn1.calls]},
        {"role": "tool", "tool_call_id": turn1.calls[0].id, "content": "Volume in drive C has no label."},
        {"role": "tool", "tool_call_id": turn1.calls[1].id, "content": "# Notes\n"},
    ]
    r2 = openai_client.chat.completions.create(model=model, messages=messages, tools=TOOLS, **says("Both done."))
    assert reply_of(r2).content == "Both done."
    prompt = rendered_prompt(vllm, tokenizer, messages, TOOLS)
    # the template renders objects as JSON and scalars with `| string` (like the real one)
    assert ("<parameter=command>\ndir \"C:\\Program Files\"\n</parameter>\n<parameter=timeout>\n5\n</parameter>\n"
            "<parameter=background>\nFalse\n</parameter>\n<parameter=env>\n"
            + json.dumps(args1["env"], ensure_ascii=False) + "\n</parameter>\n") in prompt, prompt
    assert "<parameter=path>\nnotes\\ünïcödé\n.md\n</parameter>" in prompt
