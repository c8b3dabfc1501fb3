"""Script what the (random, tiny) model says, and read what the clients got back.

The served model is random, so its output is forced with vLLM's structured outputs:
``structured_outputs: {"choice": [TEXT]}`` constrains decoding to exactly TEXT. The model then
spells TEXT with its own, mostly non-canonical token splits (``<tool_call>`` arrives as
``<``, ``tool``, ``_call``, ``>`` rather than as the special token), which exercises the parser's
token-boundary handling through the real engine and detokenizer. ``temperature=0`` makes the
spelling deterministic for a given prompt.

    r = client.chat.completions.create(model=..., messages=..., tools=TOOLS,
                                       **says("Sure.\\n" + tool_call("read_file", path="a.py")))
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


def says(text: str, **extra_body: Any) -> dict[str, Any]:
    """Keyword arguments for an OpenAI SDK call so that the model's output is exactly `text`."""
    return {
        "extra_body": {"structured_outputs": {"choice": [text]}, **extra_body},
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

    @property
    def call(self) -> Call:
        assert len(self.calls) == 1, self.calls
        return self.calls[0]


def reply_of(response: Any) -> Reply:
    """Normalise a non-streaming OpenAI ChatCompletion."""
    choice = response.choices[0]
    msg = choice.message
    calls = [Call(tc.id, tc.function.name, tc.function.arguments, 1) for tc in (msg.tool_calls or [])]
    return Reply(msg.content, calls, choice.finish_reason)


def reply_of_stream(stream: Any) -> Reply:
    """Consume an OpenAI chat.completions stream; join content and per-index tool-call deltas."""
    content: list[str] = []
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
    return Reply("".join(content) if content else None, [calls[i] for i in sorted(calls)], finish, chunks)
