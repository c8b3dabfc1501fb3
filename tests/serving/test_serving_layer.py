"""What a client receives from vLLM's real OpenAI serving layer (``OpenAIServingChat``).

The engine is scripted (qxt_support/serving.py); everything else is vLLM's own code, so these
tests see the stream-finishing logic of the installed vLLM (research §2.3: ``json.dumps`` +
``replace`` up to 0.17, ``replace`` 0.18 - 0.22, prefix remainder 0.23+) and its echo handling
(§2.4: ``json.loads`` of each echoed ``arguments``).

Asserted on the SSE chunks, per scripted model output and chunking:

* each call's streamed ``arguments`` fragments concatenate to valid JSON, equal to the
  non-streaming response's ``arguments`` and to the expected object; for ``qwen_xml_safe``
  byte-for-byte equal to the non-streaming string (docs/contract.md §2);
* no duplicated or trailing fragment at the last chunk (the concatenation parses as ONE object;
  nothing after the closing brace);
* ``id``, ``type`` and ``name`` are sent exactly once per call;
* exactly one ``finish_reason`` and it is ``"tool_calls"`` (``"stop"`` without calls);
* a second request that echoes the assistant tool call (arguments with backslashes, quotes,
  newlines and unicode) back in the history succeeds, streaming and not, and the echoed values
  reach the prompt intact (vLLM 0.29+ would silently turn bad JSON into ``{}``).

Parsers: ``QXT_SERVING_PARSERS`` (comma-separated) or both ``qwen3_coder`` (vLLM's in-tree one,
a check of the harness itself; its known failures are xfail) and ``qwen_xml_safe`` (loaded with
``ToolParserManager.import_tool_parser(<repo>/qwen_xml_toolparser/plugin.py)``; skipped while
that file does not exist).
"""

from __future__ import annotations

import asyncio
import json
import os

import pytest

pytest.importorskip("vllm")

from qxt_support.vllm import PLUGIN_NAME as PLUGIN  # noqa: E402
from qxt_support.vllm import PLUGIN_PATH, version_tuple  # noqa: E402
from qxt_support.serving import ScriptedServing, ServingError, collect  # noqa: E402

pytestmark = pytest.mark.serving

PARSERS = [p.strip() for p in os.environ.get("QXT_SERVING_PARSERS", f"qwen3_coder,{PLUGIN}").split(",") if p.strip()]

TOOLS = [
    {"type": "function", "function": {
        "name": "write_file", "description": "Write a file",
        "parameters": {"type": "object", "properties": {
            "path": {"type": "string"}, "content": {"type": "string"}, "mode": {"type": "integer"}},
            "required": ["path", "content"]}}},
    {"type": "function", "function": {
        "name": "read_file", "description": "Read a file",
        "parameters": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}}},
]

# Backslashes (a Windows path, a regex, a literal "\n"), both quote kinds, real newlines and a tab,
# non-ASCII (accents, CJK, an emoji ZWJ sequence, an astral letter) and markup-like text.
HOSTILE = ('C:\\Users\\me\\new_dir\\x.py -> re.compile(r"\\d+\\s*") \'single\' "double"\n'
           '\tindented — 你好 👩\u200d💻 naïve 𝔘\nprint("a\\nb") <b>&amp;</b> \\')


def _call(name: str, params: dict) -> str:
    body = "".join(f"<parameter={k}>\n{v}\n</parameter>\n" for k, v in params.items())
    return f"<tool_call>\n<function={name}>\n{body}</function>\n</tool_call>"


# name -> (model output, expected calls [(name, arguments)], expected content prefix)
CASES = {
    "single": (
        "I'll write the file.\n" + _call("write_file", {"path": "src/x.py", "content": HOSTILE, "mode": "420"}),
        [("write_file", {"path": "src/x.py", "content": HOSTILE, "mode": 420})],
        "I'll write the file.",
    ),
    "bare": (
        _call("write_file", {"path": "a b/ü.txt", "content": "line one\nline two"}),
        [("write_file", {"path": "a b/ü.txt", "content": "line one\nline two"})],
        "",
    ),
    "parallel": (
        "Reading both.\n" + _call("read_file", {"path": "a.py"}) + "\n" + _call("read_file", {"path": "b.py"})
        + "\n" + _call("write_file", {"path": "c.py", "content": "x = '\\\\'"}),
        [("read_file", {"path": "a.py"}), ("read_file", {"path": "b.py"}),
         ("write_file", {"path": "c.py", "content": "x = '\\\\'"})],
        "Reading both.",
    ),
}

# Chunking of the engine outputs: (tokens per output, EOS merged into the last output).
MODES = {
    "token": (1, False),  # vLLM's default: one token per output, the EOS alone at the end
    "token-eos-merged": (1, True),  # the last text token and the EOS in one output
    "4-tokens": (4, True),  # stream_interval / speculative decoding
    "4-tokens-eos-alone": (4, False),  # the same, the EOS in an output of its own
    "whole": (100000, True),  # the whole output in one delta
    "whole-eos-alone": (100000, False),  # the whole output in one delta, then the EOS alone
}

# Known failures, as (first bad version, first good version, cases, modes, reason). Each is an
# xfail: non-strict for vLLM's in-tree parser (not ours to fix), strict for the plugin (so a fix
# turns it into an XPASS failure and the entry must go). See docs/compat-notes.md.
ALL = frozenset(CASES)
INTREE_KNOWN_BAD = [
    ((0, 10), (0, 23), ALL, {"whole", "whole-eos-alone"},
     "in-tree qwen3_coder <= 0.22 loses calls that arrive in the finishing delta"),
    ((0, 10), (0, 17), ALL, {"4-tokens", "4-tokens-eos-alone"},
     "in-tree qwen3_coder <= 0.16: IndexError on streamed_args_for_tool with multi-token deltas (vllm#34322)"),
]
PLUGIN_KNOWN_BAD: list = [
    # Fixed in the adapter (a647ae6, a895c27): the stream's last chunk starts with an entry without
    # arguments, so vLLM <= 0.22 no longer rewrites it. Were: 0.10 - 0.22 single/parallel "whole"
    # (content and other calls dropped), 0.10 - 0.13 bare "whole" (id/type/name dropped), 0.10 - 0.22
    # parallel "whole-eos-alone" (pending arguments of call 0 first: wrong remainder, calls lost).
]


class Runner:
    """One ScriptedServing per parser plus a private event loop (the serving objects keep
    loop-bound state, so every request of the session runs on the same loop)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.servings: dict[str, ScriptedServing] = {}

    def serving(self, parser: str) -> ScriptedServing:
        if parser not in self.servings:
            if parser == PLUGIN:
                if not PLUGIN_PATH.exists():
                    pytest.skip(f"{PLUGIN_PATH} does not exist yet")
                from qxt_support.vllm import TOOL_PARSERS, first_module

                tp = first_module(*TOOL_PARSERS)
                tp.ToolParserManager.import_tool_parser(str(PLUGIN_PATH))
            self.servings[parser] = ScriptedServing(tool_parser=parser)
        return self.servings[parser]

    def run(self, coro):
        return self.loop.run_until_complete(coro)

    def close(self) -> None:
        """Cancel what vLLM left on the loop, then close it.

        vLLM's AsyncMicrobatchTokenizer (0.10+) leaves background tasks on the loop; closed with
        them pending, they are destroyed at some later garbage collection and asyncio logs
        "Task was destroyed but it is pending!" into whatever test runs then.
        """

        async def cancel_pending() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self.loop.run_until_complete(cancel_pending())
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()


@pytest.fixture(scope="session")
def runner():
    r = Runner()
    yield r
    r.close()


@pytest.fixture(params=PARSERS)
def parser(request):
    return request.param


def _known_bad(parser: str, case: str, mode: str, request) -> None:
    from qxt_support.vllm import version_tuple

    v = version_tuple()
    table, strict = (INTREE_KNOWN_BAD, False) if parser == "qwen3_coder" else (PLUGIN_KNOWN_BAD, True)
    if parser not in ("qwen3_coder", PLUGIN):
        return
    for lo, hi, cases, modes, reason in table:
        if lo <= v < hi and case in cases and mode in modes:
            request.applymarker(pytest.mark.xfail(reason=reason, strict=strict))
            return


def _describe(chunks: list[dict]) -> str:
    lines = []
    for n, c in enumerate(chunks):
        for ch in c.get("choices", []):
            lines.append(f"  #{n}: delta={json.dumps(ch.get('delta'), ensure_ascii=False)}"
                         f" finish={ch.get('finish_reason')}")
    return "\n".join(lines)


def _check_stream(parser, chunks, response, expected_calls, expected_content):
    got = collect(chunks)
    where = f"\nSSE chunks:\n{_describe(chunks)}"
    msg = response["choices"][0]["message"]
    ns_calls = msg.get("tool_calls") or []

    assert got["finish"] == ["tool_calls"], f"finish reasons {got['finish']}{where}"
    assert response["choices"][0]["finish_reason"] == "tool_calls", response
    assert len(ns_calls) == len(expected_calls), f"non-streaming calls {ns_calls}"
    assert len(got["calls"]) == len(expected_calls), f"streamed {len(got['calls'])} calls{where}"

    for i, ((name, args), call, ns) in enumerate(zip(expected_calls, got["calls"], ns_calls)):
        assert call["name"] == [name], f"call {i}: name sent as {call['name']}{where}"
        assert len(call["id"]) == 1, f"call {i}: id sent {len(call['id'])} times{where}"
        assert call["type"] in ([], ["function"]), f"call {i}: type {call['type']}{where}"
        streamed = "".join(call["arguments"])
        try:
            parsed = json.loads(streamed)  # "Extra data" here = a duplicated/trailing fragment
        except json.JSONDecodeError as e:
            last = call["arguments"][-1] if call["arguments"] else None
            pytest.fail(f"call {i}: streamed arguments are not one JSON value ({e}); "
                        f"last fragment {last!r}; concatenation {streamed!r}{where}")
        assert parsed == args, f"call {i}: streamed arguments {parsed!r} != expected {args!r}{where}"
        assert ns["function"]["name"] == name
        assert json.loads(ns["function"]["arguments"]) == args, f"call {i}: non-streaming {ns}"
        if parser == PLUGIN:
            assert streamed == ns["function"]["arguments"], (
                f"call {i}: streamed concatenation differs from the non-streaming string\n"
                f"  streamed:      {streamed!r}\n  non-streaming: {ns['function']['arguments']!r}{where}")
    ids = [c["id"][0] for c in got["calls"]]
    assert len(set(ids)) == len(ids), f"duplicate ids {ids}"
    assert got["content"].strip() == expected_content, f"streamed content {got['content']!r}{where}"
    assert (msg.get("content") or "").strip() == expected_content, f"non-streaming content {msg.get('content')!r}"
    return got


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("case", list(CASES))
def test_stream_matches_non_streaming(runner, parser, case, mode, request):
    _known_bad(parser, case, mode, request)
    srv = runner.serving(parser)
    text, expected_calls, expected_content = CASES[case]
    chunk, merge_eos = MODES[mode]
    chunks = runner.run(srv.stream(text, tools=TOOLS, chunk=chunk, merge_eos=merge_eos))
    response = runner.run(srv.complete(text, tools=TOOLS))
    _check_stream(parser, chunks, response, expected_calls, expected_content)


def test_plain_text_is_content(runner, parser):
    srv = runner.serving(parser)
    text = "No tool needed: 2 + 2 = 4.\nDone — ✓"
    got = collect(runner.run(srv.stream(text, tools=TOOLS)))
    assert got["calls"] == [] and got["finish"] == ["stop"], got
    assert got["content"] == text
    resp = runner.run(srv.complete(text, tools=TOOLS))
    assert resp["choices"][0]["message"]["content"] == text
    assert resp["choices"][0]["finish_reason"] == "stop"
    assert not resp["choices"][0]["message"].get("tool_calls")


@pytest.mark.parametrize("case", ["single", "parallel"])
def test_decided_output_goes_out_before_the_end(runner, case):
    """The whole output in one engine output, the EOS alone after it: what the client has before
    the finishing chunk is everything that output decided, as far as this vLLM's serving layer
    takes it (docs/compat-notes.md §4): every call on 0.23+; before, the first call (a second call
    of a chunk waits: a stop string can make any chunk the last, which A - C rewrite), and on
    0.12 - 0.16 its header alone (their /v1/messages drops arguments sent with a header)."""
    srv = runner.serving(PLUGIN)
    text, expected_calls, expected_content = CASES[case]
    chunks = runner.run(srv.stream(text, tools=TOOLS, chunk=100000, merge_eos=False))
    before = collect([c for c in chunks if not any(ch.get("finish_reason") for ch in c.get("choices", []))])
    got = [(c["name"][0], json.loads("".join(c["arguments"])) if c["arguments"] else "") for c in before["calls"]]
    v = version_tuple()
    if v >= (0, 23):
        want = expected_calls
    elif (0, 12) <= v < (0, 17):
        want = [(expected_calls[0][0], "")]
    else:
        want = expected_calls[:1]
    assert [list(c) for c in got] == [list(c) for c in want], _describe(chunks)
    assert before["content"].strip() == expected_content
    _check_stream(PLUGIN, chunks, runner.run(srv.complete(text, tools=TOOLS)), expected_calls, expected_content)


def _rendered(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)


@pytest.mark.parametrize("source", ["streamed", "non-streaming"])
@pytest.mark.parametrize("case", ["single", "parallel"])
def test_echo_turn(runner, parser, case, source, request):
    _known_bad(parser, case, "token", request)
    srv = runner.serving(parser)
    text, expected_calls, _ = CASES[case]
    user = {"role": "user", "content": "Please do it."}
    if source == "streamed":
        got = collect(runner.run(srv.stream(text, tools=TOOLS)))
        content = got["content"]
        calls = [{"id": c["id"][0], "type": "function",
                  "function": {"name": c["name"][0], "arguments": "".join(c["arguments"])}} for c in got["calls"]]
    else:
        msg = runner.run(srv.complete(text, tools=TOOLS))["choices"][0]["message"]
        content = msg.get("content") or ""
        calls = [{"id": c["id"], "type": "function", "function": c["function"]} for c in msg["tool_calls"]]
    assert len(calls) == len(expected_calls)
    history = [user, {"role": "assistant", "content": content or None, "tool_calls": calls}]
    history += [{"role": "tool", "tool_call_id": c["id"], "content": f"result {n}"} for n, c in enumerate(calls)]

    for stream in (False, True):
        try:
            if stream:
                got2 = collect(runner.run(srv.stream("All done.", messages=history, tools=TOOLS)))
                assert got2["content"] == "All done." and got2["finish"] == ["stop"], got2
            else:
                resp = runner.run(srv.complete("All done.", messages=history, tools=TOOLS))
                assert resp["choices"][0]["message"]["content"] == "All done.", resp
        except ServingError as e:
            pytest.fail(f"echo turn (stream={stream}) rejected by vLLM: {e}\nechoed tool_calls: "
                        f"{json.dumps(calls, ensure_ascii=False)}")
        prompt = srv.decode_prompt()
        for name, args in expected_calls:
            assert f"<function={name}>" in prompt
            for k, v in args.items():
                piece = f"<parameter={k}>\n{_rendered(v)}\n</parameter>"
                assert piece in prompt, f"echoed argument {k!r} did not reach the prompt intact:\n{prompt}"


def _emulate(srv: ScriptedServing, parser: str, text: str, chunk: int, merge_eos: bool) -> dict:
    """Feed the same engine outputs to a fresh parser through ``_vllm_loop.ServingLoop``, the
    emulation the CLI, the suites and the benchmarks drive parsers with."""
    from qwen_xml_toolparser._compat import ToolParserManager
    from qwen_xml_toolparser._vllm_loop import ServingLoop, new_parser
    from qxt_support.serving import engine_outputs

    cls = ToolParserManager.get_tool_parser(parser)
    p, request = new_parser(cls, srv.tokenizer, srv.request(tools=TOOLS, stream=True))
    outputs = engine_outputs(srv.tokenizer, text, chunk, merge_eos,
                             skip_special_tokens=getattr(request, "skip_special_tokens", True))
    chunks = [{"choices": [{"delta": step.sent.model_dump(exclude_none=True)}]}
              for step in ServingLoop(p, request).run(outputs) if step.sent is not None]
    return collect(chunks)


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("case", list(CASES))
def test_finish_emulation_matches_serving(runner, parser, case, mode, request):
    """``_vllm_loop.ServingLoop`` reproduces what this vLLM's serving layer sends (for direct harnesses)."""
    if parser == "qwen3_coder":  # the in-tree parser is not stable on "whole" <= 0.22
        _known_bad(parser, case, mode, request)
    srv = runner.serving(parser)
    text = CASES[case][0]
    chunk, merge_eos = MODES[mode]
    real = emulated = None
    try:
        real = collect(runner.run(srv.stream(text, tools=TOOLS, chunk=chunk, merge_eos=merge_eos)))
    except ServingError as e:
        real_error = e
    try:
        emulated = _emulate(srv, parser, text, chunk, merge_eos)
    except Exception as e:
        emulated_error = e
    if real is None or emulated is None:  # the serving layer turns a parser exception into an error event
        assert real is None and emulated is None, (
            f"real: {real if real is not None else real_error}; emulated: "
            f"{emulated if emulated is not None else repr(emulated_error)}")
        return

    def view(c):
        return [("".join(x["name"]), "".join(x["arguments"]), len(x["id"])) for x in c["calls"]]

    assert view(emulated) == view(real)
    assert emulated["content"].strip() == real["content"].strip()


def _truncations():
    text = CASES["single"][0]
    anchors = ["<parameter=path>\nsrc/x", "C:\\Users\\me", "naïve 𝔘\nprint", "\n</parameter>\n<parameter=mode>\n42",
               "</parameter>\n</function>\n</tool_"]
    return {f"cut-{n}": text[:text.index(a) + len(a)] for n, a in enumerate(anchors)}


TRUNCATED = _truncations()


@pytest.mark.parametrize("mode", ["token", "4-tokens"])
@pytest.mark.parametrize("cut", list(TRUNCATED))
def test_truncated_stream_arguments_parse(runner, parser, cut, mode, request):
    """finish_reason "length" inside a call: every streamed arguments string is still one JSON
    object (contract §2, §5), whatever this vLLM's finishing logic does with the last delta."""
    if parser == "qwen3_coder":
        pytest.skip("contract §5 truncation rule: not one the in-tree parser claims")
    srv = runner.serving(parser)
    chunk, _ = MODES[mode]
    chunks = runner.run(srv.stream(TRUNCATED[cut], tools=TOOLS, chunk=chunk, finish="length"))
    got = collect(chunks)
    assert len(got["finish"]) == 1, got["finish"]
    for i, call in enumerate(got["calls"]):
        streamed = "".join(call["arguments"])
        try:
            value = json.loads(streamed)
        except json.JSONDecodeError as e:
            pytest.fail(f"call {i}: truncated stream left arguments that are not JSON ({e}): {streamed!r}\n"
                        f"finish={got['finish']}\nSSE chunks:\n{_describe(chunks)}")
        assert isinstance(value, dict)
        assert len(call["name"]) == 1 and len(call["id"]) == 1, call
