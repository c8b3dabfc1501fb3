"""Incremental writer for one call's JSON arguments text.

Everything it returns, concatenated, is a prefix of
``json.dumps(args, ensure_ascii=False)`` (default separators) of the final
arguments dict, and equals it after :meth:`ArgumentsWriter.close`. String
values can be written in pieces: JSON string escaping is per character, so
escaping the pieces one by one gives the same text as escaping the whole.

One exception to ``ensure_ascii=False``: a lone surrogate decoded from a JSON
escape in the model's text (``["\\ud800"]``) cannot be encoded as UTF-8, so
it is written back as a ``\\uXXXX`` escape (``json.loads`` gives the same
string back). Fed text itself is expected to be valid Unicode (decoded UTF-8,
as vLLM's detokenizer produces): string values stream their characters as
they are, unchecked, because checking every delta would cost the hot path.
"""

from __future__ import annotations

import json
import re
from json.encoder import encode_basestring  # the C implementation when available
from typing import Any

__all__ = ["ArgumentsWriter", "escape_chunk", "escape_surrogates", "has_surrogate"]

_SURROGATE = re.compile("[\ud800-\udfff]")


def has_surrogate(text: str) -> bool:
    return not text.isascii() and _SURROGATE.search(text) is not None


def escape_surrogates(json_text: str) -> str:
    """Write the lone surrogates of JSON text as ``\\uXXXX`` escapes (valid in and out of strings)."""
    if not has_surrogate(json_text):
        return json_text
    return _SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", json_text)


def escape_chunk(text: str) -> str:
    """JSON-escape ``text`` for the inside of a string literal (no quotes)."""
    return encode_basestring(text)[1:-1]


class ArgumentsWriter:
    __slots__ = ("_count", "_in_string", "_closed")

    def __init__(self) -> None:
        self._count = 0
        self._in_string = False
        self._closed = False

    def open(self) -> str:
        return "{"

    def _key(self, key: str) -> str:
        prefix = ", " if self._count else ""
        self._count += 1
        return prefix + escape_surrogates(encode_basestring(key)) + ": "

    def string_start(self, key: str) -> str:
        """Begin a string value; follow with escaped chunks and :meth:`string_end`."""
        self._in_string = True
        return self._key(key) + '"'

    def string_end(self) -> str:
        self._in_string = False
        return '"'

    def value(self, key: str, value: Any) -> str:
        """A complete value of any JSON type."""
        return self._key(key) + escape_surrogates(json.dumps(value, ensure_ascii=False))

    def closer(self) -> str:
        """The text that would close the arguments now (``""`` once closed)."""
        if self._closed:
            return ""
        return '"}' if self._in_string else "}"

    def close(self) -> str:
        text = self.closer()
        self._in_string = False
        self._closed = True
        return text
