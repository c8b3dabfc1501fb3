"""The parser's state machine as data: the transition table, the diagram, the handlers, value modes.

The table (``_parser.TRANSITIONS``) is the machine: ``_goto`` refuses anything else, the module
docstring's diagram is generated from it, and every row is taken by at least one input below (a
row no input can take is a row that should not be there).
"""

from __future__ import annotations

import inspect
import re

import pytest

from qwen_xml_toolparser import StreamParser, _parser
from qwen_xml_toolparser._parser import TRANSITIONS, State, ValueMode, _Call, _Value
from qwen_xml_toolparser._schema import function_schemas
from tests.core.helpers import tool

INT = {"type": "integer"}
STR = {"type": "string"}
F = [tool("f", a=STR, n=INT), tool("g", x=STR)]

# Inputs that between them take every transition; each is fed whole and one character at a time.
ROUTES: dict[tuple[State, State], str] = {
    (State.CONTENT, State.CALL_HEADER): "<tool_call>\n<function=f>\n</function>",
    (State.CONTENT, State.JSON_BODY): '<tool_call>\n{"name": "f", "arguments": {}}\n</tool_call>',
    (State.CONTENT, State.FUNCTION_BODY): '<function name="f">\n<parameter=a>\nx\n</parameter>\n</function>',
    (State.CALL_HEADER, State.FUNCTION_BODY): "<function=f>\n<parameter=a>\nx\n</parameter>\n</function>",
    (State.CALL_HEADER, State.CONTENT): "<tool_call>\n<function=>\ntext",
    (State.FUNCTION_BODY, State.VALUE): '<invoke name="f">\n<parameter name="a">x</parameter>\n</invoke>',
    (State.FUNCTION_BODY, State.PARAM_HEADER): "<tool_call>\n<function=f>\n<parameter=a>\nx\n</parameter>",
    (State.FUNCTION_BODY, State.AFTER_FUNCTION): "<tool_call>\n<function=f>\n</function>\n</tool_call>",
    (State.FUNCTION_BODY, State.CONTENT): "<tool_call>\n<function=f>\n</tool_call> after",
    (State.PARAM_HEADER, State.VALUE): "<tool_call>\n<function=f>\n<parameter=n>\n1\n</parameter>",
    (State.PARAM_HEADER, State.FUNCTION_BODY): "<tool_call>\n<function=f>\n<parameter=",
    (State.PARAM_HEADER, State.CALL_HEADER): "<function=f>\n<parameter=g>\n<parameter=x>\n1\n</parameter>",
    (State.VALUE, State.FUNCTION_BODY): "<tool_call>\n<function=f>\n<parameter=a>\nx\n</parameter>\n</function>",
    (State.VALUE, State.AFTER_FUNCTION): "<tool_call>\n<function=f>\n<parameter=a>\nx\n</function>\n</tool_call>",
    (State.VALUE, State.CONTENT): "<tool_call>\n<function=f>\n<parameter=a>\nx\n</tool_call>",
    (State.AFTER_FUNCTION, State.CONTENT): "<tool_call>\n<function=f>\n</function>\n</tool_call>\nafter",
    (State.JSON_BODY, State.JSON_TAIL): '<tool_call>\n{"name": "f", "arguments": {"a": "<tool_call>"}}\n</tool_call>',
    (State.JSON_BODY, State.CONTENT): '<tool_call>\n{"name": "f", "arguments": {"n": 1}}\n</tool_call>',
    (State.JSON_TAIL, State.CONTENT): '<tool_call>\n{"name": "f", "arguments": {"a": "<function="}}\n</tool_call>',
    (State.CONTENT, State.NAMELESS): "<parameter=x>\n1\n</parameter>\n",
    (State.NAMELESS, State.FUNCTION_BODY): "<tool_call>\n<parameter=a>\nx\n</parameter>\n</function>\n</tool_call>",
    (State.NAMELESS, State.CONTENT): "<parameter=x>\n1\n</parameter>\n",
    (State.JSON_TAIL, State.JSON_BODY): '<tool_call>\n{"name": "f", "a": "<function="} trailing\n</tool_call>',
}


def taken(text: str, monkeypatch: pytest.MonkeyPatch, *, by_char: bool) -> set[tuple[State, State]]:
    seen: set[tuple[State, State]] = set()
    goto = StreamParser._goto

    def recording(self: StreamParser, state: State) -> None:
        seen.add((self._state, state))
        goto(self, state)

    monkeypatch.setattr(StreamParser, "_goto", recording)
    parser = StreamParser(F)
    for piece in (text if by_char else [text]):
        parser.feed(piece)
    parser.finish()
    return seen


def test_the_table_has_no_duplicate_rows_and_every_state_is_reachable_and_left() -> None:
    pairs = [(frm, to) for frm, to, _ in TRANSITIONS]
    assert len(pairs) == len(set(pairs))
    assert {frm for frm, _ in pairs} == set(State)
    assert {to for _, to in pairs} == set(State)
    assert all(frm is not to for frm, to in pairs)


def test_the_docstring_diagram_is_the_table() -> None:
    doc = _parser.__doc__
    assert doc is not None
    drawn = "\n".join("    " + line for line in _parser.diagram().splitlines())
    assert drawn in doc, "regenerate the diagram in _parser's docstring from _parser.diagram()"
    # and nothing else in the docstring looks like a transition line
    arrows = [line for line in doc.splitlines() if re.match(r"\s+\w+\s+-> \w+", line)]
    assert len(arrows) == len(TRANSITIONS)


def test_each_state_has_its_handler() -> None:
    assert set(StreamParser._handlers) == set(State)
    for state, handler in StreamParser._handlers.items():
        assert handler.__name__ == f"_on_{state.value}"
        assert list(inspect.signature(handler).parameters) == ["self", "final"]


def test_state_changes_only_in_goto() -> None:
    source = inspect.getsource(_parser)
    assignments = re.findall(r"self\._state\s*=(?!=)", source)
    assert len(assignments) == 2  # __init__ and _goto


@pytest.mark.parametrize("edge", list(ROUTES), ids=lambda e: f"{e[0].value}->{e[1].value}")
@pytest.mark.parametrize("by_char", [False, True], ids=["whole", "by-char"])
def test_every_transition_is_taken(edge: tuple[State, State], by_char: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    assert edge in taken(ROUTES[edge], monkeypatch, by_char=by_char)


def test_the_routes_cover_the_table() -> None:
    assert set(ROUTES) == {(frm, to) for frm, to, _ in TRANSITIONS}


def test_a_transition_outside_the_table_is_a_bug_not_a_state() -> None:
    parser = StreamParser(F)
    with pytest.raises(AssertionError, match="no transition content -> value"):
        parser._goto(State.VALUE)
    assert parser._state is State.CONTENT


def call_to(name: str, tools: list[dict[str, object]]) -> _Call:
    return _Call(0, name, function_schemas(tools)[name])


@pytest.mark.parametrize(
    ("schema", "mode"),
    [
        (STR, ValueMode.STRING),
        (INT, ValueMode.TYPED),
        ({"type": "object"}, ValueMode.TYPED),
        ({"anyOf": [STR, INT]}, ValueMode.UNDECIDED),
        ({"type": ["string", "null"]}, ValueMode.UNDECIDED),
    ],
)
def test_a_value_mode_follows_the_schema(schema: dict[str, object], mode: ValueMode) -> None:
    assert _Value(call_to("f", [tool("f", v=schema)]), "v").mode is mode


def test_a_duplicate_parameter_is_discarded() -> None:
    call = call_to("f", F)
    first = _Value(call, "a")
    assert first.open() == '"a": "'
    assert first.add("x") == "x"
    assert first.close() == '"'
    second = _Value(call, "a")
    assert second.mode is ValueMode.DISCARD
    assert second.open() == "" and second.add("y") == "" and second.close() == ""
    assert call.arguments() == {"a": "x"}


def test_an_undecided_value_streams_once_it_can_only_be_a_string() -> None:
    call = call_to("f", [tool("f", v={"anyOf": [INT, STR]})])
    value = _Value(call, "v")
    assert value.open() == "" and value.add("12") == ""  # still an integer, maybe
    assert value.add("a") == '"v": "12a'  # not any more: everything so far, as a string
    assert value.mode is ValueMode.STRING
    assert value.add("b") == "b"
    assert value.close() == '"'
    assert call.arguments() == {"v": "12ab"}


def test_a_typed_value_is_emitted_when_complete() -> None:
    call = call_to("f", F)
    value = _Value(call, "n")
    assert value.add("4") == "" and value.add("2") == ""
    assert value.close() == '"n": 42'
    assert value.mode is ValueMode.DISCARD  # closed: nothing more is read into it


def test_the_parser_keeps_few_attributes() -> None:
    """CPython (3.11: 30 keys) shares one key table between instances only up to a small number of
    attributes; past it every attribute access of the parser gets slower (issue 20 measured +30 %
    per content delta at 40 attributes). Drift state lives in ``_drift.Context`` for that reason."""
    assert len(vars(StreamParser(F))) <= 30
