"""Script the model for vLLM's own Anthropic endpoint (/v1/messages), and read what the SDK got.

vLLM's ``/v1/messages`` builds its ChatCompletionRequest field by field, so the
``structured_outputs`` trick of scripted.py does not reach the engine from there. What does reach
it is ``vllm_xargs`` (SamplingParams.extra_args), which vLLM's custom logits processors read: the
server runs with ``--logits-processors e2e_hooks:ForceOutput`` (scripts/e2e/e2e_hooks.py) and
``says(TEXT)`` sets ``vllm_xargs.qxt_says``. The text is encoded with the model's tokenizer
(markers as their single special tokens, like a real model); ``piece=N`` encodes it in pieces of
N characters, for odd token boundaries.

CLAUDE_CODE_TOOLS are shaped like Claude Code's own tool definitions (names, the JSON Schemas it
sends: ``$schema``, ``additionalProperties: false``, enums, optional fields, nested arrays of
objects, flag-like keys such as ``-n``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import stack  # scripts/e2e, on sys.path through conftest.py

SCHEMA = "http://json-schema.org/draft-07/schema#"

# The server of test_anthropic_messages.py and test_api_servers.py (VllmPool.get_serve keywords):
# `vllm serve` with two API-server processes, the plugin by --tool-parser-plugin, the forcing
# logits processor and the x-qxt-pid middleware (scripts/e2e/e2e_hooks.py).
SERVE_2: dict[str, Any] = {"api_server_count": 2, "plugin_via": "file", "label": "serve-2",
                           "extra_args": (*stack.FORCE_ARGS, *stack.SERVED_BY_ARGS)}


def says(text: str, piece: int = 0, prompt_to: str | None = None) -> dict[str, Any]:
    """Keyword arguments for ``Anthropic().messages.create/stream`` so the model says exactly TEXT."""
    xargs: dict[str, Any] = {"qxt_says": text}
    if piece:
        xargs["qxt_piece"] = piece
    if prompt_to:
        xargs["qxt_prompt_to"] = prompt_to
    # anthropic 2.x has no `temperature` parameter: an extra body field, like vllm_xargs
    return {"extra_body": {"vllm_xargs": xargs, "temperature": 0}, "max_tokens": len(text.encode()) + 16}


def _tool(name: str, description: str, properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {"name": name, "description": description,
            "input_schema": {"type": "object", "properties": properties, "required": required,
                             "additionalProperties": False, "$schema": SCHEMA}}


CLAUDE_CODE_TOOLS = [
    _tool("Bash", "Executes a given bash command in a persistent shell session.", {
        "command": {"type": "string", "description": "The command to execute"},
        "timeout": {"type": "number", "description": "Optional timeout in milliseconds (max 600000)"},
        "description": {"type": "string", "description": "Clear, concise description of what this command does"},
        "run_in_background": {"type": "boolean", "description": "Set to true to run this command in the background."},
    }, ["command"]),
    _tool("Read", "Reads a file from the local filesystem.", {
        "file_path": {"type": "string", "description": "The absolute path to the file to read"},
        "offset": {"type": "number", "description": "The line number to start reading from"},
        "limit": {"type": "number", "description": "The number of lines to read"},
    }, ["file_path"]),
    _tool("Edit", "Performs exact string replacements in files.", {
        "file_path": {"type": "string", "description": "The absolute path to the file to modify"},
        "old_string": {"type": "string", "description": "The text to replace"},
        "new_string": {"type": "string", "description": "The text to replace it with"},
        "replace_all": {"type": "boolean", "default": False, "description": "Replace all occurrences"},
    }, ["file_path", "old_string", "new_string"]),
    _tool("MultiEdit", "Makes multiple edits to a single file in one operation.", {
        "file_path": {"type": "string"},
        "edits": {"type": "array", "minItems": 1, "items": {
            "type": "object", "additionalProperties": False, "required": ["old_string", "new_string"],
            "properties": {"old_string": {"type": "string"}, "new_string": {"type": "string"},
                           "replace_all": {"type": "boolean", "default": False}}}},
    }, ["file_path", "edits"]),
    _tool("Write", "Writes a file to the local filesystem.", {
        "file_path": {"type": "string", "description": "The absolute path to the file to write"},
        "content": {"type": "string", "description": "The content to write to the file"},
    }, ["file_path", "content"]),
    _tool("Grep", "A powerful search tool built on ripgrep.", {
        "pattern": {"type": "string"},
        "path": {"type": "string"},
        "glob": {"type": "string"},
        "output_mode": {"type": "string", "enum": ["content", "files_with_matches", "count"]},
        "-B": {"type": "number"}, "-A": {"type": "number"}, "-C": {"type": "number"},
        "-n": {"type": "boolean"}, "-i": {"type": "boolean"},
        "type": {"type": "string"},
        "head_limit": {"type": "number"},
        "multiline": {"type": "boolean"},
    }, ["pattern"]),
    _tool("Glob", "Fast file pattern matching tool.", {
        "pattern": {"type": "string", "description": "The glob pattern to match files against"},
        "path": {"type": "string", "description": "The directory to search in."},
    }, ["pattern"]),
    _tool("TodoWrite", "Create and manage a structured task list for your current coding session.", {
        "todos": {"type": "array", "description": "The updated todo list", "items": {
            "type": "object", "additionalProperties": False, "required": ["content", "status", "activeForm"],
            "properties": {"content": {"type": "string", "minLength": 1},
                           "status": {"type": "string", "enum": ["pending", "in_progress", "completed"]},
                           "activeForm": {"type": "string", "minLength": 1}}}},
    }, ["todos"]),
]


@dataclass
class Streamed:
    """What an Anthropic SDK stream delivered, event by event."""

    message: Any
    starts: dict[int, Any] = field(default_factory=dict)  # block index -> content_block_start's block
    fragments: dict[int, list[str]] = field(default_factory=dict)  # block index -> input_json_delta parts
    text: dict[int, str] = field(default_factory=dict)  # block index -> joined text/thinking deltas
    stop_reason: str | None = None

    def inputs(self) -> dict[int, Any]:
        """Each tool_use block's input, reassembled from its input_json_delta fragments alone."""
        return {i: json.loads("".join(parts)) for i, parts in self.fragments.items()}


def stream(client: Any, **kwargs: Any) -> Streamed:
    got = None
    starts: dict[int, Any] = {}
    fragments: dict[int, list[str]] = {}
    text: dict[int, str] = {}
    stop_reason = None
    with client.messages.stream(**kwargs) as s:
        for event in s:
            if event.type == "content_block_start":
                starts[event.index] = event.content_block
            elif event.type == "content_block_delta":
                d = event.delta
                if d.type == "input_json_delta":
                    fragments.setdefault(event.index, []).append(d.partial_json)
                elif d.type == "text_delta":
                    text[event.index] = text.get(event.index, "") + d.text
                elif d.type == "thinking_delta":
                    text[event.index] = text.get(event.index, "") + d.thinking
            elif event.type == "message_delta":
                stop_reason = event.delta.stop_reason
        got = s.get_final_message()
    return Streamed(got, starts, fragments, text, stop_reason)


def non_blank(blocks: list[Any]) -> list[Any]:
    """Blocks minus whitespace-only text blocks (the "\\n" between </think> or a call and the next)."""
    return [b for b in blocks if not (b.type == "text" and not b.text.strip())]
