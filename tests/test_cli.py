"""``python -m qwen_xml_toolparser parse``: bad input gets one line and exit status 2, before vLLM.

The CLI runs as a subprocess of this interpreter (cwd = the repository, so the checkout's package
is the one imported). ``_run`` records whether ``vllm`` was imported by the time the CLI exited,
so every error test also checks that the error came before vLLM was imported.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
OUTPUT = REPO / "examples" / "outputs" / "write_file.txt"
PARALLEL = REPO / "examples" / "outputs" / "parallel_calls.txt"
TOOLS = REPO / "examples" / "tools" / "coding_agent.json"
MARK = "@@vllm-imported="
# Runs the package's __main__ exactly as `python -m qwen_xml_toolparser` does, then reports
# (on stdout, at exit) whether vllm is in sys.modules.
_WRAPPER = (
    "import atexit, runpy, sys\n"
    f"atexit.register(lambda: print({MARK!r} + str('vllm' in sys.modules)))\n"
    "sys.argv = ['qwen_xml_toolparser', *sys.argv[1:]]\n"
    "runpy.run_module('qwen_xml_toolparser', run_name='__main__', alter_sys=True)\n"
)


class Run:
    def __init__(self, proc: subprocess.CompletedProcess[bytes]):
        out, _, flag = proc.stdout.decode().rpartition(MARK)
        self.rc, self.stdout, self.stderr = proc.returncode, out, proc.stderr.decode()
        self.vllm_imported = flag.strip() == "True"

    def result(self) -> dict:
        """The final JSON result (after the '---' line when streaming)."""
        return json.loads(self.stdout.rpartition("\n---\n")[2])


def _run(*args: str | Path, stdin: bytes | None = None, timeout: float = 180) -> Run:
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run([sys.executable, "-c", _WRAPPER, "parse", *map(str, args)], check=False, cwd=REPO,
                          env=env, input=stdin, capture_output=True, timeout=timeout)
    return Run(proc)


def _assert_usage_error(run: Run, *needles: str) -> None:
    lines = run.stderr.splitlines()
    assert run.rc == 2, run.stderr
    assert len(lines) == 1 and lines[0].startswith("qwen-xml-toolparser: error: "), run.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert run.stdout == ""
    assert not run.vllm_imported  # checked before vLLM is imported, even with --vllm


@pytest.fixture
def write(tmp_path):
    def write(name: str, data: str | bytes) -> Path:
        path = tmp_path / name
        (path.write_bytes if isinstance(data, bytes) else path.write_text)(data)
        return path
    return write


# ---- one test per bad input ----

def test_missing_output_file(tmp_path):
    missing = tmp_path / "nope.txt"
    _assert_usage_error(_run(missing, "--tools", TOOLS, "--vllm"), str(missing), "no such file", "model output")


def test_output_is_a_directory(tmp_path):
    _assert_usage_error(_run(tmp_path, "--tools", TOOLS), str(tmp_path), "is a directory")


def test_binary_output_file(write):
    path = write("out.bin", b"<tool_call>\x00\x01\x02")
    _assert_usage_error(_run(path, "--tools", TOOLS, "--vllm"), str(path), "binary", "raw text")


def test_output_not_utf8(write):
    path = write("out.txt", "caf\xe9 <tool_call>".encode("latin-1"))
    _assert_usage_error(_run(path, "--tools", TOOLS), str(path), "not UTF-8", "byte 3")


def test_binary_stdin():
    _assert_usage_error(_run("-", "--tools", TOOLS, stdin=b"\x00\x00"), "<stdin>", "binary")


def test_missing_tools_file(tmp_path):
    missing = tmp_path / "tools.json"
    _assert_usage_error(_run(OUTPUT, "--tools", missing, "--vllm"), str(missing), "no such file", "--tools")


def test_tools_not_json(write):
    path = write("tools.json", '[{"type": "function", "function": {"name": "f",}}]')
    _assert_usage_error(_run(OUTPUT, "--tools", path, "--vllm"), str(path), "not valid JSON", "line 1, column 48")


def test_tools_not_utf8(write):
    path = write("tools.json", b"\xff\xfe[]")
    _assert_usage_error(_run(OUTPUT, "--tools", path), str(path), "not UTF-8")


@pytest.mark.parametrize(("tools", "needle"), [
    ({"type": "function"}, 'expected a JSON array of tools (or an object with "tools"), got a JSON object'),
    ({"tools": "write_file"}, "got a JSON string"),
    (["write_file"], "tool 0 is a JSON string, not an object"),
    ([{"type": "code_interpreter"}], 'tool 0 has "type": "code_interpreter"'),
    ([{"type": "function", "name": "f", "parameters": {}}], "tool 0 (f) has the Responses API shape"),
    ([{"type": "function", "function": {"name": "f"}}, {"type": "function"}], 'tool 1 has no "function" object'),
    ([{"type": "function", "function": "f"}], '"function" is a JSON string, not an object'),
    ([{"type": "function", "function": {"description": "no name"}}], '"function" has no "name" string'),
    ([{"type": "function", "function": {"name": ""}}], '"function" has no "name" string'),
    ([{"type": "function", "function": {"name": "f", "parameters": ["path"]}}],
     'tool 0 (f): "parameters" is a JSON array, not a JSON schema object'),
    ([{"type": "function", "function": {"name": "f", "description": 3}}], '"description" is not a string'),
], ids=["object", "tools-string", "entry-string", "other-type", "responses-shape", "no-function",
        "function-string", "no-name", "empty-name", "parameters-array", "description-number"])
@pytest.mark.parametrize("mode", ["--core", "--vllm"])
def test_tools_of_the_wrong_shape(write, tools, needle, mode):
    path = write("tools.json", json.dumps(tools))
    _assert_usage_error(_run(OUTPUT, "--tools", path, mode), str(path), needle,
                        '{"type": "function", "function": {"name": ..., "parameters": {...}}}')


def test_tokenizer_dir_without_tokenizer_json(tmp_path):
    _assert_usage_error(_run(OUTPUT, "--tools", TOOLS, "--tokenizer", tmp_path, "--stream"),
                        str(tmp_path), "no tokenizer.json", "--tokenizer")


def test_vllm_flag_without_vllm_installed():
    """--vllm in a Python without vLLM (``-S``: no site-packages; the core needs only the stdlib)."""
    proc = subprocess.run([sys.executable, "-S", "-m", "qwen_xml_toolparser", "parse", str(OUTPUT),
                           "--tools", str(TOOLS), "--vllm"], check=False, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1
    assert "qwen-xml-toolparser: error: --vllm: vLLM is not installed in this Python" in proc.stderr
    assert "leave --vllm out" in proc.stderr


def test_core_and_vllm_are_exclusive():
    run = _run(OUTPUT, "--core", "--vllm")
    assert run.rc == 2 and "not allowed with argument" in run.stderr


# ---- warnings: missing or empty tools, a call the tools do not declare ----

def test_without_tools_warns_that_values_stay_strings():
    run = _run(OUTPUT)
    assert run.rc == 0, run.stderr
    assert run.stderr.splitlines() == [
        ("qwen-xml-toolparser: warning: no --tools: every parameter value stays a string; pass --tools TOOLS.json "
         "(the request's tools) to type values by their JSON schemas")]
    args = run.result()["tool_calls"][0]["parsed"]
    assert args["overwrite"] == "true" and args["mode"] == "420"  # untyped, as the warning says


def test_empty_tools_list_warns(write):
    path = write("tools.json", '{"tools": []}')
    run = _run(OUTPUT, "--tools", path)
    assert run.rc == 0
    assert run.stderr.splitlines() == [
        f"qwen-xml-toolparser: warning: {path} lists no tools: every parameter value stays a string"]


def test_call_to_an_undeclared_function_warns(write):
    tools = [t for t in json.loads(TOOLS.read_text()) if t["function"]["name"] != "read_file"]
    path = write("tools.json", json.dumps(tools))
    run = _run(PARALLEL, "--tools", path)
    assert run.rc == 0, run.stderr
    assert run.stderr.splitlines() == ["qwen-xml-toolparser: warning: tool call to undeclared function 'read_file'"]
    calls = run.result()["tool_calls"]
    assert [c["name"] for c in calls] == ["read_file", "run_command"]
    assert calls[1]["parsed"]["timeout"] == 30  # the declared one is typed


# ---- happy paths ----

WRITE_FILE_ARGS = {
    "path": "C:\\Users\\dev\\project\\src\\util.py",
    "overwrite": True,
    "mode": 420,
}


def _check_write_file(result: dict) -> None:
    assert result["content"] == "I'll create the helper module now."
    [call] = result["tool_calls"]
    assert call["name"] == "write_file"
    assert json.loads(call["arguments"]) == call["parsed"]
    assert {k: call["parsed"][k] for k in WRITE_FILE_ARGS} == WRITE_FILE_ARGS
    assert call["parsed"]["content"].startswith("import re\n\nPATTERN = re.compile(")


def test_core_is_the_default_and_does_not_import_vllm():
    run = _run(OUTPUT, "--tools", TOOLS)
    assert run.rc == 0 and run.stderr == ""
    assert not run.vllm_imported
    _check_write_file(run.result())


def test_core_stream_prints_events_then_the_result():
    run = _run(OUTPUT, "--tools", TOOLS, "--stream", "--core")
    assert run.rc == 0 and run.stderr == ""
    assert not run.vllm_imported
    events = [json.loads(line) for line in run.stdout.partition("\n---\n")[0].splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] == "ContentDelta" and "ToolCallStart" in kinds and kinds[-1] == "ToolCallEnd"
    assert sum(k == "ArgumentsDelta" for k in kinds) > 10  # streamed piece by piece
    streamed = "".join(e["text"] for e in events if e["event"] == "ArgumentsDelta")
    result = run.result()
    assert streamed == result["tool_calls"][0]["arguments"]
    _check_write_file(result)


def test_stdin_is_read_with_a_dash():
    run = _run("-", "--tools", TOOLS, stdin=OUTPUT.read_bytes())
    assert run.rc == 0, run.stderr
    _check_write_file(run.result())


@pytest.fixture(scope="module")
def vllm_installed():
    pytest.importorskip("vllm", reason="--vllm needs vLLM (the matrix venvs have it; `make test-core` does not)")


def test_vllm_mode_goes_through_the_plugin(vllm_installed):
    run = _run(OUTPUT, "--tools", TOOLS, "--vllm")
    assert run.rc == 0, run.stderr
    assert run.vllm_imported
    assert "through vLLM" in run.stderr and "qwen_xml_safe plugin" in run.stderr
    _check_write_file(run.result())
    assert run.result() == _run(OUTPUT, "--tools", TOOLS).result()  # the same as the core


def test_vllm_mode_streams_delta_messages_at_token_boundaries(vllm_installed):
    from qxt_support.qwen_tokenizer import ensure_tokenizer_dir

    run = _run(OUTPUT, "--tools", TOOLS, "--vllm", "--stream", "--tokenizer", ensure_tokenizer_dir())
    assert run.rc == 0, run.stderr
    assert run.vllm_imported
    deltas = [json.loads(line) for line in run.stdout.partition("\n---\n")[0].splitlines()]
    calls = [c for d in deltas for c in d.get("tool_calls", [])]
    assert calls[0]["function"]["name"] == "write_file" and calls[0]["id"]
    assert len(calls) > 10  # the arguments arrive token by token
    streamed = "".join(c["function"].get("arguments", "") for c in calls)
    result = run.result()
    assert streamed == result["tool_calls"][0]["arguments"]
    _check_write_file(result)
