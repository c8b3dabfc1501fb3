"""Hermes-style calls: a JSON object inside ``<tool_call>`` ... ``</tool_call>``.

``<tool_call>\\n{"name": "f", "arguments": {...}}\\n</tool_call>`` is what Qwen
models write under a Hermes-style template. The parser's ``json_body`` and
``json_tail`` states read such a body with a :class:`JsonBody`; when it ends,
:func:`json_call` says whether it is a call. The drifted frames whose arguments are JSON
(docs/drift.md) are read the same way, with the body's ``shape`` set.
"""

from __future__ import annotations

import json
import re
from collections.abc import Container
from typing import Any

from . import _scanner as sc
from ._coerce import read_json_object
from ._drift import Shape

__all__ = ["BODY_ENDS", "JsonBody", "json_call"]

BODY_ENDS = (sc.CALL_END, sc.CALL_START, sc.FUNCTION_START)
"""What may end a body: its ``</tool_call>``, or the next call when it has none."""


class JsonBody:
    """The text of a ``<tool_call>`` body that starts with ``{``, read in pieces.

    ``watch``: the body may still end without ``</tool_call>`` (no call start
    was seen in it yet). ``nesting``: once a call start shows up inside the
    body, its JSON nesting is followed to find where the object closes.
    """

    __slots__ = ("nesting", "parts", "prefix", "shape", "suffix", "watch")

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.watch = True
        self.nesting: sc.JsonNesting | None = None
        # A drifted frame's JSON (docs/drift.md): its shape, and the text around the body that
        # makes it a Hermes call object (``{"name": "TOOL", "arguments": `` ... ``}``).
        self.shape: Shape | None = None
        self.prefix = ""
        self.suffix = ""

    def window(self, buf: str, pos: int, final: bool) -> tuple[int, int]:
        """(start of ``</tool_call>`` or -1, end of the body text that can be consumed now)."""
        end = buf.find(sc.CALL_END, pos)
        if end >= 0 or final:
            return end, end if end >= 0 else len(buf)
        # Keep a possible partial marker at the end (every marker starts with "<").
        lt = buf.find("<", max(pos, len(buf) - len(sc.CALL_END) + 1))
        while lt >= 0:
            tail = buf[lt:]
            if any(marker.startswith(tail) for marker in BODY_ENDS):
                return end, lt
            lt = buf.find("<", lt + 1)
        return end, len(buf)

    def take(self) -> str:
        """The body read so far, emptied."""
        body = "".join(self.parts)
        self.parts = []
        return body


# A drifted head fusing XML into the JSON: {"function=NAME", ...}, {"name=\"NAME\"", ...}
_FUSED_HEAD = re.compile(r"""\{\s*"(?:function|name)\s*=\s*(?:\\"|')?([^"\\'\s]+)(?:\\"|')?\s*"\s*,""")


def json_call(body: str, tools: Container[str]) -> tuple[str, dict[str, Any], bool] | None:
    """``{"name": ..., "arguments": {...}}`` as (name, arguments, drifted), or None.

    Members too deep for JSON or holding non-finite numbers are kept as their
    JSON text (docs/behaviour.md, "Hostile input"); a name kept that way is no name.
    ``drifted``: the body was a near-JSON frame naming one of the declared
    ``tools`` (docs/drift.md, "fused-json"): ``{"function=NAME", "arguments": ...}``,
    ``{"name=\\"NAME\\"", ...}``, or ``{"function": "NAME", ...}`` without a name.
    """
    drifted = False
    read = read_json_object(body)
    if read is None:
        head = _FUSED_HEAD.match(body)
        if head is None or head[1] not in tools:
            return None
        read = read_json_object('{"name": ' + json.dumps(head[1]) + ", " + body[head.end() :])
        if read is None:
            return None
        drifted = True
    obj, kept = read
    name = obj.get("name")
    if "name" not in obj and "function" not in kept:
        function = obj.get("function")
        if isinstance(function, str) and function in tools:
            name, drifted = function, True
    if not isinstance(name, str) or not name or "name" in kept:
        return None
    arguments = obj.get("arguments", obj.get("parameters", {}))
    if isinstance(arguments, str):  # JSON text of the arguments (or kept as text above)
        read = read_json_object(arguments)
        arguments = read[0] if read is not None else None
    if not isinstance(arguments, dict):
        return None
    return name, arguments, drifted
