"""Fuzz: mutated valid outputs, random splits, random ways the stream ends.

Each case (fully determined by its integer seed):

1. a random valid assistant turn (tests/support/gen.py: random schemas, hostile
   values, JSON or Python-``str()`` template variant);
2. 1-4 mutations: delete / duplicate / swap / truncate chunks, drop a closing
   or opening tag or a newline, drift a closing tag (``</parameter1>``,
   ``</parameter`` ...), inject markers (``<tool_call>``, ``<function=x>``,
   ``</think>``, code fences, a Hermes JSON body, ...), random unicode, case
   changes, whitespace around markers;
3. streamed through the plugin (vLLM's interface) in a random split mode and
   with a random finish ("stop", "stop-merged", "length", "length-unknown"),
   and parsed non-streaming.

Asserted for every case: no exception escapes; every emitted ``arguments`` (
streamed and non-streamed) is canonical JSON of an object; the delta shape
rules (id, type and name once, first; sequential indices; unique ids; one call
per non-final chunk); every streamed prefix parses with partial-json-parser
consistently with the final arguments; the parser state vLLM reads
(``prev_tool_call_arr`` / ``streamed_args_for_tool``); no internal error
logged (an exception swallowed by the adapter's safety net is still a bug);
without any call the non-streamed content is the output verbatim.
Streamed == non-streamed is not asserted here (mutations create truncated and
ambiguous outputs; the other suites cover agreement).

CI: 2,400 cases in 24 batches; ``QXT_THOROUGH=1``: 24,000. A failing case is
reported with its seed; ``QXT_FUZZ_SEED=<seed> pytest tests/test_fuzz.py -k one``
replays it alone.

``test_fuzz_hostile`` (issue 14) drives the sans-I/O core directly, which is fast
enough for 10^5 cases: the same turns and mutations plus hostile pieces (lone
surrogate escapes, non-finite numbers, fence look-alikes, Hermes bodies without
their closer) and, for a third of the cases, a random hostile schema (``$ref``
cycles, odd pointers). Asserted: no exception; every arguments text, streamed and
whole, is UTF-8-encodable JSON of an object without NaN/Infinity; streamed (two
random splittings) == whole unless the output was truncated; without a call, the
content is the output verbatim. CI: 3,000 cases; ``QXT_THOROUGH=1``: 100,000.
Replay: ``QXT_FUZZ_SEED=<seed> pytest tests/test_fuzz.py -k hostile_one``.
"""

from __future__ import annotations

import json
import math
import os
import random
import unicodedata

import pytest

from qwen_xml_toolparser import ArgumentsDelta, ContentDelta, StreamParser, ToolCallEnd, ToolCallStart, parse
from qxt_support.hostile_shapes import random_hostile_schema
from tests.support import gen, runs
from tests.support.invariants import stream_problems, whole_problems
from tests.support.runs import THOROUGH
from tests.support.vllm_driver import FINISHES, MODES, HarnessError

BATCHES = 24
PER_BATCH = 1000 if THOROUGH else 100

CLOSERS = ["</parameter>", "</function>", "</tool_call>", "<tool_call>", "\n", "<parameter=", "<function="]
DRIFTS = {
    "</parameter>": ["</parameter1>", "</parameter_function>", "</parameter", "</ parameter>", "</PARAMETER>",
                     "</param>", "</parameter >", "</parameter>>", "</parameters>"],
    "</function>": ["</function", "</func>", "</function1>", "</FUNCTION>", "</function >"],
    "</tool_call>": ["</tool_call", "</toolcall>", "</tool_call >", "</tool-call>"],
    "<tool_call>": ["<tool_call >", "<toolcall>", "<TOOL_CALL>"],
    "<parameter=": ["<parameter =", "<parameter= ", "<param=", "<parameter:"],
    "<function=": ["<function =", "<function= ", "<func=", "<function:"],
}
INJECT = ["<tool_call>", "</tool_call>", "<function=x>", "<function=", "<parameter=y>", "<parameter=",
          "</parameter>", "</function>", "<think>", "</think>", "```\n", "\n```", "~~~\n", "{", "}", '"', "\\",
          "\n", "<", ">", "</", "\n\n", '{"name": "f", "arguments": {"a": 1}}', '{"name": "g"}',
          "<tool_call>\n{\"name\": \"h\", \"arguments\": {}}\n</tool_call>", "<parameter=x>\n1\n</parameter>",
          "<function=z>\n</function>", "\n<parameter=", "\r\n", "\t", "\u200b", "😀", "é", "\x00",
          "1e999", "[1e999]", '{"a": NaN}', "-Infinity", "```ls -la``` x\n", "~~~~~~~~~~\n", "````\n", "   ```\n"]


def _positions(text: str, needle: str) -> list[int]:
    out, i = [], text.find(needle)
    while i != -1:
        out.append(i)
        i = text.find(needle, i + 1)
    return out


def mutate(text: str, rng: random.Random) -> str:
    for _ in range(rng.randint(1, 4)):
        n = len(text)
        op = rng.randrange(12)
        i = rng.randint(0, n)
        j = min(n, i + rng.randint(1, 24))
        if op == 0:  # delete a chunk
            text = text[:i] + text[j:]
        elif op == 1:  # duplicate a chunk
            text = text[:j] + text[i:j] + text[j:]
        elif op == 2:  # swap two adjacent chunks
            k = min(n, j + rng.randint(1, 24))
            text = text[:i] + text[j:k] + text[i:j] + text[k:]
        elif op == 3:  # truncate
            text = text[:i]
        elif op in (4, 5):  # drop a tag or a newline
            m = rng.choice(CLOSERS)
            pos = _positions(text, m)
            if pos:
                p = rng.choice(pos)
                text = text[:p] + text[p + len(m):]
        elif op == 6:  # drift a tag
            m = rng.choice(list(DRIFTS))
            pos = _positions(text, m)
            if pos:
                p = rng.choice(pos)
                text = text[:p] + rng.choice(DRIFTS[m]) + text[p + len(m):]
        elif op in (7, 8):  # inject a marker
            text = text[:i] + rng.choice(INJECT) + text[i:]
        elif op == 9:  # random unicode
            src = gen.RandomSource(rng)
            text = text[:i] + "".join(src.char() for _ in range(rng.randint(1, 5))) + text[i:]
        elif op == 10:  # whitespace around a marker
            m = rng.choice(CLOSERS[:4])
            pos = _positions(text, m)
            if pos:
                p = rng.choice(pos)
                ws = rng.choice([" ", "  ", "\n", "\t", "", "\n\n"])
                text = text[:p] + ws + m + ws + text[p + len(m):]
        else:  # strip all newlines between markers, or make the first call bare
            if rng.random() < 0.5:
                text = text.replace(">\n<", "><")
            else:
                text = text.replace("<tool_call>\n", "", 1)
    return unicodedata.normalize("NFC", text)


def fuzz_case(seed: int):
    rng = random.Random(seed)
    turn = gen.gen_turn(gen.RandomSource(rng))
    text = mutate(turn.text, rng)
    mode = rng.choice(MODES)
    finish = rng.choice(FINISHES)
    return text, turn.tools, mode, rng.randrange(2 ** 16), finish


SKIPPED: list[int] = []  # seeds the harness cannot tokenize faithfully


def run_case(driver, seed: int) -> list[str]:
    text, tools, mode, split_seed, finish = fuzz_case(seed)
    if finish not in runs.FINISHES:
        return []
    try:
        run = driver.stream(text, tools, mode, split_seed, finish)
        whole = driver.parse_whole(text, tools)
    except HarnessError:
        SKIPPED.append(seed)
        return []
    except AssertionError as e:  # delta-shape violation or an exception from the parser
        return [str(e)[:3000]]
    problems = stream_problems(run) + whole_problems(whole)
    if problems:
        return ["\n".join(problems + [whole.describe()[:1500], run.describe(60)[:4000]])]
    return []


@pytest.mark.parametrize("batch", range(BATCHES))
def test_fuzz(driver, batch):
    failures = []
    for k in range(PER_BATCH):
        seed = batch * PER_BATCH + k
        for p in run_case(driver, seed):
            failures.append(f"--- fuzz seed {seed} (replay: QXT_FUZZ_SEED={seed} pytest tests/test_fuzz.py -k one)\n{p}")
    assert not failures, f"{len(failures)}/{PER_BATCH} fuzz cases failed; first ones:\n" + "\n".join(failures[:3])
    assert len(SKIPPED) <= 0.01 * (batch + 1) * PER_BATCH, f"harness skipped too many cases: {SKIPPED[:20]}"


@pytest.mark.skipif("QXT_FUZZ_SEED" not in os.environ, reason="set QXT_FUZZ_SEED to replay one fuzz case")
def test_fuzz_one(driver):
    seed = int(os.environ["QXT_FUZZ_SEED"])
    problems = run_case(driver, seed)
    assert not problems, problems[0]


def test_mutations_are_deterministic():
    assert fuzz_case(123) == fuzz_case(123)
    assert mutate("<tool_call>\n<function=f>\n</function>\n</tool_call>", random.Random(1)) == mutate(
        "<tool_call>\n<function=f>\n</function>\n</tool_call>", random.Random(1))


# ── hostile fuzz on the core (issue 14) ─────────────────────────────────────

HOSTILE = ['["\\ud800"]', '{"k": "\\udfff x"}', '"\\ud83d"', "\\ud800", "1e999", "-1E400", "NaN", "Infinity",
           '[1, NaN]', '{"a": {"b": [1e999]}}', "```ls``` x\n", "```\n", "~~~~~~~~~~\n", "````\n", "```py\n",
           "\n```\n", "\n~~~\n", "   ```\n", "    ```\n", "<think>\n```\n", "\n</think>\n\n",
           '<tool_call>\n{"name": "f", "arguments": {"a": NaN, "b": "\\ud800"}}',
           '<tool_call>\n{"name": "g", "arguments": {"x": 1}}\n', "[" * 40, "]" * 40, "0" * 60, "-" + "9" * 30]
HOSTILE_CASES = 100_000 if THOROUGH else 3_000


def _strict_json_object(text: str) -> str | None:
    try:
        text.encode("utf-8")
        value = json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
    except (ValueError, UnicodeEncodeError) as e:
        return f"arguments {text[:300]!r} are not strict UTF-8 JSON: {e}"
    return None if isinstance(value, dict) else f"arguments {text[:300]!r} are not an object"


def _no_constant(name: str) -> float:
    raise ValueError(f"non-finite {name}")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"non-finite {text}")
    return value


def hostile_case(seed: int):
    rng = random.Random(seed)
    turn = gen.gen_turn(gen.RandomSource(rng))
    text = turn.text
    for _ in range(rng.randint(1, 3)):
        i = rng.randint(0, len(text))
        text = text[:i] + rng.choice(HOSTILE) + text[i:]
    if rng.random() < 0.5:
        text = mutate(text, rng)
    tools = turn.tools
    if tools and rng.random() < 0.33:
        fn = dict(tools[0]["function"])
        fn["parameters"] = random_hostile_schema(rng)
        tools = [{"type": "function", "function": fn}] + list(tools[1:])
    return text, tools, [rng.randint(1, 16) for _ in range(len(text))], rng.randrange(2 ** 16)


def _stream_core(text: str, tools, sizes: list[int]):
    parser = StreamParser(tools)
    events = []
    pos = 0
    for size in sizes:
        if pos >= len(text):
            break
        events += parser.feed(text[pos : pos + size])
        pos += size
    events += parser.finish()
    content = "".join(e.text for e in events if isinstance(e, ContentDelta))
    calls: dict[int, list[str]] = {}
    for e in events:
        if isinstance(e, ToolCallStart):
            calls[e.index] = [e.name, ""]
        elif isinstance(e, ArgumentsDelta):
            calls[e.index][1] += e.text
    # Cut-off call markup: streaming closes the call or drops the markup, non-streaming keeps it as content.
    truncated = any(isinstance(e, ToolCallEnd) and e.truncated for e in events) or parser.unfinished_offset is not None
    return content, [tuple(c) for c in calls.values()], truncated


def hostile_problems(seed: int) -> list[str]:
    text, tools, sizes, _ = hostile_case(seed)
    try:
        whole = parse(text, tools)
        w_calls = [(c.name, c.arguments) for c in whole.tool_calls]
        runs_ = [_stream_core(text, tools, sizes), _stream_core(text, tools, [1] * 7 + sizes[::-1])]
    except Exception as e:  # noqa: BLE001 - any exception is the finding
        return [f"exception {type(e).__name__}: {e}"]
    problems = [p for _, args in w_calls if (p := _strict_json_object(args))]
    for content, calls, truncated in runs_:
        problems += [p for _, args in calls if (p := _strict_json_object(args))]
        if not truncated and (content, calls) != (whole.content or "", w_calls):
            problems.append(f"streamed != whole: {(content, calls)!r:.600} vs {(whole.content, w_calls)!r:.600}")
    if not w_calls and "<think>" not in text and "</think>" not in text:
        # Call markup left unfinished at the very end (and the whitespace before it) is not
        # content (docs/contract.md §5); everything else is, verbatim.
        core = StreamParser(tools)
        core.feed(text)
        core.finish()
        cut = core.unfinished_offset
        if cut is not None and not text[cut:].lstrip(" \t\r\n").startswith("<"):
            problems.append(f"dropped as unfinished call markup: {text[cut:]!r:.300}")
        if (whole.content or "") != (text if cut is None else text[:cut]):
            problems.append(f"no call, but the content is not the output verbatim: {whole.content!r:.300}")
    return problems


def test_fuzz_hostile():
    failures = []
    for seed in range(HOSTILE_CASES):
        for p in hostile_problems(seed):
            failures.append(f"--- hostile seed {seed} (QXT_FUZZ_SEED={seed} pytest tests/test_fuzz.py -k hostile_one)"
                            f"\n{p}")
    assert not failures, f"{len(failures)}/{HOSTILE_CASES} hostile cases failed; first ones:\n" + "\n".join(failures[:3])


@pytest.mark.skipif("QXT_FUZZ_SEED" not in os.environ, reason="set QXT_FUZZ_SEED to replay one hostile case")
def test_fuzz_hostile_one():
    problems = hostile_problems(int(os.environ["QXT_FUZZ_SEED"]))
    assert not problems, problems[0]
