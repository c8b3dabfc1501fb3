#!/usr/bin/env python3
"""A small coding-agent loop over the OpenAI SDK: stream a Qwen3-Coder tool call from vLLM
(served with --tool-call-parser qwen_xml_safe), show it as it arrives, run the tool (simulated:
nothing is written or executed), send the result back, and print the model's next answer.

    pip install openai
    python examples/openai_client.py --base-url http://127.0.0.1:8000/v1 --model qwen3-coder
    python examples/openai_client.py --base-url http://127.0.0.1:4000/v1 --api-key sk-...  # via LiteLLM

--say TEXT (once per turn) makes the model output exactly TEXT, through vLLM's structured
outputs (`structured_outputs: {"choice": [TEXT]}`): for trying the stack with a test model.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from openai import OpenAI

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "write_file",
            "description": "Write a text file.",
            "parameters": {
                "type": "object",
                "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
                "required": ["path", "content"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "run_command",
            "description": "Run a shell command.",
            "parameters": {
                "type": "object",
                "properties": {"command": {"type": "string"}, "timeout": {"type": "integer"}},
                "required": ["command"],
            },
        },
    },
]


def run_tool(name: str, args: dict) -> str:
    """Simulated tools: report what would happen."""
    if name == "write_file":
        return f"(simulated) wrote {len(args.get('content', '').encode())} bytes to {args.get('path')}"
    if name == "run_command":
        return f"(simulated) ran {args.get('command')!r}: exit code 0"
    return f"unknown tool {name}"


def show_args(args: dict) -> None:
    for key, value in args.items():
        if isinstance(value, str) and "\n" in value:
            print(f"      {key} = <<<")
            print("\n".join("        " + line for line in value.rstrip("\n").split("\n")))
            print("      >>>")
        elif isinstance(value, str):
            print(f"      {key} = {value}")
        else:
            print(f"      {key} = {json.dumps(value, ensure_ascii=False)}")


def turn(client: OpenAI, model: str, messages: list, stream: bool, say: str | None) -> tuple[str, list[dict]]:
    """One assistant turn; prints it live and returns (content, tool_calls)."""
    extra = {}
    if say is not None:
        extra = {"extra_body": {"structured_outputs": {"choice": [say]}}, "temperature": 0,
                 "max_tokens": len(say.encode()) + 16}
    print("assistant> ", end="", flush=True)
    content, calls = "", {}
    if stream:
        current = None
        for chunk in client.chat.completions.create(model=model, messages=messages, tools=TOOLS, stream=True, **extra):
            if not chunk.choices:
                continue
            delta = chunk.choices[0].delta
            if delta.content:
                content += delta.content
                print(delta.content, end="", flush=True)
            for tc in delta.tool_calls or []:
                call = calls.setdefault(tc.index, {"id": None, "name": None, "arguments": ""})
                if tc.id:
                    call["id"] = tc.id
                if tc.function and tc.function.name:
                    call["name"] = tc.function.name
                if tc.index != current:
                    current = tc.index
                    print(f"\n  ⚙ {call['name']}  [{call['id']}]\n    ", end="", flush=True)
                if tc.function and tc.function.arguments:
                    call["arguments"] += tc.function.arguments
                    print(tc.function.arguments, end="", flush=True)  # the JSON, as it streams in
        print()
    else:
        msg = client.chat.completions.create(model=model, messages=messages, tools=TOOLS, **extra).choices[0].message
        content = msg.content or ""
        print(content)
        for i, tc in enumerate(msg.tool_calls or []):
            calls[i] = {"id": tc.id, "name": tc.function.name, "arguments": tc.function.arguments}
            print(f"  ⚙ {tc.function.name}  [{tc.id}]\n    {tc.function.arguments}")
    return content, [calls[i] for i in sorted(calls)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base-url", default=os.environ.get("OPENAI_BASE_URL", "http://127.0.0.1:8000/v1"))
    ap.add_argument("--api-key", default=os.environ.get("OPENAI_API_KEY", "dummy"))
    ap.add_argument("--model", default="qwen3-coder")
    ap.add_argument("--prompt", default="Create hello.py that prints a greeting, then run it.")
    ap.add_argument("--no-stream", action="store_true")
    ap.add_argument("--max-turns", type=int, default=4)
    ap.add_argument("--say", action="append", default=[], metavar="TEXT",
                    help="force the model's output for the next turn (testing with a random model)")
    ap.add_argument("--json", metavar="FILE", help="write a JSON summary of all turns to FILE ('-': stdout)")
    a = ap.parse_args(argv)

    client = OpenAI(base_url=a.base_url, api_key=a.api_key)
    messages: list[dict] = [{"role": "user", "content": a.prompt}]
    print(f"user> {a.prompt}")
    summary = []
    for n in range(a.max_turns):
        say = a.say[n] if n < len(a.say) else None
        content, calls = turn(client, a.model, messages, not a.no_stream, say)
        summary.append({"content": content, "tool_calls": calls})
        if not calls:
            break
        messages.append({"role": "assistant", "content": content or None, "tool_calls": [
            {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
            for c in calls]})
        for c in calls:
            args = json.loads(c["arguments"])  # valid JSON, or this raises
            print(f"  ✓ {c['name']} arguments:")
            show_args(args)
            result = run_tool(c["name"], args)
            print(f"  ↳ {result}")
            messages.append({"role": "tool", "tool_call_id": c["id"], "content": result})
    if a.json == "-":
        print(json.dumps(summary, ensure_ascii=False))
    elif a.json:
        with open(a.json, "w", encoding="utf-8") as f:
            json.dump(summary, f, ensure_ascii=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
