"""Drive an SGLang function-call detector as SGLang 0.5.23 does (the only test module importing SGLang
besides the tests of this directory).

* Loading: ``sglang.srt.plugins.load_plugins()`` (what ``python -m sglang.launch_server`` and
  ``sglang serve`` run before they parse the command line): the installed package's
  ``sglang.srt.plugins`` entry point adds ``qwen_xml_safe`` to
  ``FunctionCallParser.ToolCallParserEnum``. One ``FunctionCallParser(tools, name, tokenizer)``
  per request, as ``OpenAIServingChat`` builds it.
* Non-streaming (``OpenAIServingChat._process_tool_calls``): ``parser.has_tool_call(text)``, then
  ``parser.parse_non_stream(text)``; no call -> the text (as the parser left it) is the content.
* Streaming (``_process_tool_call_stream``): ``parser.parse_stream_chunk(delta)`` per engine
  output, and on the output that carries the finish reason also ``parser.parse_stream_end()``
  (``flush``). ``_check_for_unstreamed_tool_args`` then adds the rest of the last call computed
  from the detector's ``prev_tool_call_arr``: nothing, since both detectors leave it empty (the
  run records it; the serving tests go through the real function).
  Each call item becomes one client chunk: an item with a name opens call ``tool_index`` (the
  serving layer gives it a new id), later items append their ``parameters``.
* Chunks: token ids through SGLang's real incremental detokenizer
  (``DetokenizerManager._decode_batch_token_id_output``: surrogate offsets, text held back while a
  UTF-8 character is incomplete), with the real Qwen3 tokenizer (``qxt_support.qwen_tokenizer``)
  loaded by SGLang's ``get_tokenizer``. Modes as in ``tests.support.vllm_driver``: ``whole`` (all
  tokens in one engine output), ``token`` (one per output), ``random`` (groups of 1-8: several
  tokens per output, as with speculative decoding or a busy tokenizer manager), ``char`` (one
  character per output: robustness, no tokenizer gives this). ``finish="stop"``: the last output
  is the EOS id (trimmed by the detokenizer); ``"length"``: the last text tokens carry the finish.

The results are ``tests.support.vllm_driver``'s ``StreamRun`` / ``WholeRun`` records, so that
``tests.support.invariants`` checks them exactly as it checks vLLM's.
"""

from __future__ import annotations

import functools
import random
import uuid
from typing import Any

from qxt_support.qwen_tokenizer import EOS_ID, ensure_tokenizer_dir
from tests.support.vllm_driver import Call, StreamRun, WholeRun, capture_logs

OURS = "qwen_xml_safe"
THEIRS = "qwen3_coder"
MODES = ("whole", "token", "random", "char")
PROMPT_TAIL = "<|im_start|>assistant\n"  # the surrogate context the scheduler sends with the first ids


@functools.cache
def load_plugins() -> None:
    from sglang.srt.plugins import load_plugins as sglang_load_plugins

    sglang_load_plugins()


@functools.cache
def tokenizer() -> Any:
    """The Qwen3 tokenizer as SGLang's ``get_tokenizer`` loads it (``AutoTokenizer``, fast).

    Not through ``sglang.srt.utils.hf_transformers`` itself: that package imports SGLang's model
    configs, which import torchvision (see ``tests/sglang/README.md``)."""
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(ensure_tokenizer_dir()), use_fast=True)


def encode(text: str) -> list[int]:
    return list(tokenizer().encode(text, add_special_tokens=False))


def request_tools(tools: list[dict] | None, names: list[str]) -> list[dict]:
    """The tools of the request for an output recorded or generated without any.

    SGLang runs no detector for a request without tools (``FunctionCallParser.parse_*`` return the
    text as content), and neither does vLLM. Such an output is run with its calls' functions
    declared without a schema (each value is then a string, as "no schema" gives on vLLM:
    docs/contract.md §3), or, when it has no expected call, with one unrelated tool.
    """
    if tools:
        return tools
    return [{"type": "function", "function": {"name": n}} for n in dict.fromkeys(names or ["unrelated_tool"])]


def sglang_tools(tools: list[dict] | None) -> list[Any]:
    from sglang.srt.entrypoints.openai.protocol import Tool

    return [Tool.model_validate(t) for t in tools or ()]


class Serving:
    """Stands for ``OpenAIServingChat`` where it builds a parser: its ``reasoning_parser`` is the
    ``--reasoning-parser`` name (the detector reads it from its caller, as from the real object).
    The recorded and generated inputs are what a reasoning parser leaves, so the suites run with
    ``qwen3`` (stray think markup is then dropped), as tests/support/vllm_driver.py does."""

    def __init__(self, reasoning_parser: str | None = "qwen3") -> None:
        self.reasoning_parser = reasoning_parser

    def function_call_parser(self, tools: list[dict] | None, name: str) -> Any:
        from sglang.srt.function_call.function_call_parser import FunctionCallParser

        load_plugins()
        return FunctionCallParser(sglang_tools(tools), name, tokenizer=tokenizer())


def new_parser(tools: list[dict] | None, name: str = OURS, reasoning_parser: str | None = "qwen3") -> Any:
    return Serving(reasoning_parser).function_call_parser(tools, name)


# ----------------------------------------------------------------------------- tokens -> engine outputs


def engine_outputs(text: str, mode: str, seed: int = 0, finish: str = "stop") -> list[str]:
    """The text deltas SGLang's serving layer gets for ``text``; the last one carries the finish.

    SGLang's incremental detokenization (``DetokenizerManager._decode_batch_token_id_output``,
    0.5.23), step by step: ``new = decode(ids[surr:])[len(decode(ids[surr:read])):]``; clean text
    (not ending in U+FFFD) is committed and the offsets move on (``surr = read``, ``read = len``);
    otherwise only its printable part goes out and nothing is committed; the finishing output is
    the rest of the whole text, its stop token trimmed. (The manager itself is not imported: its
    module pulls SGLang's model configs, which need torchvision.)
    """
    if mode == "char":
        return list(text) + ([""] if finish == "stop" else []) or [""]
    ids = encode(text)
    if mode == "whole":
        groups = [ids] if ids else []
    elif mode == "token":
        groups = [[t] for t in ids]
    elif mode == "random":
        rng = random.Random(seed)
        groups, i = [], 0
        while i < len(ids):
            n = rng.randint(1, 8)
            groups.append(ids[i : i + n])
            i += n
    else:
        raise ValueError(mode)
    if finish == "stop" or not groups:
        groups.append([EOS_ID])
    elif finish != "length":
        raise ValueError(finish)
    tok = tokenizer()

    def decode(part: list[int]) -> str:
        return str(tok.decode(part, skip_special_tokens=True, spaces_between_special_tokens=True))

    decode_ids = encode(PROMPT_TAIL)  # the surrogate context the scheduler sends first
    surr, read = 0, len(decode_ids)
    decoded, sent = "", 0
    out: list[str] = []
    for k, group in enumerate(groups):
        decode_ids += group
        finished = k == len(groups) - 1
        read_ids = decode_ids[surr:]
        if finished and finish == "stop":
            read_ids = read_ids[:-1]  # trim_matched_stop: the EOS token
        new = decode(read_ids)[len(decode(decode_ids[surr:read])):]
        if finished:
            whole = decoded + new
            out.append(whole[sent:])
        elif new and not new.endswith("\ufffd"):
            pending = sent - len(decoded)
            decoded += new
            surr, read = read, len(decode_ids)
            sent = len(decoded)
            out.append(new[pending:])
        else:
            printable = _printable(new)
            pending = sent - len(decoded)
            sent = len(decoded) + len(printable)
            out.append(printable[pending:])
    if "".join(out) != text:
        raise AssertionError(f"detokenized text differs from the input: {''.join(out)!r} != {text!r}")
    return out


def _printable(text: str) -> str:
    """SGLang's ``find_printable_text``, imported where its module imports without torchvision."""
    from sglang.utils import find_printable_text

    return str(find_printable_text(text))


# ----------------------------------------------------------------------------- runs


class _Client:
    """What an OpenAI client assembles from SGLang's stream chunks (one per call item)."""

    def __init__(self, run: StreamRun) -> None:
        self.run = run

    def content(self, text: str) -> None:
        self.run.content += text

    def item(self, k: int, index: int, name: str | None, parameters: str) -> None:
        run = self.run
        if name:
            if index != len(run.calls):
                run.state_violations.append(f"output {k}: call {index} opened with {len(run.calls)} calls so far")
                return
            run.calls.append(Call(f"call_{uuid.uuid4().hex[:24]}", name, parameters))
            run.arg_prefixes.append([])
        elif 0 <= index < len(run.calls):
            if index != len(run.calls) - 1:
                run.state_violations.append(f"output {k}: arguments for call {index}, not the last one")
            run.calls[index].arguments += parameters
        else:
            run.state_violations.append(f"output {k}: arguments {parameters!r} for call {index}, not opened")
            return
        prefixes = run.arg_prefixes[index]
        if not prefixes or prefixes[-1] != run.calls[index].arguments:
            prefixes.append(run.calls[index].arguments)


def stream(text: str, tools: list[dict] | None, mode: str = "token", seed: int = 0, finish: str = "stop",
           name: str = OURS, pieces: list[str] | None = None) -> StreamRun:
    """Stream ``text`` (the tool parser's input) through a fresh ``FunctionCallParser``.
    ``mode="pieces"``: the engine outputs are ``pieces`` (cut anywhere), then the finishing one."""
    if mode == "pieces":
        assert pieces is not None and "".join(pieces) == text
        outputs = [*pieces, ""]
    else:
        outputs = engine_outputs(text, mode, seed, finish)
    run = StreamRun(text, mode, seed, finish)
    client = _Client(run)
    with capture_logs() as logs:
        parser = new_parser(tools, name)
        for k, delta in enumerate(outputs):
            normal, calls = parser.parse_stream_chunk(delta)
            if k == len(outputs) - 1:  # flush: the finish reason is not "abort"
                end_text, end_calls = parser.parse_stream_end()
                normal, calls = (normal or "") + end_text, list(calls) + end_calls
            if normal:
                client.content(normal)
            for item in calls:
                client.item(k, item.tool_index, item.name, item.parameters)
        # _check_for_unstreamed_tool_args: the rest of the last call from the detector's
        # prev_tool_call_arr, nothing when that is empty (as it is for both detectors).
        run.final_prev_tool_call_arr = list(parser.detector.prev_tool_call_arr)
        if run.final_prev_tool_call_arr:
            run.state_violations.append(f"prev_tool_call_arr is not empty: {run.final_prev_tool_call_arr}")
    run.logs = list(logs)
    return run


def parse_whole(text: str, tools: list[dict] | None, name: str = OURS) -> WholeRun:
    """``OpenAIServingChat._process_tool_calls`` for ``tool_choice="auto"``."""
    with capture_logs() as logs:
        parser = new_parser(tools, name)
        content, items = text, []
        if parser.has_tool_call(text):
            content, items = parser.parse_non_stream(text)
    calls = [Call(f"call_{uuid.uuid4().hex[:24]}", c.name, c.parameters) for c in items]
    return WholeRun(text, bool(calls), content, calls, ["function"] * len(calls), list(logs))
