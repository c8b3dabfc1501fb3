"""vLLM's symbols and version facts, resolved once for the installed version.

vLLM moved the tool-parser API and the protocol classes between releases
(docs/compat-notes.md). Each symbol is looked up in the known locations, newest
first; the adapter imports from here and stays free of version checks. The other
concerns of running inside vLLM have their own modules: ``_compat_logging`` (log
routing), ``_compat_context`` (what the serving layer does not tell a parser) and
``_compat_grammar`` (grammar generations).
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from ._versions import version_tuple

__all__ = [
    "CALLS_SHARE_A_CHUNK",
    "DeltaFunctionCall",
    "DeltaMessage",
    "DeltaToolCall",
    "ExtractedToolCallInformation",
    "FunctionCall",
    "HEADER_TAKES_ARGUMENTS",
    "MIN_VLLM",
    "ReasoningEnd",
    "ReasoningParser",
    "ReasoningParserManager",
    "TOOLS_CALLED_SETS_FINISH_REASON",
    "ToolCall",
    "ToolParser",
    "ToolParserManager",
    "TOOL_PARSER_TAKES_TOOLS",
    "VLLM_VERSION",
    "chat_request_class",
    "init_tool_parser",
]

MIN_VLLM = (0, 10, 1)
SUPPORTED = "vLLM 0.10.1 or newer (tested: 0.10.2 through 0.34.0)"


try:
    import vllm
except ImportError as exc:  # pragma: no cover - exercised only without vLLM
    raise ImportError(
        "qwen_xml_toolparser.plugin needs vLLM: install it into the environment that runs "
        f"`vllm serve` ({SUPPORTED}). The parser core (qwen_xml_toolparser.parse / "
        "StreamParser) works without vLLM."
    ) from exc

VLLM_VERSION: str = getattr(vllm, "__version__", "0")
if (0, 0, 0) < version_tuple(VLLM_VERSION) < MIN_VLLM:  # (0, 0, 0): no version to read
    raise ImportError(
        f"qwen_xml_safe does not support vLLM {VLLM_VERSION}: it needs {SUPPORTED}. "
        "vLLM 0.10.0 rejects custom --tool-call-parser names; upgrade vLLM."
    )


def _first(symbol: str, *modules: str) -> Any:
    errors = []
    for name in modules:
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            errors.append(f"{name}: {exc}")
            continue
        if hasattr(module, symbol):
            return getattr(module, symbol)
        errors.append(f"{name}: no {symbol}")
    raise ImportError(
        f"cannot find vLLM's {symbol} in vLLM {VLLM_VERSION} ({'; '.join(errors)}); "
        f"qwen_xml_safe supports {SUPPORTED}"
    )


_TOOL_PARSERS = ("vllm.tool_parsers", "vllm.entrypoints.openai.tool_parsers")
_PROTOCOL = (
    "vllm.entrypoints.generate.base.protocol",  # 0.29+
    "vllm.entrypoints.openai.engine.protocol",  # 0.15 - 0.28
    "vllm.entrypoints.openai.protocol",  # 0.10 - 0.14
)

ToolParser: Any = _first("ToolParser", *_TOOL_PARSERS)
ToolParserManager: Any = _first("ToolParserManager", *_TOOL_PARSERS)
DeltaMessage: Any = _first("DeltaMessage", *_PROTOCOL)
DeltaToolCall: Any = _first("DeltaToolCall", *_PROTOCOL)
DeltaFunctionCall: Any = _first("DeltaFunctionCall", *_PROTOCOL)
ExtractedToolCallInformation: Any = _first("ExtractedToolCallInformation", *_PROTOCOL)
FunctionCall: Any = _first("FunctionCall", *_PROTOCOL)
ToolCall: Any = _first("ToolCall", *_PROTOCOL)
# The reasoning-parser API (qwen_xml_toolparser/_vllm_reasoning.py): in vllm.reasoning on every version.
ReasoningParser: Any = _first("ReasoningParser", "vllm.reasoning")
ReasoningParserManager: Any = _first("ReasoningParserManager", "vllm.reasoning")
# vLLM 0.34: structured outputs ask any reasoning parser where reasoning ends, by token id.
ReasoningEnd: Any = (_first("ReasoningEnd", "vllm.parser.engine.parser_engine")
                     if hasattr(ReasoningParser, "find_reasoning_end") else None)

# ToolParser.__init__ gained ``tools`` in vLLM 0.19; the serving layer builds a parser with the
# request's tools from then on (``cls(tokenizer, request.tools)``, before ``cls(tokenizer)``).
TOOL_PARSER_TAKES_TOOLS = "tools" in inspect.signature(ToolParser.__init__).parameters


def init_tool_parser(parser: Any, tokenizer: Any, tools: Any) -> None:
    """Call ``ToolParser.__init__`` with the arguments this vLLM accepts."""
    if TOOL_PARSER_TAKES_TOOLS:
        ToolParser.__init__(parser, tokenizer, tools)
    else:
        ToolParser.__init__(parser, tokenizer)


def chat_request_class() -> Any:
    """vLLM's ``ChatCompletionRequest`` (looked up when asked: the plugin itself never builds one)."""
    return _first(
        "ChatCompletionRequest",
        "vllm.entrypoints.openai.chat_completion.protocol",  # 0.15+
        "vllm.entrypoints.openai.protocol",
    )


# What the serving layer keeps of a chunk that is not known to be the stream's last
# (docs/compat-notes.md §4). Before 0.23 (A - C), a last chunk whose first tool call has arguments
# is rewritten into "the rest of the last call" alone; a stop string ends a stream without the
# parser knowing, so any chunk may turn out to be the last: one call per chunk there (a second call
# of the same chunk waits for the next). 0.23+ (D, feature-tested: the serving layer asks the
# parser for the rest, ``get_remaining_unstreamed_args``) append the rest to the chunk's last call.
CALLS_SHARE_A_CHUNK = hasattr(ToolParser, "get_remaining_unstreamed_args")
# 0.12 - 0.16's /v1/messages (``serving_messages.py`` / ``serving.py``) read only ``tool_calls[0]``
# of a chunk and drop the arguments of an entry that carries a call's id: a header goes alone there.
HEADER_TAKES_ARGUMENTS = not ((0, 12) <= version_tuple(VLLM_VERSION) < (0, 17))

# vLLM < 0.12 reports finish_reason "tool_calls" for a non-streaming response whenever the tool
# parser says ``tools_called``, even with no call; later versions count the calls.
TOOLS_CALLED_SETS_FINISH_REASON = (0, 0, 0) < version_tuple(VLLM_VERSION) < (0, 12)
