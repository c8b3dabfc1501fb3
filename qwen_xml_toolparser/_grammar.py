"""The grammar (xgrammar structural tag) that constrains generation to calls the parser reads.

vLLM builds a structural tag for ``tool_choice="required"``, a named tool, strict tools and
``--tool-strict-level``; for the Qwen XML format it uses xgrammar's builtin ``qwen_3_coder``
tag, whose string values end at the first ``</parameter>``: under it a model cannot write a
value that contains that text (an XML file, a parser test). This module takes the builtin tag
as plain data (``StructuralTag.model_dump()``) and replaces the content of every call with
one that the parser reads back exactly:

* a string value is any text without the five markers that every *viable* closer contains
  (:data:`VALUE_EXCLUDES`; docs/behaviour.md "Values"), rendered
  ``<parameter=KEY>\nVALUE\n</parameter>\n`` as the chat template does, so the parser returns
  VALUE exactly. ``</parameter>`` itself may stand anywhere in a value. (An exact automaton of
  "no viable closer" is expressible in xgrammar's EBNF but took 12-16 s to compile per tool
  set on this machine, against 0.04 s for this: docs/grammar.md);
* a strict tool (its arguments pinned to the schema) gets its properties in declared order,
  required ones mandatory; non-string values are JSON text that the parser's coercion turns
  into the same value; schemas this module does not decompose keep xgrammar's own
  ``qwen_xml`` rendering for that parameter (or the whole call);
* a non-strict tool gets any of its declared parameters (any order), free string values.

Between the tags of a call the grammar allows exactly what the chat templates write (no
whitespace of its own): a model that prefers whitespace cannot spend its tokens there, so a
forced call with bounded values always ends. Where xgrammar renders something itself (JSON values,
the ``qwen_xml`` fallbacks) its whitespace is bounded to :data:`MAX_WHITESPACE` characters in a
row. ``tool_choice="required"`` gets its calls separated by the template's ``\n`` and nothing
after the last one (the builtin allows any text after the first call).

The tool-choice logic (auto / required / forced, reasoning prefix, excludes, single call) stays
the builtin's otherwise. No vLLM or xgrammar import here: the adapter converts to and from
xgrammar's objects.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from . import _scanner as sc

__all__ = ["CALL_BEGIN", "CALL_END", "VALUE_EXCLUDES", "call_content", "free_value", "widen_structural_tag"]

CALL_BEGIN = "<tool_call>\n" + sc.FUNCTION_START  # + NAME + ">\n"
CALL_END = sc.FUNCTION_END + "\n" + sc.CALL_END
PARAM_END = "\n" + sc.PARAM_END + "\n"
CALL_SEPARATOR = "\n"  # between two calls, as the templates write them
# Whitespace xgrammar may put in a row where it renders a value itself (JSON between tokens, the
# qwen_xml fallbacks around a parameter): the template's one space / newline, no more. xgrammar
# rejects 0 ("max_whitespace_cnt must be positive").
MAX_WHITESPACE = 1

# Keys that constrain a string beyond "any text".
_STRING_CONSTRAINTS = frozenset({"pattern", "format", "minLength", "maxLength", "enum", "const"})
_LENGTHS = frozenset({"minLength", "maxLength"})
_JSON_TYPES = frozenset({"integer", "number", "boolean", "null", "object", "array"})
# Top-level keywords that a property-by-property content would not honour.
_COMPOSITE = frozenset({"$ref", "anyOf", "oneOf", "allOf", "not", "if", "patternProperties", "dependentSchemas"})


# ── the value language ───────────────────────────────────────────────────────────────────────

# Every viable closer of a value (docs/behaviour.md "Values"; ``_scanner.value_closer``) ends
# with, or is, one of these: what may follow ``</parameter>`` (``AFTER_PARAM_END``, which holds
# the other closers' followers too) and the line-start ``<parameter=`` of a missing closer. A
# text without them never ends a value early, wherever ``</parameter>`` stands in it.
VALUE_EXCLUDES = tuple(dict.fromkeys((*sc.AFTER_PARAM_END, *sc.AFTER_FUNCTION_END, *sc.AFTER_CALL_END)))


def free_value() -> dict[str, Any]:
    """A string value: any text without :data:`VALUE_EXCLUDES` (``</parameter>`` is allowed)."""
    return {"type": "any_text", "excludes": list(VALUE_EXCLUDES)}


def bounded_value(min_length: int, max_length: int | None) -> dict[str, Any]:
    """A string value of ``min_length`` to ``max_length`` characters (code points, as JSON schema
    counts them) without :data:`VALUE_EXCLUDES`.

    xgrammar's ``any_text`` has a maximum (``max_chars``) but no minimum: the first
    ``min_length`` characters are a regex of characters other than ``<``, the rest ``any_text``.
    Every marker starts with ``<``, so no marker can start in the first part, and the second
    part excludes them itself. (A value whose first ``min_length`` characters hold a ``<`` is
    valid but not generated: docs/grammar.md.)
    """
    rest = {**free_value(), "max_chars": None if max_length is None else max_length - min_length}
    if rest["max_chars"] is None:
        del rest["max_chars"]
    if not min_length:
        return rest
    return _seq([{"type": "regex", "pattern": f"[^<]{{{min_length}}}"}, rest])


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


def _value_format(prop: Any, free: dict[str, Any], json_excludes: bool) -> dict[str, Any] | None:
    """The format of one value as the parser reads it back, or None (keep xgrammar's).

    ``json_excludes``: xgrammar can keep the markers out of nested JSON strings (0.2.8+);
    without it, objects and arrays keep xgrammar's rendering.
    """
    if not isinstance(prop, Mapping):
        return free if prop is True else None
    kind = prop.get("type")
    if _COMPOSITE & prop.keys():
        return None
    constraints = _STRING_CONSTRAINTS & prop.keys()
    if kind == "string" and not constraints:
        return free
    if (kind in ("string", None)) and constraints and constraints <= {"enum", "const"}:
        values = prop["enum"] if "enum" in prop else [prop["const"]]
        if (isinstance(values, list) and values and all(isinstance(v, str) for v in values)
                and not any(m in v for v in values for m in VALUE_EXCLUDES)):
            # The template's \n on each side is stripped: the value text is the enum value.
            return _or([_const(v) for v in dict.fromkeys(values)])
        if kind == "string":
            return None
    if kind == "string" and constraints == {"pattern"} and isinstance(prop["pattern"], str):
        # xgrammar's regex, as its JSON grammar takes a pattern (the whole value matches it), but
        # without the whitespace its qwen_xml rendering puts around the value
        return {"type": "regex", "pattern": prop["pattern"]}
    if kind == "string" and constraints <= _LENGTHS:
        low, high = prop.get("minLength", 0), prop.get("maxLength")
        if _is_count(low) and (high is None or (_is_count(high) and high >= low)):
            return bounded_value(low, high)
        return None
    if isinstance(kind, str) and kind in _JSON_TYPES:
        # xgrammar's JSON grammar; its whitespace between tokens bounded (a scalar has none).
        fmt: dict[str, Any] = {"type": "json_schema", "json_schema": dict(prop), "style": "json",
                               "max_whitespace_cnt": MAX_WHITESPACE}
        if kind in ("object", "array"):
            if not json_excludes:
                return None
            fmt["excludes"] = list(VALUE_EXCLUDES)  # in nested strings
        return fmt
    return None


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _param(key: str, value: dict[str, Any]) -> dict[str, Any]:
    return _seq([_const(f"{sc.PARAM_START}{key}>\n"), value, _const(PARAM_END)])


def _fallback_param(key: str, prop: Any, parameters: Mapping[str, Any]) -> dict[str, Any]:
    """xgrammar's own qwen_xml rendering of one parameter (in-tree behaviour for it)."""
    schema: dict[str, Any] = {"type": "object", "properties": {key: prop}, "required": [key],
                              "additionalProperties": False}
    for defs in ("$defs", "definitions"):
        if defs in parameters:
            schema[defs] = parameters[defs]
    return _seq([_qwen_xml(schema), _const("\n")])


def _qwen_xml(schema: Any) -> dict[str, Any]:
    """xgrammar's ``qwen_xml`` rendering of ``schema``, with its whitespace bounded."""
    return {"type": "json_schema", "json_schema": schema, "style": "qwen_xml", "max_whitespace_cnt": MAX_WHITESPACE}


def call_content(parameters: Any, pinned: bool, json_excludes: bool = True) -> dict[str, Any] | None:
    """The format of a call's parameters, from ``<parameter=`` to the last ``</parameter>\\n``.

    ``pinned``: the arguments must fit ``parameters`` (a strict tool). Returns None when the
    schema is not an object of properties that can be taken one by one (``$ref``, ``anyOf``,
    ``patternProperties`` ... at the top): the builtin content is kept then.
    """
    props = _properties(parameters)
    free = free_value()
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
        value = _value_format(prop, free, json_excludes)
        param = _param(key, value) if value is not None else _fallback_param(key, prop, parameters)
        elements.append(param if key in required else {"type": "optional", "content": param})
    if any(key not in props for key in required):
        return None
    return _seq(elements)


def widen_structural_tag(tag: dict[str, Any], tools: Mapping[str, Any], json_excludes: bool = True) -> dict[str, Any]:
    """Replace the call contents of a dumped ``qwen_3_coder`` structural tag (see module doc).

    ``tools`` maps each function name to its ``parameters`` schema (the request's, also for
    tools whose schema the builtin left out because they are not strict). Calls whose content
    is not xgrammar's ``qwen_xml`` JSON schema are kept as they are; schemas
    :func:`call_content` does not take apart keep the builtin content with its whitespace
    bounded. The calls of ``tool_choice="required"`` (triggered tags, at least one) are
    separated by the template's ``\n``, with nothing after the last one.
    ``json_excludes``: see :func:`_value_format`.
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
            content = call_content(schema if pinned else tools.get(name), pinned, json_excludes)
            if content is not None:
                return {**node, "content": content, "end": CALL_END}
            return {**node, "content": _qwen_xml(schema)}
        if node.get("type") == "triggered_tags" and node.get("at_least_one") and node.get("tags") and all(
                isinstance(tag, dict) and _is_call(tag) for tag in node["tags"]):
            # required: the calls and nothing else (the builtin allows any text after the first)
            return {"type": "tags_with_separator", "tags": visit(node["tags"]), "separator": CALL_SEPARATOR,
                    "at_least_one": True, "stop_after_first": bool(node.get("stop_after_first"))}
        return {key: visit(value) for key, value in node.items()}

    widened: dict[str, Any] = visit(json.loads(json.dumps(tag)))  # a copy; the caller's tag stays as it was
    return widened


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
