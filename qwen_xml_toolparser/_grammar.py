"""The grammar (xgrammar structural tag) that constrains generation to calls the parser reads.

vLLM builds a structural tag for ``tool_choice="required"``, a named tool, strict tools and
``--tool-strict-level``; for the Qwen XML format it uses xgrammar's builtin ``qwen_3_coder``
tag, whose string values end at the first ``</parameter>``: under it a model cannot write a
value that contains that text (an XML file, a parser test). This module takes the builtin tag
as plain data (``StructuralTag.model_dump()``) and replaces the content of every call with
one that matches exactly what the parser reads:

* a string value is any text in which none of the parser's *viable* closers occurs
  (docs/behaviour.md "Values"; :func:`value_grammar` builds it from the same constants as
  ``_scanner``), rendered ``<parameter=KEY>\\nVALUE\\n</parameter>\\n`` as the chat template
  does, so the parser returns VALUE exactly;
* a strict tool (its arguments pinned to the schema) gets its properties in declared order,
  required ones mandatory; non-string values are JSON text that the parser's coercion turns
  into the same value; schemas this module does not decompose keep xgrammar's own
  ``qwen_xml`` rendering for that parameter (or the whole call);
* a non-strict tool gets any of its declared parameters (any order), free string values.

The tool-choice logic (auto / required / forced, reasoning prefix, excludes, single call) stays
the builtin's: only the calls' contents change. No vLLM or xgrammar import here: the adapter
converts to and from xgrammar's objects.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from . import _scanner as sc

__all__ = ["CALL_BEGIN", "CALL_END", "value_grammar", "widen_structural_tag"]

CALL_BEGIN = "<tool_call>\n" + sc.FUNCTION_START  # + NAME + ">\n"
CALL_END = sc.FUNCTION_END + "\n" + sc.CALL_END
PARAM_END = "\n" + sc.PARAM_END + "\n"

# Keys that constrain a string beyond "any text": such properties keep xgrammar's rendering.
_STRING_CONSTRAINTS = frozenset({"pattern", "format", "minLength", "maxLength", "enum", "const"})
_JSON_TYPES = frozenset({"integer", "number", "boolean", "null", "object", "array"})
# Top-level keywords that a property-by-property content would not honour.
_COMPOSITE = frozenset({"$ref", "anyOf", "oneOf", "allOf", "not", "if", "patternProperties", "dependentSchemas"})
# Nested JSON strings (in object / array values) must not contain a closer stem either.
JSON_EXCLUDES = ("</parameter", "</function", sc.CALL_END)


# ── the value language: text without a viable closer ─────────────────────────────────────────

_Element = tuple[str, Any]  # ("char", c) | ("set", frozenset) | ("star", frozenset | None=any-but)


def _lit(text: str) -> list[_Element]:
    return [("char", c) for c in text]


class _Chars:
    """A set of characters, possibly "every character but these" (``negated``)."""

    __slots__ = ("chars", "negated")

    def __init__(self, chars: Iterable[str], negated: bool = False) -> None:
        self.chars = frozenset(chars)
        self.negated = negated

    def __contains__(self, ch: str) -> bool:
        return (ch in self.chars) != self.negated


_SPACE = frozenset(chr(c) for c in range(0x110000) if chr(c).isspace())
_GAP = _Chars(sc._WS)  # whitespace between a closer and what follows it
_DRIFT = _Chars(sc.DRIFT_TEXT + ">\n", negated=True)  # `</parameter1>`: a drifted closer
_PAD = _Chars(_SPACE - {"\n"})  # whitespace that str.strip() removes around a name


def _patterns(names: Iterable[str]) -> list[list[_Element]]:
    """Every text that ends a value where the parser reads it (``_scanner.value_closer``).

    The bounds of the scanner (``MAX_DRIFT``, ``MAX_GAP``, ``MAX_NAME``) are left out: a
    closer drifted by more than 31 characters, followed by 256 or more whitespace characters,
    or a name padded past 256 characters is value text to the parser but excluded here (the
    grammar is that much narrower, never wider).
    """
    out: list[list[_Element]] = []
    for stem, after in (("</parameter", sc.AFTER_PARAM_END), ("</function", sc.AFTER_FUNCTION_END)):
        for option in after:
            out.append([*_lit(stem), ("star", _DRIFT), ("set", _Chars(">\n")), ("star", _GAP), *_lit(option)])
    for option in sc.AFTER_CALL_END:
        out.append([*_lit(sc.CALL_END), ("star", _GAP), *_lit(option)])
    for name in names:
        if any(ch in name for ch in "<>\n") or name != name.strip():
            continue  # the parser never reads this name back from a header
        out.append([*_lit("\n" + sc.PARAM_START), ("star", _PAD), *_lit(name), ("star", _PAD),
                    ("set", _Chars(">\n<"))])
    return out


def _matches(element: _Element, ch: str) -> bool:
    kind, arg = element
    return bool(ch == arg) if kind == "char" else ch in arg


def _dfa(patterns: list[list[_Element]], alphabet: list[str]) -> tuple[int, list[dict[str, int]]]:
    """The DFA of "no pattern occurs", over representative characters; returns (start, states).

    A state is the set of (pattern, position) pairs in progress; a state where a pattern is
    complete is dead and left out (its transitions are missing).
    """
    def closure(items: Iterable[tuple[int, int]]) -> set[tuple[int, int]]:
        out: set[tuple[int, int]] = set()
        todo = list(items)
        while todo:
            p, i = todo.pop()
            if (p, i) in out:
                continue
            out.add((p, i))
            if i < len(patterns[p]) and patterns[p][i][0] == "star":
                todo.append((p, i + 1))
        return out

    fresh = closure((p, 0) for p in range(len(patterns)))

    def step(state: frozenset[tuple[int, int]], ch: str) -> frozenset[tuple[int, int]] | None:
        nxt: list[tuple[int, int]] = []
        for p, i in state:
            if i < len(patterns[p]) and _matches(patterns[p][i], ch):
                nxt.append((p, i) if patterns[p][i][0] == "star" else (p, i + 1))
        moved = closure(nxt)
        if any(i == len(patterns[p]) for p, i in moved):
            return None
        return frozenset(moved | fresh)

    start = step(frozenset(fresh), "\n")  # a value starts at the beginning of a line
    assert start is not None
    index = {start: 0}
    states: list[dict[str, int]] = []
    todo = [start]
    while todo:
        state = todo.pop(0)
        edges: dict[str, int] = {}
        for ch in alphabet:
            target = step(state, ch)
            if target is None:
                continue
            if target not in index:
                index[target] = len(index)
                todo.append(target)
            edges[ch] = index[target]
        states.append(edges)
    return 0, states


def _class_char(ch: str) -> str:
    if ch in "\\]^-[":
        return "\\" + ch
    if ch == "\n":
        return "\\n"
    if ch == "\t":
        return "\\t"
    if ch == "\r":
        return "\\r"
    if ch.isprintable() and not ch.isspace():
        return ch
    code = ord(ch)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def value_grammar(names: Iterable[str] = ()) -> str:
    """EBNF (xgrammar syntax) of the string values the parser returns unchanged.

    ``names`` are the function's declared parameters: a line-start ``<parameter=NAME>`` for one
    of them also ends a value (a missing ``</parameter>``).
    """
    patterns = _patterns(sorted(set(names)))
    special = sorted({arg for pat in patterns for kind, arg in pat if kind == "char"}
                     | set(sc.DRIFT_TEXT) | set(">\n") | set(sc._WS) | _SPACE)
    other = next(ch for ch in "#~Q%" if ch not in special)
    _, states = _dfa(patterns, [*special, other])
    rules = ["root ::= s0"]
    for k, edges in enumerate(states):
        by_target: dict[int, list[str]] = {}
        for ch, target in edges.items():
            if ch != other:
                by_target.setdefault(target, []).append(ch)
        rest = edges.get(other)
        parts: dict[int, str] = {}
        for target in set(by_target) | ({rest} if rest is not None else set()):
            if target == rest:
                excluded = [ch for ch in special if edges.get(ch) != target]
                parts[target] = "[^" + "".join(_class_char(ch) for ch in excluded) + "]"
            else:
                parts[target] = "[" + "".join(_class_char(ch) for ch in by_target[target]) + "]"
        loop = parts.pop(k, None)
        alternatives = [f"{cls} s{target}" for target, cls in sorted(parts.items())] + ['""']
        body = "(" + " | ".join(alternatives) + ")"
        rules.append(f"s{k} ::= {loop}* {body}" if loop else f"s{k} ::= {body}")
    return "\n".join(rules)


# ── call contents ────────────────────────────────────────────────────────────────────────────

def _const(value: str) -> dict[str, Any]:
    return {"type": "const_string", "value": value}


def _seq(elements: list[dict[str, Any]]) -> dict[str, Any]:
    elements = [e for e in elements if e != _const("")]
    if not elements:
        return _const("")
    return elements[0] if len(elements) == 1 else {"type": "sequence", "elements": elements}


def _or(elements: list[dict[str, Any]]) -> dict[str, Any]:
    return elements[0] if len(elements) == 1 else {"type": "or", "elements": elements}


def _properties(parameters: Any) -> dict[str, Any]:
    if isinstance(parameters, Mapping) and isinstance(parameters.get("properties"), Mapping):
        return dict(parameters["properties"])
    return {}


def _value_format(prop: Any, free: dict[str, Any]) -> dict[str, Any] | None:
    """The format of one value as the parser reads it back, or None (keep xgrammar's)."""
    if not isinstance(prop, Mapping):
        return free if prop is True else None
    kind = prop.get("type")
    if kind == "string" and not _STRING_CONSTRAINTS & prop.keys():
        return free
    if kind == "string" and not (_STRING_CONSTRAINTS - {"enum", "const"}) & prop.keys():
        values = prop["enum"] if "enum" in prop else [prop["const"]]
        if values and all(isinstance(v, str) for v in values):
            # The template's \n on each side is stripped: the value text is the enum value.
            return _or([_const(v) for v in values])
        return None
    if isinstance(kind, str) and kind in _JSON_TYPES and not _COMPOSITE & prop.keys():
        fmt: dict[str, Any] = {"type": "json_schema", "json_schema": dict(prop), "style": "json"}
        if kind in ("object", "array"):
            fmt["excludes"] = list(JSON_EXCLUDES)
        return fmt
    return None


def _param(key: str, value: dict[str, Any]) -> dict[str, Any]:
    return _seq([_const(f"{sc.PARAM_START}{key}>\n"), value, _const(PARAM_END)])


def _fallback_param(key: str, prop: Any, parameters: Mapping[str, Any]) -> dict[str, Any]:
    """xgrammar's own qwen_xml rendering of one parameter (in-tree behaviour for it)."""
    schema: dict[str, Any] = {"type": "object", "properties": {key: prop}, "required": [key],
                              "additionalProperties": False}
    for defs in ("$defs", "definitions"):
        if defs in parameters:
            schema[defs] = parameters[defs]
    return _seq([{"type": "json_schema", "json_schema": schema, "style": "qwen_xml"}, _const("\n")])


def call_content(parameters: Any, pinned: bool) -> dict[str, Any] | None:
    """The format of a call's parameters, from ``<parameter=`` to the last ``</parameter>\\n``.

    ``pinned``: the arguments must fit ``parameters`` (a strict tool). Returns None when the
    schema is not an object of properties that can be taken one by one (``$ref``, ``anyOf``,
    ``patternProperties`` ... at the top): the builtin content is kept then.
    """
    props = _properties(parameters)
    free = {"type": "grammar", "grammar": value_grammar(props)}
    if not pinned:
        if props:
            name = _or([_const(k) for k in props])
        else:
            name = {"type": "regex", "pattern": r"[A-Za-z0-9_.\-]+"}
        param = _seq([_const(sc.PARAM_START), name, _const(">\n"), free, _const(PARAM_END)])
        return {"type": "star", "content": param}
    if parameters is True or parameters is None:
        return call_content({}, pinned=False)
    if not isinstance(parameters, Mapping) or _COMPOSITE & parameters.keys():
        return None
    if parameters.get("type", "object") != "object":
        return None
    required = parameters.get("required") or []
    elements = []
    for key, prop in props.items():
        if any(ch in key for ch in "<>\n") or key != key.strip():
            return None
        value = _value_format(prop, free)
        param = _param(key, value) if value is not None else _fallback_param(key, prop, parameters)
        elements.append(param if key in required else {"type": "optional", "content": param})
    if any(key not in props for key in required):
        return None
    return _seq(elements)


def widen_structural_tag(tag: dict[str, Any], tools: Mapping[str, Any]) -> dict[str, Any]:
    """Replace the call contents of a dumped ``qwen_3_coder`` structural tag (see module doc).

    ``tools`` maps each function name to its ``parameters`` schema (the request's, also for
    tools whose schema the builtin left out because they are not strict). Calls whose content
    is not xgrammar's ``qwen_xml`` JSON schema, and schemas :func:`call_content` does not take
    apart, are kept as they are.
    """

    def visit(node: Any) -> Any:
        if isinstance(node, list):
            return [visit(item) for item in node]
        if not isinstance(node, dict):
            return node
        if node.get("type") == "tag" and _is_call(node):
            name = node["begin"][len(CALL_BEGIN) : -2]
            schema = node["content"]["json_schema"]
            pinned = schema is not True
            content = call_content(schema if pinned else tools.get(name), pinned)
            if content is not None:
                return {**node, "content": content, "end": CALL_END}
            return node
        return {key: visit(value) for key, value in node.items()}

    return visit(json.loads(json.dumps(tag)))  # a copy; the caller's tag stays as it was


def _is_call(node: Mapping[str, Any]) -> bool:
    begin, content, end = node.get("begin"), node.get("content"), node.get("end")
    return (
        isinstance(begin, str) and begin.startswith(CALL_BEGIN) and begin.endswith(">\n")
        and isinstance(content, Mapping) and content.get("type") == "json_schema"
        and content.get("style") == "qwen_xml"
        and isinstance(end, str) and end.strip() == CALL_END
    )


def declared_parameters(tools: Sequence[Any]) -> dict[str, Any]:
    """``{name: parameters}`` from OpenAI-style tool dicts (``{"function": {...}}``)."""
    out: dict[str, Any] = {}
    for tool in tools:
        function = tool.get("function", tool) if isinstance(tool, Mapping) else None
        if isinstance(function, Mapping) and isinstance(function.get("name"), str):
            out.setdefault(function["name"], function.get("parameters"))
    return out
