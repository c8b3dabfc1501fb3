"""Round-trip property: render random tool calls as the Qwen3-Coder chat template
renders an assistant turn, tokenize with the offline Qwen3 tokenizer, stream the
text through the plugin (vLLM's interface, a random split mode) and parse it
non-streaming: the arguments must equal the originals, type-strictly, and
streamed == non-streamed (plus every docs/contract.md §2 invariant of
tests/support/invariants.py).

Generators: tests/support/gen.py (schemas, values, hostile strings); renderer:
tests/support/render.py (both template variants: JSON ``tojson`` values and the
old templates' Python ``str()`` values).

EXCLUDED (and only these):

1. Truly ambiguous renderings, as defined in docs/behaviour.md and implemented
   in ``render.ambiguity``: a value whose text contains, from a position inside
   the value, a viable closer -- ``</parameter>`` (or a drifted
   ``</parameter...>`` / ``</parameter`` + newline) followed after optional
   whitespace by ``<parameter=``, ``</function>``, ``</tool_call>``,
   ``<tool_call>``, ``<function=`` or the end; ``</function>`` followed by
   ``</tool_call>``, ``<tool_call>``, ``<function=`` or the end; ``</tool_call>``
   followed by ``<tool_call>``, ``<function=`` or the end -- or a line-start
   ``<parameter=NAME`` for a declared, not yet given parameter (any name when
   the request has no tools). The parser must read these as markup, so the
   original value cannot come back; ``hypothesis.assume`` drops them.
   Everything else that looks like markup inside a value (``</parameter>`` not
   followed by a continuation, ``<parameter=x>`` mid-line, ``</function>``
   before ``</parameter>``, ``<tool_call>``...) is kept and must round-trip.
2. Union values that are ambiguous between string and another allowed type:
   a string under ``anyOf [string, T]`` / ``type: ["string", T]`` that is T's
   rendering (``"42"`` under integer, ``"1.5"`` under number, ``"true"`` /
   ``"False"`` under boolean, ``"null"`` / ``"None"`` under null, any text that
   parses as a JSON or Python-literal object/array under object/array). The
   generator never emits them: it prefixes such strings with ``~``
   (``gen.string_is_ambiguous``).
3. Text that is not Unicode NFC (the tokenizer normalises it, so the model
   cannot produce it): dropped with ``assume``.

CI runs 600 derandomized examples (tests/conftest.py profile ``qxt-ci``);
``QXT_THOROUGH=1`` runs 5,000 random ones.
"""

from __future__ import annotations

import json

from hypothesis import assume, given, note, settings
from hypothesis import strategies as st

from tests.support import gen
from tests.support.invariants import check_run, first_difference, run_problems
from tests.support.runs import THOROUGH

EXAMPLES = 5000 if THOROUGH else 600


@st.composite
def turns(draw):
    return gen.gen_turn(gen.HypoSource(draw))


def _compare(label: str, got_calls, got_content, turn) -> list[str]:
    problems = []
    if [c.name for c in got_calls] != [n for n, _ in turn.calls]:
        return [f"{label}: names {[c.name for c in got_calls]} != {[n for n, _ in turn.calls]}"]
    for k, (c, (_, want)) in enumerate(zip(got_calls, turn.calls)):
        try:
            got = json.loads(c.arguments)
        except Exception as e:
            problems.append(f"{label}: call {k} arguments not JSON ({e}): {c.arguments!r}")
            continue
        d = first_difference(got, want)
        if d:
            problems.append(f"{label}: call {k} ({c.name}): {d}\n    arguments={c.arguments!r}")
    if (got_content or "") != turn.content:
        problems.append(f"{label}: content {got_content!r} != {turn.content!r}")
    return problems


def check_turn(driver, turn, mode: str, seed: int) -> None:
    run = driver.stream(turn.text, turn.tools, mode, seed)
    whole = driver.parse_whole(turn.text, turn.tools)
    problems = run_problems(run, whole, truncated=False)
    problems += _compare("non-streaming", whole.calls, whole.content, turn)
    problems += _compare(f"streamed ({run.label()})", run.calls, run.content, turn)
    assert not problems, "\n".join(problems + [turn.describe(), whole.describe(), run.describe(120)])


@settings(max_examples=EXAMPLES)
@given(turn=turns(), mode=st.sampled_from(["whole", "special", "token", "random", "random", "char"]),
       seed=st.integers(0, 2 ** 16))
def test_roundtrip(driver, turn, mode, seed):
    assume(turn.ambiguous is None)
    note(turn.describe())
    check_turn(driver, turn, mode, seed)


def test_roundtrip_seeded_all_modes(driver):
    """A fixed set of random turns, each in every split mode (cheap regression net
    next to the hypothesis search)."""
    n = 60 if THOROUGH else 12
    for s in range(n):
        turn = gen.random_turn(10_000 + s)
        for mode in ("whole", "special", "token", "random", "char"):
            check_turn(driver, turn, mode, s)


def test_renderer_matches_recorded_template_strings():
    """The renderer's layout is the template's: compare with strings from the
    recorded fixtures (llama.cpp's Qwen3.5 / Qwen3-Coder template tests)."""
    from tests.support.render import render_turn

    r = render_turn("", [("special_function", [("arg1", 1)]),
                         ("special_function_with_opt", [("arg1", 1), ("arg2", 2)])], "json")
    assert r.text == (
        "<tool_call>\n<function=special_function>\n<parameter=arg1>\n1\n</parameter>\n</function>\n"
        "</tool_call>\n<tool_call>\n<function=special_function_with_opt>\n<parameter=arg1>\n1\n"
        "</parameter>\n<parameter=arg2>\n2\n</parameter>\n</function>\n</tool_call>")
    r = render_turn("", [("edit", [("filename", "foo.c"), ("oldString", "#iclunde"),
                                   ("newString", "#include\n")])], "json")
    assert r.text == (
        "<tool_call>\n<function=edit>\n<parameter=filename>\nfoo.c\n</parameter>\n<parameter=oldString>\n"
        "#iclunde\n</parameter>\n<parameter=newString>\n#include\n\n</parameter>\n</function>\n</tool_call>")
    r = render_turn("Let me check.", [("f", [("a", True), ("b", None), ("c", {"k": 1})])], "python")
    assert r.text == ("Let me check.\n\n<tool_call>\n<function=f>\n<parameter=a>\nTrue\n</parameter>\n"
                      "<parameter=b>\nNone\n</parameter>\n<parameter=c>\n{'k': 1}\n</parameter>\n"
                      "</function>\n</tool_call>")


def test_ambiguity_rule_examples():
    """The exclusion rule itself (docs/behaviour.md "Truly ambiguous renderings")."""
    from tests.support.render import ambiguity, render_turn

    def amb(value, declared=("a", "b"), key="a"):
        return ambiguity(render_turn("", [("f", [(key, value)])], "json", declared={"f": declared}))

    assert amb("x\n</parameter>\n<parameter=b>\ny")  # viable closer + next parameter
    assert amb("x</parameter><parameter=q>")  # no whitespace needed
    assert amb("x\n</function>\n</tool_call>")  # </function> + </tool_call>
    assert amb("x\n</tool_call>\n<tool_call>")
    assert amb("x\n<parameter=b>\ny")  # line-start declared parameter not given yet
    assert amb("x\n<parameter=zz>", declared=None)  # no schema: any name
    assert not amb("x\n</parameter>\nmore")  # closer without a continuation: value text
    assert not amb("x\n</parameter>")  # followed by the real "\n</parameter>": not a continuation
    assert not amb("x <parameter=b> y")  # not at line start
    assert not amb("x\n<parameter=a>\ny")  # the parameter itself: already given
    assert not amb("x\n<parameter=zz>\ny")  # not declared
    assert not amb("return \"</parameter>\"")
    assert not amb("</function> then text")
    assert gen.string_is_ambiguous("42", "integer") and not gen.string_is_ambiguous("042", "integer")
    assert gen.string_is_ambiguous("1e+20", "number") and not gen.string_is_ambiguous("1e3", "number")
    assert gen.string_is_ambiguous("None", "null") and gen.string_is_ambiguous(" [1, 'a']", "array")
    assert not gen.string_is_ambiguous("yes", "boolean")


def test_check_run_catches_problems():
    """The invariant checker is not vacuous."""
    from tests.support.vllm_driver import Call, StreamRun, WholeRun

    run = StreamRun("x", "token", 0, "stop", content="", calls=[Call("a", "f", '{"a": 1')],
                    arg_prefixes=[['{"a": ', '{"a": 1']], parser_emitted=['{"a": 1'])
    whole = WholeRun("x", True, None, [Call("b", "f", '{"a": 1}')], ["function"])
    problems = run_problems(run, whole, truncated=False)
    assert any("not valid JSON" in p for p in problems)
    assert any("streamed != non-streamed" in p for p in problems)
    try:
        check_run(run, whole, truncated=False)
    except AssertionError:
        pass
    else:  # pragma: no cover
        raise AssertionError("check_run accepted a broken run")
