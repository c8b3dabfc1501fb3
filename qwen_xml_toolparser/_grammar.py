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
  "no viable closer" is expressible in xgrammar's EBNF but compiles hundreds of times slower
  per tool set: measured in docs/grammar.md);
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
from collections.abc import Mapping, Sequence
from typing import Any

from . import _scanner as sc

__all__ = ["CALL_BEGIN", "CALL_TAG_END", "VALUE_EXCLUDES", "call_content", "free_value", "widen_structural_tag"]

CALL_BEGIN = "<tool_call>\n" + sc.FUNCTION_START  # + NAME + ">\n"
# How a call ends in the structural tag, `</function>\n</tool_call>` (``_scanner.CALL_END`` is the
# `</tool_call>` alone).
CALL_TAG_END = sc.FUNCTION_END + "\n" + sc.CALL_END
PARAM_END = "\n" + sc.PARAM_END + "\n"

# Keys that constrain a string beyond "any text": such properties keep xgrammar's rendering.
_STRING_CONSTRAINTS = frozenset({"pattern", "format", "minLength", "maxLength", "enum", "const"})
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
    if kind == "string" and not _STRING_CONSTRAINTS & prop.keys():
        return free
    if kind == "string" and not (_STRING_CONSTRAINTS - {"enum", "const"}) & prop.keys():
        values = prop["enum"] if "enum" in prop else [prop["const"]]
        if values and all(isinstance(v, str) and not any(m in v for m in VALUE_EXCLUDES) for v in values):
            # The template's \n on each side is stripped: the value text is the enum value.
            return _or([_const(v) for v in values])
        return None
    if isinstance(kind, str) and kind in _JSON_TYPES and not _COMPOSITE & prop.keys():
        fmt: dict[str, Any] = {"type": "json_schema", "json_schema": dict(prop), "style": "json"}
        if kind in ("object", "array"):
            if not json_excludes:
                return None
            fmt["excludes"] = list(VALUE_EXCLUDES)  # in nested strings
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
    is not xgrammar's ``qwen_xml`` JSON schema, and schemas :func:`call_content` does not take
    apart, are kept as they are. ``json_excludes``: see :func:`_value_format`.
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
                return {**node, "content": content, "end": CALL_TAG_END}
            return node
        return {key: visit(value) for key, value in node.items()}

    widened: dict[str, Any] = visit(json.loads(json.dumps(tag)))  # a copy; the caller's tag stays as it was
    return widened


def _is_call(node: Mapping[str, Any]) -> bool:
    begin, content, end = node.get("begin"), node.get("content"), node.get("end")
    return (
        isinstance(begin, str) and begin.startswith(CALL_BEGIN) and begin.endswith(">\n")
        and isinstance(content, Mapping) and content.get("type") == "json_schema"
        and content.get("style") == "qwen_xml"
        and isinstance(end, str) and end.strip() == CALL_TAG_END
    )


def declared_parameters(tools: Sequence[Any]) -> dict[str, Any]:
    """``{name: parameters}`` from OpenAI-style tool dicts (``{"function": {...}}``)."""
    out: dict[str, Any] = {}
    for tool in tools:
        function = tool.get("function", tool) if isinstance(tool, Mapping) else None
        if isinstance(function, Mapping) and isinstance(function.get("name"), str):
            out.setdefault(function["name"], function.get("parameters"))
    return out
