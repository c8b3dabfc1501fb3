"""docs/contract.md §5: a call cut by the token limit is judged by its schema (issue 19).

Non-streaming, a call open when the token limit ended the output is returned only if it is
complete by its function's schema: no value cut, every ``required`` parameter given (a function
without required parameters is complete at its header). Otherwise there is no call, and its
markup is not content. Output the model ended itself (EOS, a stop string) keeps the call as
written. Streaming cannot take back what it sent: the JSON is closed (tests/core/test_malformed.py).
"""

from __future__ import annotations

import json

import pytest

from qwen_xml_toolparser import parse

from .helpers import stream

TOOLS = [
    {"type": "function", "function": {"name": "read_file", "parameters": {
        "type": "object", "properties": {"path": {"type": "string"}, "limit": {"type": "integer"}},
        "required": ["path"]}}},
    {"type": "function", "function": {"name": "ping", "parameters": {
        "type": "object", "properties": {"host": {"type": "string"}}}}},
    {"type": "function", "function": {"name": "move", "parameters": {
        "type": "object", "properties": {"src": {"type": "string"}, "dst": {"type": "string"}, "force": {"type": "boolean"}},
        "required": ["src", "dst"]}}},
]


def calls(text: str, cut_off: bool) -> list[tuple[str, dict]]:
    return [(c.name, json.loads(c.arguments)) for c in parse(text, TOOLS, cut_off=cut_off).tool_calls]


@pytest.mark.parametrize("tail", ["", "\n", "\t \r\n  \t", "<para", "<parameter=li"])
def test_cut_before_a_required_parameter_is_no_call(tail):
    """The issue-19 output: the header, then whitespace until max_tokens. Was read_file({})."""
    text = "<tool_call>\n<function=read_file>\n" + tail
    result = parse(text, TOOLS, cut_off=True)
    assert result.tool_calls == [] and result.content is None
    assert calls(text, cut_off=False) == [("read_file", {})]  # the model ended it: as written


def test_cut_after_an_optional_parameter_but_before_the_required_one():
    text = "Moving.\n\n<tool_call>\n<function=move>\n<parameter=src>\na\n</parameter>\n<parameter=force>\ntrue\n</parameter>\n"
    result = parse(text, TOOLS, cut_off=True)
    assert result.tool_calls == [] and result.content == "Moving."
    assert calls(text + "<parameter=dst>\nb\n</parameter>\n", cut_off=True) == [
        ("move", {"src": "a", "force": True, "dst": "b"})]


@pytest.mark.parametrize("tail", ["", "\n\n   ", "<parameter=host>\nexample.org\n</parameter>\n</func"])
def test_a_function_without_required_parameters_is_complete_at_its_header(tail):
    text = "<tool_call>\n<function=ping>\n" + tail
    want = [("ping", {"host": "example.org"} if "host" in tail else {})]
    assert calls(text, cut_off=True) == want == calls(text, cut_off=False)


def test_only_the_call_open_at_the_cut_is_judged():
    done = "<tool_call>\n<function=read_file>\n<parameter=path>\na.txt\n</parameter>\n</function>\n</tool_call>\n"
    text = done + "<tool_call>\n<function=move>\n<parameter=src>\nx\n</parameter>\n"
    assert calls(text, cut_off=True) == [("read_file", {"path": "a.txt"})]
    assert parse(text, TOOLS, cut_off=True).content is None
    # a call the model closed itself is the model's, even if text then ran to the limit
    closed = "<tool_call>\n<function=read_file>\n</function>\n</tool_call>\nand then some text"
    assert calls(closed, cut_off=True) == [("read_file", {})]


def test_cut_off_is_asked_once_and_only_when_it_matters():
    asked: list[int] = []

    def cut() -> bool:
        asked.append(1)
        return True

    complete = "<tool_call>\n<function=read_file>\n<parameter=path>\na\n</parameter>\n"
    assert parse(complete, TOOLS, cut_off=cut).tool_calls and asked == []
    parse("<tool_call>\n<function=read_file>\n", TOOLS, cut_off=cut)
    assert asked == [1]


def test_unknown_functions_and_schemas_without_required_keep_the_call():
    text = "<tool_call>\n<function=other>\n"
    assert [c.name for c in parse(text, TOOLS, cut_off=True).tool_calls] == ["other"]
    assert [c.name for c in parse(text, None, cut_off=True).tool_calls] == ["other"]


@pytest.mark.parametrize("tail", ["", "\t \r\n"])
def test_streaming_sends_valid_json_for_the_same_output(tail):
    text = "<tool_call>\n<function=read_file>\n" + tail
    for pieces in ([], [1] * len(text)):
        content, streamed, _ = stream(text, TOOLS, pieces)
        assert content == "" and streamed == [("read_file", "{}")]
