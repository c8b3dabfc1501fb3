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
  :class:`NonStringPrefix` is the prefix form of the same rule, used to
  start streaming such a value as soon as only a string reading remains.

JSON text is read strictly: a non-finite number (``NaN``, ``Infinity``, an
overflowing ``1e999``) anywhere in a value makes the JSON reading fail, and a
value nested deeper than ``MAX_JSON_DEPTH`` is not parsed at all (the depth
Python's recursive JSON reader and writer can handle depends on the caller's
stack); such values stay strings (docs/behaviour.md).
"""

from __future__ import annotations

import ast
import json
import logging
import math
import re
import warnings
from decimal import Decimal, InvalidOperation
from itertools import pairwise
from typing import Any

from ._scanner import JsonNesting
from ._schema import Resolver, ValueType

__all__ = ["NonStringPrefix", "coerce", "coerce_json_value", "read_json_object"]

logger = logging.getLogger("qwen_xml_toolparser")

MAX_LITERAL_CHARS = 64 * 1024
MAX_NESTING = 64
MAX_INT_DIGITS = 4300  # CPython's default int <-> str conversion limit
MAX_JSON_DEPTH = 256  # deeper JSON stays text (json.loads/dumps recurse once per level)
_MAX_INT_BITS = 14284  # every int of at most this many bits has at most MAX_INT_DIGITS digits
_MAX_FLOAT_REPR = 32  # longer than any repr(float): a longer non-integer text is not canonical

_INT_LAX = re.compile(r"[-+]?\d+")
_DECIMAL_LAX = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_INT_EXACT = re.compile(r"-?(?:0|[1-9]\d*)")
_FLOAT_EXACT = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?")
_INT_PREFIX = re.compile(r"-?(?:0|[1-9]\d*)?")
_NUMBER_PREFIX = re.compile(r"-?(?:(?:0|[1-9]\d*)(?:\.\d*)?(?:[eE][-+]?\d*)?)?")

_NO_VALUE = object()


def _reject_constant(name: str) -> Any:
    raise ValueError(f"non-finite number {name}")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"non-finite number {text[:40]}")
    return value


def strict_loads(text: str) -> Any:
    """``json.loads`` without non-finite numbers and with a depth limit; raises ValueError.

    The depth limit does not depend on the caller's stack: JSON that the stack cannot
    hold is deeper than MAX_JSON_DEPTH anyway (the parser runs far from the recursion
    limit), and a parsed value is measured.
    """
    try:
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except RecursionError:
        raise ValueError("JSON nested too deep") from None
    if isinstance(value, (dict, list)) and (text.count("[") + text.count("{") > MAX_JSON_DEPTH) \
            and _value_depth(value) > MAX_JSON_DEPTH:
        raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    return value


def _value_depth(value: Any) -> int:
    """Nesting depth of a parsed JSON value (iterative; stops past MAX_JSON_DEPTH)."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > deepest:
            deepest = depth
            if deepest > MAX_JSON_DEPTH:
                break
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return deepest


_KEY = re.compile(r'\s*("(?:[^"\\]|\\.)*")\s*:', re.DOTALL)


def _object_members(text: str) -> list[tuple[str, str]] | None:
    """The (key, raw value text) members of a JSON object, without parsing the values."""
    s = text.strip()
    if not s.startswith("{"):
        return None
    nesting = JsonNesting(stop_at_close=True, commas=[])
    if nesting.feed(s, 0, len(s)) != len(s):
        return None
    assert nesting.commas is not None
    bounds = [0, *nesting.commas, len(s) - 1]
    if len(bounds) == 2 and not s[1:-1].strip():
        return []
    members = []
    for start, end in pairwise(bounds):
        segment = s[start + 1 : end]
        m = _KEY.match(segment)
        value = segment[m.end() :].strip() if m else ""
        if not value:
            return None
        try:
            key = json.loads(m.group(1))  # type: ignore[union-attr]
        except ValueError:
            return None
        members.append((key, value))
    return members


def read_json_object(text: str) -> tuple[dict[str, Any], set[str]] | None:
    """A JSON object read strictly, and the keys of the members kept as text.

    A member nested deeper than MAX_JSON_DEPTH or holding a non-finite number
    is kept as its JSON text (a string) instead of failing the whole object.
    None when ``text`` is not a JSON object.
    """
    try:
        value = strict_loads(text)
        return (value, set()) if isinstance(value, dict) else None
    except ValueError:
        pass
    members = _object_members(text)
    if members is None:
        return None
    out: dict[str, Any] = {}
    kept: set[str] = set()
    for key, raw in members:
        try:
            out[key] = strict_loads(raw)
            kept.discard(key)
            continue
        except ValueError:
            pass
        try:
            json.loads(raw)  # valid JSON apart from its non-finite numbers (or its depth)?
        except RecursionError:
            pass
        except ValueError:
            return None
        out[key] = raw
        kept.add(key)
    return out, kept


def _int_fits(value: int) -> bool:
    """Can ``value`` be written as decimal text (CPython's int/str conversion limit)?"""
    if value.bit_length() <= _MAX_INT_BITS:
        return True
    try:
        return len(str(abs(value))) <= MAX_INT_DIGITS
    except ValueError:
        return False


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
        return value if _int_fits(value) else _NO_VALUE
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
        value = strict_loads(text)
    except ValueError:
        value = _NO_VALUE
    if value is _NO_VALUE and len(text) <= MAX_LITERAL_CHARS and _nesting_depth(text) <= MAX_NESTING:
        try:
            with warnings.catch_warnings():  # e.g. "invalid decimal literal" for 1e3abc: not our log's business
                warnings.simplefilter("ignore", SyntaxWarning)
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
    if raw in vt.string_enum:  # an exact string member wins over any other reading ("1" stays "1")
        return raw, True
    if vt.is_string_only:
        return raw, True
    value = _read(raw, vt)
    if value is not _NO_VALUE:
        return value, True
    return raw, "string" in vt.types


class NonStringPrefix:
    """Could a value starting with the text fed so far still be read as a non-string type?

    The prefix form of :func:`coerce`'s exact reading (a superset of it): once
    :attr:`alive` is False the complete value will be a string, so it can be
    streamed as one. Incremental: each piece is looked at once, and only the
    first ``_MAX_FLOAT_REPR + 1`` characters are kept (beyond them only an
    integer of at most MAX_INT_DIGITS digits, or an object / array, is possible).
    """

    __slots__ = ("_digits_after_head", "_head", "_length", "_types", "alive")

    _HEAD = _MAX_FLOAT_REPR + 1

    def __init__(self, vt: ValueType) -> None:
        self._types = vt.types
        self._head = ""
        self._length = 0
        self._digits_after_head = True  # every character past the head is a decimal digit
        self.alive = self._check()

    def feed(self, piece: str) -> bool:
        """Add the next piece of the value; return :attr:`alive`."""
        if not self.alive or not piece:
            return self.alive
        room = self._HEAD - len(self._head)
        if room > 0:
            self._head += piece[:room]
            rest = piece[room:]
        else:
            rest = piece
        if rest and self._digits_after_head:
            self._digits_after_head = rest.isdecimal()  # what \d matches
        self._length += len(piece)
        self.alive = self._check()
        return self.alive

    def _check(self) -> bool:
        types, head, length = self._types, self._head, self._length
        if head and head[0] == "{":
            return "object" in types
        if head and head[0] == "[":
            return "array" in types
        if not head:
            return bool(types - {"string"})
        if length <= 5:
            if "null" in types and ("null".startswith(head) or "None".startswith(head)):
                return True
            if "boolean" in types and any(w.startswith(head) for w in ("true", "false", "True", "False")):
                return True
        if "integer" in types or "number" in types:
            if length < self._HEAD:
                if "integer" in types and _INT_PREFIX.fullmatch(head):
                    return True
                if "number" in types and _NUMBER_PREFIX.fullmatch(head):
                    return True
            # longer: only a plain integer of at most MAX_INT_DIGITS digits is still possible
            elif self._digits_after_head and _INT_PREFIX.fullmatch(head):
                return length - (head[0] == "-") <= MAX_INT_DIGITS
        return False


# ── nested values ─────────────────────────────────────────────────────────────


def coerce_json_value(value: Any, schema: Any, resolver: Resolver, depth: int = 0) -> Any:
    """Coerce an already-parsed JSON value (e.g. a Hermes-style call argument) by its schema."""
    if schema is None or depth > MAX_NESTING:
        return value
    vt = resolver.value_type(schema)
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

