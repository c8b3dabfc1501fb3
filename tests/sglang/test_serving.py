"""qwen_xml_safe through SGLang 0.5.23's own OpenAI chat serving, the engine replaced by a token source.

``OpenAIServingChat`` is built as SGLang's HTTP server builds it, from a tokenizer manager whose
settings come from ``prepare_server_args`` (``--tool-call-parser qwen_xml_safe``, published to
SGLang's runtime context as the tokenizer process does) and whose ``generate_request`` yields the
engine outputs of a recorded output: its tokens (the real Qwen3 tokenizer) through SGLang's
incremental detokenization (tests/sglang/driver.py), accumulated as SGLang's tokenizer manager
hands them over, the last one with the finish reason. Streaming runs ``_generate_chat_stream``
(SSE chunks parsed as a client does), non-streaming ``_handle_non_streaming_request``
(``ChatCompletionResponse``). Nothing of SGLang's serving is replaced; the chat template and
sampling are not involved (no model). Importing the serving module needs torchvision: see
tests/sglang/torchvision_stand_in.py.

Checked on every recorded output (the input a reasoning parser leaves; the one whose input still
holds think markup runs in the reasoning test below, with SGLang's qwen3 reasoning parser):
the expected calls and content, the docs/contract.md §2 invariants (tests.support.invariants,
streamed == non-streamed included), ids sent once per call, and ``finish_reason`` "tool_calls"
exactly when there are calls.
"""

from __future__ import annotations

import asyncio
import functools
import json
from types import SimpleNamespace
from typing import Any

import pytest

from tests.sglang import driver, torchvision_stand_in
from tests.sglang.test_recorded import case_input
from tests.support.invariants import is_truncated, run_problems
from tests.support.recorded import CASES, _compare, _slug
from tests.support.vllm_driver import Call, StreamRun, WholeRun

EOS = 151645


@functools.cache
def _server_args() -> Any:
    torchvision_stand_in.install()
    driver.load_plugins()
    from sglang.srt.runtime_context import publish
    from sglang.srt.server_args import prepare_server_args

    from qxt_support.qwen_tokenizer import ensure_tokenizer_dir

    args = prepare_server_args(["--model-path", str(ensure_tokenizer_dir()), "--tool-call-parser", driver.OURS,
                                "--device", "cpu"])
    publish(args, role="tokenizer")
    return args


class TokenSource:
    """SGLang's ``TokenizerManager`` as the chat serving layer uses it, generating from a script."""

    def __init__(self, outputs: list[str], finish: dict[str, Any], **config: Any) -> None:
        args = _server_args()
        self.server_args = args
        self.tokenizer = driver.tokenizer()
        self.model_path = args.model_path
        self.served_model_name = "qwen3-coder"
        self.model_config = SimpleNamespace(
            get_default_sampling_params=dict,
            hf_config=SimpleNamespace(model_type="qwen3_moe", architectures=["Qwen3MoeForCausalLM"]))
        self._config = config
        self._outputs = outputs
        self._finish = finish

    def config_value(self, name: str) -> Any:
        return self._config[name] if name in self._config else getattr(self.server_args, name)

    async def generate_request(self, adapted_request: Any, raw_request: Any) -> Any:
        text = ""
        for k, delta in enumerate(self._outputs):
            text += delta  # the tokenizer manager hands over the text so far
            last = k == len(self._outputs) - 1
            yield {"index": 0, "text": text, "meta_info": {
                "id": "chatcmpl-1", "prompt_tokens": 5, "completion_tokens": k + 1, "cached_tokens": 0,
                "weight_version": "default",
                "finish_reason": self._finish if last else None}}


def serving(outputs: list[str], finish: dict[str, Any], **config: Any) -> Any:
    _server_args()  # first: the torchvision stand-in, the plugin, the runtime context
    from sglang.srt.entrypoints.openai.serving_chat import OpenAIServingChat

    # TemplateManager's defaults (sglang/srt/parser/template_manager.py; its module pulls uvicorn)
    templates = SimpleNamespace(chat_template_name=None, completion_template_name=None, python_chat_template=None,
                                jinja_template_content_format="string", force_reasoning=False,
                                reasoning_config=None, jinja_template_may_reorder_tool_results=False)
    return OpenAIServingChat(TokenSource(outputs, finish, **config), templates)


def request(tools: list[dict], stream: bool) -> Any:
    from sglang.srt.entrypoints.openai.protocol import ChatCompletionRequest

    return ChatCompletionRequest(model="qwen3-coder", messages=[{"role": "user", "content": "hi"}], tools=tools,
                                 stream=stream)


def _finish(text: str, finish: str) -> dict[str, Any]:
    return {"type": "stop", "matched": EOS} if finish == "stop" else {"type": "length", "length": len(text)}


def stream(text: str, tools: list[dict], mode: str = "token", finish: str = "stop", **config: Any
           ) -> tuple[StreamRun, list[dict]]:
    """The SSE stream as a client reads it: (the assembled run, the parsed chunks)."""
    chat = serving(driver.engine_outputs(text, mode, 0, finish), _finish(text, finish), **config)

    async def chunks() -> list[str]:
        return [c async for c in chat._generate_chat_stream(None, request(tools, True), None)]

    run, parsed = StreamRun(text, mode, 0, finish), []
    for sse in asyncio.run(chunks()):
        assert sse.startswith("data: ") and sse.endswith("\n\n"), sse
        if sse.strip() == "data: [DONE]":
            continue
        chunk = json.loads(sse[len("data: "):])
        parsed.append(chunk)
        delta = chunk["choices"][0]["delta"]
        run.content += delta.get("content") or ""
        for tc in delta.get("tool_calls") or []:
            index, fn = tc["index"], tc["function"]
            if fn.get("name") is not None:
                if index != len(run.calls) or not tc.get("id") or any(c.id == tc["id"] for c in run.calls):
                    run.state_violations.append(f"call header {tc} with {len(run.calls)} calls so far")
                    continue
                run.calls.append(Call(tc["id"], fn["name"], fn.get("arguments") or ""))
                run.arg_prefixes.append([])
            elif tc.get("id") is None and index == len(run.calls) - 1:
                run.calls[index].arguments += fn.get("arguments") or ""
            else:
                run.state_violations.append(f"arguments chunk {tc} with {len(run.calls)} calls so far")
                continue
            run.arg_prefixes[index].append(run.calls[index].arguments)
    return run, parsed


def complete(text: str, tools: list[dict], finish: str = "stop", **config: Any) -> tuple[WholeRun, Any]:
    """The non-streaming response: (the run, the ChatCompletionResponse)."""
    chat = serving([text], _finish(text, finish), **config)
    response = asyncio.run(chat._handle_non_streaming_request(None, request(tools, False), None))
    message = response.choices[0].message
    calls = [Call(tc.id, tc.function.name, tc.function.arguments) for tc in message.tool_calls or []]
    return WholeRun(text, bool(calls), message.content, calls, [tc.type for tc in message.tool_calls or []]), response


def _think_in_input(i: int) -> bool:
    text = case_input(i)[0]
    return "<think>" in text or "</think>" in text


@pytest.mark.parametrize("i", [i for i in range(len(CASES)) if not _think_in_input(i)],
                         ids=[_slug(i, c) for i, c in enumerate(CASES) if not _think_in_input(i)])
def test_recorded_output_through_sglang_serving(i):
    case = CASES[i]
    text, tools, expected, allow_markup = case_input(i)
    whole, response = complete(text, tools)
    run, chunks = stream(text, tools)
    problems = run_problems(run, whole, allow_markup=allow_markup, truncated=is_truncated(text))
    if expected is not None:
        problems += _compare("non-streaming", whole.calls, whole.content, case, expected)
        problems += _compare("streamed", run.calls, run.content, case, expected)
    want_reason = "tool_calls" if whole.calls else "stop"
    if response.choices[0].finish_reason != want_reason:
        problems.append(f"non-streaming finish_reason {response.choices[0].finish_reason!r}, want {want_reason!r}")
    reasons = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"][0]["finish_reason"]]
    if reasons != ["tool_calls" if run.calls else "stop"]:
        problems.append(f"streamed finish_reason {reasons}, want {want_reason!r}")
    assert not problems, "\n".join([*problems, f"note: {case['note']}", whole.describe()])


def test_cut_off_by_the_token_limit():
    """finish_reason "length" inside a call: SGLang tells the detector nothing, so the call comes
    back with its JSON closed in both modes (README "SGLang"), and finish_reason stays "length"."""
    text = "<tool_call>\n<function=write_file>\n<parameter=path>\na.py\n</parameter>\n<parameter=content>\nprint("
    tools = driver.request_tools(None, ["write_file"])
    whole, response = complete(text, tools, finish="length")
    run, chunks = stream(text, tools, finish="length")
    want = [("write_file", '{"path": "a.py", "content": "print("}')]
    assert [(c.name, c.arguments) for c in whole.calls] == [(c.name, c.arguments) for c in run.calls] == want
    assert response.choices[0].finish_reason == "length"
    assert [c["choices"][0]["finish_reason"] for c in chunks if c["choices"][0]["finish_reason"]] == ["length"]


def test_with_sglang_qwen3_reasoning_parser():
    """The raw output of a thinking model with ``--reasoning-parser qwen3``: SGLang's reasoning
    parser takes the thinking, qwen_xml_safe the calls; a stray ``</think>`` after the call (the
    recorded Qwen3.5 case of a call inside reasoning) is dropped, not content."""
    i = next(i for i in range(len(CASES)) if _think_in_input(i))
    text, tools, expected, _ = case_input(i)
    raw = "<think>\nThe answer is 204.\n</think>\n\n" + text
    whole, response = complete(raw, tools, reasoning_parser="qwen3")
    run, _ = stream(raw, tools, reasoning_parser="qwen3")
    for label, calls, content in (("non-streaming", whole.calls, whole.content), ("streamed", run.calls, run.content)):
        assert [(c.name, json.loads(c.arguments)) for c in calls] == [(e["name"], e["arguments"]) for e in expected], label
        assert not (content or "").strip(), (label, content)
    assert "The answer is 204." in response.choices[0].message.reasoning_content
