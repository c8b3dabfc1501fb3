"""Events produced by :class:`~qwen_xml_toolparser.StreamParser`.

Events form a closed set of frozen classes; do not subclass them. Delta
boundaries carry no meaning: consumers concatenate ``ContentDelta.text`` and,
per call index, ``ArgumentsDelta.text``. The arguments text of a call is always
a prefix of ``json.dumps(arguments, ensure_ascii=False)`` of its final
arguments, and equals it once :class:`ToolCallEnd` has been produced.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ArgumentsDelta", "ContentDelta", "Event", "ToolCallEnd", "ToolCallStart"]


@dataclass(frozen=True, slots=True)
class ContentDelta:
    """Text for the assistant message's ``content``."""

    text: str


@dataclass(frozen=True, slots=True)
class ToolCallStart:
    """A tool call begins.

    ``offset`` is where the call's text starts in the input: its markup, or the
    whitespace before it that was dropped as template markup.
    """

    index: int
    id: str
    name: str
    offset: int


@dataclass(frozen=True, slots=True)
class ArgumentsDelta:
    """The next piece of call ``index``'s JSON arguments text."""

    index: int
    text: str


@dataclass(frozen=True, slots=True)
class ToolCallEnd:
    """Call ``index`` is complete; its arguments text is now valid JSON.

    ``truncated`` is true when the output ended inside one of the call's
    values (or a parameter header): the parser closed the JSON itself. A call
    that ends with the output after its last value closed is not truncated.
    """

    index: int
    truncated: bool = False


Event = ContentDelta | ToolCallStart | ArgumentsDelta | ToolCallEnd
