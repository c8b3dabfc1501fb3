"""The plugin against vLLM 0.33's real interfaces (beyond the per-output suites).

* loading and registration as vLLM does it (``import_tool_parser`` on the file
  path; eager registration; the class is a ``ToolParser``; flags);
* construction without tools (vLLM validates the parser at startup with
  ``parser_cls(tokenizer)``) and "the request's tools win";
* the test driver's emulation of the serving loop equals vLLM's own
  ``DelegatingParser.parse_delta`` / ``parse`` (so every other suite tests what
  the server does);
* the full serving pipeline with ``--reasoning-parser qwen3`` on the recorded
  Qwen3.5 outputs with reasoning (the tool-parser-input rule of
  test_fixtures_recorded.py is what vLLM's reasoning parser really does);
* ``tool_choice="required"`` and named tools are routed as with in-tree qwen3_coder
  (``supports_required_and_named``; the XML parser where vLLM applies a structural tag);
* long string values stream as they are generated.
"""

from __future__ import annotations

import json
import re

import partial_json_parser
import pytest

from tests.support import gen
from tests.test_fixtures_recorded import CASES, tool_parser_input

WEATHER_TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
    "required": ["city"]}}}]
WEATHER_OUT = ("Let me check.\n\n<tool_call>\n<function=get_weather>\n<parameter=city>\nTokyo\n</parameter>\n"
               "<parameter=days>\n3\n</parameter>\n</function>\n</tool_call>")


def _is_plugin(driver) -> bool:
    return driver.PARSER_NAME == driver.PLUGIN_PARSER_NAME


def _collect(msgs):
    content, calls = "", []
    for m in msgs:
        if not m:
            continue
        content += m.get("content") or ""
        for tc in m.get("tool_calls") or []:
            fn = tc.get("function") or {}
            if tc.get("id"):
                calls.append([fn.get("name"), fn.get("arguments") or ""])
            else:
                calls[tc["index"]][1] += fn.get("arguments") or ""
    return content, [tuple(c) for c in calls]


def _normalise_ids(msgs):
    ids: dict[str, str] = {}
    out = []
    for m in msgs:
        s = json.dumps(m, ensure_ascii=False, sort_keys=True)
        for i in re.findall(r'"id": "([^"]+)"', s):
            ids.setdefault(i, f"ID{len(ids)}")
        for i, n in ids.items():
            s = s.replace(i, n)
        out.append(json.loads(s))
    return out


# ----------------------------------------------------------------------------- loading


def test_plugin_loads_like_vllm(driver):
    if not _is_plugin(driver):
        pytest.skip("not running against the plugin")
    mgr = driver.tool_parser_manager()
    mgr.import_tool_parser(str(driver.PLUGIN_PATH))  # vLLM may import it again (API server + launcher)
    cls = mgr.get_tool_parser("qwen_xml_safe")
    assert cls is driver.parser_class()
    assert issubclass(cls, driver.tool_parser_base_class())
    assert "qwen_xml_safe" in driver.registered_tool_parsers()
    in_tree = mgr.get_tool_parser("qwen3_coder")  # routed as in-tree (docs/grammar.md)
    assert cls.supports_required_and_named is getattr(in_tree, "supports_required_and_named", True)
    # Delta text only (no accumulated text per call) and finish_streaming() at the end: set on every
    # version, a flag vLLM reads from 0.26 on (docs/behaviour.md, "The end of the output").
    assert cls.engine_based_streaming is True and callable(cls.finish_streaming)
    base = driver.tool_parser_base_class()
    assert ("engine_based_streaming" in vars(base)) is (driver.vllm_version_tuple() >= (0, 26))


def test_constructor_without_tools(driver):
    cls = driver.parser_class()
    tok = driver.tokenizer()
    cls(tok)
    cls(tok, None)
    cls(tok, [])


def test_composed_parser_builds(driver):
    _need_delegating_parser(driver)
    # vLLM's startup validation (ParserManager.validate_parser_tokenizer: parser_cls(tokenizer))
    assert driver.real_parser_class() is not None


def _need_delegating_parser(driver):
    why = driver.delegating_parser_missing()
    if why:
        pytest.skip(why)


def test_request_tools_win_over_constructor_tools(driver):
    as_string = [{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"days": {"type": "string"}}}}}]
    req = driver.make_request(WEATHER_TOOLS)
    p = driver.parser_class()(driver.tokenizer(), driver.make_request(as_string).tools)
    info = p.extract_tool_calls(WEATHER_OUT, req)
    assert json.loads(info.tool_calls[0].function.arguments) == {"city": "Tokyo", "days": 3}
    # and without tools in the request, the constructor's tools are used
    p = driver.parser_class()(driver.tokenizer(), req.tools)
    info = p.extract_tool_calls(WEATHER_OUT, driver.make_request(None))
    assert json.loads(info.tool_calls[0].function.arguments) == {"city": "Tokyo", "days": 3}


# ----------------------------------------------------------------------------- emulation == vLLM


def _emulation_inputs():
    picks = [(c, tool_parser_input(c), c["tools"]) for i, c in enumerate(CASES) if i in (0, 8, 22, 25, 35, 45)]
    t = gen.random_turn(77)
    return [(text, tools) for _, text, tools in picks] + [(t.text, t.tools), (WEATHER_OUT, WEATHER_TOOLS)]


@pytest.mark.parametrize("mode,finish", [("token", "stop"), ("random", "stop"), ("whole", "stop"),
                                         ("token", "length"), ("char", "stop")])
def test_driver_matches_vllm_parse_delta(driver, mode, finish):
    _need_delegating_parser(driver)  # before 0.23: tests/serving checks the emulation against OpenAIServingChat
    for text, tools in _emulation_inputs():
        ours = driver.stream(text, tools, mode, 5, finish)
        real = driver.stream_real(text, tools, mode, 5, finish)
        ours_msgs = [s.message for s in ours.steps]
        # vLLM's serving layer turns "nothing to send" on the final chunk into an empty DeltaMessage
        if ours_msgs and ours_msgs[-1] is None and real and real[-1] == {}:
            real = real[:-1] + [None]
        assert _normalise_ids(ours_msgs) == _normalise_ids(real), (text, mode, finish)


def test_driver_matches_vllm_parse(driver):
    _need_delegating_parser(driver)
    for text, tools in _emulation_inputs():
        whole = driver.parse_whole(text, tools)
        reasoning, content, calls = driver.parse_real(text, tools)
        assert reasoning is None
        assert calls == [(c.name, c.arguments) for c in whole.calls]
        want = whole.content if whole.content and whole.content.strip() else None
        assert (content or None) == want


# ----------------------------------------------------------------------------- full pipeline


REASONING_CASES = [i for i, c in enumerate(CASES) if c["expected_calls"] and (
    "</think>" in c["output"] or c["note"].startswith("Tool call starts inside the prefilled"))]


@pytest.mark.parametrize("i", REASONING_CASES)
@pytest.mark.parametrize("mode", ["token", "random", "whole"])
def test_recorded_reasoning_outputs_through_qwen3_reasoning_parser(driver, i, mode):
    """``--reasoning-parser qwen3 --tool-call-parser qwen_xml_safe``, prompt
    prefilled with ``<think>\\n`` (Qwen3.5+): vLLM's reasoning parser hands the
    plugin the text the fixture suite assumes."""
    _need_delegating_parser(driver)
    case = CASES[i]
    prompt = driver.PROMPT + "<think>\n"
    msgs = driver.stream_real(case["output"], case["tools"], mode, i, prompt=prompt, reasoning_parser_name="qwen3")
    content, calls = _collect(msgs)
    want = [(c["name"], c["arguments"]) for c in case["expected_calls"]]
    assert [(n, json.loads(a)) for n, a in calls] == want, msgs
    assert content.strip() == (case["expected_content"] or "").strip(), msgs
    assert not any(m in content for m in ("<think>", "</think>", "<tool_call>", "<function="))
    reasoning, content2, calls2 = driver.parse_real(case["output"], case["tools"], reasoning_parser_name="qwen3")
    assert [(n, json.loads(a)) for n, a in calls2] == want
    assert (content2 or "").strip() == (case["expected_content"] or "").strip()
    assert tool_parser_input(case).strip() in case["output"]


# ----------------------------------------------------------------------------- tool_choice


@pytest.mark.parametrize("tool_choice", ["required", {"type": "function", "function": {"name": "get_weather"}}])
def test_required_and_named_tool_choice_parse_the_xml(driver, tool_choice):
    _need_delegating_parser(driver)
    if driver.parser_class().supports_required_and_named:
        pytest.skip("this vLLM (or VLLM_ENFORCE_STRICT_TOOL_CALLING=0) sends required / named through its JSON "
                    "format, as for in-tree qwen3_coder (docs/grammar.md)")
    req = driver.make_request(WEATHER_TOOLS, tool_choice=tool_choice)
    _, _, calls = driver.parse_real(WEATHER_OUT, request=req)
    assert [(n, json.loads(a)) for n, a in calls] == [("get_weather", {"city": "Tokyo", "days": 3})]
    req = driver.make_request(WEATHER_TOOLS, tool_choice=tool_choice)
    content, calls = _collect(driver.stream_real(WEATHER_OUT, request=req))
    assert [(n, json.loads(a)) for n, a in calls] == [("get_weather", {"city": "Tokyo", "days": 3})]


# ----------------------------------------------------------------------------- incremental strings


def test_long_string_value_streams_as_generated(driver):
    """docs/contract.md §2: a long write_file body reaches the client token by token, not in
    one piece at ``</parameter>``: before the closing ``</parameter>`` is fed,
    all but a short held-back tail of the value has been streamed."""
    line = 'x = "<b>&</b>" + \'\\\\\' if a < b else "</param" # <parameter\té\n'
    body = "".join(f"{i}: {line}" for i in range(200))
    tools = [{"type": "function", "function": {"name": "write_file", "parameters": {
        "type": "object", "properties": {"path": {"type": "string"}, "content": {"type": "string"}}}}}]
    text = ("<tool_call>\n<function=write_file>\n<parameter=path>\nsrc/a.py\n</parameter>\n"
            f"<parameter=content>\n{body}\n</parameter>\n</function>\n</tool_call>")
    run = driver.stream(text, tools, "token")
    assert json.loads(run.calls[0].arguments) == {"path": "src/a.py", "content": body}
    close_at = text.rindex("\n</parameter>")
    fed, streamed_before_close, arg_deltas = 0, None, 0
    for k, s in enumerate(run.steps):
        if fed + len(s.delta_text) > close_at + 1 and streamed_before_close is None:
            streamed_before_close = "".join(
                (tc.get("function") or {}).get("arguments") or ""
                for st in run.steps[:k] for tc in (st.message or {}).get("tool_calls") or [])
        fed += len(s.delta_text)
        arg_deltas += sum(1 for tc in (s.message or {}).get("tool_calls") or []
                          if (tc.get("function") or {}).get("arguments"))
    got = partial_json_parser.loads(streamed_before_close).get("content", "")
    assert body.startswith(got)
    assert len(body) - len(got) <= 32, f"only {len(got)} of {len(body)} characters streamed before </parameter>"
    assert arg_deltas > 200
