"""``prev_tool_call_arr`` / ``streamed_args_for_tool``: plain objects, exact when read.

The adapter publishes vLLM's two bookkeeping attributes as properties that build new plain
lists, dicts and strings on every read (qwen_xml_toolparser/_vllm_adapter.py). This file pins

* that every read is a plain ``list`` of plain ``dict`` / ``str`` (so every operation behaves as
  on plain objects), exact at the moment of the read, also in the middle of an open string value;
* the operations vLLM performs on them, generation by generation (docs/compat-notes.md §4), run
  literally on the parser at an end of stream the parser could not recognise (the case where
  vLLM's own remainder is what closes the JSON);
* that the installed vLLM reads them nowhere else (a new way of reading them fails here).
"""

from __future__ import annotations

import copy
import json
import pickle
import re
from pathlib import Path

import pytest

pytest.importorskip("vllm")

from qwen_xml_toolparser import _compat as vc  # noqa: E402
from qwen_xml_toolparser._vllm_loop import chat_request, finish_message  # noqa: E402
from qxt_support.vllm import PLUGIN_PATH  # noqa: E402

TOOLS = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {
    "n": {"type": "integer"}, "s": {"type": "string"}}}}}]
DONE = "<tool_call>\n<function=f>\n<parameter=n>\n7\n</parameter>\n</function>\n</tool_call>\n"
OPEN = '<tool_call>\n<function=f>\n<parameter=n>\n8\n</parameter>\n<parameter=s>\nsay "hi" \\ é'


@pytest.fixture(scope="module")
def parser_cls():
    vc.ToolParserManager.import_tool_parser(str(PLUGIN_PATH))
    return vc.ToolParserManager.get_tool_parser("qwen_xml_safe")


def open_stream(parser_cls, text=DONE + OPEN, size=4):
    """A parser that streamed ``text`` in ``size``-character deltas (no end-of-stream signal:
    no stop ids, no max_tokens) and the arguments text each call received so far."""
    request = chat_request(TOOLS)
    parser = parser_cls(None, request.tools)
    sent: dict[int, str] = {}
    previous = ""
    last = None
    for k in range(0, len(text), size):
        delta = text[k:k + size]
        last = parser.extract_tool_calls_streaming(previous, previous + delta, delta, [], [1], [1], request)
        previous += delta
        for call in (last.tool_calls if last is not None else None) or []:
            sent[call.index] = sent.get(call.index, "") + (call.function.arguments or "")
    return parser, sent, last


def test_reads_are_plain_objects_exact_at_the_time_of_the_read(parser_cls):
    parser, sent, _ = open_stream(parser_cls)
    records, streamed = parser.prev_tool_call_arr, parser.streamed_args_for_tool
    assert type(records) is list and all(type(r) is dict for r in records)
    assert type(streamed) is list and all(type(s) is str for s in streamed)
    assert streamed == [sent[0], sent[1]]
    assert records[0] == {"name": "f", "arguments": {"n": 7}}
    assert records[1] == {"name": "f", "arguments": {"n": 8, "s": 'say "hi" \\ é'}}
    assert json.dumps(records[1]["arguments"], ensure_ascii=False).startswith(streamed[1])
    more = ' and more'
    parser.extract_tool_calls_streaming("", "", more, [], [1], [1], chat_request(TOOLS))
    assert parser.prev_tool_call_arr[1]["arguments"]["s"].startswith('say "hi" \\ é and')
    assert records[1]["arguments"]["s"] == 'say "hi" \\ é'  # an earlier read is a snapshot


def test_every_operation_behaves_as_on_plain_objects(parser_cls):
    parser, sent, _ = open_stream(parser_cls)
    records, streamed = parser.prev_tool_call_arr, parser.streamed_args_for_tool
    record = records[1]
    expected = {"name": "f", "arguments": {"n": 8, "s": 'say "hi" \\ é'}}
    assert dict(record) == {**record} == copy.copy(record) == copy.deepcopy(record) == expected
    assert dict(record.items()) == expected and list(record) == ["name", "arguments"]
    assert record.get("arguments") == expected["arguments"] and record.get("x", 1) == 1
    assert json.loads(json.dumps(records)) == [{"name": "f", "arguments": {"n": 7}}, expected]
    assert pickle.loads(pickle.dumps(records)) == records and record != {}
    assert list(streamed) == streamed[:] == copy.copy(streamed) == copy.deepcopy(streamed) == [sent[0], sent[1]]
    assert json.loads(json.dumps(streamed)) == streamed and "".join(streamed) == sent[0] + sent[1]
    assert sent[1] in streamed and streamed.index(sent[1]) == 1 and len(streamed) == 2
    assert streamed[-1][:-1] == sent[1][:-1] and streamed + [] == [sent[0], sent[1]]


def test_assigning_replaces_the_attribute(parser_cls):
    """As with a plain attribute, what is assigned is what is read (ToolParser.__init__'s own
    assignment of empty lists excepted: the adapter builds the values from its state)."""
    parser, _, _ = open_stream(parser_cls)
    parser.prev_tool_call_arr = [{"name": "g", "arguments": {}}]
    parser.streamed_args_for_tool = ["{}"]
    assert parser.prev_tool_call_arr == [{"name": "g", "arguments": {}}]
    assert parser.streamed_args_for_tool == ["{}"]
    fresh = parser_cls(None, TOOLS)
    assert fresh.prev_tool_call_arr == [] and fresh.streamed_args_for_tool == []


# ── what vLLM does with them, per serving generation ─────────────────────────


@pytest.mark.parametrize("generation", ["A", "B", "C"])
@pytest.mark.parametrize("last_delta", ["", " tail"])
def test_serving_layer_remainder_generations_a_to_c(parser_cls, generation, last_delta):
    """vLLM 0.10 - 0.22, on the chunk that carries the finish reason (serving_chat.py /
    chat_completion/serving.py): ``len(prev_tool_call_arr)`` (twice), ``prev_tool_call_arr[index]
    .get("arguments", {})``, ``isinstance(args, str)`` (C), ``json.dumps(args, ensure_ascii=False)``,
    ``streamed_args_for_tool[index][:-len(latest)]``, ``expected.replace(actual, "", 1)``."""
    parser, sent, _ = open_stream(parser_cls)
    final = parser.extract_tool_calls_streaming("", "", last_delta, [], [1], [1], chat_request(TOOLS))
    assert final is not None and final.tool_calls and final.tool_calls[0].function.arguments is not None
    rest = finish_message(parser, final, generation).tool_calls[0]
    index, remaining = rest.index, rest.function.arguments
    assert index == 1  # the last chunk's arguments are replaced by the remainder:
    assert json.loads(sent[1] + remaining) == {"n": 8, "s": 'say "hi" \\ é' + last_delta}


def test_serving_layer_remainder_generation_d(parser_cls):
    """vLLM 0.23+: ``DelegatingParser._append_unstreamed_tool_args`` calls the parser's
    ``get_remaining_unstreamed_args()``. The adapter defines it; ToolParser's own version (0.23+)
    gives the same from the bookkeeping: ``not prev``, ``len(prev)``, ``prev[index].get("arguments",
    {})``, ``isinstance(args, str)``, ``json.dumps``, ``index < len(streamed)``, ``streamed[index]``,
    ``expected.startswith(actual)``, ``expected[len(actual):]``."""
    parser, sent, _ = open_stream(parser_cls)
    final = parser.extract_tool_calls_streaming("", "", "", [], [1], [1], chat_request(TOOLS))
    received = sent[1] + "".join(c.function.arguments or "" for c in final.tool_calls)
    ours = parser.get_remaining_unstreamed_args()
    assert json.loads(received + ours) == {"n": 8, "s": 'say "hi" \\ é'}
    base = getattr(vc.ToolParser, "get_remaining_unstreamed_args", None)
    if base is not None:  # ToolParser has it from 0.23 on
        assert base(parser) == ours


# Every statement of the installed vLLM (outside the tool parsers themselves) that reads a tool
# parser's bookkeeping, whitespace removed: 0.10 - 0.22 in the serving layer, none from 0.23 on
# (DelegatingParser calls get_remaining_unstreamed_args()). Each is exercised above.
PINNED = {
    "tool_parser.prev_tool_call_arr)>0",  # 0.10: auto_tools_called = len(\n tool_parser.prev_tool_call_arr) > 0
    "index=len(tool_parser.prev_tool_call_arr",  # 0.10
    "auto_tools_called=len(tool_parser.prev_tool_call_arr)>0",  # 0.14+
    "len(tool_parser.prev_tool_call_arr)-1",  # 0.14+
    "tool_parser.prev_tool_call_arr[index].get(",  # 0.10 - 0.16
    "args=tool_parser.prev_tool_call_arr[index].get(",  # 0.17 - 0.22
    "actual_call=tool_parser.streamed_args_for_tool[",  # 0.10
    "actual_call=tool_parser.streamed_args_for_tool[index]",  # 0.14 - 0.22
}
_READ = re.compile(r"(?<!self)\.(?:prev_tool_call_arr|streamed_args_for_tool)\b")


def test_the_installed_vllm_reads_the_bookkeeping_only_in_pinned_ways():
    import vllm

    root = Path(vllm.__file__).parent
    found = {}
    for path in root.rglob("*.py"):
        rel = path.relative_to(root).as_posix()
        if "tool_parsers/" in rel:  # the parsers' own state
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            code = line.split("#", 1)[0]
            if _READ.search(code):
                found[f"{rel}:{number}"] = re.sub(r"\s+", "", code)
    unknown = {where: code for where, code in found.items() if code not in PINNED}
    assert not unknown, f"vLLM {vllm.__version__} reads the bookkeeping in a way not pinned here: {unknown}"
