"""Tool schemas: from the request's tool list to the type of each parameter.

Pure functions over JSON-schema dicts. Handles type lists and aliases, ``enum``
and ``const``, ``anyOf`` / ``oneOf`` / ``allOf`` and local ``$ref`` into
``$defs`` / ``definitions``. Nothing here raises on a strange schema: what
cannot be understood is treated as "no type information" (a string).

Tool schemas come from the client, so reading one is bounded (docs/behaviour.md
"Hostile schemas"): ``$ref`` lookups are memoised, every schema node is visited
at most once per value type (a ``$ref`` cycle contributes nothing), results are
cached per schema node, and reading one value type may visit at most
``MAX_WORK`` nodes (``MAX_TOTAL_WORK`` for all the tools of one request; a
list of branches is charged in full before it is read). A schema over budget,
or one that raises, makes the value untyped (a string), with one log line per
function.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["FunctionSchema", "ValueType", "function_schemas"]

logger = logging.getLogger("qwen_xml_toolparser")

JSON_TYPES = frozenset({"string", "integer", "number", "boolean", "null", "object", "array"})
MAX_DEPTH = 32  # nested anyOf / oneOf / allOf / $ref levels read for one value type
MAX_REF_CHAIN = 32  # $ref -> $ref -> ... steps followed at one place
MAX_WORK = 10_000  # schema nodes visited to read one value type
MAX_TOTAL_WORK = 30_000  # schema nodes visited for all value types of one request

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
_COMBINATORS = ("anyOf", "oneOf", "allOf")
_COMPOUND = frozenset(("anyOf", "oneOf", "allOf", "enum", "const", "nullable", "$ref"))


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


class _TooComplex(Exception):
    """The work or depth budget of one value type ran out."""


class Budget:
    """Schema nodes that may still be visited, shared by the resolvers of one request."""

    __slots__ = ("left",)

    def __init__(self, total: int = MAX_TOTAL_WORK) -> None:
        self.left = total


class Resolver:
    """Reads value types out of one function's ``parameters`` schema, within a budget.

    ``$ref`` pointers are local (``#/...``) and resolved against the root.
    """

    __slots__ = ("_left", "_refs", "_types", "_used", "_warned", "budget", "name", "root")

    def __init__(self, root: Mapping[str, Any], name: str = "", budget: Budget | None = None) -> None:
        self.root = root
        self.name = name
        self.budget = budget if budget is not None else Budget()
        self._refs: dict[str, Any] = {}
        self._types: dict[int, tuple[Any, ValueType]] = {}  # id(schema) -> (schema, its type)
        self._left = MAX_WORK
        self._used = 0
        self._warned = False

    # ── $ref ──

    def deref(self, schema: Any) -> Any:
        """Follow ``$ref`` (at most MAX_REF_CHAIN steps); ``{}`` when a pointer does not resolve."""
        steps = 0
        while isinstance(schema, Mapping) and steps < MAX_REF_CHAIN:
            ref = schema.get("$ref")
            if not isinstance(ref, str):
                break
            if ref in self._refs:
                target = self._refs[ref]
            else:
                target = self._refs[ref] = self._lookup(ref)
            if target is None:
                logger.debug("unresolvable $ref %.80r", ref)
                return {}
            schema, steps = target, steps + 1
        self._left -= steps  # charged to the value type being read, if any (see _spend)
        return schema

    def _lookup(self, ref: str) -> Any:
        if not ref.startswith("#"):
            return None
        node: Any = self.root
        try:
            for part in ref[1:].split("/"):
                if not part:
                    continue
                part = part.replace("~1", "/").replace("~0", "~")
                if isinstance(node, Mapping) and part in node:
                    node = node[part]
                elif isinstance(node, list) and part.isascii() and part.isdigit() and len(part) < 10 \
                        and int(part) < len(node):
                    node = node[int(part)]
                else:
                    return None
        except Exception:  # a Mapping that misbehaves: not a pointer we can follow
            return None
        return node

    # ── value types ──

    def value_type(self, schema: Any) -> ValueType:
        """The :class:`ValueType` of ``schema`` (a node of this resolver's root), cached."""
        cached = self._types.get(id(schema))
        if cached is not None and cached[0] is schema:
            return cached[1]
        vt = self._read(schema)
        self._types[id(schema)] = (schema, vt)
        return vt

    def _read(self, schema: Any) -> ValueType:
        budget = min(MAX_WORK, self.budget.left)
        if budget <= 0:
            self._warn(f"was not read: the request's tool schemas used up their budget ({MAX_TOTAL_WORK} nodes)")
            return self.untyped()
        self._left = budget
        try:
            node = self.deref(schema)
            if not isinstance(node, Mapping):
                node = {}
            declared = node.get("type")
            if isinstance(declared, str) and node.keys().isdisjoint(_COMPOUND):  # the common case
                return ValueType(types=frozenset((_normalize_type_name(declared),)), enum=None, schema=node,
                                 resolver=self, branches=(node,))
            types = frozenset(self._types_of(node, 0, {}))
            branches = self._branches(node)
            enum = self._enum_of(branches)
            strings = frozenset(v for v in enum if isinstance(v, str)) if enum else frozenset()
            return ValueType(types=types, enum=enum, schema=node, resolver=self, branches=branches,
                             string_enum=strings)
        except _TooComplex:
            self._warn(f"is too complex to read (more than {MAX_WORK} schema nodes or {MAX_DEPTH} levels)")
        except Exception as exc:  # a schema shape nobody anticipated: never raise into the parser
            self._warn(f"could not be read ({type(exc).__name__}: {exc!s:.200})")
        finally:
            used = budget - max(self._left, 0)
            self.budget.left -= used
            self._used += used
        return self.untyped()

    @property
    def work(self) -> int:
        """Schema nodes visited so far by this resolver (bounded by MAX_TOTAL_WORK)."""
        return self._used

    def untyped(self) -> ValueType:
        return ValueType(types=frozenset(), enum=None, schema={}, resolver=self)

    def _warn(self, what: str) -> None:
        if not self._warned:
            self._warned = True
            logger.warning("the parameter schema of tool %r %s; such values are read as untyped strings",
                           self.name, what)

    def _spend(self, n: int) -> None:
        self._left -= n
        if self._left < 0:
            raise _TooComplex

    def _types_of(self, schema: Any, depth: int, memo: dict[int, set[str]]) -> set[str]:
        self._spend(1)
        schema = self.deref(schema)
        if not isinstance(schema, Mapping):
            return set()
        key = id(schema)
        if key in memo:  # done already, or a cycle (which adds nothing)
            return memo[key]
        if depth > MAX_DEPTH:
            raise _TooComplex
        memo[key] = set()
        types: set[str] = set()
        declared = schema.get("type")
        if isinstance(declared, str):
            types.add(_normalize_type_name(declared))
        elif isinstance(declared, list):
            self._spend(len(declared))
            types.update(_normalize_type_name(t) for t in declared)
        if "enum" in schema and isinstance(schema["enum"], list) and not declared:
            self._spend(len(schema["enum"]))
            types.update(_json_type_of(v) for v in schema["enum"])
        if "const" in schema and not declared:
            types.add(_json_type_of(schema["const"]))
        if schema.get("nullable") is True:
            types.add("null")
        for name in ("anyOf", "oneOf"):
            subs = schema.get(name)
            if isinstance(subs, list):
                for sub in self._distinct(subs):
                    types |= self._types_of(sub, depth + 1, memo)
        subs = schema.get("allOf")
        if isinstance(subs, list):
            declared_sets = [s for s in (self._types_of(sub, depth + 1, memo) for sub in self._distinct(subs)) if s]
            if declared_sets:
                merged = set.intersection(*declared_sets)
                types |= merged or declared_sets[0]
        if not types:
            if "properties" in schema or "additionalProperties" in schema:
                types.add("object")
            elif "items" in schema or "prefixItems" in schema:
                types.add("array")
        memo[key] = types
        return types

    def _enum_of(self, branches: tuple[Mapping[str, Any], ...]) -> tuple[Any, ...] | None:
        values: list[Any] = []
        found = False
        for branch in branches:
            enum = branch.get("enum")
            if isinstance(enum, list):
                self._spend(len(enum))
                values.extend(enum)
                found = True
            if "const" in branch:
                values.append(branch["const"])
                found = True
        return tuple(values) if found else None

    def _distinct(self, subs: list[Any]) -> Iterable[Any]:
        """The members of a branch list, each object once; the whole list is charged first."""
        self._spend(len(subs))
        return {id(sub): sub for sub in subs}.values()

    def _branches(self, schema: Any) -> tuple[Mapping[str, Any], ...]:
        """The schema and its anyOf/oneOf/allOf branches, dereferenced, each once, depth first."""
        out: list[Mapping[str, Any]] = []
        seen: set[int] = set()
        stack = [schema]
        while stack:
            self._spend(1)
            node = self.deref(stack.pop())
            if not isinstance(node, Mapping) or id(node) in seen:
                continue
            seen.add(id(node))
            out.append(node)
            children: list[Any] = []
            for name in _COMBINATORS:
                subs = node.get(name)
                if isinstance(subs, list):
                    children.extend(self._distinct(subs))
            stack.extend(reversed(children))
        return tuple(out)


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
    branches: tuple[Mapping[str, Any], ...] = field(default=(), repr=False, compare=False)
    string_enum: frozenset[str] = field(default=frozenset(), repr=False, compare=False)  # its str members

    @property
    def is_string_only(self) -> bool:
        return not self.types or self.types == {"string"}

    def subschemas(self) -> Iterable[Mapping[str, Any]]:
        """The schema and its (dereferenced) union/intersection branches."""
        return self.branches

    def property_schema(self, key: str) -> Any:
        additional = None
        for branch in self.branches:
            props = branch.get("properties")
            if isinstance(props, Mapping) and key in props:
                return props[key]
            extra = branch.get("additionalProperties")
            if additional is None and isinstance(extra, Mapping):
                additional = extra
        return additional

    def item_schema(self, position: int) -> Any:
        for branch in self.branches:
            prefix = branch.get("prefixItems")
            if isinstance(prefix, list) and position < len(prefix):
                return prefix[position]
            items = branch.get("items")
            if isinstance(items, Mapping):
                return items
            if isinstance(items, list) and position < len(items):  # draft-4 tuple form
                return items[position]
        return None


def value_type(schema: Any, resolver: Resolver) -> ValueType:
    return resolver.value_type(schema)


class FunctionSchema:
    """Parameter types of one function, computed once per parameter name, and its required
    parameters (``required``: the names listed there, in order)."""

    __slots__ = ("name", "required", "_params", "_resolver", "_cache")

    def __init__(self, name: str, parameters: Any, budget: Budget | None = None) -> None:
        self.name = name
        root = parameters if isinstance(parameters, Mapping) else {}
        self._resolver = Resolver(root, name, budget)
        resolved = self._resolver.deref(root)
        props = resolved.get("properties") if isinstance(resolved, Mapping) else None
        self._params: Mapping[str, Any] = props if isinstance(props, Mapping) else {}
        required = resolved.get("required") if isinstance(resolved, Mapping) else None
        self.required: tuple[str, ...] = tuple(
            dict.fromkeys(k for k in required if isinstance(k, str))) if isinstance(required, list) else ()
        self._cache: dict[str, ValueType] = {}

    def declares(self, param: str) -> bool:
        try:
            return param in self._params
        except Exception:  # a parameters mapping that misbehaves
            return False

    def param_type(self, param: str) -> ValueType:
        cached = self._cache.get(param)
        if cached is None:
            try:
                schema = self._params.get(param)
            except Exception:  # a parameters mapping that misbehaves
                schema = None
            cached = self._resolver.value_type(schema) if schema is not None else _UNTYPED
            self._cache[param] = cached
        return cached


_UNTYPED = Resolver({}).untyped()


def _function_of(tool: Any) -> Mapping[str, Any] | None:
    if hasattr(tool, "model_dump"):  # pydantic objects (vLLM request tools)
        tool = tool.model_dump(exclude_none=True)
    if not isinstance(tool, Mapping):
        return None
    fn = tool.get("function")
    if isinstance(fn, Mapping):
        return fn
    if fn is not None and hasattr(fn, "model_dump"):
        dumped = fn.model_dump(exclude_none=True)
        return dumped if isinstance(dumped, Mapping) else None
    if isinstance(tool.get("name"), str):  # a bare function or a Responses API FunctionTool
        return tool
    return None


def function_schemas(tools: Iterable[Any] | None) -> dict[str, FunctionSchema]:
    """Map function name to :class:`FunctionSchema` for an OpenAI-style tool list.

    Accepts chat-completions tools (``{"type": "function", "function": {...}}``),
    Responses API function tools (``{"type": "function", "name": ...}``), bare
    function dicts, and pydantic objects with ``model_dump``. Other entries are
    ignored; a tool list or a tool that cannot be read is logged and ignored
    (its calls then have untyped, string values).
    """
    result: dict[str, FunctionSchema] = {}
    if tools is None:
        return result
    budget = Budget()
    try:
        entries = list(tools)
    except Exception as exc:  # never raise from the request's tools
        logger.warning("the tool list (%s) cannot be read (%s); all values are read as strings",
                       type(tools).__name__, exc)
        return result
    for tool in entries:
        try:
            fn = _function_of(tool)
            if fn is None or not isinstance(fn.get("name"), str):
                continue
            if fn["name"] not in result:
                result[fn["name"]] = FunctionSchema(fn["name"], fn.get("parameters"), budget)
        except Exception as exc:  # a tool that cannot be read is ignored
            logger.warning("a tool (%s) cannot be read (%s: %s); it is ignored",
                           type(tool).__name__, type(exc).__name__, exc)
    return result
