"""Drive the core parser whole, per character and in random pieces."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from typing import Any, Protocol

from qwen_xml_toolparser import (
    ArgumentsDelta,
    ContentDelta,
    StreamParser,
    ToolCallEnd,
    ToolCallStart,
    parse,
)
from qxt_support.equality import strict_equal


def tool(name: str, **properties: Any) -> dict[str, Any]:
    return {"type": "function", "function": {"name": name, "parameters": {"type": "object", "properties": properties}}}


class Feedable(Protocol):
    """A sans-I/O machine of the core: StreamParser, ReasoningSplitter."""

    def feed(self, text: str) -> Sequence[Any]: ...

    def finish(self) -> Sequence[Any]: ...


def feed_in_pieces(machine: Feedable, text: str, pieces: list[int] | None = None) -> list[Any]:
    """Feed ``text`` in pieces of the given sizes (the rest in one piece), then finish; all events."""
    events: list[Any] = []
    pos = 0
    for size in pieces or []:
        events += machine.feed(text[pos : pos + size])
        pos += size
    events += machine.feed(text[pos:])
    events += machine.finish()
    return events


def stream(text: str, tools: Any = None, pieces: list[int] | None = None) -> tuple[str, list[tuple[str, str]], list]:
    """Feed ``text`` in pieces of the given sizes; return content, [(name, args)], events."""
    events = feed_in_pieces(StreamParser(tools), text, pieces)
    content = "".join(e.text for e in events if isinstance(e, ContentDelta))
    calls: dict[int, list[str]] = {}
    for e in events:
        if isinstance(e, ToolCallStart):
            assert e.index not in calls, "index started twice"
            calls[e.index] = [e.name, ""]
        elif isinstance(e, ArgumentsDelta):
            calls[e.index][1] += e.text
    return content, [(n, a) for n, a in calls.values()], events


def splits(text: str, seed: int = 0) -> list[list[int]]:
    rnd = random.Random(seed)
    out: list[list[int]] = [[], [1] * len(text)]
    for _ in range(3):
        sizes, left = [], len(text)
        while left > 0:
            k = rnd.randint(1, 12)
            sizes.append(k)
            left -= k
        out.append(sizes)
    return out


def check(text: str, tools: Any = None) -> tuple[str | None, list[tuple[str, Any]]]:
    """Parse whole and streamed in several splittings; all must agree. Returns (content, calls)."""
    result = parse(text, tools)
    whole = (result.content or "", [(c.name, c.arguments) for c in result.tool_calls])
    for pieces in splits(text):
        content, calls, events = stream(text, tools, pieces)
        for _, args in calls:
            assert isinstance(json.loads(args), dict)
        truncated = any(isinstance(e, ToolCallEnd) and e.truncated for e in events)
        if not truncated:
            assert (content, calls) == whole, pieces
    return result.content, [(c.name, json.loads(c.arguments)) for c in result.tool_calls]


same = strict_equal  # equality that tells 1, 1.0 and True apart
