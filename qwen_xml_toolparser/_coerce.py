"""Turn a raw parameter value into the JSON value its schema asks for.

``coerce(raw, value_type)`` never raises and never evaluates code: object and
array values are read with ``json.loads`` and, failing that, a size-limited
``ast.literal_eval`` (Python literals such as ``{'a': True}`` come from older
Qwen chat templates). A value that does not fit its schema is returned as the
raw string with ``fits=False``.

Two readings of "fits":

* lenient, for a parameter with one non-string type (``007``, ``1e3`` and
  ``4.0`` are integers; surrounding whitespace is ignored);
* exact, when ``string`` is also allowed: a more specific type wins only when
  the raw text is that type's canonical rendering by a chat template (JSON
  ``tojson`` or Python ``str()``), so ``"8080"`` stays a string under
  ``anyOf[string, null]`` but ``42`` becomes 42 under ``anyOf[string, integer]``.
  :func:`could_be_non_string` is the prefix form of the same rule, used to
  start streaming such a value as soon as only a string reading remains.
"""

from __future__ import annotations

import ast
import json
import logging
import math
import re
from decimal import Decimal, InvalidOperation
from typing import Any

from ._schema import Resolver, ValueType, value_type

__all__ = ["coerce", "coerce_json_value", "could_be_non_string"]

logger = logging.getLogger("qwen_xml_toolparser")

MAX_LITERAL_CHARS = 64 * 1024
MAX_NESTING = 64
MAX_INT_DIGITS = 4300  # CPython's default int <-> str conversion limit

_INT_LAX = re.compile(r"[-+]?\d+")
_DECIMAL_LAX = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_INT_EXACT = re.compile(r"-?(?:0|[1-9]\d*)")
_FLOAT_EXACT = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?")
_INT_PREFIX = re.compile(r"-?(?:0|[1-9]\d*)?")
_NUMBER_PREFIX = re.compile(r"-?(?:(?:0|[1-9]\d*)(?:\.\d*)?(?:[eE][-+]?\d*)?)?")

_NO_VALUE = object()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name}")


def _int(text: str) -> Any:
    digits = len(text) - (text[:1] in "+-")
    return int(text) if digits <= MAX_INT_DIGITS else _NO_VALUE


# ── single-type readers: (text, exact) -> value or _NO_VALUE ─────────────────


def _read_null(text: str, exact: bool) -> Any:
    if text in ("null", "None") or (not exact and text.lower() in ("null", "none")):
        return None
    return _NO_VALUE


def _read_boolean(text: str, exact: bool) -> Any:
    if exact:
        return {"true": True, "True": True, "false": False, "False": False}.get(text, _NO_VALUE)
    return {"true": True, "1": True, "false": False, "0": False}.get(text.lower(), _NO_VALUE)


def _read_integer(text: str, exact: bool) -> Any:
    if exact:
        return _int(text) if _INT_EXACT.fullmatch(text) else _NO_VALUE
    if _INT_LAX.fullmatch(text):
        return _int(text)
    if _DECIMAL_LAX.fullmatch(text):
        try:
            number = Decimal(text)
        except InvalidOperation:
            return _NO_VALUE
        if number.is_finite() and number.adjusted() < MAX_INT_DIGITS and number == number.to_integral_value():
            return int(number)
    return _NO_VALUE


def _read_number(text: str, exact: bool) -> Any:
    pattern = _INT_EXACT if exact else _INT_LAX
    if pattern.fullmatch(text):
        return _int(text)
    if (_FLOAT_EXACT if exact else _DECIMAL_LAX).fullmatch(text):
        value = float(text)
        if math.isfinite(value) and (not exact or repr(value) == text):
            return value
    return _NO_VALUE


def _nesting_depth(text: str) -> int:
    depth = deepest = 0
    for ch in text:
        if ch in "[{(":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]})":
            depth -= 1
    return deepest


def _from_literal(value: Any, depth: int = 0) -> Any:
    """Python literal -> JSON value (tuples become lists), or _NO_VALUE."""
    if depth > MAX_NESTING:
        return _NO_VALUE
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value if value.bit_length() < MAX_INT_DIGITS * 3 else _NO_VALUE
    if isinstance(value, float):
        return value if math.isfinite(value) else _NO_VALUE
    if isinstance(value, (list, tuple)):
        items = [_from_literal(v, depth + 1) for v in value]
        return _NO_VALUE if any(v is _NO_VALUE for v in items) else items
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            v = _from_literal(v, depth + 1)
            if not isinstance(k, str) or v is _NO_VALUE:
                return _NO_VALUE
            out[k] = v
        return out
    return _NO_VALUE  # sets, bytes, complex, Ellipsis


def _read_container(text: str, kind: type) -> Any:
    try:
        value = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        value = _NO_VALUE
    if value is _NO_VALUE and len(text) <= MAX_LITERAL_CHARS and _nesting_depth(text) <= MAX_NESTING:
        try:
            value = _from_literal(ast.literal_eval(text))
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            value = _NO_VALUE
    return value if isinstance(value, kind) else _NO_VALUE


def _read_object(text: str, exact: bool) -> Any:
    if exact and not text.startswith("{"):
        return _NO_VALUE
    return _read_container(text, dict)


def _read_array(text: str, exact: bool) -> Any:
    if exact and not text.startswith("["):
        return _NO_VALUE
    return _read_container(text, list)


# Most specific first; string is the fallback and handled by the caller.
_READERS = (
    ("null", _read_null),
    ("boolean", _read_boolean),
    ("integer", _read_integer),
    ("number", _read_number),
    ("object", _read_object),
    ("array", _read_array),
)


def _read(raw: str, vt: ValueType) -> Any:
    """The value read under ``vt``, or _NO_VALUE; strings are not handled here."""
    exact = "string" in vt.types
    text = raw if exact else raw.strip()
    for name, reader in _READERS:
        if name in vt.types:
            value = reader(text, exact)
            if value is not _NO_VALUE:
                if isinstance(value, (dict, list)):
                    value = coerce_nested(value, vt, 0)
                return value
    return _NO_VALUE


def coerce(raw: str, vt: ValueType) -> tuple[Any, bool]:
    """Return ``(value, fits)`` for the raw text of one parameter."""
    if vt.enum is not None and raw in vt.enum:
        # An exact string member wins over any other reading ("1" stays "1").
        for member in vt.enum:
            if isinstance(member, str) and member == raw:
                return raw, True
    if vt.is_string_only:
        return raw, True
    value = _read(raw, vt)
    if value is not _NO_VALUE:
        return value, True
    return raw, "string" in vt.types


def could_be_non_string(prefix: str, vt: ValueType) -> bool:
    """Could a value starting with ``prefix`` still be read as a non-string type?

    A superset of :func:`coerce`'s exact reading: when this returns False the
    complete value will be a string, so it can be streamed as one.
    """
    types = vt.types
    if "null" in types and ("null".startswith(prefix) or "None".startswith(prefix)):
        return True
    if "boolean" in types and any(w.startswith(prefix) for w in ("true", "false", "True", "False")):
        return True
    if "integer" in types and _INT_PREFIX.fullmatch(prefix):
        return True
    if "number" in types and _NUMBER_PREFIX.fullmatch(prefix):
        return True
    if "object" in types and (not prefix or prefix[0] == "{"):
        return True
    if "array" in types and (not prefix or prefix[0] == "["):
        return True
    return False


# ── nested values ─────────────────────────────────────────────────────────────


def coerce_json_value(value: Any, schema: Any, resolver: Resolver, depth: int = 0) -> Any:
    """Coerce an already-parsed JSON value (e.g. a Hermes-style call argument) by its schema."""
    if schema is None or depth > MAX_NESTING:
        return value
    vt = value_type(schema, resolver)
    if isinstance(value, str):
        if vt.types and "string" not in vt.types:
            converted = _read(value, vt)
            if converted is not _NO_VALUE:
                return converted
            logger.info("nested value %.40r does not fit %s; kept as a string", value, sorted(vt.types))
        return value
    if isinstance(value, (dict, list)):
        return coerce_nested(value, vt, depth + 1)
    return value


def coerce_nested(value: Any, vt: ValueType, depth: int) -> Any:
    """Coerce the members of a parsed object/array by ``properties`` / ``items``."""
    if depth > MAX_NESTING:
        return value
    if isinstance(value, dict):
        for key, member in value.items():
            value[key] = coerce_json_value(member, vt.property_schema(key), vt.resolver, depth)
    elif isinstance(value, list):
        for position, member in enumerate(value):
            value[position] = coerce_json_value(member, vt.item_schema(position), vt.resolver, depth)
    return value

