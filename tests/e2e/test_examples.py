"""Every example in examples/ that can run here is run here.

- examples/openai_client.py against the vLLM server, examples/anthropic_client.py against the
  LiteLLM proxy (examples/litellm/config.yaml, which test_litellm.py also uses throughout);
- the GPU `vllm serve` scripts cannot run on this machine: their exact argv goes through vLLM's
  own `serve` parser and validators (flags, tool-parser plugin and name, reasoning parser);
- examples/continue/config.yaml: the model it names is the one the serve scripts serve, and the
  request Continue makes with it (streamed chat completion with tools) works.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import stack
from tests.e2e.scripted import TOOLS, reply_of_stream, says, tool_call

pytestmark = pytest.mark.e2e

EXAMPLES = stack.REPO / "examples"
CONTENT = 'print("Hello, wörld!")\nprint(r"C:\\temp\\new")\n'
TURN1 = "I'll create the file.\n" + tool_call("write_file", path="hello.py", content=CONTENT)
TURN2 = tool_call("run_command", command="python hello.py", timeout=30)
TURN3 = "Done: hello.py prints a greeting."


def run_example(script: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, str(EXAMPLES / script), *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONIOENCODING": "utf-8"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "nonstream"])
def test_openai_client_example(vllm, stream):
    proc = run_example("openai_client.py", "--base-url", vllm.base_url + "/v1", "--model", stack.SERVED_MODEL,
                       "--say", TURN1, "--say", TURN2, "--say", TURN3, "--json", "-",
                       *([] if stream else ["--no-stream"]))
    turns = json.loads(proc.stdout.strip().splitlines()[-1])
    assert len(turns) == 3
    assert turns[0]["content"].strip() == "I'll create the file."
    assert [(c["name"], json.loads(c["arguments"])) for c in turns[0]["tool_calls"]] == [
        ("write_file", {"path": "hello.py", "content": CONTENT})]
    assert [(c["name"], json.loads(c["arguments"])) for c in turns[1]["tool_calls"]] == [
        ("run_command", {"command": "python hello.py", "timeout": 30})]
    assert turns[2] == {"content": TURN3, "tool_calls": []}
    out = proc.stdout
    assert "⚙ write_file" in out and "⚙ run_command" in out and "(simulated) wrote" in out
    assert "      content = <<<\n        print(\"Hello, wörld!\")\n" in out  # the value as a user reads it


@pytest.mark.parametrize("stream", [True, False], ids=["stream", "nonstream"])
def test_anthropic_client_example(litellm, vllm, stream):
    proc = run_example("anthropic_client.py", "--base-url", litellm.base_url, "--api-key", stack.LITELLM_KEY,
                       "--model", "qwen3-coder", "--say", TURN1, "--say", TURN2, "--say", TURN3, "--json", "-",
                       *([] if stream else ["--no-stream"]))
    turns = json.loads(proc.stdout.strip().splitlines()[-1])
    assert [t["stop_reason"] for t in turns] == ["tool_use", "tool_use", "end_turn"]
    assert turns[0]["content"][0]["text"].strip() == "I'll create the file."
    assert turns[0]["content"][1] == {"type": "tool_use", "name": "write_file",
                                      "input": {"path": "hello.py", "content": CONTENT}}
    assert [b.get("input") for b in turns[1]["content"] if b["type"] == "tool_use"] == [
        {"command": "python hello.py", "timeout": 30}]
    assert turns[2]["content"][0]["text"] == TURN3
    assert "⚙ write_file" in proc.stdout


SERVE_SCRIPTS = {
    # script, env -> expected parsed values
    "30b-fp8": ("vllm-serve-qwen3-coder-30b-a3b.sh", {},
                {"model": "Qwen/Qwen3-Coder-30B-A3B-Instruct-FP8", "reasoning_parser": None}),
    "30b-bf16": ("vllm-serve-qwen3-coder-30b-a3b.sh", {"MODEL": "Qwen/Qwen3-Coder-30B-A3B-Instruct"},
                 {"model": "Qwen/Qwen3-Coder-30B-A3B-Instruct"}),
    "480b-fp8": ("vllm-serve-qwen3-coder-480b-a35b.sh", {},
                 {"model": "Qwen/Qwen3-Coder-480B-A35B-Instruct-FP8", "data_parallel_size": 8,
                  "enable_expert_parallel": True}),
    "480b-bf16": ("vllm-serve-qwen3-coder-480b-a35b.sh", {"MODEL": "Qwen/Qwen3-Coder-480B-A35B-Instruct"},
                  {"tensor_parallel_size": 8, "enable_expert_parallel": False}),
    "qwen3.5": ("vllm-serve-qwen3.5.sh", {}, {"model": "Qwen/Qwen3.5-35B-A3B-FP8", "reasoning_parser": "qwen_xml_safe"}),
}


def test_gpu_serve_scripts_parse_with_vllms_own_cli(e2e_setup, tmp_path):
    files = {}
    for key, (script, env, _) in SERVE_SCRIPTS.items():
        files[key] = tmp_path / f"{key}.json"
        subprocess.run(["bash", str(EXAMPLES / script)], check=True, timeout=30, env={
            **os.environ, **env, "ARGV_DUMP": str(files[key]),
            "VLLM": f"{sys.executable} {stack.REPO / 'scripts' / 'e2e' / 'argv_dump.py'}"})
    proc = subprocess.run([e2e_setup["E2E_VLLM_PY"], str(stack.REPO / "scripts" / "e2e" / "check_serve_args.py"),
                           *map(str, files.values())], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **stack.OFFLINE_ENV})
    results = {Path(r["file"]).stem: r for r in map(json.loads, proc.stdout.splitlines()) if r.get("file")}
    assert sorted(results) == sorted(SERVE_SCRIPTS), proc.stdout + proc.stderr
    for key, (_, _, expected) in SERVE_SCRIPTS.items():
        r = results[key]
        assert r["ok"], r
        assert r["tool_call_parser"] == stack.PLUGIN_PARSER and r["enable_auto_tool_choice"]
        assert Path(r["tool_parser_plugin"]).resolve() == stack.PLUGIN
        assert r["served_model_name"] == [stack.SERVED_MODEL]
        assert {k: r[k] for k in expected} == expected, r
        if r["reasoning_parser"] == stack.PLUGIN_PARSER:  # the engine process must load the file too
            assert Path(r["reasoning_parser_plugin"]).resolve() == stack.PLUGIN


def test_continue_config(openai_client):
    import yaml

    cfg = yaml.safe_load((EXAMPLES / "continue" / "config.yaml").read_text())
    (entry,) = cfg["models"]
    assert entry["model"] == stack.SERVED_MODEL  # what the serve scripts serve
    assert entry["apiBase"] == "http://127.0.0.1:8000/v1"  # their default host and port
    assert "tool_use" in entry["capabilities"]
    # the request Continue's vllm provider makes: a streamed chat completion with tools
    r = reply_of_stream(openai_client.chat.completions.create(
        model=entry["model"], messages=[{"role": "user", "content": "Read it."}], tools=TOOLS, stream=True,
        **says(tool_call("read_file", path="src/main.ts"))))
    assert r.call.name == "read_file" and r.call.args == {"path": "src/main.ts"}
    first = next(tc for c in r.chunks if c.choices for tc in (c.choices[0].delta.tool_calls or []))
    assert first.index == 0 and first.id and first.type == "function"  # Continue needs all three
