"""vLLM across versions, for tests, benchmarks and CI.

* ``first_module(*names)`` / ``symbol(name, *modules)``: vLLM moved its modules between 0.10 and
  0.33; both take candidates newest first. ``symbol`` is the package's own lookup
  (``qwen_xml_toolparser._compat``), so a symbol the plugin finds is found here the same way.
* ``version_tuple()``, ``finish_generation()``: which of the four ways of finishing a stream the
  installed vLLM's serving layer has (docs/compat-notes.md §4).
* ``apply_finish(parser, delta)``: a pure-Python copy of what that serving layer makes of a tool
  parser's delta on the chunk that finishes a stream, for harnesses that call a parser directly
  instead of going through ``OpenAIServingChat`` (tests/serving checks it against the real one):

  - A (0.10 - 0.13): if ``delta.tool_calls[0].function.arguments is not None``, the delta is
    replaced by ``DeltaMessage(tool_calls=[DeltaToolCall(index, function=DeltaFunctionCall(
    arguments=remaining))])`` with ``remaining = json.dumps(prev_tool_call_arr[index]["arguments"])
    .replace(actual, "", 1)``;
  - B (0.14 - 0.16): the same, keeping the id/type/name of the entry with that index;
  - C (0.17 - 0.22): as B, but a ``str`` ``arguments`` is used as-is (no ``json.dumps``);
  - D (0.23+): ``tool_parser.get_remaining_unstreamed_args()`` is appended to the arguments of the
    delta's last tool call (``DelegatingParser._append_unstreamed_tool_args``).

  ``index = len(prev_tool_call_arr) - 1``; ``actual = streamed_args_for_tool[index]`` minus the
  last ``len(delta.tool_calls[0].function.arguments)`` characters (A - C).
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import qxt_support  # noqa: F401  (offline environment defaults)
from qwen_xml_toolparser import _versions

REPO = Path(__file__).resolve().parents[1]
PLUGIN_PATH = REPO / "qwen_xml_toolparser" / "plugin.py"
PLUGIN_NAME = "qwen_xml_safe"

# Candidate modules, newest first.
TOOL_PARSERS = ("vllm.tool_parsers", "vllm.entrypoints.openai.tool_parsers")
PROTOCOL = (  # DeltaMessage, DeltaToolCall, ...
    "vllm.entrypoints.generate.base.protocol",  # 0.29+
    "vllm.entrypoints.openai.engine.protocol",  # 0.15 - 0.28
    "vllm.entrypoints.openai.protocol",  # 0.10 - 0.14
)
CHAT_PROTOCOL = ("vllm.entrypoints.openai.chat_completion.protocol", "vllm.entrypoints.openai.protocol")
TOKENIZERS = ("vllm.tokenizers", "vllm.transformers_utils.tokenizer")


def first_module(*names: str) -> ModuleType:
    """Import the first module of ``names`` that exists (a module that exists but fails to
    import, e.g. for a missing dependency, raises: that is how the dependency lists were found)."""
    last: ModuleNotFoundError | None = None
    for name in names:
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
                last = exc
                continue
            raise
    raise ImportError(f"none of {names}") from last


def symbol(name: str, *modules: str) -> Any:
    """vLLM's ``name`` from the first of ``modules`` that has it: the plugin's own lookup
    (imported when called, so that importing this module does not import vLLM)."""
    from qwen_xml_toolparser._compat import _first

    return _first(name, *modules)


def version_tuple() -> tuple[int, int, int]:
    """The installed vLLM's version, read as the plugin reads it (``qwen_xml_toolparser._versions``)."""
    import vllm

    return _versions.version_tuple(vllm.__version__)


def get_tokenizer(directory: str | Path) -> Any:
    """vLLM's own ``get_tokenizer`` on a tokenizer directory."""
    return symbol("get_tokenizer", *TOKENIZERS)(str(directory))


def finish_generation(version: tuple[int, ...] | None = None) -> str:
    """The stream-finishing generation (A - D) of ``version``, default the installed vLLM."""
    return _versions.serving_generation(version or version_tuple())


def remaining_args(tool_parser: Any, delta_message: Any, version: tuple[int, ...] | None = None) -> tuple[int, str]:
    """(index, remaining) as generations A - C compute them."""
    gen = finish_generation(version)
    arr = tool_parser.prev_tool_call_arr
    index = len(arr) - 1 if arr else 0
    first = delta_message.tool_calls[0].function
    args_attr = first.arguments if not isinstance(first, dict) else first.get("arguments")
    latest = len(args_attr) if isinstance(args_attr, str) else 0
    args = arr[index].get("arguments", {})
    if gen == "C" and isinstance(args, str):
        expected = args
    else:
        expected = json.dumps(args, ensure_ascii=False)
    actual = tool_parser.streamed_args_for_tool[index]
    if latest > 0:
        actual = actual[:-latest]
    return index, expected.replace(actual, "", 1)


def apply_finish(tool_parser: Any, delta_message: Any, version: tuple[int, ...] | None = None) -> Any:
    """Return the DeltaMessage the client receives on the finishing chunk (may be ``delta_message`` itself)."""
    gen = finish_generation(version)
    if gen == "D":
        if delta_message is not None and delta_message.tool_calls:
            last = delta_message.tool_calls[-1]
            if last.function:
                last.function.arguments = (last.function.arguments or "") + tool_parser.get_remaining_unstreamed_args()
        return delta_message
    if not (delta_message is not None and delta_message.tool_calls and delta_message.tool_calls[0]
            and delta_message.tool_calls[0].function
            and _arguments(delta_message.tool_calls[0].function) is not None):
        return delta_message
    p = first_module(*PROTOCOL)
    index, remaining = remaining_args(tool_parser, delta_message, version)
    if gen == "A":
        return p.DeltaMessage(tool_calls=[p.DeltaToolCall(
            index=index, function=p.DeltaFunctionCall(arguments=remaining).model_dump(exclude_none=True))])
    original = next((tc for tc in delta_message.tool_calls if tc.index == index), None)
    fn = original.function if original else None
    return p.DeltaMessage(tool_calls=[p.DeltaToolCall(
        index=index, id=original.id if original else None, type=original.type if original else None,
        function=p.DeltaFunctionCall(name=fn.name if fn else None, arguments=remaining))])


def _arguments(function: Any) -> Any:
    return function.get("arguments") if isinstance(function, dict) else function.arguments
