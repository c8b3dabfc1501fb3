"""What the serving layer does not tell a parser (qwen_xml_toolparser/_compat_context.py), found
through the installed vLLM's real serving layer, on every version of the CI matrix.

The context module reads the calling vLLM objects' frames; a vLLM that moved them would make it
fall back quietly, so each reading is checked here where vLLM itself calls the parser, and the
fallback path (nothing found: logged once per process, naming the fallback) directly.
"""

from __future__ import annotations

import logging

import pytest

pytest.importorskip("vllm")

from qwen_xml_toolparser import _compat_context as cx  # noqa: E402
from qxt_support.vllm import PLUGIN_NAME as PLUGIN  # noqa: E402
from qxt_support.vllm import version_tuple  # noqa: E402
from qxt_support.serving import collect  # noqa: E402
from tests.serving.test_serving_layer import TOOLS, Runner, _call  # noqa: E402

pytestmark = pytest.mark.serving


@pytest.fixture(scope="module")
def runner():
    r = Runner()
    yield r
    r.close()


def test_readings_find_the_serving_layer_s_objects(runner, monkeypatch):
    """Streaming and not: whether a reasoning parser runs (read when vLLM builds the parser) and the
    engine's finish reason (read for an output that ends inside a value) are found, not guessed."""
    missed: list[str] = []
    monkeypatch.setattr(cx, "_not_found", lambda what, fallback: missed.append(what))
    srv = runner.serving(PLUGIN)
    cut = _call("write_file", {"path": "a.py", "content": "x = 1"}).split("x = 1")[0] + "x ="
    got = collect(runner.run(srv.stream(_call("read_file", {"path": "a.py"}), tools=TOOLS)))
    assert [c["name"] for c in got["calls"]] == [["read_file"]]
    response = runner.run(srv.complete(cut, tools=TOOLS))
    assert response["choices"][0]["finish_reason"] in ("stop", "tool_calls"), response
    assert missed == []


def test_a_reading_that_finds_nothing_says_so_once(monkeypatch, caplog):
    monkeypatch.setattr(cx, "_REPORTED", set())
    with caplog.at_level(logging.INFO, logger="qwen_xml_toolparser"):
        assert cx.engine_finish_reason() is None and cx.engine_finish_reason() is None
        assert cx.reasoning_parser_configured() is None and cx.reasoning_parser_configured() is None
    lines = [r.getMessage() for r in caplog.records if "not found in the calling vLLM code" in r.getMessage()]
    assert len(lines) == 2, lines
    assert "max_tokens" in lines[0] and "<think> markup is content" in lines[1]


def test_tells_no_reasoning_parser_by_behaviour():
    """vLLM 0.31+ set ``skip_reasoning_parsing`` on a tool parser built without a reasoning parser;
    found by building vLLM's composed Parser (no source reading)."""
    assert cx.tells_no_reasoning_parser() is (version_tuple() >= (0, 31))
