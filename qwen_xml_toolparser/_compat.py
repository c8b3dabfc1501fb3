"""Every vLLM import of the package, resolved once for the installed version.

vLLM moved the tool-parser API and the protocol classes between releases
(docs/compat-notes.md). Each symbol is looked up in the known locations, newest
first; the adapter imports from here and stays free of version checks.
"""

from __future__ import annotations

import importlib
import inspect
import logging
import sys
from types import FrameType
from typing import Any

__all__ = [
    "DeltaFunctionCall",
    "DeltaMessage",
    "DeltaToolCall",
    "ExtractedToolCallInformation",
    "FunctionCall",
    "ReasoningParser",
    "ReasoningParserManager",
    "MIN_VLLM",
    "STRUCTURAL_TAGS",
    "SUPPORTS_REQUIRED_AND_NAMED",
    "TOOLS_CALLED_SETS_FINISH_REASON",
    "ToolCall",
    "ToolParser",
    "ToolParserManager",
    "VLLM_VERSION",
    "builtin_structural_tag",
    "engine_finish_reason",
    "engine_prompt_token_ids",
    "init_tool_parser",
    "json_schema_excludes",
    "logger",
    "route_logs_to_vllm",
    "reasoning_parser_configured",
    "structural_tag",
    "tells_no_reasoning_parser",
]

MIN_VLLM = (0, 10, 1)
SUPPORTED = "vLLM 0.10.1 or newer (tested: 0.10.2 through 0.33.0)"


def _version_tuple(text: str) -> tuple[int, ...]:
    parts = []
    for piece in text.split("+")[0].split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


try:
    import vllm
except ImportError as exc:  # pragma: no cover - exercised only without vLLM
    raise ImportError(
        "qwen_xml_toolparser.plugin needs vLLM: install it into the environment that runs "
        f"`vllm serve` ({SUPPORTED}). The parser core (qwen_xml_toolparser.parse / "
        "StreamParser) works without vLLM."
    ) from exc

VLLM_VERSION: str = getattr(vllm, "__version__", "0")
if (0,) < _version_tuple(VLLM_VERSION) < MIN_VLLM:
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

try:
    from vllm.logger import init_logger

    logger = init_logger("qwen_xml_toolparser")
except ImportError:  # pragma: no cover
    logger = logging.getLogger("qwen_xml_toolparser")


class _ToVllmLog(logging.Handler):
    """Hands the package's records to the handlers of vLLM's ``vllm`` logger, at its level.

    Looked up when each record is made, because vLLM configures its logging
    after the plugin may have been imported (0.33 does it from the server's
    arguments). With no vLLM handlers (``VLLM_CONFIGURE_LOGGING=0``) and none
    on the root logger either, warnings go to Python's last-resort handler,
    as they would without this handler. A handler that also gets the record by
    propagation (a test harness's, attached to both) is not given it twice.
    """

    def emit(self, record: logging.LogRecord) -> None:
        target = logging.getLogger("vllm")
        if not target.handlers:
            if record.levelno >= logging.WARNING and not logging.getLogger().handlers and logging.lastResort:
                logging.lastResort.handle(record)
            return
        if record.levelno < target.getEffectiveLevel():
            return
        reached = _propagation_handlers(logging.getLogger("qwen_xml_toolparser"))
        for handler in target.handlers:
            if record.levelno >= handler.level and handler not in reached:  # never twice to one handler
                handler.handle(record)


def _propagation_handlers(log: logging.Logger) -> set[logging.Handler]:
    """The handlers a record of ``log`` reaches by propagating to its ancestors."""
    reached: set[logging.Handler] = set()
    parent = log.parent if log.propagate else None
    while parent is not None:
        reached.update(parent.handlers)
        parent = parent.parent if parent.propagate else None
    return reached


def route_logs_to_vllm() -> None:
    """Show the package's log records in vLLM's log, at vLLM's level and in its format.

    vLLM configures only its own ``vllm`` logger; ``qwen_xml_toolparser`` is not
    under it, so without this its INFO records (each drift recovery,
    docs/drift.md) would reach no handler in ``vllm serve`` and its warnings
    would print unformatted. Records still propagate to the root logger.
    Nothing changes when the application configured the package's logger
    (it has handlers, as the CLI's).
    """
    ours = logging.getLogger("qwen_xml_toolparser")
    if ours.handlers:
        return
    ours.addHandler(_ToVllmLog())
    if ours.level == logging.NOTSET:
        ours.setLevel(logging.INFO)


route_logs_to_vllm()

# ToolParser.__init__ gained ``tools`` in vLLM 0.19.
_BASE_TAKES_TOOLS = "tools" in inspect.signature(ToolParser.__init__).parameters


def init_tool_parser(parser: Any, tokenizer: Any, tools: Any) -> None:
    """Call ``ToolParser.__init__`` with the arguments this vLLM accepts."""
    if _BASE_TAKES_TOOLS:
        ToolParser.__init__(parser, tokenizer, tools)
    else:
        ToolParser.__init__(parser, tokenizer)


def chat_request(tools: Any, **fields: Any) -> Any:
    """A ``ChatCompletionRequest`` with ``tools`` (for the CLI and tests)."""
    request_cls = _first(
        "ChatCompletionRequest",
        "vllm.entrypoints.openai.chat_completion.protocol",  # 0.15+
        "vllm.entrypoints.openai.protocol",
    )
    return request_cls(model="qwen", messages=[{"role": "user", "content": "-"}], tools=tools, **fields)


_TELLS_NO_REASONING: bool | None = None


def tells_no_reasoning_parser() -> bool:
    """Whether this vLLM sets ``skip_reasoning_parsing`` on the tool parser when no reasoning
    parser is configured (``vllm.parser.abstract_parser.Parser.__init__``, 0.31+).

    Where it does, a tool parser that was not told runs next to a reasoning parser.
    """
    global _TELLS_NO_REASONING
    if _TELLS_NO_REASONING is None:
        try:
            from vllm.parser.abstract_parser import Parser

            _TELLS_NO_REASONING = "skip_reasoning_parsing" in inspect.getsource(Parser.__init__)
        except Exception:  # no vllm.parser (< 0.16), or no source to read
            _TELLS_NO_REASONING = False
    return _TELLS_NO_REASONING


# vLLM < 0.12 reports finish_reason "tool_calls" for a non-streaming response whenever the tool
# parser says ``tools_called``, even with no call; later versions count the calls.
TOOLS_CALLED_SETS_FINISH_REASON = (0,) < _version_tuple(VLLM_VERSION) < (0, 12)


def reasoning_parser_configured() -> bool | None:
    """Whether the vLLM object building the calling tool parser has a reasoning parser.

    vLLM passes a tool parser no such argument (0.31+ set ``skip_reasoning_parsing`` afterwards,
    only when there is none). The object that builds it is a frame or two up: the composed
    ``Parser`` (0.23+, ``_reasoning_parser``) or the OpenAI serving object (<= 0.22,
    ``reasoning_parser`` / ``reasoning_parser_cls``). None when no such object is found.
    Call it from the tool parser's ``__init__``.
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
    return None


def engine_finish_reason() -> str | None:
    """The engine's finish reason of the output a non-streaming ``extract_tool_calls`` parses.

    vLLM passes a tool parser only the text; the serving layer that calls it (every version of
    the matrix) holds the engine's ``CompletionOutput`` in a local ``output`` a few frames up.
    None when it is not found (another caller): the adapter then counts tokens instead.
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
    return None


# ── grammar for tool_choice required / named and strict tools (docs/grammar.md) ─────────────
# Three generations, told apart by the API (not the version number):
# "parser" (0.26+): the serving layer's Parser asks the tool parser for a structural tag when
#   ``structural_tag_model`` is set (``get_structural_tag(request, reasoning=, [strict_level=])``);
# "tool_parser" (0.21 - 0.22): ``ToolParser.adjust_request`` asks ``get_structural_tag(request)``
#   when VLLM_ENFORCE_STRICT_TOOL_CALLING=1 (off by default there);
# None (<= 0.20): no structural tags; required / named use vLLM's JSON guided decoding.
if hasattr(ToolParser, "structural_tag_model"):
    STRUCTURAL_TAGS: str | None = "parser"
elif "get_structural_tag" in vars(ToolParser):
    STRUCTURAL_TAGS = "tool_parser"
else:
    STRUCTURAL_TAGS = None


def _enforce_strict_tool_calling() -> bool:
    try:
        import vllm.envs as envs

        return bool(envs.VLLM_ENFORCE_STRICT_TOOL_CALLING)
    except (ImportError, AttributeError):
        return False


# The value in-tree qwen3_coder has, so that a request is routed as with it: True sends
# required / named through vLLM's JSON format (guided JSON, parsed by vLLM), False through the
# parser (constrained by the structural tag where vLLM applies one). On "parser" versions vLLM's
# ToolParser.__init_subclass__ lowers it to False when enforcement is on (the default);
# 0.21's qwen3_coder has False, 0.22's ``not VLLM_ENFORCE_STRICT_TOOL_CALLING``.
if STRUCTURAL_TAGS == "tool_parser":
    SUPPORTS_REQUIRED_AND_NAMED = _version_tuple(VLLM_VERSION) >= (0, 22) and not _enforce_strict_tool_calling()
else:
    SUPPORTS_REQUIRED_AND_NAMED = True


def builtin_structural_tag(parser: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
    """The structural tag in-tree qwen3_coder returns for ``request`` on this vLLM (or None)."""
    if STRUCTURAL_TAGS == "parser":
        return ToolParser.get_structural_tag(parser, request, *args, **kwargs)
    if STRUCTURAL_TAGS == "tool_parser":
        from vllm.tool_parsers.structural_tag_registry import (
            get_enable_structured_outputs_in_reasoning,
            get_model_structural_tag,
        )

        return get_model_structural_tag(
            model="qwen_3_5",
            tools=request.tools,
            tool_choice=request.tool_choice,
            reasoning=get_enable_structured_outputs_in_reasoning(),
        )
    return None


def json_schema_excludes() -> bool:
    """Can xgrammar keep strings out of nested JSON strings (``JSONSchemaFormat.excludes``, 0.2.8+)?"""
    from xgrammar.structural_tag import JSONSchemaFormat

    return "excludes" in JSONSchemaFormat.model_fields


def structural_tag(data: dict[str, Any]) -> Any:
    """xgrammar's ``StructuralTag`` for a dumped one (what vLLM's serving layer takes)."""
    from xgrammar import StructuralTag

    return StructuralTag.model_validate(data)
