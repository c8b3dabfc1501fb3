"""The vLLM adapter's own promises (qwen_xml_toolparser/_vllm_adapter.py), through vLLM's registry."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import subprocess
import sys

import pytest

pytest.importorskip("vllm")

from qwen_xml_toolparser import _compat as vc  # noqa: E402
from qwen_xml_toolparser._vllm_loop import (  # noqa: E402
    ServingLoop,
    chat_request,
    finish_message,
    generation,
    make_chunks,
)
from qxt_support.qwen_tokenizer import EOS_ID as EOS  # noqa: E402
from qxt_support.vllm import PLUGIN_PATH as PLUGIN  # noqa: E402

TOOLS = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {
    "n": {"type": "integer"}, "s": {"type": "string"}}}}}]
CALL = "<tool_call>\n<function=f>\n<parameter=n>\n7\n</parameter>\n<parameter=s>\nhi\n</parameter>\n</function>\n</tool_call>"


@pytest.fixture(scope="module")
def parser_cls():
    vc.ToolParserManager.import_tool_parser(str(PLUGIN))
    return vc.ToolParserManager.get_tool_parser("qwen_xml_safe")


def steps(parser, pieces, request, final_token=EOS, finish=False):
    """Drive the parser as the installed vLLM's serving loop does (``_vllm_loop.ServingLoop``),
    yielding each DeltaMessage as it comes: piece k is token k, ``final_token`` ends the stream.
    ``finish``: the last step is the stream's finishing chunk, completed as the installed vLLM's
    serving layer does; otherwise nothing tells the parser that the stream ended."""
    chunks = make_chunks(list(pieces), range(len(pieces)), eos_id=final_token)
    if not finish:
        chunks[-1] = dataclasses.replace(chunks[-1], finished=False)
    for step in ServingLoop(parser, request).run(chunks):
        if step.sent is not None:
            yield step.sent


def feed(parser, pieces, request, final_token=EOS, finish=False):
    return list(steps(parser, pieces, request, final_token, finish))


def test_registered_eagerly_and_routes_required_and_named_as_in_tree(parser_cls):
    assert "qwen_xml_safe" in vc.ToolParserManager.tool_parsers  # eager, not a lazy entry
    in_tree = vc.ToolParserManager.get_tool_parser("qwen3_coder")
    # <= 0.17 vLLM never reads the flag (required / named always use its JSON format).
    assert parser_cls.supports_required_and_named is getattr(in_tree, "supports_required_and_named", True)


def test_constructor_without_tools(parser_cls):
    parser = parser_cls(None)
    info = parser.extract_tool_calls(CALL, chat_request(None))
    assert json.loads(info.tool_calls[0].function.arguments) == {"n": "7", "s": "hi"}  # no schema: strings


def test_request_tools_win_over_constructor_tools(parser_cls):
    other = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {
        "n": {"type": "string"}}}}}]
    parser = parser_cls(None, chat_request(other).tools)
    info = parser.extract_tool_calls(CALL, chat_request(TOOLS))
    assert json.loads(info.tool_calls[0].function.arguments) == {"n": 7, "s": "hi"}
    info = parser_cls(None, chat_request(other).tools).extract_tool_calls(CALL, chat_request(None))
    assert json.loads(info.tool_calls[0].function.arguments) == {"n": "7", "s": "hi"}


def test_serving_layer_bookkeeping_is_exact(parser_cls):
    request = chat_request(TOOLS, stop_token_ids=[EOS])
    parser = parser_cls(None, request.tools)
    text = CALL + "\n" + CALL.replace("hi", 'a "quoted" \\ value')
    pieces = [text[i : i + 3] for i in range(0, len(text), 3)]
    sent: dict[int, str] = {}
    for message in steps(parser, pieces, request):
        assert len(message.tool_calls) <= 1
        for call in message.tool_calls:
            sent[call.index] = sent.get(call.index, "") + (call.function.arguments or "")
            assert len(parser.streamed_args_for_tool) == len(parser.prev_tool_call_arr) == call.index + 1
            assert parser.streamed_args_for_tool[call.index] == sent[call.index]
    assert list(parser.streamed_args_for_tool) == [sent[0], sent[1]]
    for record, text in zip(parser.prev_tool_call_arr, parser.streamed_args_for_tool):
        assert isinstance(record["arguments"], dict) and record.get("arguments") == json.loads(text)
        assert json.dumps(record["arguments"], ensure_ascii=False) == text
    assert parser.get_remaining_unstreamed_args() == ""


def test_remainder_closes_a_call_cut_off_without_a_known_end(parser_cls):
    """If the end of the stream is not recognised, vLLM's remainder still closes the JSON."""
    request = chat_request(TOOLS)  # no stop ids, no max_tokens: the last step looks ordinary
    parser = parser_cls(None, request.tools)
    messages = feed(parser, ["<tool_call>\n<function=f>\n<parameter=s>\nunfinished value"], request,
                    final_token=5, finish=True)
    args = "".join(c.function.arguments or "" for m in messages for c in m.tool_calls)
    assert json.loads(args) == {"s": "unfinished value"}


def test_max_tokens_ends_the_stream(parser_cls):
    request = chat_request(TOOLS, max_tokens=3)
    parser = parser_cls(None, request.tools)
    messages = feed(parser, ["<tool_call>\n<function=f>\n", "<parameter=n>\n4"], request, final_token=9)
    args = "".join(c.function.arguments or "" for m in messages for c in m.tool_calls)
    assert json.loads(args) == {}  # the cut "4" (of "42"?) is left out, the JSON closed


def test_internal_error_falls_back_to_content_once(parser_cls, monkeypatch, caplog):
    request = chat_request(TOOLS, stop_token_ids=[EOS])
    parser = parser_cls(None, request.tools)
    messages = feed(parser, ["<tool_call>\n<function=f>\n<parameter=s>\nab"], request, final_token=3)
    core = parser._core

    def broken(text):
        raise RuntimeError("boom")

    monkeypatch.setattr(core, "feed", broken)
    caplog.set_level(logging.ERROR)
    messages += feed(parser, ["cd", "ef"], request)
    args = "".join(c.function.arguments or "" for m in messages for c in m.tool_calls)
    assert json.loads(args) == {"s": "ab"}  # the open call was closed
    assert "".join(m.content or "" for m in messages) == "cdef"  # the rest passed through
    errors = [r for r in caplog.records if "internal error" in r.getMessage()]
    assert len(errors) == 1 and "character 41" in errors[0].getMessage()


def test_non_streaming_internal_error_returns_content(parser_cls, monkeypatch):
    from qwen_xml_toolparser import _vllm_adapter

    monkeypatch.setattr(_vllm_adapter, "parse", lambda *a, **k: 1 / 0)
    info = parser_cls(None).extract_tool_calls(CALL, chat_request(TOOLS))
    assert info.tools_called is False and info.content == CALL


def test_plugin_file_and_package_module_share_one_class(parser_cls):
    import qwen_xml_toolparser.plugin as by_package

    assert parser_cls is by_package.QwenXmlSafeToolParser


def test_general_plugin_entry_point_registers_in_the_api_server_process():
    """vLLM 0.33 loads `vllm.general_plugins` while building the CLI (AsyncEngineArgs.add_cli_args),
    in the API-server process, before it validates --tool-call-parser."""
    code = (
        "from vllm.engine.arg_utils import AsyncEngineArgs\n"
        "try:\n"
        "    from vllm.tool_parsers import ToolParserManager\n"
        "except ImportError:  # vLLM < 0.13\n"
        "    from vllm.entrypoints.openai.tool_parsers import ToolParserManager\n"
        "import argparse\n"
        "def registered():\n"
        "    if hasattr(ToolParserManager, 'list_registered'):\n"
        "        return ToolParserManager.list_registered()\n"
        "    return list(ToolParserManager.tool_parsers)  # older vLLM: no list_registered()\n"
        "assert 'qwen_xml_safe' not in registered()\n"
        "try:\n"
        "    from vllm.utils.argparse_utils import FlexibleArgumentParser\n"
        "except ImportError:\n"
        "    from vllm.utils import FlexibleArgumentParser\n"
        "try:\n"
        "    AsyncEngineArgs.add_cli_args(FlexibleArgumentParser())\n"
        "except RuntimeError as exc:\n"
        "    # A CUDA build of vLLM on this CPU-only machine fails after loading the plugins,\n"
        "    # when it builds the device config; the plugins were loaded first.\n"
        "    assert 'device type' in str(exc), exc\n"
        "print('qwen_xml_safe' in registered())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd="/")
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "True"


@pytest.mark.parametrize("last", ["\n</para", "\n", "<", "</parameter>", "\n<parameter=n>\n4"])
def test_unrecognised_end_still_closes_the_call(parser_cls, last):
    """A stop string or the server's default max_tokens ends the stream on an ordinary step.

    vLLM (0.23+) appends get_remaining_unstreamed_args() to the last tool call of the final delta
    (older versions replace its arguments by the remainder they compute, if it has a tool call with
    arguments), so the final delta must carry one even when nothing else is ready."""
    request = chat_request(TOOLS)
    parser = parser_cls(None, request.tools)
    messages = feed(parser, ["<tool_call>\n<function=f>\n<parameter=s>\nvalue"], request, final_token=5)
    previous = "".join(m.content or "" for m in messages)
    final = parser.extract_tool_calls_streaming("", "", last, [], [5, 6], [6], request)
    assert final is not None and final.tool_calls, "no hook for the serving layer's remainder"
    final = finish_message(parser, final, generation())  # the serving layer completes the arguments
    args = "".join(c.function.arguments or "" for m in messages + [final] for c in m.tool_calls)
    assert json.loads(args)["s"] == "value" and previous == ""


def test_drift_recoveries_are_lines_in_vllms_log():
    """docs/drift.md: each recovery is logged once at INFO. Under vLLM's own logging setup (what
    `vllm serve` has) the package's records must reach vLLM's handler, which prints to stdout; the
    package's logger is not under `vllm`, so without _compat_logging.route_logs_to_vllm they would not."""
    code = (
        "import logging\n"
        "from qwen_xml_toolparser import _compat as vc\n"
        f"vc.ToolParserManager.import_tool_parser({str(PLUGIN)!r})\n"
        # then vLLM configures its logging as the server does: at import up to 0.32, from the
        # server's arguments (after the plugin may have been loaded) in 0.33
        "import vllm.logger\n"
        "if not logging.getLogger('vllm').handlers:\n"
        "    from vllm.config.logging import LoggingConfig\n"
        "    vllm.logger.configure_logging(LoggingConfig())\n"
        "from qwen_xml_toolparser import parse\n"
        "tools = [{'type': 'function', 'function': {'name': 'bash', 'parameters': {'type': 'object',"
        " 'properties': {'command': {'type': 'string'}}}}}]\n"
        "r = parse('<tool_call>\\n<parameter=bash>\\n<parameter=command>\\nls\\n</parameter>\\n"
        "</function>\\n</tool_call>\\n</tool_call>', tools)\n"
        "print('CALLS', [(c.name, c.arguments) for c in r.tool_calls])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd="/",
                         env={**__import__("os").environ, "VLLM_LOGGING_LEVEL": "INFO"})
    assert out.returncode == 0, out.stderr[-2000:]
    lines = (out.stdout + out.stderr).splitlines()
    assert "CALLS [('bash', '{\"command\": \"ls\"}')]" in lines, out.stdout[-2000:]
    recovered = [line for line in lines if "drift recovered:" in line]
    assert [line.split("drift recovered: ")[1] for line in recovered] == ["parameter-as-function", "stray-closer"]
    # vLLM's format (level, time, [file:line]), not the bare last-resort line
    assert all(re.search(r"\bINFO\b.*\[_drift\.py:\d+\] drift recovered: ", line) for line in recovered), recovered
