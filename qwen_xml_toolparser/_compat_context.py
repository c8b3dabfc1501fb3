"""What vLLM's serving layer does not tell a tool parser, found out where it can be.

vLLM gives a tool parser the tokenizer, the tools and the text; not whether a reasoning parser
runs next to it, nor the engine's finish reason of a non-streaming output; and a reasoning parser
not always the prompt before the output. These are read from the
objects of the vLLM code that calls the parser, a few stack frames up; this module is the only
place that reads frames. Each reading is checked on every version of the CI matrix through the
real serving layer (tests/serving/test_serving_context.py). When a reading finds nothing (another
caller, or a vLLM that moved the object), it says so once per process at INFO, with the fallback
that applies, and returns None.
"""

from __future__ import annotations

import sys
from types import FrameType
from typing import Any

from ._compat import ToolParser
from ._compat_logging import logger

__all__ = ["engine_finish_reason", "engine_prompt_token_ids", "reasoning_parser_configured",
           "tells_no_reasoning_parser"]

_REPORTED: set[str] = set()  # what was logged as not found, once per process


def _not_found(what: str, fallback: str) -> None:
    if what not in _REPORTED:
        _REPORTED.add(what)
        logger.info("qwen_xml_safe: %s not found in the calling vLLM code; %s", what, fallback)


def reasoning_parser_configured() -> bool | None:
    """Whether the vLLM object building the calling tool parser has a reasoning parser.

    The object that builds it is a frame or two up: the composed ``Parser`` (0.23+,
    ``_reasoning_parser``) or the OpenAI serving object (<= 0.22, ``reasoning_parser`` /
    ``reasoning_parser_cls``). None when no such object is found. Call it from the tool parser's
    ``__init__``.
    """
    frame: FrameType | None = sys._getframe(2)
    for _ in range(3):
        if frame is None:
            break
        owner = frame.f_locals.get("self")
        if owner is not None and type(owner).__module__.startswith("vllm."):
            fields = getattr(owner, "__dict__", {})
            for attr in ("_reasoning_parser", "reasoning_parser_cls", "reasoning_parser"):
                if attr in fields:
                    return fields[attr] is not None
        frame = frame.f_back
    _not_found("whether a reasoning parser runs", "<think> markup is content" + (
        " unless vLLM sets skip_reasoning_parsing" if tells_no_reasoning_parser() else ""))
    return None


def engine_finish_reason() -> str | None:
    """The engine's finish reason of the output the calling serving layer is parsing.

    Every serving layer of the matrix holds the engine's ``CompletionOutput`` in a local
    ``output`` a few frames up. None when it is not found: the adapter then counts tokens against
    the request's ``max_tokens`` instead.
    """
    frame: FrameType | None = sys._getframe(2)
    for _ in range(10):
        if frame is None:
            break
        output = frame.f_locals.get("output")
        if type(output).__name__ == "CompletionOutput" and type(output).__module__.startswith("vllm."):
            reason = getattr(output, "finish_reason", None)
            return reason if isinstance(reason, str) else None
        frame = frame.f_back
    _not_found("the engine's finish reason", "a cut-off is told from the request's max_tokens")
    return None


def engine_prompt_token_ids() -> list[int] | None:
    """The prompt token ids of the output a reasoning parser is splitting.

    vLLM shows a reasoning parser the prompt before the output only from 0.26 when streaming and
    0.33 when not; the serving layer that calls it (every version of the matrix) holds the engine's
    ``RequestOutput`` in a local a few frames up: ``final_res`` (non-streaming) or ``res``
    (streaming). None when it is not found (another caller).
    """
    frame: FrameType | None = sys._getframe(2)
    for _ in range(10):
        if frame is None:
            break
        for name in ("final_res", "res"):
            found = frame.f_locals.get(name)
            if type(found).__name__ == "RequestOutput" and type(found).__module__.startswith("vllm."):
                ids = getattr(found, "prompt_token_ids", None)
                return list(ids) if ids is not None else None
        frame = frame.f_back
    _not_found("the request's prompt token ids", "the reasoning parser reads the output alone")
    return None


_TELLS_NO_REASONING: bool | None = None


def tells_no_reasoning_parser() -> bool:
    """Whether this vLLM sets ``skip_reasoning_parsing`` on a tool parser that runs without a
    reasoning parser (0.31+). Where it does, a tool parser that was not told runs next to one.

    Found by building vLLM's composed ``Parser`` with a stand-in tool parser and no reasoning
    parser, and looking at the flag (not by reading vLLM's source, which an install may lack).
    """
    global _TELLS_NO_REASONING
    if _TELLS_NO_REASONING is None:
        _TELLS_NO_REASONING = _probe_skip_reasoning_parsing()
    return _TELLS_NO_REASONING


def _probe_skip_reasoning_parsing() -> bool:
    try:
        from vllm.parser.abstract_parser import Parser
    except Exception:  # no vllm.parser (< 0.16)
        return False

    class _Probe(ToolParser):  # type: ignore[misc]
        skip_reasoning_parsing: bool | None = None
        engine_based_streaming = True

        def __init__(self, *args: Any, **kwargs: Any) -> None:  # no tokenizer needed
            pass

    try:
        composed: Any = type("_ProbeParser", (Parser,), {"tool_parser_cls": _Probe, "reasoning_parser_cls": None})
        tool_parser = composed(None, None)._tool_parser
    except Exception:  # an earlier vllm.parser (0.16 - 0.22) that builds differently
        return False
    return getattr(tool_parser, "skip_reasoning_parsing", None) is True
