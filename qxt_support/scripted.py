"""Script what the (random, tiny) model says, and read what the clients got back.

The served model is random, so its output is forced with vLLM's structured outputs, in one of
two spellings:

* ``"special"`` (the default, what a real Qwen3-Coder does): ``<tool_call>`` and
  ``</tool_call>`` are emitted as their single special tokens (ids 151657/151658), through a
  Lark grammar that names them as ``<[151657]>`` (vLLM falls back from xgrammar to llguidance
  for such grammars). Everything between is free text.
* ``"split"``: ``structured_outputs: {"choice": [TEXT]}`` (xgrammar). The grammar engine never
  picks the special tokens, so even ``<tool_call>`` is spelled in pieces (``<``, ``tool``,
  ``_call``, ``>``): a parser that keys on the special token id misses the call.

Either way the random model spells the free text with its own, mostly non-canonical token
splits, which exercises the parser's token-boundary handling through the real engine and
detokenizer. ``temperature=0`` makes the spelling deterministic for a given prompt.

    r = client.chat.completions.create(model=..., messages=..., tools=TOOLS,
                                       **says("Sure.\\n" + tool_call("read_file", path="a.py")))
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from qxt_support.qwen_tokenizer import TOKEN_IDS

SPELLINGS = ("special", "split")

# The Qwen3 added tokens that are not "special" for detokenization, so a real model's output
# shows them as text: the forced "special" spelling emits them as single tokens.
MARKER_TOKENS = {
    token: TOKEN_IDS[token]
    for token in ("<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>", "<think>", "</think>")
}
_MARKERS = re.compile("(" + "|".join(re.escape(m) for m in MARKER_TOKENS) + ")")


def lark_literal(s: str) -> str:
    return json.dumps(s, ensure_ascii=False)


def grammar_for(text: str) -> str:
    """A Lark grammar (llguidance dialect) whose only sentence is `text`, markers as special tokens."""
    parts = [p for p in _MARKERS.split(text) if p]
    return "start: " + " ".join(f"<[{MARKER_TOKENS[p]}]>" if p in MARKER_TOKENS else lark_literal(p)
                                for p in parts)


def forced_output(text: str, spelling: str = "special") -> dict[str, Any]:
    """The `structured_outputs` request field that makes the model say exactly `text`."""
    if spelling == "special":
        return {"grammar": grammar_for(text)}
    if spelling == "split":
        return {"choice": [text]}
    raise ValueError(spelling)


def says(text: str, spelling: str = "special", **extra_body: Any) -> dict[str, Any]:
    """Keyword arguments for an OpenAI SDK chat call so that the model's output is exactly `text`."""
    return {
        "extra_body": {"structured_outputs": forced_output(text, spelling), **extra_body},
        "temperature": 0,
        # a forced spelling can use one token per UTF-8 byte, in the worst case
        "max_tokens": len(text.encode("utf-8")) + 16,
    }


def param_text(value: Any) -> str:
    """How a Qwen3-Coder model writes a parameter value: strings raw, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def tool_call(name: str, **params: Any) -> str:
    """The Qwen3-Coder XML for one tool call, as the model writes it."""
    body = "".join(f"<parameter={k}>\n{param_text(v)}\n</parameter>\n" for k, v in params.items())
    return f"<tool_call>\n<function={name}>\n{body}</function>\n</tool_call>"


def function_tool(name: str, properties: dict[str, Any], required: list[str] | None = None,
                  description: str = "") -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": description or name.replace("_", " "),
            "parameters": {"type": "object", "properties": properties, "required": required or list(properties)},
        },
    }


TOOLS = [
    function_tool("write_file", {"path": {"type": "string"}, "content": {"type": "string"}},
                  description="Write a file."),
    function_tool("read_file", {"path": {"type": "string"}}, description="Read a file."),
    function_tool(
        "run_command",
        {
            "command": {"type": "string"},
            "timeout": {"type": "integer"},
            "background": {"type": "boolean"},
            "env": {"type": "object"},
            "args": {"type": "array", "items": {"type": "string"}},
            "ratio": {"type": "number"},
        },
        required=["command"],
        description="Run a shell command.",
    ),
]


@dataclass
class Call:
    id: str | None
    name: str | None
    arguments: str
    chunks: int = 0  # number of deltas that carried a piece of `arguments`

    @property
    def args(self) -> Any:
        return json.loads(self.arguments)


@dataclass
class Reply:
    content: str | None
    calls: list[Call]
    finish_reason: str | None
    chunks: list[Any] = field(default_factory=list)
    reasoning: str | None = None  # vLLM's `reasoning` (older: `reasoning_content`), with a reasoning parser

    @property
    def call(self) -> Call:
        assert len(self.calls) == 1, self.calls
        return self.calls[0]


def reply_of(response: Any) -> Reply:
    """Normalise a non-streaming OpenAI ChatCompletion."""
    choice = response.choices[0]
    msg = choice.message
    calls = [Call(tc.id, tc.function.name, tc.function.arguments, 1) for tc in (msg.tool_calls or [])]
    return Reply(msg.content, calls, choice.finish_reason, reasoning=_reasoning(msg))


def _reasoning(obj: Any) -> str | None:
    extra = getattr(obj, "model_extra", None) or {}
    return extra.get("reasoning") or extra.get("reasoning_content")


def reply_of_stream(stream: Any) -> Reply:
    """Consume an OpenAI chat.completions stream; join content and per-index tool-call deltas."""
    content: list[str] = []
    reasoning: list[str] = []
    calls: dict[int, Call] = {}
    finish = None
    chunks = []
    for chunk in stream:
        chunks.append(chunk)
        if not chunk.choices:
            continue
        choice = chunk.choices[0]
        delta = choice.delta
        if delta.content:
            content.append(delta.content)
        r = _reasoning(delta)
        if r:
            reasoning.append(r)
        for tc in delta.tool_calls or []:
            call = calls.setdefault(tc.index, Call(None, None, ""))
            if tc.id:
                assert call.id is None, f"tool call {tc.index} got a second id {tc.id!r}"
                call.id = tc.id
            if tc.function and tc.function.name:
                assert call.name is None, f"tool call {tc.index} got a second name {tc.function.name!r}"
                call.name = tc.function.name
            if tc.function and tc.function.arguments:
                call.arguments += tc.function.arguments
                call.chunks += 1
        if choice.finish_reason:
            finish = choice.finish_reason
    return Reply("".join(content) if content else None, [calls[i] for i in sorted(calls)], finish, chunks,
                 "".join(reasoning) if reasoning else None)
