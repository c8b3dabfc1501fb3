"""The scanner on its own (issue 9): whole input, one character at a time, trailing data.

Each function of ``qwen_xml_toolparser._scanner`` answers about ``buf`` from a position,
in a buffer that may end in the middle of markup. As h11 tests its reader, these tests
hold every function to three rules:

* the end of the output (``final=True``) always decides: never ``NEED_MORE``;
* a decided answer never changes when more text arrives or when the output ends: every
  prefix of an input, read with ``final=False``, answers ``NEED_MORE`` or the answer the
  whole input gets, and once decided it stays decided;
* the answer (offsets included) does not depend on text past the function's lookahead
  bound: an input at least that long is decided, whatever follows.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qwen_xml_toolparser import _scanner as sc
from qwen_xml_toolparser._scanner import (
    CALL,
    CALL_END,
    CALL_START,
    FUNCTION,
    MAX_DRIFT,
    MAX_GAP,
    MAX_NAME,
    NEED_MORE,
    NEXT_PARAM,
    PARAM,
    PARAM_START,
    JsonNesting,
)

Scan = Callable[[str, bool], object]  # (buffer, final) -> answer
Nesting = tuple[int, int, int, list[int]]  # feed's answer, depth, deepest, commas

# Lookahead bounds, counted from the position: the deciding character lies within them, so
# the longest name read is MAX_NAME - 1 characters before its `>`, the longest gap MAX_GAP - 1
# whitespace characters and the longest drift MAX_DRIFT - 1 characters before the `>`.
TAG_BOUND = max(len(t) for t in (CALL_START, CALL_END, PARAM_START, sc.FUNCTION_START))
GAP_BOUND = MAX_GAP + TAG_BOUND
NAME_BOUND = MAX_NAME
DRIFT_BOUND = len("</parameter") + MAX_DRIFT + 1
CLOSER_BOUND = max(DRIFT_BOUND + GAP_BOUND, len(PARAM_START) + NAME_BOUND)

TRAILERS = ["x", ">", "<", "\n", " ", "</parameter>", "<parameter=b>\n", "\n</function>", " " * (MAX_GAP + 1)]


def answer(scan: Scan, text: str, pos: int = 0, bound: int | None = None) -> object:
    """``text``'s answer at the end of the output, checked against every shorter view of it."""
    final = scan(text, True)
    assert final is not NEED_MORE, f"the end of the output must decide: {text!r}"
    decided_at: int | None = None
    for k in range(pos, len(text) + 1):
        got = scan(text[:k], False)
        if got is NEED_MORE:
            assert decided_at is None, f"{text[:decided_at]!r} decided, {text[:k]!r} undecided again"
            continue
        assert got == final, f"{text[:k]!r} answered {got!r}, the whole input {final!r}"
        decided_at = k if decided_at is None else decided_at
    if bound is not None and len(text) >= pos + bound:
        assert decided_at is not None and decided_at <= pos + bound, f"undecided past the bound: {text!r}"
    return final


def decided(scan: Scan, text: str, expected: object, pos: int = 0) -> None:
    """``text`` decides ``expected`` before the output ends, and nothing appended changes it."""
    assert answer(scan, text, pos) == expected
    assert scan(text, False) == expected
    for trailer in TRAILERS:
        assert scan(text + trailer, False) == expected, trailer
        assert scan(text + trailer, True) == expected, trailer


def tag(t: str, pos: int = 0) -> Scan:
    return lambda buf, final: sc.match_tag(buf, pos, t, final)


def name(pos: int = 0) -> Scan:
    return lambda buf, final: sc.match_name(buf, pos, final)


def follows(options: tuple[str, ...] = sc.AFTER_PARAM_END, end_ok: bool = True, pos: int = 0) -> Scan:
    return lambda buf, final: sc.followed_by(buf, pos, options, final, end_ok)


def closing(stem: str = "</parameter", partial_at_end: bool = True, pos: int = 0) -> Scan:
    return lambda buf, final: sc.closing_tag_end(buf, pos, stem, final, partial_at_end)


def closer(line_start: bool = True, implicit: bool = True, pos: int = 0) -> Scan:
    def scan(buf: str, final: bool) -> object:
        return sc.value_closer(buf, pos, line_start, final, lambda n: implicit and n == "b")

    return scan


# ---------------------------------------------------------------------------- match_tag


@pytest.mark.parametrize(
    "text, expected",
    [(CALL_START, True), ("<tool_callx", False), ("<tool_cal>", False), ("x<", False), ("<Tool_call>", False)],
)
def test_match_tag_decided(text: str, expected: bool) -> None:
    decided(tag(CALL_START), text, expected)


@pytest.mark.parametrize("text", ["", "<", "<tool_cal"])
def test_match_tag_cut_by_the_end(text: str) -> None:
    assert sc.match_tag(text, 0, CALL_START, False) is NEED_MORE
    assert answer(tag(CALL_START), text) is False


def test_match_tag_from_a_position() -> None:
    decided(tag(CALL_END, pos=3), "ab\n</tool_call>", True, pos=3)
    assert answer(tag(CALL_END, pos=3), "ab\n</tool_", pos=3) is False
    assert sc.match_tag("ab\n</tool_", 3, CALL_END, False) is NEED_MORE


# --------------------------------------------------------------------------- match_name


@pytest.mark.parametrize(
    "text, expected",
    [
        ("get_weather>\n", ("get_weather", 11, 12)),
        ("get_weather\n<parameter=city>", ("get_weather", 11, 11)),  # a newline ends name and header
        ("f<parameter=x>", ("f", 1, 1)),  # so does a `<`
        ("  spaced name \t>", ("spaced name", 15, 16)),
        (">", ("", 0, 1)),
        ("\n", ("", 0, 0)),
        ("<", ("", 0, 0)),
    ],
)
def test_match_name_header_endings(text: str, expected: tuple[str, int, int]) -> None:
    decided(name(), text, expected)


def test_match_name_cut_by_the_end() -> None:
    assert sc.match_name("get_wea", 0, False) is NEED_MORE
    assert answer(name(), "get_wea") == ("get_wea", 7, 7)  # the header ends with the output
    assert sc.match_name("", 0, False) is NEED_MORE
    assert answer(name(), "") is None


def test_match_name_from_a_position() -> None:
    decided(name(pos=10), "<function=f>", ("f", 11, 12), pos=10)


def test_match_name_bound() -> None:
    longest = "n" * (MAX_NAME - 1)
    decided(name(), longest + ">", (longest, MAX_NAME - 1, MAX_NAME))
    assert answer(name(), longest + "\n", bound=NAME_BOUND) == (longest, MAX_NAME - 1, MAX_NAME - 1)
    # One more character and no ending can be found in time: no name, decided before the output
    # ends, and the end of the output does not change that (it once answered a name cut at MAX_NAME).
    for text in ("n" * MAX_NAME, "n" * MAX_NAME + ">", "n" * (MAX_NAME + 40) + ">"):
        assert answer(name(), text, bound=NAME_BOUND) is None
        assert sc.match_name(text[: MAX_NAME - 1], 0, False) is NEED_MORE
    assert answer(closer(), "<parameter=" + "b" * MAX_NAME + ">") is None


# -------------------------------------------------------------------------- followed_by


@pytest.mark.parametrize(
    "text, expected",
    [
        ("<parameter=x>", True),
        ("\n\n</function>", True),
        (" \t\r\n</function_invocation>", True),  # "</function" admits drifted function closers
        ("</tool_call>", True),
        ("x", False),
        (" </tool_callx", False),
        ("\n<parameter x", False),
        ("</parameter>", False),
    ],
)
def test_followed_by_decided(text: str, expected: bool) -> None:
    decided(follows(), text, expected)


@pytest.mark.parametrize("text", ["", "  \n", " </func", "\n<tool_c"])
@pytest.mark.parametrize("end_ok", [True, False])
def test_followed_by_end_of_output(text: str, end_ok: bool) -> None:
    assert sc.followed_by(text, 0, sc.AFTER_PARAM_END, False, end_ok) is NEED_MORE
    assert answer(follows(end_ok=end_ok), text) is end_ok


def test_followed_by_from_a_position() -> None:
    decided(follows(sc.AFTER_CALL_END, pos=12), "</tool_call>\n<tool_call>", True, pos=12)


def test_followed_by_gap_bound() -> None:
    under, at = " " * (MAX_GAP - 1), " " * MAX_GAP
    assert answer(follows(), under + CALL_END, bound=GAP_BOUND) is True
    assert answer(follows(), at + CALL_END, bound=GAP_BOUND) is False  # the gap is too long
    assert answer(follows(), at + " " * 10, bound=GAP_BOUND) is False
    assert sc.followed_by(at, 0, sc.AFTER_PARAM_END, False) is NEED_MORE
    assert sc.followed_by(at, 0, sc.AFTER_PARAM_END, True) is True  # whitespace up to the end


# ---------------------------------------------------------------------- closing_tag_end


@pytest.mark.parametrize(
    "stem, text, expected",
    [
        ("</parameter", "</parameter>", 12),
        ("</parameter", "</parameter1>", 13),
        ("</parameter", "</parameter_function>", 21),
        ("</parameter", "</parameter\n<parameter=b>", 11),  # ends at the newline, which is not consumed
        ("</parameter", '</parameter "x">', None),  # text, not a drifted tag
        ("</parameter", '</parameter"x">', None),
        ("</parameter", "</parameter'x'>", None),
        ("</parameter", "</parameter/>", None),
        ("</parameter", "</parameter<b>", None),
        ("</parameter", "</parameter\t>", None),
        ("</parameter", "<parameter>", None),
        ("</function", "</function_invocation>", 22),
        ("</function", "</function>", 11),
        ("</function", "</functio>", None),
    ],
)
def test_closing_tag_end_decided(stem: str, text: str, expected: int | None) -> None:
    decided(closing(stem), text, expected)


@pytest.mark.parametrize("text", ["<", "</param", "</parameter", "</parameter1"])
def test_closing_tag_end_cut_by_the_end(text: str) -> None:
    assert sc.closing_tag_end(text, 0, "</parameter", False) is NEED_MORE
    assert answer(closing(), text) == len(text)  # a closer cut off by the end of the output
    assert answer(closing(partial_at_end=False), text) == (len(text) if text.startswith("</parameter") else None)


def test_closing_tag_end_from_a_position() -> None:
    decided(closing(pos=4), "abc\n</parameter1>", 17, pos=4)


def test_closing_tag_end_drift_bound() -> None:
    stem = "</parameter"
    assert answer(closing(), stem + "d" * (MAX_DRIFT - 1) + ">", bound=DRIFT_BOUND) == len(stem) + MAX_DRIFT
    assert answer(closing(), stem + "d" * MAX_DRIFT + ">", bound=DRIFT_BOUND) is None
    assert answer(closing(), stem + "d" * MAX_DRIFT + "\n", bound=DRIFT_BOUND) is None
    assert sc.closing_tag_end(stem + "d" * MAX_DRIFT, 0, stem, False) is NEED_MORE
    assert sc.closing_tag_end(stem + "d" * MAX_DRIFT, 0, stem, True) == len(stem) + MAX_DRIFT


# ------------------------------------------------------------------------- value_closer


@pytest.mark.parametrize(
    "text, expected",
    [
        ("</parameter>\n<parameter=b>", (PARAM, 12)),
        ("</parameter>\n</function>", (PARAM, 12)),
        ("</parameter>\n</function_invocation>", (PARAM, 12)),
        ("</parameter></tool_call>", (PARAM, 12)),
        ("</parameter1>\n</function>", (PARAM, 13)),
        ("</parameter_function>\n<parameter=b>", (PARAM, 21)),
        ("</parameter\n</function>", (PARAM, 11)),
        ("</parameter> is the closer", None),  # value text: no markup follows
        ('</parameter "x" is text', None),
        ("</function>\n</tool_call>", (FUNCTION, 11)),
        ("</function_invocation>\n</tool_call>", (FUNCTION, 22)),
        ("</function>\n<parameter=b>", None),
        ("</function> text", None),
        ("</tool_call>\n<tool_call>", (CALL, 12)),
        ("</tool_call> text", None),
        ("<parameter=b>\n2", (NEXT_PARAM, 0)),  # the header is not consumed
        ("<parameter=c>\n2", None),  # c may not close a value implicitly
        ("<b>", None),
        ("<parameter x", None),
    ],
)
def test_value_closer_decided(text: str, expected: tuple[str, int] | None) -> None:
    decided(closer(), text, expected)


def test_value_closer_next_param_needs_line_start_and_permission() -> None:
    text = "<parameter=b>\n2"
    decided(closer(line_start=False), text, None)
    decided(closer(implicit=False), text, None)
    decided(closer(line_start=False), "<para", None)  # not at a line start, `<p` cannot close
    assert sc.value_closer("<para", 0, True, False, lambda n: True) is NEED_MORE


@pytest.mark.parametrize(
    "text, expected",
    [
        ("<", (PARAM, 1)),  # a closer cut off by the end of the output ends the value
        ("</para", (PARAM, 6)),
        ("</parameter>", (PARAM, 12)),
        ("</parameter>\n\n", (PARAM, 12)),
        ("</parameter1", (PARAM, 12)),
        ("</function", (FUNCTION, 10)),
        ("</function>", (FUNCTION, 11)),
        ("</tool_call>", (CALL, 12)),
        ("</tool_call>\n<tool_c", (CALL, 12)),
        ("<parameter=b", (NEXT_PARAM, 0)),
        ("<parameter=", None),
        ("<parameter=c", None),
    ],
)
def test_value_closer_at_the_end_of_the_output(text: str, expected: tuple[str, int] | None) -> None:
    assert sc.value_closer(text, 0, True, False, lambda n: n == "b") is NEED_MORE
    assert answer(closer(), text) == expected


def test_value_closer_from_a_position() -> None:
    decided(closer(pos=6), "Paris\n</parameter>\n</function>", (PARAM, 18), pos=6)


def test_value_closer_bounds() -> None:
    gap = " " * (MAX_GAP - 1)
    assert answer(closer(), "</parameter>" + gap + "<parameter=b>", bound=CLOSER_BOUND) == (PARAM, 12)
    assert answer(closer(), "</parameter>" + gap + " <parameter=b>", bound=CLOSER_BOUND) is None
    drift = "</parameter" + "d" * (MAX_DRIFT - 1) + ">"
    assert answer(closer(), drift + "\n</function>", bound=CLOSER_BOUND) == (PARAM, len(drift))
    assert answer(closer(), "</parameter" + "d" * MAX_DRIFT + ">\n</function>", bound=CLOSER_BOUND) is None
    longest = "<parameter=b" + " " * (MAX_NAME - 2) + ">"
    assert answer(closer(), longest + "\n2", bound=CLOSER_BOUND) == (NEXT_PARAM, 0)
    assert sc.value_closer("<parameter=b" + " " * (MAX_NAME - 1) + ">", 0, True, False, lambda n: True) is None


# ------------------------------------------------------------------------- JsonNesting


def nest(text: str, cuts: list[int], stop_at: int = 1 << 62, stop_at_close: bool = False) -> Nesting:
    """Feed ``text`` cut at ``cuts``; returns (feed's answer, depth, deepest, commas)."""
    commas: list[int] = []
    nesting = JsonNesting(stop_at, stop_at_close, commas)
    got, start = -1, 0
    for end in [*cuts, len(text)]:
        got = nesting.feed(text, start, end)
        start = end
        if got != -1 or nesting.deepest >= stop_at:
            break
    return got, nesting.depth, nesting.deepest, commas


def every_way(text: str, stop_at: int = 1 << 62, stop_at_close: bool = False) -> Nesting:
    """Whole, one character at a time and cut after each backslash: all must agree."""
    whole = nest(text, [], stop_at, stop_at_close)
    assert nest(text, list(range(1, len(text))), stop_at, stop_at_close) == whole
    after_backslash = [i + 1 for i, ch in enumerate(text) if ch == "\\"]
    assert nest(text, after_backslash, stop_at, stop_at_close) == whole
    return whole


def reference(text: str, stop_at: int = 1 << 62, stop_at_close: bool = False) -> Nesting:
    """A plain character loop with the same meaning, to check JsonNesting against."""
    depth = deepest = 0
    in_string = escaped = False
    commas: list[int] = []
    for i, ch in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if depth >= stop_at:  # stops at the first bracket that reaches stop_at
                    return -1, depth, deepest, commas
        elif ch in "]}":
            depth -= 1
            if depth == 0 and stop_at_close:
                return i + 1, depth, deepest, commas
        elif ch == "," and depth == 1:
            commas.append(i)
    return -1, depth, deepest, commas


def test_json_nesting_brackets_in_strings_and_commas() -> None:
    text = '{"a": [1, 2], "b": {"c": "]}[{"}, "d": "x,y"} tail'
    end = text.index("} tail") + 1
    assert every_way(text, stop_at_close=True) == (end, 0, 2, [text.index(', "b"'), text.index(', "d"')])
    assert every_way(text) == (-1, 0, 2, [text.index(', "b"'), text.index(', "d"')])


@pytest.mark.parametrize(
    "text, commas",
    [
        (r'["\"]"] x', []),  # an escaped quote: the `]` after it is in the string
        (r'["\\", "]"] x', [5]),  # an escaped backslash: the quote after it closes the string
        (r'{"k": "\\\"}", "z": 1} x', [13]),
        (r'["a\\\\"] x', []),
    ],
)
def test_json_nesting_escapes_split_anywhere(text: str, commas: list[int]) -> None:
    assert every_way(text, stop_at_close=True) == (len(text) - 2, 0, 1, commas)


def test_json_nesting_backslash_at_the_end_of_a_piece_survives_an_empty_piece() -> None:
    text = r'["\"]"]'
    nesting = JsonNesting(stop_at_close=True)
    assert nesting.feed(text, 0, 3) == -1  # the piece ends with the backslash
    assert nesting.feed(text, 3, 3) == -1
    assert nesting.feed(text, 3, len(text)) == len(text)


def test_json_nesting_stop_at() -> None:
    assert every_way("[[[[1]]]]", stop_at=3) == (-1, 3, 3, [])
    assert every_way('["[[[", [1]]', stop_at=3) == (-1, 0, 2, [6])
    assert every_way("[1] [2]", stop_at_close=True) == (3, 0, 1, [])


@given(
    st.lists(st.sampled_from(["[", "]", "{", "}", '"', "\\", ",", "a", " "]), max_size=40).map("".join),
    st.integers(1, 4),
    st.booleans(),
)
def test_json_nesting_matches_a_plain_loop(text: str, stop_at: int, stop_at_close: bool) -> None:
    assert every_way(text, stop_at=stop_at, stop_at_close=stop_at_close) == reference(text, stop_at, stop_at_close)


# ----------------------------------------------------------- every function, random text

PIECES = [
    "<", "</", ">", "=", "\n", " ", "x", "1", '"', "_", "b", "parameter", "function", "tool_call",
    "<parameter=", "</parameter", "</parameter>", "<function=", "</function>", "<tool_call>", "</tool_call>",
]


@given(st.lists(st.sampled_from(PIECES), max_size=12).map("".join), st.booleans(), st.booleans())
def test_every_scanner_answer_is_the_same_whole_and_char_by_char(text: str, flag: bool, other: bool) -> None:
    answer(tag(CALL_END), text, bound=len(CALL_END))
    answer(name(), text, bound=NAME_BOUND)
    answer(follows(sc.AFTER_PARAM_END, end_ok=flag), text, bound=GAP_BOUND)
    answer(closing("</parameter" if other else "</function", partial_at_end=flag), text, bound=DRIFT_BOUND)
    got = answer(closer(line_start=flag, implicit=other), "<" + text, bound=CLOSER_BOUND)
    assert got is None or got[0] in (PARAM, FUNCTION, CALL, NEXT_PARAM)  # type: ignore[index]
