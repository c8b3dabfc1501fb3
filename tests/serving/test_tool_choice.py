"""tool_choice auto / required / named and strict tools through vLLM's real serving layer.

The grammar a request gets is read where vLLM hands it to the engine: the ``SamplingParams`` of the
scripted engine's ``generate()`` (qxt_support/serving.py), for ``qwen_xml_safe`` and for vLLM's
in-tree ``qwen3_coder`` side by side. Checked on every matrix version:

* the kind of constraint (none, vLLM's JSON format, a structural tag) is the in-tree parser's, per
  tool choice and strictness (docs/grammar.md: in-tree routing is followed on every version);
* where it is a structural tag, it is in-tree's with only the calls' contents replaced, and it
  accepts the scripted call (xgrammar, real tokenizer) that the response then returns;
* ``get_structural_tag`` with and without ``reasoning`` equals in-tree's widened;
* with ``VLLM_ENFORCE_STRICT_TOOL_CALLING=0`` the plugin routes and constrains as in-tree.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

pytest.importorskip("vllm")

from qwen_xml_toolparser._grammar import declared_parameters, widen_structural_tag  # noqa: E402
from qwen_xml_toolparser._vllm_loop import chat_request  # noqa: E402
from qxt_support.serving import ServingError, collect  # noqa: E402
from qxt_support.vllm import REPO  # noqa: E402
from tests.serving.test_serving_layer import PLUGIN, Runner  # noqa: E402

pytestmark = pytest.mark.serving

INTREE = "qwen3_coder"


def _tools(strict: bool | None) -> list[dict[str, Any]]:
    extra = {} if strict is None else {"strict": strict}
    return [
        {"type": "function", "function": {"name": "write_file", **extra, "parameters": {
            "type": "object", "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
            "required": ["path", "content"], "additionalProperties": False}}},
        {"type": "function", "function": {"name": "read_file", **extra, "parameters": {
            "type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"],
            "additionalProperties": False}}},
    ]


NAMED = {"type": "function", "function": {"name": "write_file"}}
CASES = {  # name -> (tool_choice, strict)
    "auto": ("auto", None),
    "required": ("required", None),
    "named": (NAMED, None),
    "auto-strict": ("auto", True),
    "required-strict": ("required", True),
    "named-strict": (NAMED, True),
}
VALUE = 'a</parameter>b "</parameter>"\n</parameter>\nend'  # closer text the builtin grammar forbids
OUTPUT = f"<tool_call>\n<function=write_file>\n<parameter=path>\nx.xml\n</parameter>\n" \
         f"<parameter=content>\n{VALUE}\n</parameter>\n</function>\n</tool_call>"
EXPECTED = [("write_file", {"path": "x.xml", "content": VALUE})]


@pytest.fixture(scope="module")
def runner():
    r = Runner()
    for parser in (INTREE, PLUGIN):
        srv = r.serving(parser)
        srv.sampling_params = []
        generate = srv.engine.generate

        def capture(prompt, sampling_params, *args, _srv=srv, _generate=generate, **kwargs):
            _srv.sampling_params.append(sampling_params)
            return _generate(prompt, sampling_params, *args, **kwargs)

        srv.engine.generate = capture
    yield r
    r.close()


def constraint(sampling_params: Any) -> tuple[str, Any] | None:
    """What vLLM constrains the output with: ("structural_tag", dict) | ("json", schema) | None."""
    so = getattr(sampling_params, "structured_outputs", None) or getattr(sampling_params, "guided_decoding", None)
    if so is None:
        return None
    if getattr(so, "structural_tag", None):
        return "structural_tag", json.loads(so.structural_tag)
    if getattr(so, "json", None) is not None:
        return "json", so.json
    return "other", repr(so)


def request(runner: Runner, parser: str, case: str, stream: bool = False) -> tuple[dict, tuple[str, Any] | None]:
    srv = runner.serving(parser)
    tool_choice, strict = CASES[case]
    kw = dict(tools=_tools(strict), tool_choice=tool_choice)
    try:
        if stream:
            reply = collect(runner.run(srv.stream(OUTPUT, **kw)))
        else:
            reply = runner.run(srv.complete(OUTPUT, **kw))["choices"][0]["message"]
    except ServingError as exc:  # vLLM's JSON format: it cannot read the scripted XML (nor would in-tree)
        reply = {"error": exc.args}
    return reply, constraint(srv.sampling_params[-1])


def calls_of(reply: dict) -> list[tuple[str, dict]]:
    """The calls of a non-streaming message or of a ``collect``-ed stream."""
    if "calls" in reply:
        return [("".join(c["name"]), json.loads("".join(c["arguments"]))) for c in reply["calls"]]
    return [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in reply.get("tool_calls") or []]


def skeleton(node: Any) -> Any:
    """A structural tag with every call's content and end blanked, and the calls of required in one
    form (what the widening may change: the call contents; required's calls joined by the template's
    \\n and nothing after them, where the builtin allows any text after the first)."""
    if isinstance(node, list):
        return [skeleton(item) for item in node]
    if not isinstance(node, dict):
        return node
    if node.get("type") == "tag" and str(node.get("begin", "")).startswith("<tool_call>\n<function="):
        return {**node, "content": None, "end": None}
    if node.get("type") in ("triggered_tags", "tags_with_separator") and node.get("at_least_one"):
        return {"type": "forced calls", "tags": skeleton(node["tags"]), "single": node.get("stop_after_first")}
    return {key: skeleton(value) for key, value in node.items()}


@pytest.mark.parametrize("case", CASES)
def test_constraint_kind_is_in_trees(runner, case):
    _, theirs = request(runner, INTREE, case)
    _, mine = request(runner, PLUGIN, case)
    assert (mine or ("none",))[0] == (theirs or ("none",))[0]
    if theirs is not None and theirs[0] == "json":
        assert mine == theirs  # vLLM's own JSON format, as with in-tree


@pytest.mark.parametrize("stream", [False, True], ids=["nonstream", "stream"])
@pytest.mark.parametrize("case", CASES)
def test_structural_tag_is_in_trees_with_widened_calls(runner, case, stream):
    _, theirs = request(runner, INTREE, case)
    if theirs is None or theirs[0] != "structural_tag":
        pytest.skip(f"vLLM {runner.serving(PLUGIN).version}: in-tree qwen3_coder gets no structural tag for {case}")
    reply, mine = request(runner, PLUGIN, case, stream)
    assert mine is not None and mine[0] == "structural_tag"
    assert skeleton(mine[1]) == skeleton(theirs[1])
    xg = pytest.importorskip("xgrammar")
    widened = widen_structural_tag(theirs[1], declared_parameters(_tools(CASES[case][1])))
    assert mine[1] == xg.StructuralTag.model_validate(widened).model_dump()
    assert mine[1] != theirs[1]
    from tests.test_grammar import accepts

    assert accepts(xg.StructuralTag.model_validate(mine[1]), OUTPUT, by_token=True)
    assert not accepts(xg.StructuralTag.model_validate(theirs[1]), OUTPUT)
    assert calls_of(reply) == EXPECTED


def _structural_tag_api(runner: Runner) -> Any:
    from qwen_xml_toolparser import _compat, _compat_grammar

    if _compat_grammar.STRUCTURAL_TAGS != "parser":
        pytest.skip(f"vLLM {runner.serving(PLUGIN).version} asks no parser for a structural tag with a reasoning flag")
    return _compat


@pytest.mark.parametrize("reasoning", [False, True])
@pytest.mark.parametrize("case", ["required", "named-strict", "auto-strict"])
def test_get_structural_tag_with_reasoning(runner, case, reasoning):
    compat = _structural_tag_api(runner)
    tool_choice, strict = CASES[case]
    req = chat_request(_tools(strict), tool_choice=tool_choice)
    intree = compat.ToolParserManager.get_tool_parser(INTREE)(runner.serving(INTREE).tokenizer, req.tools)
    mine = compat.ToolParserManager.get_tool_parser(PLUGIN)(runner.serving(PLUGIN).tokenizer, req.tools)
    theirs = intree.get_structural_tag(req, reasoning=reasoning).model_dump()
    got = mine.get_structural_tag(req, reasoning=reasoning).model_dump()
    widened = widen_structural_tag(theirs, declared_parameters(_tools(strict)))
    assert got == type(mine.get_structural_tag(req)).model_validate(widened).model_dump()
    assert ('"end": "</think>"' in json.dumps(got)) == reasoning  # the think block before the call


ENFORCEMENT_OFF = """
import json, sys
sys.path.insert(0, sys.argv[1])
from qwen_xml_toolparser import _compat, _compat_grammar, plugin
from qxt_support.qwen_tokenizer import ensure_tokenizer_dir
from transformers import AutoTokenizer
tok = AutoTokenizer.from_pretrained(str(ensure_tokenizer_dir()))
from qwen_xml_toolparser._grammar import declared_parameters, widen_structural_tag
from qwen_xml_toolparser._vllm_loop import chat_request
out, tags = {}, {}
for name in ("qwen3_coder", "qwen_xml_safe"):
    cls = _compat.ToolParserManager.get_tool_parser(name)
    req = chat_request(json.loads(sys.argv[2]), tool_choice="required")
    tag = cls(tok, req.tools).get_structural_tag(req) if _compat_grammar.STRUCTURAL_TAGS else None
    tags[name] = tag
    out[name] = [getattr(cls, "supports_required_and_named", True), tag is None]  # <= 0.17: unused (JSON path)
if tags["qwen3_coder"] is not None:
    widened = widen_structural_tag(tags["qwen3_coder"].model_dump(), declared_parameters(json.loads(sys.argv[2])))
    out["widened"] = tags["qwen_xml_safe"].model_dump() == type(tags["qwen3_coder"]).model_validate(widened).model_dump()
print(json.dumps(out))
"""


@pytest.mark.parametrize("enforce", ["0", "1"])
def test_enforcement_switch_routes_as_in_tree(runner, enforce):
    env = dict(os.environ, VLLM_ENFORCE_STRICT_TOOL_CALLING=enforce)
    done = subprocess.run([sys.executable, "-c", ENFORCEMENT_OFF, str(REPO), json.dumps(_tools(True))],
                          env=env, capture_output=True, text=True, timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out[PLUGIN] == out[INTREE]
    assert out.get("widened", True)  # where in-tree gets a structural tag, ours is it widened


@pytest.mark.parametrize("level", ["auto", "function", "parameter"])
def test_tool_strict_level(runner, level):
    """``--tool-strict-level``: non-strict tools get in-tree's grammar for that level, widened;
    ``parameter`` pins the arguments (our content follows the schema), ``function`` the envelope."""
    compat = _structural_tag_api(runner)
    try:
        from vllm.tool_parsers.tool_strict_level import ToolStrictLevel
    except ImportError:
        pytest.skip(f"vLLM {runner.serving(PLUGIN).version} has no --tool-strict-level")
    req = chat_request(_tools(None), tool_choice="auto")
    strict_level = ToolStrictLevel.from_name(level)
    intree = compat.ToolParserManager.get_tool_parser(INTREE)(runner.serving(INTREE).tokenizer, req.tools)
    mine = compat.ToolParserManager.get_tool_parser(PLUGIN)(runner.serving(PLUGIN).tokenizer, req.tools)
    theirs = intree.get_structural_tag(req, strict_level=strict_level)
    got = mine.get_structural_tag(req, strict_level=strict_level)
    if level == "auto":
        assert theirs is None and got is None  # auto without strict tools: unconstrained
        return
    widened = widen_structural_tag(theirs.model_dump(), declared_parameters(_tools(None)))
    assert got.model_dump() == type(theirs).model_validate(widened).model_dump()
    contents = [tag["content"]["type"] for tag in got.model_dump()["format"]["tags"]]
    assert contents == (["sequence", "sequence"] if level == "parameter" else ["star", "star"])


CUT_HEADER = "<tool_call>\n<function=write_file>\n\t \r\n  \t"  # what a random model wrote until max_tokens


@pytest.mark.parametrize("stream", [False, True], ids=["nonstream", "stream"])
@pytest.mark.parametrize("case", ["required-strict", "named-strict", "required", "named"])
def test_forced_call_cut_before_its_required_parameters(runner, case, stream):
    """Issue 19 through the serving layer, where a structural tag forces the call: cut by max_tokens
    after the header, non-streaming returns no call and finish_reason "length" (in-tree returns
    ``write_file({})``); streaming closes the JSON and reports the cut as for any cut call
    (docs/behaviour.md "The end of the output")."""
    srv = runner.serving(PLUGIN)
    tool_choice, strict = CASES[case]
    kw = dict(tools=_tools(strict), tool_choice=tool_choice, finish="length")
    if not stream:
        srv.next_text, srv.next_chunking, srv.next_finish = CUT_HEADER, (1, False), "length"
        kw.pop("finish")
        kw["max_tokens"] = len(srv.tokenizer.encode(CUT_HEADER, add_special_tokens=False))
    try:
        if stream:
            reply = collect(runner.run(srv.stream(CUT_HEADER, **kw)))
        else:
            from qxt_support.serving import _dump

            res = _dump(runner.run(srv.serving.create_chat_completion(srv.request(None, stream=False, **kw))))
            if "choices" not in res:
                raise ServingError(res)
            reply = res["choices"][0]
    except ServingError as exc:
        pytest.skip(f"vLLM {srv.version}: {case} goes through vLLM's JSON format here ({str(exc.args)[:80]})")
    if constraint(srv.sampling_params[-1]) is None or constraint(srv.sampling_params[-1])[0] != "structural_tag":
        pytest.skip(f"vLLM {srv.version}: no structural tag for {case}")
    from tests.serving.test_end_of_output import cut_stream_finish_reason

    if stream:
        # A named choice's stream reports the cut as "length" from 0.26 (0.22 with the structural tag:
        # "tool_calls"; measured); required as any cut call.
        from qxt_support.vllm import version_tuple

        named = case.startswith("named") and version_tuple() >= (0, 26)
        want = "length" if named else cut_stream_finish_reason()
        assert calls_of(reply) == [("write_file", {})] and reply["finish"] == [want]
        assert reply["content"] == ""
    else:
        assert reply["finish_reason"] == "length" and not reply["message"].get("tool_calls")
        assert not reply["message"].get("content")
