"""Forced tool choice on SGLang 0.5.23 (README "SGLang"; docs/grammar.md).

For ``tool_choice`` "required", a named function, and "auto" with a ``strict`` tool, SGLang's chat
serving asks the detector for a structural tag (``FunctionCallParser.get_structure_constraint`` ->
``detector.get_structural_tag``), puts it in the sampling parameters
(``ChatCompletionRequest.to_sampling_params``) and compiles it with its xgrammar backend
(``XGrammarGrammarBackend.dispatch_structural_tag``); the output is then parsed by the same
detector (``owns_tool_format``). All of that is SGLang's own code here, with the real Qwen3
tokenizer; only the model is missing, so the grammar is asked directly which outputs it allows.

qwen_xml_safe's tag is xgrammar's builtin ``qwen_3_coder`` (what SGLang's ``qwen3_coder`` uses)
with the calls' contents replaced by the value language the parser reads back exactly
(``_grammar.widen_structural_tag``, the same function as on vLLM): a string value may contain
``</parameter>``, never a closer the parser would take as the end of the value.
"""

from __future__ import annotations

import functools
import json

import pytest

from tests.sglang import driver

EOS = 151645
TOOLS = [
    {"type": "function", "function": {"name": "write_file", "parameters": {
        "type": "object", "properties": {"path": {"type": "string"}, "content": {"type": "string"},
                                         "mode": {"type": "integer"}}, "required": ["path", "content"]}}},
    {"type": "function", "function": {"name": "read_file", "parameters": {
        "type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}}},
]
STRICT = [{**TOOLS[0], "function": {**TOOLS[0]["function"], "strict": True}}, TOOLS[1]]
NAMED = {"type": "function", "function": {"name": "write_file"}}


@functools.cache
def backend():
    from sglang.srt.constrained.xgrammar_backend import XGrammarGrammarBackend

    tok = driver.tokenizer()
    return XGrammarGrammarBackend(tok, vocab_size=len(tok), model_eos_token_ids=[EOS])


def request(tools: list[dict], tool_choice):
    from sglang.srt.entrypoints.openai.protocol import ChatCompletionRequest

    return ChatCompletionRequest(model="m", messages=[{"role": "user", "content": "hi"}], tools=tools,
                                 tool_choice=tool_choice)


def constraint(name: str, tools: list[dict], tool_choice) -> tuple[str, str] | None:
    """What SGLang's chat serving puts into the sampling parameters for this request."""
    req = request(tools, tool_choice)
    found = driver.new_parser(tools, name).get_structure_constraint(req.tool_choice)
    if found is None:
        return None
    params = req.to_sampling_params(stop=[], model_generation_config={}, tool_call_constraint=found)
    return found[0], params[found[0]]


def allows(tag_json: str, text: str) -> bool:
    """Does SGLang's compiled grammar take ``text`` and then the end of the output?"""
    grammar = backend().dispatch_structural_tag(tag_json)
    return bool(grammar.matcher.accept_string(text)) and bool(grammar.matcher.accept_token(EOS))


def call(name: str, **params: str) -> str:
    body = "".join(f"<parameter={k}>\n{v}\n</parameter>\n" for k, v in params.items())
    return f"<tool_call>\n<function={name}>\n{body}</function>\n</tool_call>"


def parsed(text: str, tools: list[dict], tool_choice) -> list[tuple[str, dict]]:
    """The calls SGLang's non-streaming path (``_process_tool_calls``) returns for a forced choice."""
    from sglang.srt.function_call.function_call_parser import FunctionCallParser

    driver.load_plugins()
    req = request(tools, tool_choice)
    parser = FunctionCallParser(req.tools, driver.OURS, tool_choice=req.tool_choice)
    assert parser.owns_tool_format() and parser.has_tool_call(text)
    return [(c.name, json.loads(c.parameters)) for c in parser.parse_non_stream(text)[1]]


@pytest.mark.parametrize("tool_choice", ["required", NAMED])
def test_forced_choice_gets_our_structural_tag(tool_choice):
    ours = constraint(driver.OURS, TOOLS, tool_choice)
    theirs = constraint(driver.THEIRS, TOOLS, tool_choice)
    assert ours is not None and ours[0] == "structural_tag"
    assert theirs is not None and theirs[0] == "structural_tag" and ours[1] != theirs[1]
    value = 'data = s.replace("</parameter>", "")\n</parameter> stays text'
    text = call("write_file", path="a.py", content=value)
    assert allows(ours[1], text)
    assert not allows(theirs[1], text)  # the builtin tag ends a value at the first </parameter>
    assert parsed(text, TOOLS, tool_choice) == [("write_file", {"path": "a.py", "content": value})]
    # a value that the parser would cut at a viable closer is not allowed
    assert not allows(ours[1], call("write_file", path="a", content="x</parameter>\n<parameter=mode>\n1"))
    # a call is required: text alone is not allowed
    assert not allows(ours[1], "Sure, here it is.")


def test_named_choice_allows_only_that_function():
    tag = constraint(driver.OURS, TOOLS, NAMED)[1]
    assert allows(tag, call("write_file", path="a", content="b"))
    assert not allows(tag, call("read_file", path="a"))


def test_auto_is_unconstrained_unless_a_tool_is_strict():
    assert constraint(driver.OURS, TOOLS, "auto") is None
    assert constraint(driver.THEIRS, TOOLS, "auto") is None
    kind, tag = constraint(driver.OURS, STRICT, "auto")
    assert kind == "structural_tag"
    assert allows(tag, "No call needed.")
    assert allows(tag, "Writing it.\n" + call("write_file", path="a", content="x", mode="7"))
    assert not allows(tag, call("write_file", path="a", content="x", mode="seven"))  # strict: an integer


def test_reasoning_parser_strips_think_from_excludes_of_our_tag():
    """With a reasoning parser SGLang removes the think tokens from the tag's excludes in place
    (``strip_structural_tag_excludes``); that works on our tag as on the builtin one."""
    from sglang.srt.function_call.utils import strip_structural_tag_excludes

    found = driver.new_parser(STRICT).get_structure_constraint("auto")
    before = found[1].model_dump_json()
    strip_structural_tag_excludes(found[1], ("<think>", "</think>"))
    after = found[1].model_dump_json()
    assert "</think>" in before and "</think>" not in after
