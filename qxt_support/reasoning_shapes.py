"""Thinking-model outputs of the kinds reported in 2026 (issue 18), with what a user must get.

Each shape is the completion of a Qwen3.5+ turn whose prompt ended with ``<think>\\n`` (so the
output starts inside the reasoning), with the tool ``read_file(path)`` declared. ``reasoning``
and ``content`` are compared after ``strip()``; ``calls`` are ``(name, arguments)``. Used by
tests/core/test_reasoning.py, tests/test_reasoning_parser.py, tests/serving/test_reasoning.py
and benchmarks/bench_reasoning.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

TOOLS: list[dict[str, Any]] = [
    {"type": "function", "function": {"name": "read_file", "parameters": {
        "type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}}},
]


def call(path: str, bare: bool = False) -> str:
    body = f"<function=read_file>\n<parameter=path>\n{path}\n</parameter>\n</function>"
    return body if bare else f"<tool_call>\n{body}\n</tool_call>"


@dataclass(frozen=True)
class Shape:
    name: str
    what: str
    output: str
    reasoning: str
    content: str
    calls: tuple[tuple[str, dict[str, Any]], ...]


SHAPES: tuple[Shape, ...] = (
    Shape("closed_then_call", "reasoning closed with </think>, then a call",
          "I need the config.\n</think>\n\n" + call("a.conf"),
          "I need the config.", "", (("read_file", {"path": "a.conf"}),)),
    Shape("closed_then_answer", "reasoning closed with </think>, then an answer without a call",
          "Nothing to call.\n</think>\n\nThe answer is 42.",
          "Nothing to call.", "The answer is 42.", ()),
    Shape("unclosed_tool_call", "reasoning never closed, then <tool_call> (vllm#39056)",
          "I need the file.\n\n" + call("b.py"),
          "I need the file.", "", (("read_file", {"path": "b.py"}),)),
    Shape("unclosed_bare_function", "reasoning never closed, then a bare <function=NAME> (no <tool_call>)",
          "I need the file.\n\n" + call("b.py", bare=True),
          "I need the file.", "", (("read_file", {"path": "b.py"}),)),
    Shape("draft_then_real", "a draft call in the reasoning, corrected, </think>, then the real call "
          "(PrimeIntellect-ai/renderers#80)",
          "Let me read it.\n" + call("a.conf") + "\nWait, the path is b.conf.\n</think>\n\n" + call("b.conf"),
          "Let me read it.\n" + call("a.conf") + "\nWait, the path is b.conf.", "",
          (("read_file", {"path": "b.conf"}),)),
    Shape("mention_mid_line", "<tool_call> named mid-sentence in the reasoning (sglang-rtxpro6000#6)",
          "Every call must be wrapped in <tool_call> tags, with <function=NAME> inside.\n"
          "So I answer directly.\n</think>\n\nUse the wrapper.",
          "Every call must be wrapped in <tool_call> tags, with <function=NAME> inside.\nSo I answer directly.",
          "Use the wrapper.", ()),
    Shape("fenced_example", "an example call in a code fence in the reasoning (lmstudio-bug-tracker#1592)",
          "The format is:\n```\n" + call("example.txt") + "\n```\nNow the real one.\n</think>\n\n" + call("b.py"),
          "The format is:\n```\n" + call("example.txt") + "\n```\nNow the real one.", "",
          (("read_file", {"path": "b.py"}),)),
)

# Rule 4: output that is not reasoning. (prompt_opens_think, output, reasoning, content)
NOT_REASONING: tuple[tuple[str, bool, str, str, str], ...] = (
    ("no_think_block", False, "The answer is 42.", "", "The answer is 42."),
    ("model_writes_think", False, "<think>\nHmm.\n</think>\n\nThe answer.", "Hmm.", "The answer."),
)
