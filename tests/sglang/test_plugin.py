"""qwen_xml_safe reaches SGLang the way SGLang loads plugins: the installed package's
``sglang.srt.plugins`` entry point, run by ``sglang.srt.plugins.load_plugins()`` before the
command line is parsed (``python -m sglang.launch_server`` and ``sglang serve`` both do), adds it to
``FunctionCallParser.ToolCallParserEnum`` and so to ``--tool-call-parser``'s choices.

The launch test runs the README's launch command's arguments through what
``sglang/launch_server.py``'s ``__main__`` does before it starts anything (``load_plugins()``,
then ``prepare_server_args(argv)``) in a fresh interpreter: about 10 s of CPU per run, two runs.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from tests.sglang import driver

REPO = Path(__file__).resolve().parents[2]
# The README's launch command (section "SGLang"), without the model-dependent extras.
LAUNCH = ["--model-path", "Qwen/Qwen3-Coder-30B-A3B-Instruct", "--tool-call-parser", "qwen_xml_safe"]
LAUNCH_LINE = "python -m sglang.launch_server " + " ".join(LAUNCH)

_PARSE_LIKE_LAUNCH_SERVER = """
import sys
from sglang.srt.plugins import load_plugins
load_plugins()
from sglang.srt.server_args import prepare_server_args
print("tool_call_parser=" + prepare_server_args(sys.argv[1:]).tool_call_parser)
"""


def test_entry_point_is_installed():
    (ep,) = [ep for ep in entry_points(group="sglang.srt.plugins") if ep.name == driver.OURS]
    assert ep.value == "qwen_xml_toolparser._sglang_adapter:register"
    assert ep.dist is not None and ep.dist.name == "qwen-xml-toolparser"


def test_sglang_plugin_loader_finds_it_and_sglang_plugins_filters_it(monkeypatch):
    from sglang.srt.plugins import GENERAL_PLUGINS_GROUP, load_plugins_by_group

    from qwen_xml_toolparser._sglang_adapter import register

    monkeypatch.delenv("SGLANG_PLUGINS", raising=False)
    assert load_plugins_by_group(GENERAL_PLUGINS_GROUP)[driver.OURS][0] is register
    monkeypatch.setenv("SGLANG_PLUGINS", "some_other_plugin")
    assert driver.OURS not in load_plugins_by_group(GENERAL_PLUGINS_GROUP)


def test_function_call_parser_builds_our_detector():
    from sglang.srt.function_call.function_call_parser import FunctionCallParser

    from qwen_xml_toolparser._sglang_adapter import QwenXmlSafeDetector

    driver.load_plugins()
    assert FunctionCallParser.ToolCallParserEnum[driver.OURS] is QwenXmlSafeDetector
    parser = driver.new_parser([{"type": "function", "function": {"name": "f"}}])
    assert type(parser.detector) is QwenXmlSafeDetector
    # required / named tool_choice are parsed in the native format (structural tag), as qwen3_coder
    assert parser.owns_tool_format()


def _launch_parse(extra_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SGLANG_PLUGINS"}
    env.update({"HF_HUB_OFFLINE": "1", "PYTHONPATH": str(REPO), **extra_env})
    return subprocess.run([sys.executable, "-c", _PARSE_LIKE_LAUNCH_SERVER, *LAUNCH], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=300)


def test_launch_command_accepts_qwen_xml_safe():
    done = _launch_parse({})
    assert done.returncode == 0, done.stderr[-2000:]
    assert "tool_call_parser=qwen_xml_safe" in done.stdout


def test_without_the_plugin_the_launch_command_is_rejected():
    """The choice comes from the entry point: filtered out by SGLANG_PLUGINS, SGLang rejects it."""
    done = _launch_parse({"SGLANG_PLUGINS": "some_other_plugin"})
    assert done.returncode == 2
    assert re.search(r"--tool-call-parser: invalid choice: 'qwen_xml_safe'", done.stderr)


def test_readme_launch_command_is_the_tested_one():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## SGLang"):]
    assert LAUNCH_LINE in section


@pytest.mark.parametrize("reasoning_parser,content", [(None, "<think>x</think>ok"), ("qwen3", "xok")])
def test_think_markup_is_dropped_only_next_to_a_reasoning_parser(reasoning_parser, content):
    """The detector reads ``reasoning_parser`` from the serving object that builds it."""
    text = "<think>x</think>ok"
    tools = [{"type": "function", "function": {"name": "f"}}]
    parser = driver.new_parser(tools, reasoning_parser=reasoning_parser)
    assert parser.parse_non_stream(text)[0] == content
    parser = driver.new_parser(tools, reasoning_parser=reasoning_parser)
    streamed = "".join(parser.parse_stream_chunk(c)[0] for c in ("<thi", "nk>x</th", "ink>ok"))
    assert streamed + parser.parse_stream_end()[0] == content
