"""docs/contract.md §4 – §5 (malformed output, end of output), one test per bullet, through vLLM's interface.

Each case runs non-streaming and streamed in every split mode of
tests/support/vllm_driver.py (whole, special tokens, token, random groups,
characters); truncated ones also with ``finish="length"`` and
``"length-unknown"``. On every run: the contract §2 invariants
(tests/support/invariants.py), the expected calls (names; arguments compared
type-strictly) and the expected content (compared after ``.strip()``; exact
whitespace is pinned by the core unit tests). Expected values follow contract §4 – §5
and docs/behaviour.md.
"""

from __future__ import annotations

import random

import pytest

from tests.support import runs
from tests.support.invariants import check_run, expected_problems, is_truncated, truncation_problems, whole_problems

STR = {"type": "string"}


def tool(name, **props):
    return {"type": "function", "function": {"name": name, "parameters": {"type": "object", "properties": props}}}


READ = [tool("Read", file_path=STR)]
WEATHER = [tool("get_weather", city=STR, state=STR, days={"type": "integer"})]
FILES = [tool("write_file", path=STR, content=STR), tool("edit", path=STR, old=STR, new=STR)]
F = [tool("f", a=STR, b=STR), tool("g", x={"type": "integer"})]

CALL_F = "<tool_call>\n<function=f>\n<parameter=a>\n1\n</parameter>\n</function>\n</tool_call>"

# (id, tool-parser input, tools, expected calls [(name, args)], expected content (stripped),
#  allow markup in content)
CASES = [
    # -- <function=...> without <tool_call> (also after reasoning)
    ("bare", "<function=Read>\n<parameter=file_path>\n/a.md\n</parameter>\n</function>",
     READ, [("Read", {"file_path": "/a.md"})], "", False),
    ("bare-orphan-close", "<function=Read>\n<parameter=file_path>\n/a.md\n</parameter>\n</function>\n</tool_call>",
     READ, [("Read", {"file_path": "/a.md"})], "", False),
    ("bare-after-prose", "I'll read it.\n\n<function=Read>\n<parameter=file_path>\n/a.md\n</parameter>\n</function>\n</tool_call>",
     READ, [("Read", {"file_path": "/a.md"})], "I'll read it.", False),
    ("bare-after-reasoning",  # the tool parser's input after "...</think>"
     "\n\n<function=Read>\n<parameter=file_path>\n/a.md\n</parameter>\n</function>\n</tool_call>",
     READ, [("Read", {"file_path": "/a.md"})], "", False),
    ("bare-then-wrapped", "<function=f>\n<parameter=a>\n1\n</parameter>\n</function>\n</tool_call>\n" + CALL_F,
     F, [("f", {"a": "1"}), ("f", {"a": "1"})], "", False),
    ("bare-mention-is-prose", "Call <function=f> when you need it.", F, [],
     "Call <function=f> when you need it.", True),
    # -- missing </parameter>, </function>, </tool_call>
    ("no-close-param-next-param",
     "<tool_call>\n<function=get_weather>\n<parameter=city>\nDallas\n<parameter=state>\nTX\n</parameter>\n</function>\n</tool_call>",
     WEATHER, [("get_weather", {"city": "Dallas", "state": "TX"})], "", False),
    ("no-close-param-at-function",
     "<tool_call>\n<function=get_weather>\n<parameter=city>\nDallas\n</function>\n</tool_call>",
     WEATHER, [("get_weather", {"city": "Dallas"})], "", False),
    ("no-close-function",
     "<tool_call>\n<function=get_weather>\n<parameter=city>\nDallas\n</parameter>\n</tool_call>",
     WEATHER, [("get_weather", {"city": "Dallas"})], "", False),
    ("no-close-param-no-close-function",
     "<tool_call>\n<function=get_weather>\n<parameter=days>\n3\n</tool_call>",
     WEATHER, [("get_weather", {"days": 3})], "", False),
    ("no-close-tool-call-at-end",
     "<tool_call>\n<function=get_weather>\n<parameter=city>\nDallas\n</parameter>\n</function>",
     WEATHER, [("get_weather", {"city": "Dallas"})], "", False),
    ("no-close-tool-call-between",
     "<tool_call>\n<function=f>\n<parameter=a>\nx\n</parameter>\n</function>\n" + CALL_F,
     F, [("f", {"a": "x"}), ("f", {"a": "1"})], "", False),
    # <tool_call> is not a value closer and x is not a parameter of f, so by
    # docs/behaviour.md all of it is f's value "a" (it ends at the viable
    # "</parameter>\n</function>")
    ("no-closers-before-next-call",
     "<tool_call>\n<function=f>\n<parameter=a>\nx\n<tool_call>\n<function=g>\n<parameter=x>\n5\n</parameter>\n</function>\n</tool_call>",
     F, [("f", {"a": "x\n<tool_call>\n<function=g>\n<parameter=x>\n5"})], "", False),
    # -- marker text inside values: a closer counts only where the template puts one
    ("value-with-closing-param-in-code",
     '<tool_call>\n<function=write_file>\n<parameter=path>\na.py\n</parameter>\n<parameter=content>\n'
     'def f():\n    return "</parameter>"\n\n</parameter>\n</function>\n</tool_call>',
     FILES, [("write_file", {"path": "a.py", "content": 'def f():\n    return "</parameter>"\n'})], "", False),
    ("value-with-line-aligned-closer-not-viable",
     "<tool_call>\n<function=write_file>\n<parameter=content>\nline\n</parameter>\nmore\n</parameter>\n"
     "<parameter=path>\nb.md\n</parameter>\n</function>\n</tool_call>",
     FILES, [("write_file", {"content": "line\n</parameter>\nmore", "path": "b.md"})], "", False),
    ("value-with-param-opener-midline",
     "<tool_call>\n<function=edit>\n<parameter=old>\nuse <parameter=x> here\n</parameter>\n<parameter=new>\n"
     "<parameter=zz>\n</function> and <tool_call> or <function=q>\n</parameter>\n</function>\n</tool_call>",
     FILES, [("edit", {"old": "use <parameter=x> here",
                       "new": "<parameter=zz>\n</function> and <tool_call> or <function=q>"})],
     "", False),
    ("value-with-tool-call-tag",
     "<tool_call>\n<function=f>\n<parameter=a>\nDocument <tool_call> usage\n</parameter>\n</function>\n</tool_call>",
     F, [("f", {"a": "Document <tool_call> usage"})], "", False),
    ("value-with-given-param-at-line-start",
     "<tool_call>\n<function=f>\n<parameter=a>\nx\n<parameter=a>\ny\n</parameter>\n</function>\n</tool_call>",
     F, [("f", {"a": "x\n<parameter=a>\ny"})], "", False),
    # -- <tool_call> / <function= inside a Markdown code fence in prose is content
    ("fenced-example", "The format is:\n```xml\n" + CALL_F + "\n```\nThat's all.", F, [],
     "The format is:\n```xml\n" + CALL_F + "\n```\nThat's all.", True),
    ("fenced-tilde", "Example:\n~~~\n<function=f>\n<parameter=a>\n1\n</parameter>\n</function>\n~~~", F, [],
     "Example:\n~~~\n<function=f>\n<parameter=a>\n1\n</parameter>\n</function>\n~~~", True),
    ("fence-then-call", "```\n<function=f>\n```\n\n" + CALL_F, F, [("f", {"a": "1"})],
     "```\n<function=f>\n```", True),
    # -- unknown names, duplicates, empty values, nameless parameters, text after the last call
    ("unknown-function", "<tool_call>\n<function=nope>\n<parameter=n>\n1\n</parameter>\n</function>\n</tool_call>",
     F, [("nope", {"n": "1"})], "", False),
    ("duplicate-parameter", "<tool_call>\n<function=f>\n<parameter=a>\n1\n</parameter>\n<parameter=a>\n2\n"
     "</parameter>\n</function>\n</tool_call>", F, [("f", {"a": "1"})], "", False),
    ("empty-values", "<tool_call>\n<function=f>\n<parameter=a>\n\n</parameter>\n<parameter=b></parameter>\n"
     "</function>\n</tool_call>", F, [("f", {"a": "", "b": ""})], "", False),
    ("nameless-parameter", "<tool_call>\n<function=f>\n<parameter=>\nx\n</parameter>\n</function>\n</tool_call>",
     F, [("f", {"": "x"})], "", False),
    ("no-arguments", "<tool_call>\n<function=f>\n</function>\n</tool_call>", F, [("f", {})], "", False),
    ("text-after-last-call", "Sure.\n\n" + CALL_F + "\nDone, see above.", F, [("f", {"a": "1"})],
     "Sure.Done, see above.", False),
    ("text-between-calls", CALL_F + "\nand then\n" + CALL_F, F, [("f", {"a": "1"}), ("f", {"a": "1"})],
     "and then", False),
    ("hermes-json-body", '<tool_call>\n{"name": "g", "arguments": {"x": 7}}\n</tool_call>', F,
     [("g", {"x": 7})], "", False),
]


def _check(label, calls, content, want_calls, want_content):
    return expected_problems(label, calls, content, want_calls, want_content, strip=True)


@pytest.mark.parametrize("cid,text,tools,want_calls,want_content,allow_markup", CASES, ids=[c[0] for c in CASES])
def test_malformed(driver, cid, text, tools, want_calls, want_content, allow_markup):
    assert not is_truncated(text)
    whole = runs.whole(text, tools)
    problems = whole_problems(whole) + _check("non-streaming", whole.calls, whole.content, want_calls, want_content)
    assert not problems, "\n".join(problems + [whole.describe()])
    for mode, seed, finish in runs.split_plans(seed_base=hash(cid) % 1000):
        run = runs.stream(text, tools, mode, seed, finish)
        check_run(run, whole, allow_markup=allow_markup)
        problems = _check(f"streamed {run.label()}", run.calls, run.content, want_calls, want_content)
        assert not problems, "\n".join(problems + [run.describe()])


# -- a whole call, or several, in one delta; a delta that ends inside any marker

PARALLEL = ("Checking both.\n\n<tool_call>\n<function=get_weather>\n<parameter=city>\nTokyo\n</parameter>\n"
            "<parameter=days>\n3\n</parameter>\n</function>\n</tool_call>\n<tool_call>\n<function=get_weather>\n"
            "<parameter=city>\nOsaka\n</parameter>\n</function>\n</tool_call>")
PARALLEL_CALLS = [("get_weather", {"city": "Tokyo", "days": 3}), ("get_weather", {"city": "Osaka"})]


def test_every_two_chunk_cut(driver):
    """Cut the output into two chunks at every character position: every delta
    boundary inside every marker (and the whole output in one delta)."""
    whole = driver.parse_whole(PARALLEL, WEATHER)
    for i in range(len(PARALLEL) + 1):
        run = driver.stream(PARALLEL, WEATHER, "pieces", pieces=[PARALLEL[:i], PARALLEL[i:]])
        check_run(run, whole)
        problems = _check(f"cut at {i}", run.calls, run.content, PARALLEL_CALLS, "Checking both.")
        assert not problems, "\n".join(problems + [run.describe()])


def test_random_multi_cuts(driver):
    whole = driver.parse_whole(PARALLEL, WEATHER)
    rng = random.Random(4)
    for _ in range(150 if runs.THOROUGH else 40):
        cuts = sorted(rng.sample(range(1, len(PARALLEL)), rng.randint(2, 6)))
        pieces = [PARALLEL[a:b] for a, b in zip([0] + cuts, cuts + [len(PARALLEL)])]
        finish = rng.choice(["stop", "length"])
        if finish not in runs.FINISHES:
            continue
        run = driver.stream(PARALLEL, WEATHER, "pieces", pieces=pieces, finish=finish)
        check_run(run, whole)
        problems = _check(f"cuts {cuts}", run.calls, run.content, PARALLEL_CALLS, "Checking both.")
        assert not problems, "\n".join(problems + [run.describe()])


# -- truncated output

# (id, text, non-streaming calls when max_tokens cut the output, calls otherwise and streamed)
TRUNCATED = [
    ("in-string-value", "<tool_call>\n<function=get_weather>\n<parameter=city>\nTok", [],
     [("get_weather", {"city": "Tok"})]),
    ("after-value-newline", "<tool_call>\n<function=get_weather>\n<parameter=city>\nTokyo\n", [],
     [("get_weather", {"city": "Tokyo"})]),
    ("after-parameter", "<tool_call>\n<function=get_weather>\n<parameter=city>\nTokyo\n</parameter>\n",
     [("get_weather", {"city": "Tokyo"})], [("get_weather", {"city": "Tokyo"})]),
    ("after-header", "<tool_call>\n<function=get_weather>\n", [("get_weather", {})], [("get_weather", {})]),
    ("second-call", "Both:\n\n<tool_call>\n<function=get_weather>\n<parameter=city>\nTokyo\n</parameter>\n"
     "</function>\n</tool_call>\n<tool_call>\n<function=get_weather>\n<parameter=city>\nOsa",
     [("get_weather", {"city": "Tokyo"})], [("get_weather", {"city": "Tokyo"}), ("get_weather", {"city": "Osa"})]),
]


@pytest.mark.parametrize("cid,text,cut_calls,stream_calls", TRUNCATED, ids=[c[0] for c in TRUNCATED])
def test_truncated(driver, cid, text, cut_calls, stream_calls):
    """docs/behaviour.md "The end of the output": ended by the model (no token limit in sight),
    both modes return the call; cut by max_tokens inside a value, non-streaming returns no call;
    streaming closes the open string/object. Call markup is never content."""
    assert is_truncated(text)
    prefix = "Both:" if text.startswith("Both:") else ""
    whole = runs.whole(text, WEATHER)
    problems = whole_problems(whole) + truncation_problems(whole)
    problems += _check("non-streaming", whole.calls, whole.content, stream_calls, prefix)
    request = driver.make_request(WEATHER, max_tokens=len(driver.tokenizer().encode(text, add_special_tokens=False)))
    cut = driver.parse_whole(text, WEATHER, request=request)
    problems += whole_problems(cut) + truncation_problems(cut)
    problems += _check("non-streaming, cut by max_tokens", cut.calls, cut.content, cut_calls, prefix)
    assert not problems, "\n".join(problems + [whole.describe(), cut.describe()])
    for mode, seed, finish in runs.split_plans(truncated=True, seed_base=hash(cid) % 1000):
        run = runs.stream(text, WEATHER, mode, seed, finish)
        check_run(run, whole, truncated=True)
        if finish == "length-unknown":
            continue  # the parser is not told the output ended: only the invariants
        problems = _check(f"streamed {run.label()}", run.calls, run.content, stream_calls, prefix)
        assert not problems, "\n".join(problems + [run.describe()])
