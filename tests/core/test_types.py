"""docs/contract.md §3: values are typed by the tool's JSON schema."""

from __future__ import annotations

import pytest

from .helpers import check, same, tool


def call_value(schema: dict, raw: str):
    text = f"<tool_call>\n<function=f>\n<parameter=v>\n{raw}\n</parameter>\n</function>\n</tool_call>"
    _, calls = check(text, [tool("f", v=schema)])
    assert len(calls) == 1
    return calls[0][1]["v"]


S = {"type": "string"}
I = {"type": "integer"}
N = {"type": "number"}
B = {"type": "boolean"}


@pytest.mark.parametrize(
    "schema, raw, expected",
    [
        (S, "42", "42"),
        (S, "  spaced  ", "  spaced  "),
        (S, '{"a": 1}', '{"a": 1}'),  # a string schema never becomes an object (opencode#6918)
        (S, "null", "null"),
        (S, "true", "true"),
        (I, "42", 42),
        (I, "-7", -7),
        (I, "007", 7),
        (I, "1e3", 1000),
        (I, "4.0", 4),
        (I, " 42 ", 42),
        (I, "4.5", "4.5"),  # not a whole number: passed through as a string
        (I, "12345678901234567890123456789", 12345678901234567890123456789),
        (I, "null", "null"),  # null is not allowed by the schema
        (N, "3.14", 3.14),
        (N, "-2", -2),
        (N, "1e-5", 1e-5),
        (N, "9007199254740993", 9007199254740993),
        (N, "1e20", 1e20),
        (N, "NaN", "NaN"),
        (N, "Infinity", "Infinity"),
        (N, "1e999", "1e999"),
        (N, "not-a-number", "not-a-number"),
        (B, "true", True),
        (B, "False", False),
        (B, "TRUE", True),
        (B, "1", True),
        (B, "0", False),
        (B, "yes", "yes"),
        (B, "no", "no"),
        ({"type": "null"}, "null", None),
        ({"type": "null"}, "None", None),
        ({"type": ["integer", "null"]}, "None", None),
        ({"type": ["integer", "null"]}, "42", 42),
        ({"anyOf": [{"type": "integer"}, {"type": "null"}]}, "5", 5),
        ({"anyOf": [{"type": "string"}, {"type": "null"}]}, "8080", "8080"),
        ({"anyOf": [{"type": "string"}, {"type": "null"}]}, "null", None),
        ({"anyOf": [{"type": "string"}, {"type": "integer"}]}, "42", 42),
        ({"anyOf": [{"type": "string"}, {"type": "integer"}]}, "007", "007"),
        ({"anyOf": [{"type": "string"}, {"type": "integer"}, {"type": "null"}]}, "some text", "some text"),
        ({"oneOf": [{"type": "boolean"}, {"type": "string"}]}, "True", True),
        ({"anyOf": [{"type": "array", "items": {"type": "string"}}, {"type": "null"}]}, '["a", "b"]', ["a", "b"]),
        ({"anyOf": [{"type": "object"}, {"type": "null"}]}, '{"key": "value"}', {"key": "value"}),
        ({"type": "object"}, "{'a': True, 'b': None, 'c': (1, 2)}", {"a": True, "b": None, "c": [1, 2]}),
        ({"type": "object"}, '{"a": NaN}', '{"a": NaN}'),  # non-finite numbers are not JSON
        ({"type": "object"}, "{1, 2}", "{1, 2}"),  # a Python set is not JSON
        ({"type": "object"}, "__import__('os').system('true')", "__import__('os').system('true')"),
        ({"type": "array"}, "[1, 'two', None]", [1, "two", None]),
        ({"type": "array"}, "[1, 2", "[1, 2"),
        ({"enum": ["fahrenheit", "celsius"]}, "celsius", "celsius"),
        ({"enum": [1, 2, 3]}, "2", 2),
        ({"enum": ["1", 2]}, "1", "1"),
        ({"const": True}, "true", True),
        ({"type": "object", "properties": {"n": {"type": "integer"}, "tags": {"type": "array", "items": {"type": "number"}}}},
         '{"n": "5", "tags": ["1.5", 2], "other": "7"}', {"n": 5, "tags": [1.5, 2], "other": "7"}),
        ({"type": "array", "items": {"type": "object", "properties": {"on": {"type": "boolean"}, "x": {"type": ["integer", "null"]}}}},
         '[{"on": "true", "x": "null"}, {"on": false, "x": 3}]', [{"on": True, "x": None}, {"on": False, "x": 3}]),
        ({"type": "array", "items": {"type": "string"}}, '["ml", "42"]', ["ml", "42"]),
        ({"type": "datetime"}, "2026-01-15", "2026-01-15"),  # unknown type: string
        ({}, "42", "42"),  # no type information: string
    ],
)
def test_schema_types(schema, raw, expected):
    assert same(call_value(schema, raw), expected)


def test_ref_into_defs_and_definitions():
    params = {
        "type": "object",
        "$defs": {"Point": {"type": "object", "properties": {"x": {"type": "integer"}}}},
        "definitions": {"Count": {"type": "integer"}},
        "properties": {"p": {"$ref": "#/$defs/Point"}, "n": {"$ref": "#/definitions/Count"},
                       "maybe": {"anyOf": [{"$ref": "#/$defs/Point"}, {"type": "null"}]}},
    }
    tools = [{"type": "function", "function": {"name": "f", "parameters": params}}]
    text = ('<tool_call>\n<function=f>\n<parameter=p>\n{"x": "3"}\n</parameter>\n<parameter=n>\n7\n</parameter>\n'
            '<parameter=maybe>\nNone\n</parameter>\n</function>\n</tool_call>')
    _, calls = check(text, tools)
    assert same(calls[0][1], {"p": {"x": 3}, "n": 7, "maybe": None})


def test_recursive_ref_does_not_loop():
    params = {"type": "object", "$defs": {"Node": {"type": "object", "properties": {
        "child": {"$ref": "#/$defs/Node"}, "v": {"type": "integer"}}}},
        "properties": {"tree": {"$ref": "#/$defs/Node"}, "loop": {"$ref": "#/properties/loop"}}}
    tools = [{"type": "function", "function": {"name": "f", "parameters": params}}]
    text = ('<tool_call>\n<function=f>\n<parameter=tree>\n{"v": "1", "child": {"v": "2", "child": {}}}\n'
            '</parameter>\n<parameter=loop>\nx\n</parameter>\n</function>\n</tool_call>')
    _, calls = check(text, tools)
    assert same(calls[0][1], {"tree": {"v": 1, "child": {"v": 2, "child": {}}}, "loop": "x"})


def test_unknown_parameter_and_no_schema_are_strings():
    text = "<tool_call>\n<function=f>\n<parameter=v>\n42\n</parameter>\n<parameter=w>\ntrue\n</parameter>\n</function>\n</tool_call>"
    assert same(check(text, [tool("f", v={"type": "integer"})])[1][0][1], {"v": 42, "w": "true"})
    assert same(check(text, None)[1][0][1], {"v": "42", "w": "true"})


def test_responses_api_tool_shape():
    tools = [{"type": "function", "name": "f", "parameters": {"type": "object", "properties": {"v": I}}}]
    text = "<tool_call>\n<function=f>\n<parameter=v>\n42\n</parameter>\n</function>\n</tool_call>"
    assert same(check(text, tools)[1][0][1], {"v": 42})


def test_huge_literals_are_bounded():
    deep = "[" * 5000 + "]" * 5000
    assert call_value({"type": "array"}, deep) == deep  # too deep for json and literal_eval: kept
    big = "9" * 5000
    assert call_value(I, big) == big  # beyond Python's int/str limit: kept as a string


@pytest.mark.parametrize("tools", [
    [{"type": "function", "function": {"name": "f", "parameters": {"$ref": "#/x", "x": [1]}}}],
    [{"function": {"name": "f", "parameters": "junk"}}, "junk", None, 3],
    [{"type": "function", "function": {"name": "f", "parameters": {"properties": {"a": {"anyOf": "x", "type": 5}}}}}],
])
def test_malformed_tool_schemas_mean_no_types(tools):
    text = "<tool_call>\n<function=f>\n<parameter=a>\n1\n</parameter>\n</function>\n</tool_call>"
    assert check(text, tools)[1] == [("f", {"a": "1"})]
