"""The SGLang function-call detector around :class:`~qwen_xml_toolparser.StreamParser`.

SGLang 0.5.23 has no ``--tool-parser-plugin``; it loads general plugins from the entry-point
group ``sglang.srt.plugins`` (filtered by ``SGLANG_PLUGINS``) before it parses its command line,
and takes ``--tool-call-parser`` names from ``FunctionCallParser.ToolCallParserEnum``.
:func:`register` (the package's ``sglang.srt.plugins`` entry point ``qwen_xml_safe``) adds
``qwen_xml_safe`` there. This is the only module that imports SGLang.

SGLang builds one ``FunctionCallParser`` (and so one detector) per request and choice, and calls:

* non-streaming (``OpenAIServingChat._process_tool_calls``): ``has_tool_call(text)`` as a gate,
  then ``detect_and_parse(text, tools)`` for the whole output. The gate gets no tools, so it
  answers for every output the parser could read a call from or drop markup in (see
  :meth:`QwenXmlSafeDetector.has_tool_call`); the parse of the whole output is done once;
* streaming (``_process_tool_call_stream``): ``parse_streaming_increment(delta, tools)`` once per
  engine output with the new text only (the core is fed that text, never the whole output), and
  ``finish(tools)`` on the output that carries the finish reason (not on an abort): held-back
  text is released and an open call's JSON closed there. A call's first item carries its
  ``name`` with ``parameters: ""``, later items carry argument text; the serving layer makes
  the id, and uses ``tool_index`` (here: the call's position in the output) as the delta index.
  ``prev_tool_call_arr`` stays empty, so the serving layer's end-of-stream remainder
  (``_check_for_unstreamed_tool_args``) adds nothing: ``finish`` has sent it all.

What SGLang does not tell a detector (README, "SGLang"): the finish reason and the request. An
output cut off by the token limit inside a call therefore gives the call with its JSON closed in
both modes (SGLang reports ``finish_reason: "length"``); on vLLM non-streaming leaves such a call
out. Stray ``<think>`` / ``</think>`` markup is dropped when the serving object that builds the
detector runs a reasoning parser (``--reasoning-parser``), and is content as written otherwise.

Forced tool choice: SGLang asks the detector for a structural tag (``get_structural_tag``) for
``tool_choice`` required / named and for strict tools; this is xgrammar's builtin
``qwen_3_coder`` tag with the calls' contents replaced by the value language the parser reads
back exactly (``_grammar.widen_structural_tag``, as on vLLM: docs/grammar.md).
"""

from __future__ import annotations

import json
import logging
import sys
from types import FrameType
from typing import Any

from sglang.srt.function_call.base_format_detector import BaseFormatDetector
from sglang.srt.function_call.core_types import StreamingParseResult, StructureInfo, ToolCallItem, _GetInfoFunc
from sglang.srt.function_call.function_call_parser import FunctionCallParser

from ._api import ParseResult, parse
from ._drift import tools_may_read
from ._events import ArgumentsDelta, ContentDelta, ToolCallStart
from ._grammar import CALL_BEGIN, CALL_TAG_END, declared_parameters, widen_structural_tag
from ._parser import StreamParser

__all__ = ["PARSER_NAME", "QwenXmlSafeDetector", "register"]

PARSER_NAME = "qwen_xml_safe"
logger = logging.getLogger("qwen_xml_toolparser")

# Built with their validating constructors: on pydantic 2.14 ``model_construct`` is about three
# times slower (8 µs against 2.7 µs for a result with one item).
def _result(content: str, calls: list[ToolCallItem]) -> StreamingParseResult:
    return StreamingParseResult(normal_text=content, calls=calls)


def _item(index: int, parameters: str, name: str | None = None) -> ToolCallItem:
    return ToolCallItem(tool_index=index, name=name, parameters=parameters)


class QwenXmlSafeDetector(BaseFormatDetector):  # type: ignore[misc]
    """SGLang detector for Qwen3-Coder / Qwen3.5+ XML tool calls (``qwen_xml_safe``)."""

    def __init__(self) -> None:
        super().__init__()
        self.bot_token = "<tool_call>"
        self.eot_token = "</tool_call>"
        self._drop_think = _reasoning_parser_configured()
        self._core: StreamParser | None = None
        self._whole: tuple[str, Any, ParseResult] | None = None  # (text, tools, result) parsed last
        self._open = -1  # the call whose arguments are streaming
        self._sent = ""  # its arguments text sent so far (only read on an internal error)
        self._passthrough = False  # after an internal error: the rest is content

    # ── non-streaming ────────────────────────────────────────────────────────

    def has_tool_call(self, text: str) -> bool:
        """Would the parse of ``text`` differ from ``text`` as content, with no call?

        SGLang asks this without the request's tools before it parses (and keeps the output as
        it is when the answer is no). Declared tools only add readings of the drift shapes, whose
        heads :func:`~._drift.tools_may_read` looks for; without them the parse without tools decides.
        """
        if tools_may_read(text):
            return True
        try:
            result = self._parse(text, None)
        except Exception:
            logger.exception("qwen_xml_safe: internal error; returning the output as content")
            return False
        return bool(result.tool_calls) or result.content != (text or None)

    def detect_and_parse(self, text: str, tools: Any) -> StreamingParseResult:
        try:
            result = self._parse(text, tools)
        except Exception:  # never let a parser bug fail the request
            logger.exception("qwen_xml_safe: internal error; returning the output as content")
            return _result(text, [])
        calls = [_item(i, call.arguments, call.name) for i, call in enumerate(result.tool_calls)]
        return _result(result.content or "", calls)

    def _parse(self, text: str, tools: Any) -> ParseResult:
        """The whole output parsed once, whichever of SGLang's calls asks first."""
        whole = self._whole
        if whole is not None and whole[0] is text and whole[1] is tools:
            return whole[2]
        result = parse(text, tools or None, drop_think=self._drop_think)
        self._whole = (text, tools, result)
        return result

    # ── streaming ────────────────────────────────────────────────────────────

    def parse_streaming_increment(self, new_text: str, tools: Any) -> StreamingParseResult:
        if self._passthrough:
            return _result(new_text, [])
        try:
            core = self._core
            if core is None:
                core = self._core = StreamParser(tools or None, drop_think=self._drop_think)
            if not new_text:
                return _result("", [])
            events = core.feed(new_text)
            if len(events) == 1 and type(events[0]) is ArgumentsDelta:  # the hot path: a piece of a value
                text = events[0].text
                self._sent += text
                return _result("", [_item(events[0].index, text)])
            return self._convert(events)
        except Exception:
            return self._fail(new_text)

    def finish(self, tools: Any) -> StreamingParseResult:
        """The end of the output (SGLang calls this on the last engine output, not on an abort)."""
        if self._passthrough or self._core is None:
            return _result("", [])
        try:
            core, self._core = self._core, None
            result = self._convert(core.finish())
            self._passthrough = True  # nothing is parsed after the end
            return result
        except Exception:
            return self._fail("")

    def _convert(self, events: list[Any]) -> StreamingParseResult:
        """Content and one item per call header / run of argument pieces, in order."""
        content: list[str] = []
        calls: list[ToolCallItem] = []
        args: list[str] = []  # pieces of the open call's arguments not yet in an item
        for event in events:
            kind = type(event)
            if kind is ArgumentsDelta:
                args.append(event.text)
                continue
            if args:
                calls.append(self._arguments(args))
                args = []
            if kind is ContentDelta:
                content.append(event.text)
            elif kind is ToolCallStart:
                self._open, self._sent = event.index, ""
                calls.append(_item(event.index, "", event.name))
        if args:
            calls.append(self._arguments(args))
        return _result("".join(content), calls)

    def _arguments(self, pieces: list[str]) -> ToolCallItem:
        """One item for pieces of the open call's arguments (the core ends a call before the next starts)."""
        text = "".join(pieces)
        self._sent += text
        return _item(self._open, text)

    def _fail(self, new_text: str) -> StreamingParseResult:
        """Log an internal error and pass the rest of the output through as content."""
        self._passthrough = True
        logger.exception("qwen_xml_safe: internal error; passing the rest of the output through as content")
        calls: list[ToolCallItem] = []
        try:  # close a call whose arguments are open, so that they stay valid JSON
            closing = self._core.closing_text() if self._core is not None and self._open >= 0 else ""
            if closing:
                json.loads(self._sent + closing)  # only send a closer that closes
                calls.append(_item(self._open, closing))
        except Exception:
            pass
        return _result(new_text, calls)

    # ── constrained generation ───────────────────────────────────────────────

    def supports_structural_tag(self) -> bool:
        return True

    def structure_info(self) -> _GetInfoFunc:
        """Begin / end of one call (SGLang's legacy structural tag, used when xgrammar has no model tag)."""
        return lambda name: StructureInfo(begin=f"{CALL_BEGIN}{name}>\n", end=CALL_TAG_END, trigger="<tool_call>")

    def get_structural_tag_name(self) -> str:
        return "qwen_3_coder"

    def get_structural_tag(self, tools: Any = None, *args: Any, **kwargs: Any) -> Any:
        """xgrammar's ``qwen_3_coder`` tag (as SGLang's ``qwen3_coder``), calls' contents widened.

        SGLang asks for it with ``tool_choice`` required / named, and with ``auto`` when a tool is
        ``strict`` or ``SGLANG_TOOL_STRICT_LEVEL`` is set (its tools then come marked strict).
        """
        tag = super().get_structural_tag(tools, *args, **kwargs)
        if tag is None:
            return None
        try:
            from xgrammar import StructuralTag
            from xgrammar.structural_tag import JSONSchemaFormat

            dumped = [tool.model_dump() if hasattr(tool, "model_dump") else tool for tool in tools or ()]
            widened = widen_structural_tag(tag.model_dump(), declared_parameters(dumped),
                                           "excludes" in JSONSchemaFormat.model_fields)
            return StructuralTag.model_validate(widened)
        except Exception:  # never fail a request over the grammar: the builtin one is still valid
            logger.exception("qwen_xml_safe: could not build the structural tag; using the builtin one")
            return tag


def _reasoning_parser_configured() -> bool:
    """Does the SGLang object that builds this detector run a reasoning parser?

    SGLang gives a detector no such argument. The serving objects (``OpenAIServingChat`` and its
    ``OpenAIServingResponses``) build ``FunctionCallParser(...)``, which builds the detector, in
    their own methods, and hold ``reasoning_parser`` (the ``--reasoning-parser`` name or None):
    the first caller frame whose ``self`` has that attribute answers. Called from ``__init__``.
    """
    frame: FrameType | None = sys._getframe(2)
    for _ in range(4):
        if frame is None:
            break
        owner = frame.f_locals.get("self")
        if owner is not None and hasattr(owner, "reasoning_parser"):
            return bool(owner.reasoning_parser)
        frame = frame.f_back
    return False


def register() -> None:
    """Add ``qwen_xml_safe`` to SGLang's ``--tool-call-parser`` choices (safe to call again)."""
    FunctionCallParser.ToolCallParserEnum[PARSER_NAME] = QwenXmlSafeDetector
