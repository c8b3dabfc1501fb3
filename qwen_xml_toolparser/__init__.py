"""Correct, streaming tool-call parsing for Qwen's XML tool-call format.

The core is sans-I/O and does not import vLLM::

    from qwen_xml_toolparser import StreamParser, parse

    result = parse(model_output, tools)          # whole output
    parser = StreamParser(tools)                  # streaming
    for delta in deltas:
        for event in parser.feed(delta): ...
    for event in parser.finish(): ...

The vLLM plugin is ``qwen_xml_toolparser/plugin.py`` (parser name
``qwen_xml_safe``).
"""

from ._api import ParseResult, ToolCall, parse
from ._events import ArgumentsDelta, ContentDelta, Event, ToolCallEnd, ToolCallStart
from ._parser import ParserFinishedError, StreamParser

__all__ = [
    "ArgumentsDelta",
    "ContentDelta",
    "Event",
    "ParseResult",
    "ParserFinishedError",
    "StreamParser",
    "ToolCall",
    "ToolCallEnd",
    "ToolCallStart",
    "parse",
]

__version__ = "0.1.0"
