"""Decided output goes out in the delta that decided it (issue 21; docs/contract.md §2, "Delta shape").

Called as vLLM's own parser-level tests call a tool parser (``test_qwen3coder_tool_parser.py`` of
vLLM 0.33: "one delta may contain a complete tool call", "a close delta may also contain the next
tool call"): hand-made deltas, no end signal (no EOS token, no ``finish_streaming()``, no
``get_remaining_unstreamed_args()``), the result read from the deltas alone. What a serving
generation cannot take is held for the next delta, and said so here per version
(docs/compat-notes.md §4): a header's arguments on 0.12 - 0.16, a second call in one chunk before
0.23. tests/serving/test_serving_layer.py checks the same through vLLM's real serving layer.
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("vllm")

from qwen_xml_toolparser import _compat as vc  # noqa: E402
from qwen_xml_toolparser._vllm_loop import Chunk, ServingLoop, chat_request  # noqa: E402
from qxt_support.vllm import PLUGIN_PATH, version_tuple  # noqa: E402

TOOLS = [
    {"type": "function", "function": {"name": "get_current_weather", "parameters": {"type": "object", "properties": {
        "city": {"type": "string"}, "state": {"type": "string"}, "unit": {"type": "string"}}}}},
    {"type": "function", "function": {"name": "calculate_area", "parameters": {"type": "object", "properties": {
        "shape": {"type": "string"}, "precision": {"type": "integer"}}}}},
]
WEATHER = ("<tool_call>\n<function=get_current_weather>\n<parameter=city>\nDallas\n</parameter>\n"
           "<parameter=state>\nTX\n</parameter>\n</function>\n</tool_call>")
AREA = ("<tool_call>\n<function=calculate_area>\n<parameter=shape>\ncircle\n</parameter>\n"
        "<parameter=precision>\n2\n</parameter>\n</function>\n</tool_call>")
WEATHER_ARGS = {"city": "Dallas", "state": "TX"}
AREA_ARGS = {"shape": "circle", "precision": 2}

V = version_tuple()
HEADER_TAKES_ARGUMENTS = not ((0, 12) <= V < (0, 17))  # 0.12 - 0.16 /v1/messages: compat-notes §4
CALLS_SHARE_A_CHUNK = V >= (0, 23)  # generation D


def test_the_adapter_follows_the_serving_generations_of_compat_notes():
    assert (vc.HEADER_TAKES_ARGUMENTS, vc.CALLS_SHARE_A_CHUNK) == (HEADER_TAKES_ARGUMENTS, CALLS_SHARE_A_CHUNK)


@pytest.fixture
def parser():
    vc.ToolParserManager.import_tool_parser(str(PLUGIN_PATH))
    return vc.ToolParserManager.get_tool_parser("qwen_xml_safe")(None, TOOLS)


class Client:
    """vLLM's StreamingToolReconstructor with ``assert_one_tool_per_delta=False``."""

    def __init__(self) -> None:
        self.content = ""
        self.calls: list[dict] = []

    def take(self, message) -> None:
        if message is None:
            return
        if message.content is not None:
            self.content += message.content
        else:
            assert message.tool_calls, "a delta with neither content nor tool calls"
        for tc in message.tool_calls or []:
            if tc.index == len(self.calls):
                assert tc.id and tc.type == "function" and tc.function.name, tc
                self.calls.append({"name": tc.function.name, "arguments": tc.function.arguments or ""})
            else:
                assert tc.index == len(self.calls) - 1 and tc.id is None and tc.function.name is None, tc
                self.calls[tc.index]["arguments"] += tc.function.arguments or ""

    def parsed(self) -> list[tuple[str, object]]:
        return [(c["name"], json.loads(c["arguments"]) if c["arguments"] else "") for c in self.calls]


def run(parser, deltas: list[str], parse: bool = True) -> list[dict]:
    """Feed ``deltas`` (a non-EOS token id each); the client's view after each one (``parse``: the
    arguments as JSON, so every call in the view must be complete)."""
    views, client = [], Client()
    serving = ServingLoop(parser, chat_request(TOOLS))
    for delta in deltas:
        client.take(serving.step(Chunk(delta, (1,))).sent)  # not finished: no end signal
        calls = client.parsed() if parse else [(c["name"], c["arguments"]) for c in client.calls]
        views.append(json.loads(json.dumps({"content": client.content, "calls": calls})))
    return views


def test_one_delta_may_contain_a_complete_tool_call(parser):
    views = run(parser, ["Let me check the weather.\n\n", WEATHER, ""])
    done = {"content": "Let me check the weather.", "calls": [["get_current_weather", WEATHER_ARGS]]}
    if HEADER_TAKES_ARGUMENTS:
        assert views[1] == done
    else:  # the header alone, the arguments with the next delta
        assert views[1] == {"content": done["content"], "calls": [["get_current_weather", ""]]}
        assert views[2] == done


def test_a_close_delta_may_also_contain_the_next_tool_call(parser):
    """vLLM's case: the first call's arguments are complete before ``</tool_call>``; the delta that
    closes it holds the whole next call. Nothing of the first call is left for that chunk, so the
    next call goes out with it on every version but 0.12 - 0.16 (a header alone there)."""
    head, tail = WEATHER[:-len("</tool_call>")], "</tool_call>\n" + AREA
    views = [v["calls"] for v in run(parser, [head, tail, "", ""])]
    weather, area = ["get_current_weather", WEATHER_ARGS], ["calculate_area", AREA_ARGS]
    if HEADER_TAKES_ARGUMENTS:
        assert views == [[weather], [weather, area], [weather, area], [weather, area]]
    else:  # each header alone, its arguments with the next delta
        assert views == [[["get_current_weather", ""]], [weather], [weather, ["calculate_area", ""]], [weather, area]]


def test_a_delta_that_ends_one_call_s_arguments_may_hold_the_next_call(parser):
    """The delta that decides the first call's last value (``\n</parameter>``) also holds the next
    call: both calls in its chunk on 0.23+; before, the next call waits for the next delta."""
    cut = WEATHER.index("\n</parameter>\n</function>")
    views = [v["calls"] for v in run(parser, [WEATHER[:cut], WEATHER[cut:] + "\n" + AREA, "", ""], parse=False)]
    partial = ["get_current_weather", '{"city": "Dallas", "state": "TX']
    weather = ["get_current_weather", json.dumps(WEATHER_ARGS)]
    area = ["calculate_area", json.dumps(AREA_ARGS)]
    if CALLS_SHARE_A_CHUNK:
        assert views == [[partial], [weather, area], [weather, area], [weather, area]]
    elif HEADER_TAKES_ARGUMENTS:  # the next call with the next delta
        assert views == [[partial], [weather], [weather, area], [weather, area]]
    else:  # and each header alone
        assert views == [[["get_current_weather", ""]], [weather], [weather, ["calculate_area", ""]], [weather, area]]


def test_several_complete_calls_in_one_delta(parser):
    views = run(parser, [WEATHER + "\n" + AREA, "", ""])
    both = [["get_current_weather", WEATHER_ARGS], ["calculate_area", AREA_ARGS]]
    if CALLS_SHARE_A_CHUNK:
        assert views[0]["calls"] == both
    else:  # one call per delta
        assert views[0]["calls"][:1] == ([both[0]] if HEADER_TAKES_ARGUMENTS else [["get_current_weather", ""]])
        assert len(views[0]["calls"]) == 1
        assert views[-1]["calls"][0] == both[0] and len(views[-1]["calls"]) == 2


def test_streamed_bookkeeping_includes_arguments_sent_with_a_header(parser):
    """vLLM's end-of-stream remainder is computed against ``streamed_args_for_tool``: arguments that
    went out with the header are in it."""
    views = run(parser, [WEATHER[: WEATHER.index("Dallas") + 3]], parse=False)
    streamed = parser.streamed_args_for_tool
    assert views[0]["calls"] == [["get_current_weather", streamed[0]]]
    assert streamed == (['{"city": "Dal'] if HEADER_TAKES_ARGUMENTS else [""])
    assert json.dumps(parser.prev_tool_call_arr[0]["arguments"]).startswith(streamed[0])
