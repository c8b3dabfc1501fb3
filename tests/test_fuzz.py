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
"""

from __future__ import annotations

import os
import random
import unicodedata

import pytest

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
          "<function=z>\n</function>", "\n<parameter=", "\r\n", "\t", "\u200b", "😀", "é", "\x00"]


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
