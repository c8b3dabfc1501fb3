"""What vLLM's serving layer makes of a tool parser's delta on the chunk that finishes a stream.

A pure-Python copy of the four generations of that logic (docs/compat-notes.md §4), for harnesses
that call the parser directly instead of going through ``OpenAIServingChat`` (tests/serving checks
it against the real serving layer of the installed vLLM):

* A (0.10 - 0.13): if ``delta.tool_calls[0].function.arguments is not None``, the delta is replaced
  by ``DeltaMessage(tool_calls=[DeltaToolCall(index, function=DeltaFunctionCall(arguments=remaining))])``
  with ``remaining = json.dumps(prev_tool_call_arr[index]["arguments"]).replace(actual, "", 1)``;
* B (0.14 - 0.16): the same, keeping the id/type/name of the entry with that index;
* C (0.17 - 0.22): as B, but a ``str`` ``arguments`` is used as-is (no ``json.dumps``);
* D (0.23+): ``tool_parser.get_remaining_unstreamed_args()`` is appended to the arguments of the
  delta's last tool call (``DelegatingParser._append_unstreamed_tool_args``).

``index = len(prev_tool_call_arr) - 1``; ``actual = streamed_args_for_tool[index]`` minus the last
``len(delta.tool_calls[0].function.arguments)`` characters (A - C).
"""

from __future__ import annotations

import json
from typing import Any

from tests.serving.driver import _first, vllm_version


def finish_generation(version: tuple[int, ...] | None = None) -> str:
    v = version or vllm_version()
    if v < (0, 14):
        return "A"
    if v < (0, 17):
        return "B"
    if v < (0, 23):
        return "C"
    return "D"


def _protocol():
    return _first("vllm.entrypoints.generate.base.protocol", "vllm.entrypoints.openai.engine.protocol",
                  "vllm.entrypoints.openai.protocol")


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
    p = _protocol()
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
