"""Non-streaming parsing: the streaming machine fed the whole text at once."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ._events import ArgumentsDelta, ContentDelta, ToolCallEnd, ToolCallStart
from ._parser import StreamParser, _default_id, not_text_error

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
) -> ParseResult:
    """Parse a complete model output.

    A call cut off by the end of the output (no ``</function>`` and no
    ``</tool_call>``) is not returned; its raw text (and the whitespace before
    it) is kept as content.
    """
    if not isinstance(text, str):
        raise not_text_error("parse()", text)
    parser = StreamParser(tools, id_factory=id_factory)
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
            if event.truncated:
                content.append(text[start.offset :])
            else:
                done.append(ToolCall(start.id, start.name, "".join(parts)))
    if parser.unfinished_offset is not None:
        content.append(text[parser.unfinished_offset :])
    joined = "".join(content)
    return ParseResult(joined or None, done)
