"""The reasoning parser ``qwen_xml_safe`` through vLLM's own ``ReasoningParserManager`` and the
composed parser vLLM builds for a request (``ParserManager.get_parser``: reasoning + tool parser),
with the real Qwen tokenizer's token ids (docs/contract.md §8).

The serving-level tests (tests/serving/test_reasoning.py) run the same outputs through
``OpenAIServingChat``; here the pieces vLLM calls are checked one by one: registration (plugin
file and entry point), the prompt checks, ``extract_content_ids``, the end-of-stream paths, and the
behaviours of vLLM's ``qwen3`` reasoning parser that still apply.
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("vllm")

from qwen_xml_toolparser import _vllm_reasoning  # noqa: E402
from qwen_xml_toolparser._compat import ReasoningParserManager  # noqa: E402
from qwen_xml_toolparser._vllm_reasoning import HOLDS_CALLS, QwenXmlSafeReasoningParser  # noqa: E402
from qxt_support.qwen_tokenizer import EOS_ID  # noqa: E402
from qxt_support.reasoning_shapes import SHAPES, TOOLS, call  # noqa: E402
from qxt_support.vllm import PLUGIN_NAME, PLUGIN_PATH, version_tuple  # noqa: E402
from tests.support.vllm_driver import make_request, tokenizer  # noqa: E402

THINK_PROMPT = "<|im_start|>user\nGo.<|im_end|>\n<|im_start|>assistant\n<think>\n"
CLOSED_PROMPT = "<|im_start|>user\nGo.<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
PLAIN_PROMPT = "<|im_start|>user\nGo.<|im_end|>\n<|im_start|>assistant\n"
HISTORY_PROMPT = ("<|im_start|>assistant\n<think>\nold\n</think>\n\nold answer<|im_end|>\n"
                  "<|im_start|>user\nGo on.<|im_end|>\n<|im_start|>assistant\n")


def ids(text: str) -> list[int]:
    return tokenizer().encode(text, add_special_tokens=False)


def test_plugin_file_registers_the_reasoning_parser(monkeypatch):
    """--reasoning-parser-plugin …/plugin.py (or --tool-parser-plugin: the same file) registers both,
    in a process that has not imported the plugin yet (as vLLM's engine process)."""
    import sys

    ReasoningParserManager.reasoning_parsers.pop(PLUGIN_NAME, None)
    for name in ("plugin", "qwen_xml_toolparser.plugin"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    ReasoningParserManager.import_reasoning_parser(str(PLUGIN_PATH))
    cls = ReasoningParserManager.get_reasoning_parser(PLUGIN_NAME)
    assert cls is QwenXmlSafeReasoningParser
    from qwen_xml_toolparser._compat import ToolParserManager

    assert ToolParserManager.get_tool_parser(PLUGIN_NAME).__name__ == "QwenXmlSafeToolParser"


def test_entry_point_registers_both():
    """The vllm.general_plugins entry point (pyproject.toml) is plugin.register: both parsers."""
    from importlib.metadata import entry_points

    from qwen_xml_toolparser import plugin

    ReasoningParserManager.reasoning_parsers.pop(PLUGIN_NAME, None)
    found = [ep for ep in entry_points(group="vllm.general_plugins") if ep.name == PLUGIN_NAME]
    register = found[0].load() if found else plugin.register
    assert (register.__module__, register.__name__) == ("qwen_xml_toolparser.plugin", "register")
    register()
    assert ReasoningParserManager.get_reasoning_parser(PLUGIN_NAME) is QwenXmlSafeReasoningParser


def composed(**kwargs):
    """The Parser class vLLM composes for `--reasoning-parser qwen_xml_safe --tool-call-parser qwen_xml_safe`."""
    from qwen_xml_toolparser import plugin

    plugin.register()
    try:
        from vllm.parser import ParserManager
    except ImportError:
        pytest.skip("vLLM < 0.16 has no ParserManager (the serving layer holds both parsers)")
    cls = ParserManager.get_parser(tool_parser_name=PLUGIN_NAME, reasoning_parser_name=PLUGIN_NAME,
                                   enable_auto_tools=True)
    return cls(tokenizer(), TOOLS, **kwargs)


def stream(parser, text: str, prompt: str, eos: bool = True, chunk: int = 1) -> dict:
    """Drive ``parse_delta`` as the serving layer does, at the tokenizer's boundaries."""
    from qxt_support.serving import engine_outputs

    request = make_request(TOOLS)
    outputs = engine_outputs(tokenizer(), text, chunk, merge_eos=False, eos=eos)
    reasoning, content, calls = "", "", {}
    for output in outputs:
        delta = parser.parse_delta(output.text, list(output.ids), request, prompt_token_ids=ids(prompt),
                                   finished=output.finished)
        if delta is None:
            continue
        reasoning += delta.reasoning or ""
        content += delta.content or ""
        for tc in delta.tool_calls or []:
            slot = calls.setdefault(tc.index, ["", ""])
            if tc.function and tc.function.name:
                slot[0] += tc.function.name
            if tc.function and tc.function.arguments:
                slot[1] += tc.function.arguments
    return {"reasoning": reasoning.strip(), "content": content.strip(),
            "calls": [(n, json.loads(a)) for n, a in calls.values()]}


def need_parser_api():
    if version_tuple() < (0, 26):
        pytest.skip("parse_delta with finished= and the engine-based reasoning hooks: vLLM 0.26+")


@pytest.mark.parametrize("eos", [True, False], ids=["eos", "no-eos"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.name)
def test_composed_parser_streams_the_shapes(shape, eos):
    """Streaming through the composed parser; without an EOS id in the last delta the held call
    is read by finish_streaming() (a stop string ended the output)."""
    need_parser_api()
    got = stream(composed(), shape.output, THINK_PROMPT, eos=eos)
    assert (got["reasoning"], got["content"], got["calls"]) == (shape.reasoning, shape.content, list(shape.calls))


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.name)
def test_composed_parser_whole_output(shape):
    need_parser_api()
    parser = composed()
    if hasattr(parser, "set_prompt_token_ids"):  # 0.33+ (before, the prompt is read from the serving layer)
        parser.set_prompt_token_ids(ids(THINK_PROMPT))
    reasoning, content, calls = parser.parse(shape.output, make_request(TOOLS), enable_auto_tools=True)
    assert (reasoning or "").strip() == shape.reasoning
    assert (content or "").strip() == shape.content
    assert [(c.name, json.loads(c.arguments)) for c in calls or []] == list(shape.calls)


def test_is_reasoning_end_reads_the_last_turn_of_the_prompt():
    parser = QwenXmlSafeReasoningParser(tokenizer())
    assert parser.is_reasoning_end(ids(CLOSED_PROMPT))  # enable_thinking false: the output is content
    assert not parser.is_reasoning_end(ids(THINK_PROMPT))
    assert not parser.is_reasoning_end(ids(PLAIN_PROMPT))  # decided by the output (<think> or not)
    assert not parser.is_reasoning_end(ids(HISTORY_PROMPT))  # an earlier turn's </think> says nothing
    assert parser.is_reasoning_end(ids("reasoning\n</think>\n\nanswer"))  # output ids (structured outputs)


def test_prompt_state_decides_the_start():
    """set_prompt_token_ids (both modes): opened → reasoning first; none → content unless <think>."""
    for prompt, text, expected in [
        (THINK_PROMPT, "R\n</think>\n\nA", ("R\n", "\n\nA")),
        (PLAIN_PROMPT, "Just the answer.", (None, "Just the answer.")),
        (PLAIN_PROMPT, "<think>\nR\n</think>\n\nA", ("\nR\n", "\n\nA")),
        (HISTORY_PROMPT, "Just the answer.", (None, "Just the answer.")),
        (CLOSED_PROMPT, "A </think> B", (None, "A </think> B")),
    ]:
        parser = QwenXmlSafeReasoningParser(tokenizer())
        parser.set_prompt_token_ids(ids(prompt))
        assert parser.extract_reasoning(text, make_request(TOOLS)) == expected, (prompt, text)


def test_enable_thinking_false_from_the_request_kwargs():
    """vLLM passes chat_template_kwargs to the reasoning parser: thinking off is content, streamed too."""
    parser = QwenXmlSafeReasoningParser(tokenizer(), chat_template_kwargs={"enable_thinking": False})
    assert parser.extract_reasoning("no </think> here", make_request(TOOLS)) == (None, "no </think> here")
    delta = parser.extract_reasoning_streaming("", "x", "x", [], [1], [1])
    assert delta.content == "x" and parser.has_engine_confirmed_reasoning_end()


def test_extract_content_ids_after_think_end():
    parser = QwenXmlSafeReasoningParser(tokenizer())
    out = ids("R</think>\n\n<tool_call>") + [EOS_ID]
    assert tokenizer().decode(parser.extract_content_ids(out)) == "\n\n<tool_call><|im_end|>"
    assert parser.extract_content_ids([5, 6, EOS_ID]) == [5, 6, EOS_ID]  # an implicit end: all, EOS last


def test_streaming_held_call_decided_by_eos_id():
    """The EOS id in the delta ends the output: the held call becomes content in that step."""
    need_parser_api()
    parser = QwenXmlSafeReasoningParser(tokenizer())
    parser.set_prompt_token_ids(ids(THINK_PROMPT))
    first = parser.extract_reasoning_streaming("", "", "Go.\n", [], [], ids("Go.\n"))
    assert first.reasoning == "Go.\n" and not parser.has_engine_confirmed_reasoning_end()
    assert parser.extract_reasoning_streaming("", "", call("a"), [], [], ids(call("a"))) is None
    assert not parser.has_engine_confirmed_reasoning_end()  # held: a draft until the end or </think>
    last = parser.extract_reasoning_streaming("", "", "", [], [], [EOS_ID])
    assert last.content == call("a") and parser.has_engine_confirmed_reasoning_end()
    assert parser.finish_streaming() is None  # vLLM calls it at the transition: nothing more


def test_internal_error_passes_the_rest_through(monkeypatch):
    parser = QwenXmlSafeReasoningParser(tokenizer())

    def boom(self, text):
        raise RuntimeError("bug")

    monkeypatch.setattr(_vllm_reasoning.ReasoningSplitter, "feed", boom)
    delta = parser.extract_reasoning_streaming("", "x", "x", [], [1], [1])
    assert delta.content == "x" and parser.has_engine_confirmed_reasoning_end()
    assert QwenXmlSafeReasoningParser(tokenizer()).extract_reasoning("text", None) == (None, "text")


def test_holds_calls_where_vllm_gives_the_end():
    """Rule 2 needs the engine-based reasoning hooks (0.26+); before, the reasoning ends at the opener."""
    assert HOLDS_CALLS is (version_tuple() >= (0, 26))
    parser = QwenXmlSafeReasoningParser(tokenizer())
    text = "Plan:\n" + call("draft") + "\n</think>\n\n" + call("real")
    reasoning, content = parser.extract_reasoning(text, make_request(TOOLS))
    if HOLDS_CALLS:
        assert (reasoning, content) == ("Plan:\n" + call("draft") + "\n", "\n\n" + call("real"))
    else:
        assert (reasoning, content) == ("Plan:\n", call("draft") + "\n\n\n" + call("real"))


def test_non_streaming_reads_the_prompt_from_the_serving_layer():
    """vLLM 0.26 - 0.32 do not pass the prompt to a reasoning parser when not streaming; the parser
    reads it from the engine output the serving layer holds (``final_res``), as streaming sees it."""
    need_parser_api()
    from vllm.outputs import RequestOutput

    final_res = RequestOutput(request_id="r", prompt=None, prompt_token_ids=ids(PLAIN_PROMPT),  # noqa: F841
                              prompt_logprobs=None, outputs=[], finished=True)
    parser = QwenXmlSafeReasoningParser(tokenizer())
    assert parser.extract_reasoning("Just the answer.", make_request(TOOLS)) == (None, "Just the answer.")


def test_non_streaming_without_a_prompt_starts_in_the_reasoning():
    need_parser_api()
    assert QwenXmlSafeReasoningParser(tokenizer()).extract_reasoning("Still reasoning.", make_request(TOOLS)) == (
        "Still reasoning.", None)


def test_structured_outputs_gate():
    """The engine's own instance (no split) answers from the prompt and the output so far: the
    grammar of a forced call applies after </think>, or from the start when the turn opened no
    think block and the output does not open one."""
    def first(input_ids, delta_ids):  # one instance per request, as the engine has
        return QwenXmlSafeReasoningParser(tokenizer()).is_reasoning_end_streaming(input_ids, delta_ids)

    assert not first(ids(THINK_PROMPT + "still thinking"), ids("thinking"))
    assert first(ids(THINK_PROMPT + "done</think>"), ids("</think>"))
    assert first(ids(PLAIN_PROMPT + "Sure"), ids("Sure"))
    assert not first(ids(PLAIN_PROMPT + "<think>hm"), ids("hm"))
    assert not first(ids("output alone"), ids("alone"))
    # asked again while the reasoning is open (vLLM asks only then): the step's ids decide
    parser = QwenXmlSafeReasoningParser(tokenizer())
    assert not parser.is_reasoning_end_streaming(ids(THINK_PROMPT + "a"), ids("a"))
    assert not parser.is_reasoning_end_streaming(ids(THINK_PROMPT + "a b"), ids(" b"))
    assert parser.is_reasoning_end_streaming(ids(THINK_PROMPT + "a b</think>"), ids("</think>"))


def test_held_call_at_a_stream_end_without_eos(monkeypatch):
    """No EOS id in the last delta (a stop string): finish_streaming() reads the held call with the
    request's tools; a parser bug there still gives the held text, as content."""
    need_parser_api()

    def held_parser():
        parser = QwenXmlSafeReasoningParser(tokenizer())
        parser.set_prompt_token_ids(ids(THINK_PROMPT))
        parser.extract_reasoning_streaming("", "", "Go.\n" + call("a"), [], [], ids("Go.\n" + call("a")))
        assert parser.get_streaming_fallback_content("", make_request(TOOLS)) is None
        return parser

    last = held_parser().finish_streaming()
    assert not last.content and [(tc.function.name, json.loads(tc.function.arguments), tc.index)
                                 for tc in last.tool_calls] == [("read_file", {"path": "a"}, 0)]

    def boom(*args, **kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr(_vllm_reasoning, "parse", boom)
    last = held_parser().finish_streaming()
    assert last.content == call("a") and not last.tool_calls
