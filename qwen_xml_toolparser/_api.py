"""Non-streaming parsing: the streaming machine fed the whole text at once."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ._events import ArgumentsDelta, ContentDelta, ToolCallEnd, ToolCallStart
from ._parser import StreamParser, new_call_id, not_text_error

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
    id_factory: Callable[[], str] = new_call_id,
    cut_off: bool | Callable[[], bool] = False,
    drop_think: bool = False,
) -> ParseResult:
    """Parse a complete model output (docs/behaviour.md, "The end of the output").

    A call whose values are all closed is complete even without
    ``</function>`` / ``</tool_call>``. When the output ends inside a value,
    the call is returned (the model ended it there) unless ``cut_off`` says
    that the token limit ended the output: then there is no call and its text
    is not content either. ``cut_off`` may be a function, called only when
    that question arises. Markup that opens a call at the very end
    (``<tool_call>``, ``<tool_call><function=na``) is never content.
    ``drop_think``: see :class:`StreamParser`.
    """
    if not isinstance(text, str):
        raise not_text_error("parse()", text)
    parser = StreamParser(tools, id_factory=id_factory, drop_think=drop_think)
    content: list[str] = []
    calls: dict[int, tuple[ToolCallStart, list[str]]] = {}
    done: list[ToolCall] = []
    for event in parser.feed(text) + parser.finish():
        if isinstance(event, ContentDelta):
            content.append(event.text)
        elif isinstance(event, ToolCallStart):
            calls[event.index] = (event, [])
        elif isinstance(event, ArgumentsDelta):
            calls[event.index][1].append(event.text)
        elif isinstance(event, ToolCallEnd):
            start, parts = calls.pop(event.index)
            if not (event.truncated and (cut_off() if callable(cut_off) else cut_off)):
                done.append(ToolCall(start.id, start.name, "".join(parts)))
    joined = "".join(content)
    return ParseResult(joined or None, done)
