"""docs/contract.md §4 – §5 (malformed output, end of output) and the content rules of docs/behaviour.md."""

from __future__ import annotations

import json

import pytest

from qwen_xml_toolparser import ArgumentsDelta, ParserFinishedError, StreamParser, ToolCallEnd, parse

from .helpers import check, same, stream, tool

WEATHER = [tool("get_weather", city={"type": "string"}, state={"type": "string"}, days={"type": "integer"})]


def test_function_without_tool_call():
    content, calls = check("<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n</function>", WEATHER)
    assert content is None and calls == [("get_weather", {"city": "Paris"})]


def test_function_without_tool_call_after_reasoning_and_prose():
    text = "I'll look.\n\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n</function>\n</tool_call>"
    content, calls = check(text, WEATHER)
    assert content == "I'll look." and calls == [("get_weather", {"city": "Paris"})]


def test_missing_closing_parameter_before_next_parameter():
    text = "<tool_call>\n<function=get_weather>\n<parameter=city>\nDallas\n<parameter=state>\nTX\n</parameter>\n</function>\n</tool_call>"
    assert check(text, WEATHER)[1] == [("get_weather", {"city": "Dallas", "state": "TX"})]


def test_missing_closing_parameter_before_function_end():
    text = '<tool_call>\n<function=get_weather>\n<parameter=days>\n3\n</function>\n</tool_call>'
    assert same(check(text, WEATHER)[1][0][1], {"days": 3})


def test_missing_function_and_tool_call_closers():
    text = "<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n</tool_call>"
    assert check(text, WEATHER)[1] == [("get_weather", {"city": "Paris"})]
    text = "<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\n</function>"
    assert check(text, WEATHER)[1] == [("get_weather", {"city": "Paris"})]
    text = "<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</tool_call>"
    assert check(text, WEATHER)[1] == [("get_weather", {"city": "Paris"})]


@pytest.mark.parametrize("closer", ["</parameter1>", "</parameter_function>", "</parameter"])
def test_drifted_parameter_closer(closer):
    text = f"<tool_call>\n<function=get_weather>\n<parameter=city>\nShanghai\n{closer}\n<parameter=days>\n3\n</parameter>\n</function>\n</tool_call>"
    assert same(check(text, WEATHER)[1][0][1], {"city": "Shanghai", "days": 3})


def test_drifted_function_closer():
    text = "<tool_call>\n<function=get_weather>\n<parameter=city>\nOslo\n</parameter>\n</function_invocation>\n</tool_call>"
    content, calls = check(text, WEATHER)
    assert content is None and calls == [("get_weather", {"city": "Oslo"})]


@pytest.mark.parametrize(
    "value",
    [
        'def f():\n    return "</parameter>"',
        "x = '<parameter=x>'\ny = 1",
        "<html>\n</function>\n<parameter=a>b</parameter>",
        "a </parameter> b\n</parameter>x",
        "</tool_call> inside",
        "line\n<parameter=unknown>\nmore",
        "<tool_call>\n<function=nested>",
    ],
)
def test_marker_text_inside_values(value):
    text = f"<tool_call>\n<function=write>\n<parameter=content>\n{value}\n</parameter>\n<parameter=path>\na.py\n</parameter>\n</function>\n</tool_call>"
    tools = [tool("write", content={"type": "string"}, path={"type": "string"})]
    assert check(text, tools)[1] == [("write", {"content": value, "path": "a.py"})]


def test_markdown_fence_is_content():
    text = "Example:\n```xml\n<tool_call>\n<function=get_weather>\n<parameter=city>\nX\n</parameter>\n</function>\n</tool_call>\n```\nDone."
    content, calls = check(text, WEATHER)
    assert calls == [] and content == text


def test_call_after_a_closed_fence_is_a_call():
    text = "```\ncode\n```\n<tool_call>\n<function=get_weather>\n<parameter=city>\nX\n</parameter>\n</function>\n</tool_call>"
    content, calls = check(text, WEATHER)
    assert content == "```\ncode\n```" and calls == [("get_weather", {"city": "X"})]


def test_tool_call_tag_in_prose_is_content():
    text = "Use the <tool_call> tag and `<function=name>` syntax."
    assert check(text, WEATHER) == (text, [])


def test_unknown_function_is_emitted():
    text = "<tool_call>\n<function=launch>\n<parameter=target>\nmoon\n</parameter>\n</function>\n</tool_call>"
    assert check(text, WEATHER)[1] == [("launch", {"target": "moon"})]


def test_duplicate_parameter_first_wins():
    text = "<tool_call>\n<function=get_weather>\n<parameter=city>\nA\n</parameter>\n<parameter=city>\nB\n</parameter>\n</function>\n</tool_call>"
    assert check(text, WEATHER)[1] == [("get_weather", {"city": "A"})]


def test_empty_value_and_nameless_parameter():
    text = "<tool_call>\n<function=get_weather>\n<parameter=city></parameter>\n<parameter=>\nx\n</parameter>\n</function>\n</tool_call>"
    assert check(text, WEATHER)[1] == [("get_weather", {"city": "", "": "x"})]


@pytest.mark.parametrize("text", [
    "<tool_call><function=></function></tool_call>",
    "<tool_call>\n<function=</ki>\n<parameter=a>\n0\n</parameter>\n</function>\n</tool_call>",
    "<tool_call>\n<tool_call>\n</tool_call>",
])
def test_call_markup_without_a_function_name_stays_content(text):
    assert check(text, WEATHER) == (text, [])


@pytest.mark.parametrize("tail", ["<tool_call>", "<tool_call>\n", "<tool_call>\n<func", "<tool_call>\n<function=get_w"])
def test_output_ending_in_a_call_opener(tail):
    """Unfinished call markup is never content, in either mode."""
    text = "Let me check.\n\n" + tail
    assert parse(text, WEATHER).content == "Let me check."
    assert parse(text, WEATHER, cut_off=True) == parse(text, WEATHER)
    for pieces in ([], [1] * len(text)):
        content, calls, _ = stream(text, WEATHER, pieces)
        assert (content, calls) == ("Let me check.", [])


def test_malformed_header_without_gt():
    text = "<tool_call>\n<function=get_weather\n<parameter=city>\nDallas\n</parameter>\n</function>\n</tool_call>"
    assert check(text, WEATHER)[1] == [("get_weather", {"city": "Dallas"})]


def test_text_after_last_call_and_between_calls():
    text = ("before<tool_call><function=get_weather><parameter=city>Paris</parameter></function></tool_call>"
            "middle\n<tool_call>\n<function=get_weather>\n<parameter=city>\nRome\n</parameter>\n</function>\n</tool_call>\nafter")
    content, calls = check(text, WEATHER)
    assert content == "beforemiddleafter"
    assert calls == [("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Rome"})]


def test_whitespace_next_to_calls_is_dropped_elsewhere_kept():
    text = "  Hi\n\n<tool_call>\n<function=get_weather>\n</function>\n</tool_call>\n\n"
    assert check(text, WEATHER) == ("  Hi", [("get_weather", {})])
    assert check("\n\n<tool_call>\n<function=get_weather>\n</function>\n</tool_call>", WEATHER) == (None, [("get_weather", {})])
    assert check("Answer.\n", WEATHER) == ("Answer.\n", [])


def test_think_markup_is_content_as_written():
    """Reasoning is the reasoning parser's job; the tool parser passes think blocks through."""
    assert check("<think>reasoning here</think>the answer", WEATHER) == ("<think>reasoning here</think>the answer", [])
    text = "<tool_call>\n<function=get_weather>\n<parameter=city>\nX\n</parameter>\n</function>\n</tool_call>\n</think>"
    assert check(text, WEATHER) == ("</think>", [("get_weather", {"city": "X"})])


def test_whole_calls_in_one_delta_and_deltas_ending_inside_markers():
    text = "<tool_call>\n<function=get_weather>\n<parameter=city>\nA\n</parameter>\n</function>\n</tool_call>\n" * 3
    content, calls, _ = stream(text, WEATHER, [len(text)])
    assert content == "" and calls == [("get_weather", '{"city": "A"}')] * 3
    for cut in range(1, len(text)):
        assert stream(text, WEATHER, [cut])[:2] == (content, calls)


def test_whitespace_is_data_inside_values():
    value = "\n    def foo():\n        return 1\n\n"
    text = f"<tool_call>\n<function=w>\n<parameter=c>\n{value}\n</parameter>\n</function>\n</tool_call>"
    assert check(text, [tool("w", c={"type": "string"})])[1] == [("w", {"c": value})]
    text = "<tool_call>\n<function=w>\n<parameter=c>\n\tx \n</parameter>\n</function>\n</tool_call>"
    assert check(text, None)[1] == [("w", {"c": "\tx "})]


def test_hermes_json_body_is_accepted():
    tools = [tool("sq", n={"type": "number"})]
    text = '<tool_call>\n{"name": "sq", "arguments": {"n": "1024"}}\n</tool_call>'
    assert same(check(text, tools)[1][0][1], {"n": 1024})
    broken = '<tool_call>\n{"name": "sq", "arguments": {"n": 1}\n</tool_call>'
    assert check(broken, tools) == (broken, [])


class TestTruncated:
    TEXT = "Sure.\n<tool_call>\n<function=get_weather>\n<parameter=city>\nLon"

    def test_non_streaming_ended_by_the_model_is_a_call(self):
        result = parse(self.TEXT, WEATHER)  # EOS or a stop string inside the value: the model ended it
        assert [(c.name, c.arguments) for c in result.tool_calls] == [("get_weather", '{"city": "Lon"}')]
        assert result.content == "Sure."
        assert check(self.TEXT, WEATHER) == ("Sure.", [("get_weather", {"city": "Lon"})])  # both modes

    def test_non_streaming_cut_off_is_no_call_and_no_markup(self):
        asked = []
        result = parse(self.TEXT, WEATHER, cut_off=lambda: asked.append(1) or True)
        assert result.tool_calls == [] and result.content == "Sure." and asked == [1]

    @pytest.mark.parametrize("end", ["\n</parameter>\n", "\n</parameter>\n</func", "\n</parameter>\n<param"])
    def test_a_call_whose_values_closed_is_complete(self, end):
        text = self.TEXT + "don" + end
        want = "<param" not in end  # a parameter header was cut: only a model-ended output keeps the call
        for cut_off in (False, True):
            calls = [(c.name, c.arguments) for c in parse(text, WEATHER, cut_off=cut_off).tool_calls]
            assert calls == ([("get_weather", '{"city": "London"}')] if want or not cut_off else [])
        assert check(text, WEATHER)[1] == [("get_weather", {"city": "London"})]

    @pytest.mark.parametrize("cut", range(len("Sure.\n"), len(TEXT) + 1))
    def test_streaming_closes_the_json(self, cut):
        text = self.TEXT[:cut] + "don\n</para"
        for pieces in ([], [1] * len(text)):
            content, calls, events = stream(text, WEATHER, pieces)
            for _, args in calls:
                assert isinstance(json.loads(args), dict)
            if calls:  # once a call started, none of its markup leaks into content
                assert "<" not in content

    def test_streaming_keeps_the_partial_value(self):
        _, calls, _ = stream(self.TEXT + "don\n</para", WEATHER, [1] * 10)
        assert calls == [("get_weather", '{"city": "London"}')]

    def test_truncated_typed_value(self):
        text = "<tool_call>\n<function=get_weather>\n<parameter=days>\n4"
        _, calls, _ = stream(text, WEATHER)
        assert calls == [("get_weather", '{"days": 4}')]  # the model ended the value there
        parser = StreamParser(WEATHER)
        events = parser.feed(text) + parser.finish(cut_off=True)  # "4" may be the start of "42"
        assert "".join(e.text for e in events if isinstance(e, ArgumentsDelta)) == "{}"
        assert [e.truncated for e in events if isinstance(e, ToolCallEnd)] == [True]


def test_strings_stream_before_the_closer_arrives():
    parser = StreamParser([tool("w", c={"type": "string"})])
    parser.feed("<tool_call>\n<function=w>\n<parameter=c>\n")
    streamed = "".join(e.text for e in parser.feed("x" * 1000 + "\nmore text") if hasattr(e, "text"))
    assert streamed == "x" * 1000 + "\\nmore text"


def test_union_with_string_streams_once_only_a_string_fits():
    parser = StreamParser([tool("w", c={"anyOf": [{"type": "integer"}, {"type": "string"}]})])
    parser.feed("<tool_call>\n<function=w>\n<parameter=c>\n")
    assert parser.feed("12") == []  # could still be an integer
    assert "".join(e.text for e in parser.feed("3a")) == '"c": "123a'


def test_buffer_stays_small_while_a_long_value_streams():
    parser = StreamParser([tool("w", c={"type": "string"})])
    parser.feed("<tool_call>\n<function=w>\n<parameter=c>\n")
    chunk = "line with <tags> and </param but no closer\n"
    for _ in range(5000):
        parser.feed(chunk)
        assert len(parser._buf) < 64  # only undecided text is held, never the value
    assert parser.feed("\n</parameter>\n</function>")


def test_feed_after_finish_is_a_clear_error():
    parser = StreamParser()
    parser.finish()
    with pytest.raises(ParserFinishedError, match="new StreamParser"):
        parser.feed("x")
    with pytest.raises(ParserFinishedError):
        parser.finish()


def test_call_arguments_match_streamed_prefix():
    parser = StreamParser(WEATHER)
    events = parser.feed("<tool_call>\n<function=get_weather>\n<parameter=city>\nPar")
    sent = "".join(e.text for e in events if hasattr(e, "text"))
    assert json.dumps(parser.call_arguments(0), ensure_ascii=False).startswith(sent)
    assert parser.closing_text() == '"}'
