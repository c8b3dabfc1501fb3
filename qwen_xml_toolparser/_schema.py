"""Tool schemas: from the request's tool list to the type of each parameter.

Pure functions over JSON-schema dicts. Handles type lists and aliases, ``enum``
and ``const``, ``anyOf`` / ``oneOf`` / ``allOf`` and local ``$ref`` into
``$defs`` / ``definitions``. Nothing here raises on a strange schema: what
cannot be understood is treated as "no type information" (a string).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FunctionSchema", "ValueType", "function_schemas"]

logger = logging.getLogger("qwen_xml_toolparser")

JSON_TYPES = frozenset({"string", "integer", "number", "boolean", "null", "object", "array"})
_MAX_DEPTH = 32

# Type names seen in real tool schemas, mapped to JSON-schema types (vLLM's aliases).
_ALIASES = {
    "str": "string", "text": "string", "varchar": "string", "char": "string", "enum": "string",
    "int": "integer", "long": "integer", "short": "integer", "unsigned": "integer",
    "float": "number", "double": "number", "decimal": "number", "num": "number",
    "bool": "boolean", "binary": "boolean",
    "dict": "object", "map": "object", "mapping": "object",
    "list": "array", "arr": "array", "sequence": "array", "tuple": "array",
    "none": "null", "nil": "null",
}


def _normalize_type_name(name: Any) -> str:
    if not isinstance(name, str):
        return "string"
    low = name.strip().lower()
    if low in JSON_TYPES:
        return low
    if low in _ALIASES:
        return _ALIASES[low]
    for prefix, target in (("int", "integer"), ("uint", "integer"), ("float", "number"),
                           ("dict", "object"), ("list", "array")):
        if low.startswith(prefix):
            return target
    return "string"


def _json_type_of(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    return "array"


class Resolver:
    """Resolves local ``$ref`` pointers against the root ``parameters`` schema."""

    __slots__ = ("root",)

    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root

    def deref(self, schema: Any) -> Any:
        seen = 0
        while isinstance(schema, Mapping) and isinstance(schema.get("$ref"), str) and seen < _MAX_DEPTH:
            target = self._lookup(schema["$ref"])
            if target is None:
                logger.debug("unresolvable $ref %r", schema["$ref"])
                return {}
            schema, seen = target, seen + 1
        return schema

    def _lookup(self, ref: str) -> Any:
        if not ref.startswith("#"):
            return None
        node: Any = self.root
        for part in ref[1:].split("/"):
            if not part:
                continue
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(node, Mapping) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                return None
        return node


@dataclass(frozen=True)
class ValueType:
    """What a schema allows for one value.

    ``types`` is empty when the schema says nothing usable (treated as string).
    ``enum`` holds the allowed values of ``enum`` / ``const``, if any.
    """

    types: frozenset[str]
    enum: tuple[Any, ...] | None
    schema: Mapping[str, Any]
    resolver: Resolver = field(repr=False, compare=False)

    @property
    def is_string_only(self) -> bool:
        return not self.types or self.types == {"string"}

    def subschemas(self) -> Iterable[Mapping[str, Any]]:
        """The schema and its (dereferenced) union/intersection branches."""
        return _branches(self.schema, self.resolver, 0)

    def property_schema(self, key: str) -> Any:
        additional = None
        for branch in self.subschemas():
            props = branch.get("properties")
            if isinstance(props, Mapping) and key in props:
                return props[key]
            extra = branch.get("additionalProperties")
            if additional is None and isinstance(extra, Mapping):
                additional = extra
        return additional

    def item_schema(self, position: int) -> Any:
        for branch in self.subschemas():
            prefix = branch.get("prefixItems")
            if isinstance(prefix, list) and position < len(prefix):
                return prefix[position]
            items = branch.get("items")
            if isinstance(items, Mapping):
                return items
            if isinstance(items, list) and position < len(items):  # draft-4 tuple form
                return items[position]
        return None


def _branches(schema: Any, resolver: Resolver, depth: int) -> Iterable[Mapping[str, Any]]:
    schema = resolver.deref(schema)
    if not isinstance(schema, Mapping) or depth > _MAX_DEPTH:
        return
    yield schema
    for key in ("anyOf", "oneOf", "allOf"):
        subs = schema.get(key)
        if isinstance(subs, list):
            for sub in subs:
                yield from _branches(sub, resolver, depth + 1)


def _types_of(schema: Any, resolver: Resolver, depth: int) -> set[str]:
    schema = resolver.deref(schema)
    if not isinstance(schema, Mapping) or depth > _MAX_DEPTH:
        return set()
    types: set[str] = set()
    declared = schema.get("type")
    if isinstance(declared, str):
        types.add(_normalize_type_name(declared))
    elif isinstance(declared, list):
        types.update(_normalize_type_name(t) for t in declared)
    if "enum" in schema and isinstance(schema["enum"], list) and not declared:
        types.update(_json_type_of(v) for v in schema["enum"])
    if "const" in schema and not declared:
        types.add(_json_type_of(schema["const"]))
    if schema.get("nullable") is True:
        types.add("null")
    for key in ("anyOf", "oneOf"):
        subs = schema.get(key)
        if isinstance(subs, list):
            for sub in subs:
                types |= _types_of(sub, resolver, depth + 1)
    subs = schema.get("allOf")
    if isinstance(subs, list):
        declared_sets = [s for s in (_types_of(sub, resolver, depth + 1) for sub in subs) if s]
        if declared_sets:
            merged = set.intersection(*declared_sets)
            types |= merged or declared_sets[0]
    if not types:
        if "properties" in schema or "additionalProperties" in schema:
            types.add("object")
        elif "items" in schema or "prefixItems" in schema:
            types.add("array")
    return types


def _enum_of(schema: Any, resolver: Resolver) -> tuple[Any, ...] | None:
    values: list[Any] = []
    found = False
    for branch in _branches(schema, resolver, 0):
        if isinstance(branch.get("enum"), list):
            values.extend(branch["enum"])
            found = True
        if "const" in branch:
            values.append(branch["const"])
            found = True
    return tuple(values) if found else None


def value_type(schema: Any, resolver: Resolver) -> ValueType:
    schema = resolver.deref(schema)
    if not isinstance(schema, Mapping):
        schema = {}
    types = frozenset(_types_of(schema, resolver, 0))
    return ValueType(types=types, enum=_enum_of(schema, resolver), schema=schema, resolver=resolver)


_UNTYPED = ValueType(types=frozenset(), enum=None, schema={}, resolver=Resolver({}))


class FunctionSchema:
    """Parameter types of one function, computed once per parameter name."""

    __slots__ = ("name", "_params", "_resolver", "_cache")

    def __init__(self, name: str, parameters: Any) -> None:
        self.name = name
        root = parameters if isinstance(parameters, Mapping) else {}
        self._resolver = Resolver(root)
        resolved = self._resolver.deref(root)
        props = resolved.get("properties") if isinstance(resolved, Mapping) else None
        self._params: Mapping[str, Any] = props if isinstance(props, Mapping) else {}
        self._cache: dict[str, ValueType] = {}

    def declares(self, param: str) -> bool:
        return param in self._params

    def param_type(self, param: str) -> ValueType:
        cached = self._cache.get(param)
        if cached is None:
            schema = self._params.get(param)
            cached = value_type(schema, self._resolver) if schema is not None else _UNTYPED
            self._cache[param] = cached
        return cached


def _function_of(tool: Any) -> Mapping[str, Any] | None:
    if hasattr(tool, "model_dump"):  # pydantic objects (vLLM request tools)
        tool = tool.model_dump(exclude_none=True)
    if not isinstance(tool, Mapping):
        return None
    fn = tool.get("function")
    if isinstance(fn, Mapping):
        return fn
    if hasattr(fn, "model_dump"):
        return fn.model_dump(exclude_none=True)
    if isinstance(tool.get("name"), str):  # a bare function or a Responses API FunctionTool
        return tool
    return None


def function_schemas(tools: Iterable[Any] | None) -> dict[str, FunctionSchema]:
    """Map function name to :class:`FunctionSchema` for an OpenAI-style tool list.

    Accepts chat-completions tools (``{"type": "function", "function": {...}}``),
    Responses API function tools (``{"type": "function", "name": ...}``), bare
    function dicts, and pydantic objects with ``model_dump``. Other entries are
    ignored.
    """
    result: dict[str, FunctionSchema] = {}
    for tool in tools or ():
        fn = _function_of(tool)
        if fn is None or not isinstance(fn.get("name"), str):
            continue
        result.setdefault(fn["name"], FunctionSchema(fn["name"], fn.get("parameters")))
    return result
