"""Thinking models through vLLM's real serving layer: ``--reasoning-parser qwen_xml_safe`` next to
``--tool-call-parser qwen_xml_safe`` (docs/contract.md §8), against vLLM's ``qwen3`` reasoning parser.

The scripted engine (tests/serving/driver.py) streams each output of qxt_support/reasoning_shapes.py
at the real Qwen tokenizer's token boundaries, one token per engine output, several, or all at once,
with the EOS alone, merged into the last output, or absent (the token limit ended the output); and
non-streaming. The prompt is rendered by a template that opens ``<think>\\n`` as Qwen3.5's does
(or closes it with ``enable_thinking: false``), so the prompt checks of vLLM and of the parser run.

``python -m tests.serving.test_reasoning`` prints the table of docs/contract.md §8 (which shapes
each reasoning parser gets right, per mode) for the installed vLLM.
"""

from __future__ import annotations

import json
import sys

import pytest

pytest.importorskip("vllm")

from qxt_support.reasoning_shapes import SHAPES, TOOLS, Shape, call  # noqa: E402
from qxt_support.vllm import PLUGIN_NAME as PLUGIN  # noqa: E402
from qxt_support.vllm import PLUGIN_PATH, version_tuple  # noqa: E402
from tests.serving.driver import CHAT_TEMPLATE, ScriptedServing, collect  # noqa: E402
from tests.serving.test_serving_layer import Runner  # noqa: E402

pytestmark = pytest.mark.serving

# Qwen3.5's generation prompt: the think block opened, or closed empty with enable_thinking false.
THINKING_TEMPLATE = CHAT_TEMPLATE.replace(
    "{%- if add_generation_prompt %}<|im_start|>assistant\n{%- endif %}",
    "{%- if add_generation_prompt %}<|im_start|>assistant\n"
    "{%- if enable_thinking is defined and enable_thinking is false %}<think>\n\n</think>\n\n"
    "{%- else %}<think>\n{%- endif %}{%- endif %}")

# (tokens per engine output, EOS merged into the last output, finish)
MODES = {
    "token": (1, False, "stop"),
    "token-eos-merged": (1, True, "stop"),
    "4-tokens": (4, True, "stop"),
    "whole": (100000, True, "stop"),
    "no-eos": (1, False, "length"),  # the last output carries no EOS id: vLLM's end-of-stream calls decide
}
HOLDS = version_tuple() >= (0, 26)  # docs/contract.md §8: before 0.26 a call in open reasoning ends it at once
# vLLM < 0.13 hands the tool parser the answer from the delta after the reasoning ended: with the
# whole output in one delta there is none, and the answer is lost (vLLM's qwen3 alike; compat-notes §8).
LOSES_LAST = version_tuple() < (0, 13)


def reasoning_ok(expected: str, got: dict, mode: str) -> bool:
    if not HOLDS and MODES.get(mode, (1,))[0] > 1:
        # vLLM 0.13 - 0.25 replace the message of the delta in which the reasoning ends with the
        # tool parser's: that delta's reasoning is lost (vLLM's qwen3 alike; fixed in 0.26).
        return expected.startswith(got["reasoning"])
    return got["reasoning"] == expected


def lost_by_vllm(got: dict, mode: str) -> bool:
    """The answer was in the delta that ended the reasoning and the stream: vLLM < 0.13 drops it."""
    if LOSES_LAST and mode == "whole":
        assert (got["content"], got["calls"]) == ("", [])
        return True
    return False


class Servers(Runner):
    """Runner's private event loop, with one ScriptedServing per (reasoning parser, template)."""

    def __init__(self) -> None:
        super().__init__()
        self.by_key: dict[tuple[str, str], ScriptedServing] = {}

    def get(self, reasoning: str, template: str = THINKING_TEMPLATE) -> ScriptedServing:
        key = (reasoning, template)
        if key not in self.by_key:
            from qxt_support.vllm import TOOL_PARSERS, first_module

            first_module(*TOOL_PARSERS).ToolParserManager.import_tool_parser(str(PLUGIN_PATH))
            self.by_key[key] = ScriptedServing(tool_parser=PLUGIN, reasoning_parser=reasoning,
                                               chat_template=template)
        return self.by_key[key]


@pytest.fixture(scope="module")
def servers():
    s = Servers()
    yield s
    s.close()


def outcome(servers: Servers, reasoning_parser: str, text: str, mode: str, template: str = THINKING_TEMPLATE,
            **kw) -> dict:
    """What a client gets: reasoning, content (stripped), calls [(name, args)], finish reasons."""
    srv = servers.get(reasoning_parser, template)
    if mode == "nonstream":
        resp = servers.run(srv.complete(text, tools=TOOLS, **kw))
        choice = resp["choices"][0]
        msg = choice["message"]
        calls = [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in msg.get("tool_calls") or []]
        return {"reasoning": (msg.get("reasoning") or msg.get("reasoning_content") or "").strip(),
                "content": (msg.get("content") or "").strip(), "calls": calls,
                "finish": [choice["finish_reason"]]}
    chunk, merge, finish = MODES[mode]
    got = collect(servers.run(srv.stream(text, tools=TOOLS, chunk=chunk, merge_eos=merge, finish=finish, **kw)))
    calls = []
    for c in got["calls"]:
        assert len(c["id"]) == 1 and len(c["name"]) == 1, f"id/name sent {len(c['id'])}/{len(c['name'])} times"
        calls.append((c["name"][0], json.loads("".join(c["arguments"]))))
    return {"reasoning": got["reasoning"].strip(), "content": got["content"].strip(), "calls": calls,
            "finish": got["finish"]}


def right(shape: Shape, got: dict) -> bool:
    return (got["reasoning"], got["content"], got["calls"]) == (shape.reasoning, shape.content, list(shape.calls))


ALL_MODES = ["nonstream", *MODES]


@pytest.mark.parametrize("mode", ALL_MODES)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.name)
def test_shapes_qwen_xml_safe(servers, shape, mode):
    got = outcome(servers, PLUGIN, shape.output, mode)
    if lost_by_vllm(got, mode):
        assert shape.reasoning.startswith(got["reasoning"])
        return
    if not HOLDS and shape.name == "draft_then_real":
        # Before 0.26 vLLM gives a reasoning parser no end-of-output signal: the reasoning ends
        # at the draft's opener, so the draft is a call too (as with qwen3), in both modes.
        assert [name for name, _ in got["calls"]] == ["read_file", "read_file"]
        return
    assert reasoning_ok(shape.reasoning, got, mode)
    assert got["content"] == shape.content
    assert got["calls"] == list(shape.calls)
    if mode != "no-eos":  # (the token limit: vLLM reports "length" from 0.31, "tool_calls" before)
        assert got["finish"] == (["tool_calls"] if shape.calls else ["stop"])


# Where vLLM's qwen3 reasoning parser differs, and why ours differs on purpose (docs/contract.md §8).
QWEN3_WRONG = {
    "unclosed_bare_function": "qwen3 ends reasoning only at </think> or <tool_call>: the bare call stays reasoning",
    "draft_then_real": "qwen3 ends reasoning at the draft's <tool_call>: the draft is executed too",
    "mention_mid_line": "qwen3 ends reasoning at a <tool_call> mid-sentence: the rest of the reasoning leaks",
    "fenced_example": "qwen3 ends reasoning at a fenced example's <tool_call>: the example is executed",
}


@pytest.mark.parametrize("mode", ["nonstream", "token", "4-tokens"])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: s.name)
def test_shapes_vllm_qwen3(servers, shape, mode, request):
    """The same outputs through vLLM's own qwen3 reasoning parser: the harness is sound (it gets
    the plain shapes right) and the four shapes of issue 18 fail there."""
    if version_tuple() < (0, 26):
        pytest.skip("measured on vLLM 0.26+ (the qwen3 reasoning parser changed often before)")
    got = outcome(servers, "qwen3", shape.output, mode)
    assert right(shape, got) is (shape.name not in QWEN3_WRONG), QWEN3_WRONG.get(shape.name, got)


# ── rule 4: output that is not reasoning ────────────────────────────────────

@pytest.mark.parametrize("mode", ["nonstream", "token", "whole"])
def test_thinking_off_is_content(servers, mode):
    """enable_thinking false: the prompt closes the think block; the output is content and calls."""
    text = "Reading it.\n" + call("a.py")
    got = outcome(servers, PLUGIN, text, mode, chat_template_kwargs={"enable_thinking": False})
    if lost_by_vllm(got, mode):
        return
    assert (got["reasoning"], got["content"], got["calls"]) == ("", "Reading it.", [("read_file", {"path": "a.py"})])


@pytest.mark.parametrize("mode", ["nonstream", "token", "whole"])
def test_prompt_without_think_block_answer_is_content(servers, mode):
    """A template that opens no think block (Qwen3-Coder's; a final answer turn written without
    one): the answer is content, not reasoning (vLLM's qwen3 returns it all as reasoning)."""
    got = outcome(servers, PLUGIN, "The tests pass now.", mode, template=CHAT_TEMPLATE)
    if not lost_by_vllm(got, mode):
        assert (got["reasoning"], got["content"]) == ("", "The tests pass now.")
    got = outcome(servers, PLUGIN, "<think>\nDone?\n</think>\n\nYes.", mode, template=CHAT_TEMPLATE)
    if not lost_by_vllm(got, mode):
        assert got["content"] == "Yes." and reasoning_ok("Done?", got, mode)


@pytest.mark.parametrize("mode", ["nonstream", "token"])
def test_reasoning_only_output_stays_reasoning(servers, mode):
    """The prompt opened the think block and the output never closed it (cut, or no answer): reasoning,
    as with vLLM's qwen3."""
    got = outcome(servers, PLUGIN, "Still thinking about <tool_call> tags", mode)
    assert (got["reasoning"], got["content"], got["calls"]) == ("Still thinking about <tool_call> tags", "", [])


@pytest.mark.parametrize("mode", ["nonstream", "token"])
def test_include_reasoning_false_drops_reasoning_only(servers, mode):
    shape = next(s for s in SHAPES if s.name == "draft_then_real")
    if not HOLDS:
        pytest.skip("drafts are decided on 0.26+ only")
    got = outcome(servers, PLUGIN, shape.output, mode, include_reasoning=False)
    assert (got["reasoning"], got["calls"]) == ("", list(shape.calls))


def table(servers: Servers) -> str:
    rows = ["| shape | " + " | ".join(f"{m}: ours / qwen3" for m in ALL_MODES) + " |",
            "|---|" + "---|" * len(ALL_MODES)]
    totals = {m: [0, 0] for m in ALL_MODES}
    for shape in SHAPES:
        cells = []
        for mode in ALL_MODES:
            marks = []
            for k, parser in enumerate((PLUGIN, "qwen3")):
                try:
                    ok = right(shape, outcome(servers, parser, shape.output, mode))
                except Exception as e:  # a failure of the other parser is a result too
                    ok = False
                    print(f"{parser} {shape.name} {mode}: {e!r}", file=sys.stderr)
                totals[mode][k] += ok
                marks.append("ok" if ok else "**wrong**")
            cells.append(" / ".join(marks))
        rows.append(f"| {shape.name} | " + " | ".join(cells) + " |")
    rows.append("| right | " + " | ".join(f"{a}/{len(SHAPES)} / {b}/{len(SHAPES)}" for a, b in totals.values()) + " |")
    return "\n".join(rows)


if __name__ == "__main__":
    s = Servers()
    try:
        print(table(s))
    finally:
        s.close()
