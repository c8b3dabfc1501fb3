"""tool_choice that demands a call, with NOTHING scripted: the tiny random model writes whatever the
grammar lets it (``temperature=1``, several seeds).

vLLM (0.32 here) constrains generation with the tool parser's structural tag for
``tool_choice="required"``, a named tool, Anthropic ``any`` / ``tool`` (mapped onto those by vLLM's
own ``/v1/messages``) and strict tools (docs/grammar.md). Every response must carry a call whose
arguments parse and validate against the tool's schema (jsonschema); a named choice must call that
function. ``QWEN_XML_E2E_PARSER=qwen3_coder`` runs the same checks on vLLM's in-tree parser.
"""

from __future__ import annotations

import json

import pytest

jsonschema = pytest.importorskip("jsonschema", reason="run the e2e suite with scripts/e2e/run-tests.sh")

pytestmark = pytest.mark.e2e

SEEDS = [0, 1, 2]
STREAM = pytest.mark.parametrize("stream", [False, True], ids=["nonstream", "stream"])
MAX_TOKENS = 400  # the forced call is short: every value is bounded by the schema

SCHEMAS = {
    "set_mode": {
        "type": "object",
        "properties": {"mode": {"type": "string", "enum": ["fast", "safe", "dark blue"]},
                       "level": {"type": "integer", "minimum": 0, "maximum": 9},
                       "verbose": {"type": "boolean"}},
        "required": ["mode", "level", "verbose"],
        "additionalProperties": False,
    },
    "lookup": {
        "type": "object",
        "properties": {"key": {"type": "string", "enum": ["a", "b", "c"]}},
        "required": ["key"],
        "additionalProperties": False,
    },
}
TOOLS = [{"type": "function", "function": {"name": name, "description": f"{name} tool", "strict": True,
                                           "parameters": schema}}
         for name, schema in SCHEMAS.items()]
ANTHROPIC_TOOLS = [{"name": name, "description": f"{name} tool", "input_schema": schema, "strict": True}
                   for name, schema in SCHEMAS.items()]
USER = [{"role": "user", "content": "Do something."}]


def check(calls: list[tuple[str, dict]], named: str | None = None) -> None:
    assert calls, "no tool call"
    for name, args in calls:
        assert name in SCHEMAS
        jsonschema.validate(args, SCHEMAS[name])
        if named is not None:
            assert name == named


def openai_calls(client, model, tool_choice, stream, seed) -> list[tuple[str, dict]]:
    r = client.chat.completions.create(model=model, messages=USER, tools=TOOLS, tool_choice=tool_choice,
                                       stream=stream, temperature=1, seed=seed, max_tokens=MAX_TOKENS)
    if not stream:
        return [(c.function.name, json.loads(c.function.arguments)) for c in r.choices[0].message.tool_calls or []]
    names: dict[int, str] = {}
    args: dict[int, str] = {}
    for chunk in r:
        for choice in chunk.choices:
            for tc in choice.delta.tool_calls or []:
                if tc.function and tc.function.name:
                    names[tc.index] = names.get(tc.index, "") + tc.function.name
                if tc.function and tc.function.arguments:
                    args[tc.index] = args.get(tc.index, "") + tc.function.arguments
    return [(names[i], json.loads(args.get(i) or "{}")) for i in sorted(names)]


@pytest.fixture(scope="module")
def anthropic_client(vllm):
    Anthropic = pytest.importorskip("anthropic", reason="run the e2e suite with scripts/e2e/run-tests.sh").Anthropic
    return Anthropic(base_url=vllm.base_url, api_key="dummy", max_retries=0, timeout=300)


def anthropic_calls(client, model, tool_choice, stream, seed) -> list[tuple[str, dict]]:
    kw = dict(model=model, messages=USER, tools=ANTHROPIC_TOOLS, tool_choice=tool_choice, max_tokens=MAX_TOKENS,
              extra_body={"temperature": 1, "seed": seed})
    if stream:
        with client.messages.stream(**kw) as s:
            msg = s.get_final_message()
    else:
        msg = client.messages.create(**kw)
    return [(b.name, b.input) for b in msg.content if b.type == "tool_use"]


@STREAM
@pytest.mark.parametrize("seed", SEEDS)
def test_required_always_calls(openai_client, model, stream, seed):
    check(openai_calls(openai_client, model, "required", stream, seed))


@STREAM
@pytest.mark.parametrize("seed", SEEDS)
def test_named_always_calls_that_function(openai_client, model, stream, seed):
    named = {"type": "function", "function": {"name": "set_mode"}}
    check(openai_calls(openai_client, model, named, stream, seed), named="set_mode")


@STREAM
@pytest.mark.parametrize("seed", SEEDS)
def test_anthropic_any_always_calls(anthropic_client, model, stream, seed):
    check(anthropic_calls(anthropic_client, model, {"type": "any"}, stream, seed))


@STREAM
@pytest.mark.parametrize("seed", SEEDS)
def test_anthropic_tool_always_calls_that_tool(anthropic_client, model, stream, seed):
    check(anthropic_calls(anthropic_client, model, {"type": "tool", "name": "lookup"}, stream, seed), named="lookup")
