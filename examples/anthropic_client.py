#!/usr/bin/env python3
"""The same coding-agent loop over the Anthropic SDK (/v1/messages), as Claude-style clients
talk to a LiteLLM proxy (examples/litellm/config.yaml) in front of vLLM with qwen_xml_safe.
LiteLLM turns vLLM's streamed tool_calls into tool_use blocks; the tool input arrives as
input_json_delta events. Tools are simulated: nothing is written or executed.

    pip install anthropic
    python examples/anthropic_client.py --base-url http://127.0.0.1:4000 --api-key "$LITELLM_MASTER_KEY"

--say TEXT (once per turn) makes the model output exactly TEXT, through vLLM's structured
outputs, which LiteLLM forwards: for trying the stack with a test model.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from anthropic import Anthropic

TOOLS = [
    {
        "name": "write_file",
        "description": "Write a text file.",
        "input_schema": {
            "type": "object",
            "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
            "required": ["path", "content"],
        },
    },
    {
        "name": "run_command",
        "description": "Run a shell command.",
        "input_schema": {
            "type": "object",
            "properties": {"command": {"type": "string"}, "timeout": {"type": "integer"}},
            "required": ["command"],
        },
    },
]


def run_tool(name: str, args: dict) -> str:
    if name == "write_file":
        return f"(simulated) wrote {len(args.get('content', '').encode())} bytes to {args.get('path')}"
    if name == "run_command":
        return f"(simulated) ran {args.get('command')!r}: exit code 0"
    return f"unknown tool {name}"


def turn(client: Anthropic, model: str, messages: list, stream: bool, say: str | None):
    """One assistant turn; prints it live and returns the final Message."""
    kwargs: dict = {"model": model, "messages": messages, "tools": TOOLS, "max_tokens": 4096}
    if say is not None:
        # anthropic 2.x has no `temperature` argument: extra body fields go to the server as they are
        kwargs["extra_body"] = {"structured_outputs": {"choice": [say]}, "temperature": 0}
        kwargs["max_tokens"] = len(say.encode()) + 16
    print("assistant> ", end="", flush=True)
    if not stream:
        msg = client.messages.create(**kwargs)
        for block in msg.content:
            if block.type == "text":
                print(block.text, end="")
            elif block.type == "tool_use":
                print(f"\n  ⚙ {block.name}  [{block.id}]\n    {json.dumps(block.input, ensure_ascii=False)}", end="")
        print()
        return msg
    with client.messages.stream(**kwargs) as s:
        for event in s:
            if event.type == "content_block_start" and event.content_block.type == "tool_use":
                print(f"\n  ⚙ {event.content_block.name}  [{event.content_block.id}]\n    ", end="", flush=True)
            elif event.type == "content_block_delta":
                if event.delta.type == "text_delta":
                    print(event.delta.text, end="", flush=True)
                elif event.delta.type == "input_json_delta":
                    print(event.delta.partial_json, end="", flush=True)  # the JSON, as it streams in
        print()
        return s.get_final_message()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base-url", default=os.environ.get("ANTHROPIC_BASE_URL", "http://127.0.0.1:4000"))
    ap.add_argument("--api-key", default=os.environ.get("ANTHROPIC_API_KEY", "dummy"))
    ap.add_argument("--model", default="qwen3-coder")
    ap.add_argument("--prompt", default="Create hello.py that prints a greeting, then run it.")
    ap.add_argument("--no-stream", action="store_true")
    ap.add_argument("--max-turns", type=int, default=4)
    ap.add_argument("--say", action="append", default=[], metavar="TEXT",
                    help="force the model's output for the next turn (testing with a random model)")
    ap.add_argument("--json", metavar="FILE", help="write a JSON summary of all turns to FILE ('-': stdout)")
    a = ap.parse_args(argv)

    client = Anthropic(base_url=a.base_url, api_key=a.api_key)
    messages: list[dict] = [{"role": "user", "content": a.prompt}]
    print(f"user> {a.prompt}")
    summary = []
    for n in range(a.max_turns):
        msg = turn(client, a.model, messages, not a.no_stream, a.say[n] if n < len(a.say) else None)
        summary.append({"stop_reason": msg.stop_reason,
                        "content": [b.model_dump(include={"type", "text", "name", "input"}) for b in msg.content]})
        uses = [b for b in msg.content if b.type == "tool_use"]
        if msg.stop_reason != "tool_use" or not uses:
            break
        messages.append({"role": "assistant", "content": [b.model_dump(include={"type", "text", "id", "name", "input"})
                                                          for b in msg.content]})
        results = []
        for b in uses:
            result = run_tool(b.name, b.input)
            print(f"  ↳ {result}")
            results.append({"type": "tool_result", "tool_use_id": b.id, "content": result})
        messages.append({"role": "user", "content": results})
    if a.json == "-":
        print(json.dumps(summary, ensure_ascii=False))
    elif a.json:
        with open(a.json, "w", encoding="utf-8") as f:
            json.dump(summary, f, ensure_ascii=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
