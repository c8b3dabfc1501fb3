"""Non-streaming parsing: the streaming machine fed the whole text at once."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ._events import ArgumentsDelta, ContentDelta, ToolCallEnd, ToolCallStart
from ._parser import StreamParser, _default_id, not_text_error
from ._schema import function_schemas

__all__ = ["ParseResult", "ToolCall", "parse"]


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One complete tool call. ``arguments`` is JSON text of an object."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class ParseResult:
    """``content`` is None when there is no content text."""

    content: str | None
    tool_calls: list[ToolCall] = field(default_factory=list)


def parse(
    text: str,
    tools: Iterable[Any] | None = None,
    *,
    id_factory: Callable[[], str] = _default_id,
    cut_off: bool | Callable[[], bool] = False,
    drop_think: bool = False,
) -> ParseResult:
    """Parse a complete model output (docs/behaviour.md, "The end of the output").

    A call whose values are all closed is complete even without
    ``</function>`` / ``</tool_call>``, and the call is returned when the
    model ended the output inside a value. ``cut_off`` says that the token
    limit ended the output: then a call open at the end is returned only if
    it is complete by its schema (no value cut, every required parameter
    given; a function without required parameters is complete at its
    header); otherwise there is no call and its text is not content either.
    ``cut_off`` may be a function, called only when that question arises
    (at most once). Markup that opens a call at the very end (``<tool_call>``,
    ``<tool_call><function=na``) is never content. ``drop_think``: see
    :class:`StreamParser`.
    """
    if not isinstance(text, str):
        raise not_text_error("parse()", text)
    parser = StreamParser(tools, id_factory=id_factory, drop_think=drop_think)
    events = parser.feed(text)
    fed = len(events)  # events after these come from the end of the output
    events += parser.finish()
    content: list[str] = []
    calls: dict[int, tuple[ToolCallStart, list[str]]] = {}
    done: list[ToolCall] = []
    cut: list[bool] = []  # cut_off, once asked

    def was_cut() -> bool:
        if not cut:
            cut.append(cut_off() if callable(cut_off) else cut_off)
        return cut[0]

    for n, event in enumerate(events):
        if isinstance(event, ContentDelta):
            content.append(event.text)
        elif isinstance(event, ToolCallStart):
            calls[event.index] = (event, [])
        elif isinstance(event, ArgumentsDelta):
            calls[event.index][1].append(event.text)
        elif isinstance(event, ToolCallEnd):
            start, parts = calls.pop(event.index)
            arguments = "".join(parts)
            at_end = n >= fed  # closed by the end of the output, not by its own markup
            if not (at_end and (event.truncated or _missing_required(start.name, arguments, tools)) and was_cut()):
                done.append(ToolCall(start.id, start.name, arguments))
    joined = "".join(content)
    return ParseResult(joined or None, done)


def _missing_required(name: str, arguments: str, tools: Iterable[Any] | None) -> bool:
    """Does the call lack a parameter its function's schema requires? (Asked only at a cut.)"""
    schema = function_schemas(tools).get(name)
    if schema is None or not schema.required:
        return False
    given = json.loads(arguments)
    return any(key not in given for key in schema.required)
