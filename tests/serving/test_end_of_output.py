"""The end of the output through vLLM's real serving layer (issue 11, docs/behaviour.md
"The end of the output"): what a client sees, finish_reason included, on the installed vLLM.

The engine is scripted (tests/serving/driver.py). Endings:

* ``eos``: the model emits ``<|im_end|>`` (vLLM's default one token per output, EOS alone);
* ``stop-string``: a client stop string matched: the engine finishes with ``finish_reason="stop"``
  but no EOS id reaches the parser (the stop string is not in the text), ``max_tokens`` is far;
* ``length``: ``max_tokens`` = the number of generated tokens, no EOS.

Numbered as in the issue: 1 a last delta that completes two calls, ended by a stop string;
2 a call cut by ``max_tokens``; 3 both modes agree at the end; 4 think blocks without a reasoning
parser. (5, the cost at 128k, is benchmarks/bench_streaming.py.)
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("vllm")

from qxt_support.vllm import PLUGIN_NAME as PLUGIN  # noqa: E402
from qxt_support.vllm import version_tuple as vllm_version  # noqa: E402
from tests.serving import driver as drv  # noqa: E402
from tests.serving.driver import ScriptedServing, ServingError, collect  # noqa: E402
from tests.serving.test_serving_layer import TOOLS, Runner, _call, _describe  # noqa: E402

pytestmark = pytest.mark.serving

WEATHER = [{"type": "function", "function": {
    "name": "get_weather", "parameters": {"type": "object", "properties": {"location": {"type": "string"}},
                                          "required": ["location"]}}}]


@pytest.fixture(scope="module")
def srv():
    runner = Runner()
    serving = runner.serving(PLUGIN)
    serving.run = runner.run  # type: ignore[attr-defined]
    yield serving
    runner.close()


@pytest.fixture
def stop_string(monkeypatch):
    """Engine outputs without the EOS id: with ``finish="stop"`` that is a matched stop string."""
    real = drv.engine_outputs

    def outputs(tokenizer, text, chunk=1, merge_eos=False, skip_special_tokens=True, eos=True):
        return real(tokenizer, text, chunk, merge_eos, skip_special_tokens=skip_special_tokens, eos=False)

    monkeypatch.setattr(drv, "engine_outputs", outputs)


def _tokens(srv: ScriptedServing, text: str) -> int:
    return len(srv.tokenizer.encode(text, add_special_tokens=False))


def stream(srv: ScriptedServing, text: str, tools=TOOLS, chunk: int = 1, finish: str = "stop", **kw) -> dict:
    chunks = srv.run(srv.stream(text, tools=tools, chunk=chunk, finish=finish, **kw))
    got = collect(chunks)
    got["chunks"] = chunks
    return got


def complete(srv: ScriptedServing, text: str, tools=TOOLS, finish: str = "stop", **kw) -> dict:
    """Non-streaming; ``finish="length"``: the engine stops at ``max_tokens`` (no EOS)."""
    srv.next_text, srv.next_chunking, srv.next_finish = text, (1, False), finish
    if finish == "length":
        kw.setdefault("max_tokens", _tokens(srv, text))
    res = srv.run(srv.serving.create_chat_completion(srv.request(None, tools, stream=False, **kw)))
    d = drv._dump(res)
    if "choices" not in d:
        raise ServingError(d)
    return d


def streamed_view(got: dict) -> tuple[str, list[tuple[str, object]]]:
    calls = []
    for call in got["calls"]:
        assert len(call["name"]) == 1 and len(call["id"]) == 1, call  # name and id once
        args = "".join(call["arguments"])
        try:
            calls.append((call["name"][0], json.loads(args)))
        except json.JSONDecodeError as e:
            pytest.fail(f"streamed arguments are not JSON ({e}): {args!r}\n{_describe(got['chunks'])}")
    return got["content"], calls


def whole_view(resp: dict) -> tuple[str, list[tuple[str, object]], str]:
    choice = resp["choices"][0]
    msg = choice["message"]
    calls = [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in msg.get("tool_calls") or []]
    return msg.get("content") or "", calls, choice["finish_reason"]


def cut_stream_finish_reason() -> str:
    """What vLLM reports for a stream whose call was cut by max_tokens (docs/behaviour.md):
    0.31+ pass "length" through; up to 0.26 "tool_calls" is set whenever a call was streamed
    (``tools_streamed`` / ``prev_tool_call_arr``), which no parser can change."""
    return "length" if vllm_version() >= (0, 31) else "tool_calls"


def whole_cut_call_finish_reason() -> str:
    """Non-streaming response holding a call whose output was cut by max_tokens (its values all
    closed): 0.33 reports "length" (``resolve_finish_reason``), earlier versions "tool_calls"."""
    try:
        from vllm.entrypoints.serve.utils.tool_calls_utils import resolve_finish_reason  # noqa: F401
    except ImportError:
        return "tool_calls"
    return "length"


def whole_shows_raw_output(content: str) -> bool:
    """vLLM < 0.12: with no call the serving layer shows the parser's content only when it is not
    empty, else the raw output; the parser cannot ask for its own without turning finish_reason
    into "tool_calls" (docs/behaviour.md)."""
    return vllm_version() < (0, 12) and not content


def known_bad_unseen_end_in_one_delta(request) -> None:
    """vLLM 0.10 - 0.13 rewrite a last delta whose first call has arguments into the rest of the
    last call without id and name; when the parser cannot see the end (a stop string, the
    server's limit) and the whole call came in that delta, it had sent the header with
    ``arguments: ""`` (docs/compat-notes.md §4)."""
    if vllm_version() < (0, 14):
        request.applymarker(pytest.mark.xfail(strict=True, reason=known_bad_unseen_end_in_one_delta.__doc__))


def flushes_tool_parser() -> bool:
    """vLLM calls ``finish_streaming()`` of an engine-based tool parser at the end (0.26+)."""
    try:
        from vllm.parser.abstract_parser import DelegatingParser
    except ImportError:
        return False
    return hasattr(DelegatingParser, "_flush_engine_parsers")


# ── 1. a last delta that completes two calls, ended by a stop string ─────────────────────────

TWO_CALLS = "Checking both.\n" + _call("read_file", {"path": "a.txt"}) + "\n" + _call("read_file", {"path": "b.txt"})


@pytest.mark.parametrize("chunk", [100000, 1, 4])
def test_1_stop_string_after_two_calls_in_the_last_delta(srv, stop_string, chunk, request):
    """vLLM 0.26+: the last delta (``finished=True``, no EOS id, below max_tokens) carries text and
    two whole calls; finish_streaming() releases the second one. Versions without an end signal
    for a stop string lose what the parser still held (the second call, when it came in the same
    delta): documented in docs/behaviour.md."""
    want = [("read_file", {"path": "a.txt"}), ("read_file", {"path": "b.txt"})]
    if chunk == 100000 and not flushes_tool_parser():
        if vllm_version() < (0, 23):
            request.applymarker(pytest.mark.xfail(strict=True, reason=(
                "vLLM <= 0.22 rewrites a last delta whose first call has arguments into the rest of "
                "the last call (content, or id/name on 0.10 - 0.13, dropped) and no end signal comes "
                "for a stop string: docs/compat-notes.md §4")))
        want = want[:1]  # the pending call cannot go out: the parser is never called again
    got = stream(srv, TWO_CALLS, chunk=chunk, max_tokens=1000)
    content, calls = streamed_view(got)
    assert calls == want, _describe(got["chunks"])
    assert content == "Checking both."
    assert got["finish"] == ["tool_calls"]
    content, calls, finish = whole_view(complete(srv, TWO_CALLS))
    assert (content, calls, finish) == ("Checking both.", [("read_file", {"path": "a.txt"}),
                                                           ("read_file", {"path": "b.txt"})], "tool_calls")


# ── 2. a call cut by max_tokens ───────────────────────────────────────────────────────────────

CUT_STRING = ("I'll clean up.\n<tool_call>\n<function=write_file>\n<parameter=path>\nclean.sh\n</parameter>\n"
              "<parameter=content>\nrm -rf /")  # the model was writing "rm -rf /tmp/build"
CUT_NUMBER = ("<tool_call>\n<function=write_file>\n<parameter=path>\nx.sh\n</parameter>\n"
              "<parameter=content>\necho\n</parameter>\n<parameter=mode>\n4")  # of 420


@pytest.mark.parametrize("chunk", [1, 4, 100000])
def test_2_cut_off_call_streamed(srv, chunk):
    got = stream(srv, CUT_STRING, chunk=chunk, finish="length")
    content, calls = streamed_view(got)
    assert content == "I'll clean up."
    # Streaming cannot take back what it sent: the string closes where the model stopped.
    assert calls == [("write_file", {"path": "clean.sh", "content": "rm -rf /"})]
    assert got["finish"] == [cut_stream_finish_reason()]


@pytest.mark.parametrize("chunk", [1, 100000])
def test_2_cut_off_number_is_left_out(srv, chunk):
    """A cut value not sent yet (4 of 420) is never completed from its beginning."""
    got = stream(srv, CUT_NUMBER, chunk=chunk, finish="length")
    assert streamed_view(got)[1] == [("write_file", {"path": "x.sh", "content": "echo"})]
    assert got["finish"] == [cut_stream_finish_reason()]


@pytest.mark.parametrize("chunk", [1, 100000])
def test_2_cut_off_number_is_left_out_without_max_tokens(srv, chunk, request):
    """The server's default limit (no max_tokens in the request): the same, on every version."""
    if chunk == 100000:
        known_bad_unseen_end_in_one_delta(request)
    got = stream(srv, CUT_NUMBER, chunk=chunk, finish="length", max_tokens=None)
    assert streamed_view(got)[1] == [("write_file", {"path": "x.sh", "content": "echo"})]
    assert got["finish"] == [cut_stream_finish_reason()]


@pytest.mark.parametrize("text,content", [(CUT_STRING, "I'll clean up."), (CUT_NUMBER, "")])
def test_2_cut_off_call_non_streaming(srv, text, content):
    """No call, no call markup in the content (0.12+), and finish_reason "length" on every version."""
    assert whole_view(complete(srv, text, finish="length")) == (
        text if whole_shows_raw_output(content) else content, [], "length")


def test_2_cut_by_the_servers_limit_non_streaming(srv):
    """No max_tokens in the request (the server's default limit, the context window): the finish
    reason comes from the engine output, so the cut call is still no call."""
    assert whole_view(complete(srv, CUT_STRING, finish="length", max_tokens=None)) == (
        "I'll clean up.", [], "length")


def test_2_model_ended_inside_a_value_is_a_call_in_both_modes(srv):
    """The same text ended by the model (EOS): the value is what the model wrote, in both modes."""
    want = [("write_file", {"path": "clean.sh", "content": "rm -rf /"})]
    assert streamed_view(stream(srv, CUT_STRING)) == ("I'll clean up.", want)
    assert whole_view(complete(srv, CUT_STRING)) == ("I'll clean up.", want, "tool_calls")


# ── 3. both modes agree at the end of the output ──────────────────────────────────────────────

AGREE = {
    # name: (output, ending, expected content, expected calls)
    "lone-opener-cut": ("\n\n<tool_call>", "length", "", []),
    "opener-cut-after-text": ("Let me check.\n\n<tool_call>", "length", "Let me check.", []),
    "function-cut": ("<tool_call>\n<function", "length", "", []),
    "function-name-cut": ("Let me check.\n<tool_call>\n<function=get_wea", "length", "Let me check.", []),
    "opener-eos": ("Let me check.\n\n<tool_call>", "eos", "Let me check.", []),
    "open-value-eos": ("<tool_call>\n<function=get_weather>\n<parameter=location>London", "eos", "",
                       [("get_weather", {"location": "London"})]),
    "open-value-stop-string": ("<tool_call>\n<function=get_weather>\n<parameter=location>London", "stop-string",
                               "", [("get_weather", {"location": "London"})]),
    "closed-values-eos": ("Sure.\n<tool_call>\n<function=get_weather>\n<parameter=location>\nLondon\n"
                          "</parameter>\n", "eos", "Sure.", [("get_weather", {"location": "London"})]),
    "closed-values-cut": ("Sure.\n<tool_call>\n<function=get_weather>\n<parameter=location>\nLondon\n"
                          "</parameter>\n</func", "length", "Sure.", [("get_weather", {"location": "London"})]),
    "open-value-cut": ("Sure.\n<tool_call>\n<function=get_weather>\n<parameter=location>\nLon", "length", "Sure.",
                       None),  # streamed: the cut call, closed; non-streaming: no call
}


@pytest.mark.parametrize("chunk", [1, 100000])
@pytest.mark.parametrize("name", list(AGREE))
def test_3_modes_agree_at_the_end(srv, request, name, chunk):
    text, ending, content, calls = AGREE[name]
    if ending == "stop-string":
        request.getfixturevalue("stop_string")
        if chunk == 100000:
            known_bad_unseen_end_in_one_delta(request)
    finish = "length" if ending == "length" else "stop"
    kw = {"max_tokens": 1000} if ending == "stop-string" else {}
    got = stream(srv, text, tools=WEATHER, chunk=chunk, finish=finish, **kw)
    s_content, s_calls = streamed_view(got)
    w_content, w_calls, w_finish = whole_view(complete(srv, text, tools=WEATHER, finish=finish))
    if whole_shows_raw_output(content) and not w_calls and w_content == text != content:
        w_content = content  # < 0.12: the raw output (docs/behaviour.md); everything else must agree
    for c in (s_content, w_content):
        assert not any(m in c for m in ("<tool_call>", "<function", "<parameter", "</")), c
    assert s_content == w_content == content, _describe(got["chunks"])
    if calls is None:  # cut inside a value: the stream's call is closed, non-streaming has none
        assert s_calls == [("get_weather", {"location": "Lon"})] and w_calls == []
        assert got["finish"] == [cut_stream_finish_reason()] and w_finish == "length"
        return
    assert s_calls == w_calls == calls
    if not calls:
        assert w_finish == got["finish"][0] == ("length" if ending == "length" else "stop")
    elif ending == "length":
        assert (w_finish, got["finish"]) == (whole_cut_call_finish_reason(), [cut_stream_finish_reason()])
    else:
        assert (w_finish, got["finish"]) == ("tool_calls", ["tool_calls"])


# ── 4. think blocks without a reasoning parser ───────────────────────────────────────────────

THINK = {
    "answer": ("<think>reasoning here</think>the answer", "<think>reasoning here</think>the answer", []),
    "call": ("<think>\nI should check.\n</think>\n\n" + _call("get_weather", {"location": "Paris"}),
             "<think>\nI should check.\n</think>", [("get_weather", {"location": "Paris"})]),
}


@pytest.mark.parametrize("chunk", [1, 4, 100000])
@pytest.mark.parametrize("name", list(THINK))
def test_4_think_blocks_are_content_without_a_reasoning_parser(srv, name, chunk):
    text, content, calls = THINK[name]
    got = stream(srv, text, tools=WEATHER, chunk=chunk)
    assert streamed_view(got) == (content, calls), _describe(got["chunks"])
    w_content, w_calls, _ = whole_view(complete(srv, text, tools=WEATHER))
    assert (w_content, w_calls) == (content, calls)


# ── tool_choice "none": vLLM 0.26+ call an engine-based parser even then ─────────────────────

@pytest.mark.parametrize("chunk", [1, 100000])
def test_tool_choice_none_keeps_the_output_as_content(srv, chunk):
    text = "Here:\n" + _call("get_weather", {"location": "Paris"})
    got = stream(srv, text, tools=WEATHER, chunk=chunk, tool_choice="none")
    assert streamed_view(got) == (text, [])
    assert whole_view(complete(srv, text, tools=WEATHER, tool_choice="none")) == (text, [], "stop")


# ── 5. a call cut before its required parameters is judged by its schema (issue 19) ─────────

PING = [{"type": "function", "function": {"name": "ping", "parameters": {
    "type": "object", "properties": {"host": {"type": "string"}}}}}]
HEADER_ONLY = "Sure.\n<tool_call>\n<function=get_weather>\n\t \r\n  \t"  # whitespace until max_tokens


@pytest.mark.parametrize("chunk", [1, 100000])
def test_5_call_cut_before_its_required_parameter(srv, chunk):
    """Non-streaming: no call (it was ``get_weather({})``), finish_reason "length", no markup in
    the content. Streaming cannot take it back: a closed ``{}``, the cut reported as in §2."""
    content, calls, finish = whole_view(complete(srv, HEADER_ONLY, tools=WEATHER, finish="length"))
    assert (content, calls, finish) == ("Sure.", [], "length")
    got = stream(srv, HEADER_ONLY, tools=WEATHER, chunk=chunk, finish="length")
    assert streamed_view(got) == ("Sure.", [("get_weather", {})]), _describe(got["chunks"])
    assert got["finish"] == [cut_stream_finish_reason()]


def test_5_same_output_ended_by_the_model_is_a_call(srv):
    """Ended by EOS: the model's call as written, in both modes."""
    want = ("Sure.", [("get_weather", {})])
    assert whole_view(complete(srv, HEADER_ONLY, tools=WEATHER))[:2] == want
    assert streamed_view(stream(srv, HEADER_ONLY, tools=WEATHER)) == want


@pytest.mark.parametrize("tail", ["\n", "<parameter=host>\nexample.org\n</parameter>\n"])
def test_5_no_required_parameters_complete_at_the_header(srv, tail):
    text = "<tool_call>\n<function=ping>\n" + tail
    want = [("ping", {"host": "example.org"} if "host" in tail else {})]
    assert whole_view(complete(srv, text, tools=PING, finish="length")) == ("", want, whole_cut_call_finish_reason())
    got = stream(srv, text, tools=PING, finish="length")
    assert streamed_view(got) == ("", want) and got["finish"] == [cut_stream_finish_reason()]
