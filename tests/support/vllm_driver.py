"""The test suites' way into a vLLM tool parser: requests, chunk plans, runs and their checks.

How vLLM drives a parser (the request, the parser per request, the per-chunk call and the
finished chunk of each serving generation) is ``qwen_xml_toolparser._vllm_loop``, shared with
the CLI, the benchmarks and CI, and checked against vLLM's real serving layer in
tests/serving. This module adds what the suites need around it: the chunk plans below, the
contract checks of every delta (``Reconstructor``, ``_check_state``) and log capture.

What is emulated (vLLM 0.33.0 shown; ``ServingLoop`` follows the installed version):

* Loading: ``ToolParserManager.import_tool_parser(<abs path of plugin.py>)``
  once per session, then ``ToolParserManager.get_tool_parser(name)``; one parser
  instance per request, built as ``cls(tokenizer, request.tools)``
  (``vllm/parser/abstract_parser.py`` ``Parser.__init__``). The tokenizer is
  ``vllm.tokenizers.get_tokenizer(<offline Qwen3 tokenizer dir>)``.
* Non-streaming: ``parser.extract_tool_calls(model_output, request)``.
* Streaming: ``ChatStreamProcessor.step`` -> ``DelegatingParser.parse_delta``, as
  ``ServingLoop`` does it with a reasoning parser configured (the suites' inputs are
  what vLLM's qwen3 reasoning parser leaves; it is not engine-based), per chunk:
  ``current_text = previous_text + delta_text`` (same for the token-id lists),
  ``parser.extract_tool_calls_streaming(previous_text, current_text, delta_text,
  previous_token_ids, current_token_ids, delta_token_ids, request)``, then
  ``previous_* = current_*``. On the chunk that carries the finish reason
  (``finished=True``) ``finalize_generation`` -> ``_append_unstreamed_tool_args``
  appends ``parser.get_remaining_unstreamed_args()`` to the arguments of the
  LAST tool call of that chunk's DeltaMessage, only when that DeltaMessage has
  tool calls (generations A - C rewrite that delta instead), then
  ``_flush_engine_parsers`` merges an engine-based parser's ``finish_streaming()``
  (0.26+). The serving path without a reasoning parser (the delta alone as the
  texts) is tests/serving's and the CLI's.
* Chunks: text as vLLM's detokenizer produces it. vLLM 0.33 uses
  ``FastIncrementalDetokenizer``: a ``tokenizers.decoders.DecodeStream`` primed
  with the prompt ids, ``step()`` once per generated id, ``None`` -> ``""``.
  A chunk's text is the concatenation of its tokens' step strings (so a chunk
  may have empty text while a multi-byte character is incomplete).
* End of generation (``finish``):
  - ``"stop"`` (default): the model emits ``<|im_end|>`` (151645). vLLM drops
    the stop token from the text, so the last chunk is ``delta_text=""``,
    ``delta_token_ids=[151645]``, ``finished=True``.
  - ``"stop-merged"``: the same EOS id, but in the same chunk as the last text
    tokens (several tokens per chunk: speculative decoding, stream_interval).
  - ``"length"``: ``max_tokens`` reached: no EOS; the last text chunk is the
    finished one, and the request has ``max_tokens`` = the number of generated
    token ids (so a parser can tell from ``current_token_ids``).
  - ``"length-unknown"``: the same without ``max_tokens`` in the request: the
    context window ran out, the limit came from the server's default sampling
    parameters, or a client stop string matched (the stop string is cut from
    the text and no EOS id comes). The parser gets no end-of-output signal
    other than the serving layer's ``get_remaining_unstreamed_args()`` append.

Split modes (``mode``):

* ``"whole"``: all tokens in one chunk;
* ``"special"``: each of ``<tool_call>``, ``</tool_call>``, ``<think>``,
  ``</think>`` (token ids 151657, 151658, 151667, 151668) is its own chunk, the
  tokens between two of them form one chunk;
* ``"token"``: one token per chunk (vLLM's default);
* ``"random"``: random groups of 1-8 tokens, from ``random.Random(seed)``;
  with ``finish="stop"`` the EOS is merged into the last group with
  probability 1/2 (``"stop-merged"``);
* ``"char"``: one Unicode code point per chunk. No tokenizer produces this, it
  is a robustness mode: ``delta_text`` is the character and
  ``delta_token_ids`` is ``tokenizer.encode(char)`` (so ``<tool_call>`` arrives
  as 11 one-character chunks whose ids are ordinary BPE ids, never 151657).
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from qwen_xml_toolparser import _vllm_loop as loop
from qwen_xml_toolparser._vllm_loop import Chunk, chat_request
from qxt_support.qwen_tokenizer import EOS_ID, THINK_END_ID, THINK_ID, TOOL_CALL_END_ID, TOOL_CALL_ID
from qxt_support.vllm import PLUGIN_NAME as PLUGIN_PARSER_NAME
from qxt_support.vllm import PLUGIN_PATH, get_tokenizer, version_tuple

# QXT_TOOL_PARSER=qwen3_coder runs the suite against vLLM's in-tree parser.
PARSER_NAME = os.environ.get("QXT_TOOL_PARSER", PLUGIN_PARSER_NAME)

SPLIT_IDS = frozenset({TOOL_CALL_ID, TOOL_CALL_END_ID, THINK_ID, THINK_END_ID})
MODES = ("whole", "special", "token", "random", "char")
FINISHES = ("stop", "stop-merged", "length", "length-unknown")


def supported_finishes() -> tuple[str, ...]:
    """The finish modes the installed vLLM can get right.

    Known limit (README, docs/compat-notes.md §5): vLLM 0.10 - 0.13 (stream-finishing generation A)
    replace a stream's last chunk whose first tool call has arguments with "the rest of the last
    call", dropping its id and name. When the end of the stream cannot be recognised by the parser
    ("length-unknown": a stop string, the server's default max_tokens) and the last engine output
    carries a call's header, no chunk layout keeps both the header and the closing remainder. That
    finish mode is therefore not run on those versions.
    """
    if vllm_version_tuple() < (0, 14):
        return tuple(f for f in FINISHES if f != "length-unknown")
    return FINISHES
PROMPT = "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"


class HarnessError(RuntimeError):
    """The test harness itself cannot run this input (not a parser failure)."""


class ContractViolation(AssertionError):
    """The parser broke a rule of vLLM's streaming contract (docs/contract.md §2)."""


# ----------------------------------------------------------------------------- loading


@functools.cache
def tokenizer():
    from qxt_support.qwen_tokenizer import ensure_tokenizer_dir

    return get_tokenizer(ensure_tokenizer_dir())


def plugin_available() -> bool:
    return PARSER_NAME != PLUGIN_PARSER_NAME or PLUGIN_PATH.exists()


@functools.cache
def parser_class():
    from qwen_xml_toolparser._compat import ToolParserManager  # vllm.tool_parsers from 0.13

    if PARSER_NAME == PLUGIN_PARSER_NAME:
        if not PLUGIN_PATH.exists():
            raise HarnessError(f"{PLUGIN_PATH} does not exist yet")
        ToolParserManager.import_tool_parser(str(PLUGIN_PATH))
    return ToolParserManager.get_tool_parser(PARSER_NAME)


def tool_parser_base_class():
    from qwen_xml_toolparser._compat import ToolParser

    return ToolParser


def tool_parser_manager():
    from qwen_xml_toolparser._compat import ToolParserManager

    return ToolParserManager


def registered_tool_parsers() -> list[str]:
    """``ToolParserManager.list_registered()`` (older vLLM has only the ``tool_parsers`` dict)."""
    mgr = tool_parser_manager()
    if hasattr(mgr, "list_registered"):
        return list(mgr.list_registered())
    return list(mgr.tool_parsers)


def vllm_version() -> str:
    import vllm

    return vllm.__version__


def vllm_version_tuple() -> tuple[int, ...]:
    return version_tuple()


# ----------------------------------------------------------------------------- requests


def make_request(tools: list[dict] | None, tool_choice: Any = "default", **kw):
    """A real ChatCompletionRequest (``qwen_xml_toolparser._vllm_loop.chat_request``)."""
    kw.setdefault("messages", [{"role": "user", "content": "Hi"}])
    return chat_request(tools, tool_choice, **kw)


def new_parser_for(request):
    """One parser per request, built as the installed vLLM builds it (``_vllm_loop.new_parser``):
    (parser, adjusted request). The suites' inputs are what vLLM's qwen3 reasoning parser leaves
    (stray think markup is dropped), so the parser is told a reasoning parser runs; think blocks
    without a reasoning parser: tests/serving/test_end_of_output.py."""
    parser, request = loop.new_parser(parser_class(), tokenizer(), request, reasoning_parser=True)
    if getattr(parser, "skip_reasoning_parsing", False) is None:
        parser.skip_reasoning_parsing = False
    return parser, request


def new_parser(request):
    return new_parser_for(request)[0]


# ----------------------------------------------------------------------------- log capture


@dataclass
class LogRecord:
    logger: str
    level: str
    message: str
    exc: str | None


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        exc = None
        if record.exc_info and record.exc_info[0] is not None:
            exc = f"{record.exc_info[0].__name__}: {record.exc_info[1]}"
        try:
            msg = record.getMessage()
        except Exception:  # pragma: no cover
            msg = str(record.msg)
        self.records.append(LogRecord(record.name, record.levelname, msg[:500], exc))


@contextlib.contextmanager
def capture_logs() -> Iterator[list[LogRecord]]:
    """Capture WARNING+ records of every logger (vLLM's loggers do not propagate)."""
    handler = _Capture()
    handler.setLevel(logging.WARNING)
    loggers = {logging.getLogger(), logging.getLogger("vllm")}
    loggers |= {
        lg
        for name, lg in logging.Logger.manager.loggerDict.items()
        if isinstance(lg, logging.Logger) and not lg.propagate
    }
    for lg in loggers:
        lg.addHandler(handler)
    try:
        yield handler.records
    finally:
        for lg in loggers:
            lg.removeHandler(handler)


# ----------------------------------------------------------------------------- tokens -> chunks


@functools.cache
def prompt_ids() -> tuple[int, ...]:
    return tuple(tokenizer().encode(PROMPT, add_special_tokens=False))


def encode(text: str) -> list[int]:
    return list(tokenizer().encode(text, add_special_tokens=False))


def token_texts(ids: list[int], skip_special_tokens: bool = True) -> list[str]:
    """Per-token text exactly as vLLM's FastIncrementalDetokenizer yields it."""
    return loop.token_texts(tokenizer(), ids, skip_special_tokens=skip_special_tokens, prompt_ids=prompt_ids())


def split_chunks(text: str, mode: str, seed: int = 0, finish: str = "stop",
                 skip_special_tokens: bool = True, pieces: list[str] | None = None) -> list[Chunk]:
    """The chunks vLLM would hand the parser for ``text`` (see module doc).
    ``mode="pieces"``: the given text pieces, each with the ids of its own
    encoding (like "char": for cutting at arbitrary character positions)."""
    if mode not in MODES + ("pieces",):
        raise ValueError(mode)
    if finish not in FINISHES:
        raise ValueError(finish)
    rng = random.Random(seed)
    if mode in ("pieces", "char"):
        if mode == "pieces":
            assert pieces is not None and "".join(pieces) == text
        texts: list[str] = []  # per token id: a piece's text goes with its first id
        ids: list[int] = []
        groups: list[range] = []  # one chunk per piece, with the ids of the piece's own encoding
        for piece in pieces if mode == "pieces" else text:
            encoded = encode(piece)
            groups.append(range(len(ids), len(ids) + len(encoded)))
            ids += encoded
            texts += [piece, *[""] * (len(encoded) - 1)] if encoded else []
    else:
        ids = encode(text)
        texts = token_texts(ids, skip_special_tokens)
        if "".join(texts) != text:
            raise HarnessError(
                "detokenized text differs from the input (input not NFC, or it "
                f"contains special tokens that are skipped): {text[:200]!r}"
            )
        groups = _groups(ids, mode, rng)
    if finish == "stop" and mode == "random" and rng.random() < 0.5:
        finish = "stop-merged"
    ends = finish in ("stop", "stop-merged") or not groups
    return loop.make_chunks(texts, ids, groups, eos_id=EOS_ID if ends else None,
                            merge_eos=finish == "stop-merged")


def _groups(ids: list[int], mode: str, rng: random.Random) -> list[list[int]]:
    """The token positions of each chunk in ``mode`` ("whole", "token", "special", "random")."""
    if mode == "whole":
        return [list(range(len(ids)))] if ids else []
    if mode == "token":
        return [[i] for i in range(len(ids))]
    groups: list[list[int]] = []
    if mode == "special":
        cur: list[int] = []
        for i, t in enumerate(ids):
            if t in SPLIT_IDS:
                if cur:
                    groups.append(cur)
                groups.append([i])
                cur = []
            else:
                cur.append(i)
        if cur:
            groups.append(cur)
        return groups
    i = 0
    while i < len(ids):
        n = rng.randint(1, 8)
        groups.append(list(range(i, min(i + n, len(ids)))))
        i += n
    return groups


# ----------------------------------------------------------------------------- results


@dataclass
class Call:
    id: str | None
    name: str
    arguments: str


@dataclass
class Step:
    delta_text: str
    delta_ids: list[int]
    finished: bool
    message: dict | None  # DeltaMessage.model_dump(exclude_none=True), as the client gets it
    appended: str = ""  # what the serving layer appended from get_remaining_unstreamed_args() (0.23+)
    # on the finished chunk: what the parser itself returned, when the serving layer changed it
    parser_message: dict | None = None


@dataclass
class StreamRun:
    text: str
    mode: str
    seed: int
    finish: str
    content: str = ""
    calls: list[Call] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    # per call: the arguments text the client holds after each chunk that changed it
    arg_prefixes: list[list[str]] = field(default_factory=list)
    # per call: what the parser itself emitted (without the serving layer's append)
    parser_emitted: list[str] = field(default_factory=list)
    state_violations: list[str] = field(default_factory=list)
    final_prev_tool_call_arr: list[Any] = field(default_factory=list)
    final_streamed_args_for_tool: list[Any] = field(default_factory=list)
    logs: list[LogRecord] = field(default_factory=list)

    def label(self) -> str:
        return f"mode={self.mode} seed={self.seed} finish={self.finish}"

    def describe(self, max_steps: int = 400) -> str:
        lines = [f"streamed {self.label()}: {len(self.steps)} chunks; input={self.text!r}"]
        for k, s in enumerate(self.steps[:max_steps]):
            extra = f" +appended {s.appended!r}" if s.appended else ""
            if s.parser_message is not None and s.parser_message != s.message:
                extra += f" (parser returned {json.dumps(s.parser_message, ensure_ascii=False)})"
            lines.append(f"  [{k}] {s.delta_text!r} ids={s.delta_ids}{' FIN' if s.finished else ''}"
                         f" -> {json.dumps(s.message, ensure_ascii=False) if s.message else None}{extra}")
        if len(self.steps) > max_steps:
            lines.append(f"  ... {len(self.steps) - max_steps} more")
        lines.append(f"  => content={self.content!r} calls={[(c.name, c.arguments) for c in self.calls]}")
        return "\n".join(lines)


@dataclass
class WholeRun:
    text: str
    tools_called: bool
    content: str | None
    calls: list[Call]
    types: list[Any]
    logs: list[LogRecord] = field(default_factory=list)

    def describe(self) -> str:
        return (f"non-streaming: tools_called={self.tools_called} content={self.content!r} "
                f"calls={[(c.name, c.arguments) for c in self.calls]}; input={self.text!r}")


def _dump(msg) -> dict | None:
    if msg is None:
        return None
    return msg.model_dump(exclude_none=True)


class Reconstructor:
    """vLLM's StreamingToolReconstructor rules (tests/tool_parsers/utils.py), made
    as strict as contract §2: each DeltaMessage has content or tool calls; no
    reasoning; at most one tool call per chunk except the finished one (before vLLM 0.23); the
    first delta of an index is the next index and carries id, type "function"
    and the name; later deltas of it carry neither id, type nor name and only
    the latest call continues; ids are unique."""

    def __init__(self, run: StreamRun) -> None:
        self.run = run
        self.own_args: dict[int, str] = {}  # per index: what the parser itself streamed

    def _sync_own(self) -> None:
        for i in range(len(self.run.calls)):
            self.run.parser_emitted[i] = self.own_args.get(i, "")

    def fail(self, k: int, why: str) -> None:
        raise ContractViolation(f"chunk {k}: {why}\n{self.run.describe()}")

    def feed(self, k: int, msg: dict | None, finished: bool, own: dict | None = None) -> None:
        """``msg``: what the client gets; ``own``: what the parser returned (they differ on the
        finished chunk, where the serving layer completes the arguments), default ``msg``."""
        run = self.run
        own = msg if own is None else own
        for tc in (own or {}).get("tool_calls") or []:
            idx = tc.get("index")
            args = (tc.get("function") or {}).get("arguments")
            if isinstance(idx, int) and isinstance(args, str):
                self.own_args[idx] = self.own_args.get(idx, "") + args
        if msg is None:
            self._sync_own()
            return
        tcs = msg.get("tool_calls") or []
        if msg.get("content") is None and not tcs:
            self.fail(k, f"DeltaMessage with neither content nor tool_calls: {msg}")
        if msg.get("reasoning") is not None or msg.get("reasoning_content") is not None:
            self.fail(k, f"tool parser set reasoning: {msg}")
        if msg.get("role") is not None:
            self.fail(k, f"tool parser set role: {msg}")
        if len(tcs) > 1 and not finished and not _calls_share_a_chunk():
            self.fail(k, f"{len(tcs)} tool calls in one (non-final) chunk (vLLM < 0.23: docs/compat-notes.md §4)")
        if msg.get("content"):
            run.content += msg["content"]
        for j, tc in enumerate(tcs):
            idx = tc.get("index")
            fn = tc.get("function") or {}
            args = fn.get("arguments")
            if args is not None and not isinstance(args, str):
                self.fail(k, f"arguments is not a string: {args!r}")
            if idx == len(run.calls):
                if not tc.get("id") or not isinstance(tc.get("id"), str):
                    self.fail(k, f"first delta of call {idx} has no id: {tc}")
                if tc.get("type") != "function":
                    self.fail(k, f"first delta of call {idx} has type {tc.get('type')!r}: {tc}")
                if not isinstance(fn.get("name"), str):
                    self.fail(k, f"first delta of call {idx} has no name: {tc}")
                if any(c.id == tc["id"] for c in run.calls):
                    self.fail(k, f"duplicate tool call id {tc['id']!r}")
                run.calls.append(Call(tc["id"], fn["name"], args or ""))
                run.arg_prefixes.append([])
                run.parser_emitted.append("")
            elif run.calls and idx == len(run.calls) - 1:
                if tc.get("id") is not None:
                    self.fail(k, f"id re-sent for call {idx}: {tc}")
                if fn.get("name") is not None:
                    self.fail(k, f"name re-sent for call {idx}: {tc}")
                if tc.get("type") is not None:
                    self.fail(k, f"type re-sent for call {idx}: {tc}")
                run.calls[idx].arguments += args or ""
            else:
                self.fail(k, f"tool call index {idx} out of sequence ({len(run.calls)} calls so far): {tc}")
        self._sync_own()
        for i, c in enumerate(run.calls):
            if not run.arg_prefixes[i] or run.arg_prefixes[i][-1] != c.arguments:
                run.arg_prefixes[i].append(c.arguments)


def _calls_share_a_chunk() -> bool:
    from qwen_xml_toolparser._compat import CALLS_SHARE_A_CHUNK

    return bool(CALLS_SHARE_A_CHUNK)


def _check_state(run: StreamRun, parser, k: int, final: bool) -> None:
    """contract §2: prev_tool_call_arr / streamed_args_for_tool exact, one entry per
    call index from the call header on (checked after every chunk)."""
    prev = getattr(parser, "prev_tool_call_arr", None)
    streamed = getattr(parser, "streamed_args_for_tool", None)
    n = len(run.calls)
    if not isinstance(prev, list) or not isinstance(streamed, list):
        run.state_violations.append(f"chunk {k}: prev_tool_call_arr/streamed_args_for_tool not lists")
        return
    # An entry may exist before its header is sent (nothing streamed for it yet);
    # at the end of the stream the lengths must be exactly the number of calls.
    if len(prev) < n or len(streamed) < n or (final and (len(prev) != n or len(streamed) != n)):
        run.state_violations.append(
            f"chunk {k}: {n} calls streamed but len(prev_tool_call_arr)={len(prev)}, "
            f"len(streamed_args_for_tool)={len(streamed)}")
        return
    for i in range(n, len(streamed)):
        if streamed[i]:
            run.state_violations.append(
                f"chunk {k}: streamed_args_for_tool[{i}]={streamed[i]!r} but call {i} was not sent yet")
    for i in range(n):
        if streamed[i] != run.parser_emitted[i]:
            run.state_violations.append(
                f"chunk {k}: streamed_args_for_tool[{i}]={streamed[i]!r} but the parser streamed "
                f"{run.parser_emitted[i]!r}")
        entry = prev[i]
        if not isinstance(entry, dict) or not isinstance(entry.get("arguments"), dict):
            run.state_violations.append(
                f"chunk {k}: prev_tool_call_arr[{i}] arguments is not a dict: {entry!r}")
        elif entry.get("name") != run.calls[i].name:
            run.state_violations.append(
                f"chunk {k}: prev_tool_call_arr[{i}] name {entry.get('name')!r} != streamed name "
                f"{run.calls[i].name!r}")


def stream(text: str, tools: list[dict] | None = None, mode: str = "token", seed: int = 0,
           finish: str = "stop", request=None, pieces: list[str] | None = None) -> StreamRun:
    """Stream ``text`` (the tool parser's input) through a fresh parser, driven by the installed
    vLLM's serving loop (``qwen_xml_toolparser._vllm_loop.ServingLoop``)."""
    parser, request = new_parser_for(request if request is not None else make_request(tools))
    skip = request.skip_special_tokens if request.skip_special_tokens is not None else True
    chunks = split_chunks(text, mode, seed, finish, skip, pieces)
    if finish == "length":
        request.max_tokens = sum(len(ch.ids) for ch in chunks)
    run = StreamRun(text, mode, seed, finish)
    rec = Reconstructor(run)
    serving = loop.ServingLoop(parser, request, reasoning_parser=True)
    with capture_logs() as logs:
        for k, ch in enumerate(chunks):
            try:
                step = serving.step(ch)
            except Exception as e:
                raise ContractViolation(
                    f"chunk {k}: extract_tool_calls_streaming raised {type(e).__name__}: {e}\n"
                    f"{run.describe()}") from e
            own, sent = _dump(step.own), _dump(step.sent)
            run.steps.append(Step(ch.text, list(ch.ids), ch.finished, sent, _appended(own, sent),
                                  own if ch.finished else None))
            rec.feed(k, sent, ch.finished, own)
            _check_state(run, parser, k, ch.finished)
        run.final_prev_tool_call_arr = list(getattr(parser, "prev_tool_call_arr", []) or [])
        run.final_streamed_args_for_tool = list(getattr(parser, "streamed_args_for_tool", []) or [])
    run.logs = list(logs)
    return run


def _appended(own: dict | None, final: dict | None) -> str:
    """The text the serving layer appended to the last tool call's arguments (0.23+), if any."""
    try:
        a = own["tool_calls"][-1]["function"].get("arguments") or ""
        b = final["tool_calls"][-1]["function"].get("arguments") or ""
    except (TypeError, KeyError, IndexError):
        return ""
    return b[len(a):] if b.startswith(a) and len(own["tool_calls"]) == len(final["tool_calls"]) else ""


def parse_whole(text: str, tools: list[dict] | None = None, request=None) -> WholeRun:
    parser, request = new_parser_for(request if request is not None else make_request(tools))
    with capture_logs() as logs:
        try:
            info = parser.extract_tool_calls(text, request)
        except Exception as e:
            raise ContractViolation(
                f"extract_tool_calls raised {type(e).__name__}: {e}\ninput={text!r}") from e
    calls = [Call(tc.id, tc.function.name, tc.function.arguments) for tc in info.tool_calls]
    return WholeRun(text, info.tools_called, info.content, calls,
                    [tc.type for tc in info.tool_calls], list(logs))


# ----------------------------------------------------------------------------- real serving path


def delegating_parser_missing() -> str | None:
    """Why vLLM's composed ``Parser`` (``vllm.parser``: ``ParserManager.get_parser`` ->
    ``DelegatingParser`` with ``parse_delta(..., finished=)`` and ``parse``) cannot be used on
    the installed version, or None. It is the serving path from 0.23 on; 0.16 - 0.22 have an
    earlier ``vllm.parser`` that the serving layer does not use for tool calls (no ``finished``,
    no ``parse``), before 0.16 there is none. tests/serving drives ``OpenAIServingChat`` there."""
    import inspect

    try:
        from vllm.parser.abstract_parser import DelegatingParser
        from vllm.parser.parser_manager import ParserManager
    except ImportError as e:
        return f"vLLM {vllm_version()} has no vllm.parser DelegatingParser ({e}); it is the serving path from 0.23"
    if (not hasattr(ParserManager, "get_parser") or not hasattr(DelegatingParser, "parse")
            or "finished" not in inspect.signature(DelegatingParser.parse_delta).parameters):
        return (f"vLLM {vllm_version()}: vllm.parser's DelegatingParser has no parse()/parse_delta(finished=) "
                "(the serving path through it exists from 0.23)")
    return None


def real_parser_class(tool_parser_name: str = "default", reasoning_parser_name: str | None = None):
    """The composed ``DelegatingParser`` subclass vLLM's server would use (0.23+; the caller
    checks ``delegating_parser_missing()`` first)."""
    from vllm.parser.parser_manager import ParserManager

    parser_class()  # make sure the plugin is imported/registered
    name = PARSER_NAME if tool_parser_name == "default" else tool_parser_name
    kwargs = dict(
        tool_parser_name=name,
        reasoning_parser_name=reasoning_parser_name,
        enable_auto_tools=True,
        model_name="qwen3-coder",
        tokenizer=tokenizer(),  # 0.33+
    )
    import inspect

    params = inspect.signature(ParserManager.get_parser).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        kwargs = {k: v for k, v in kwargs.items() if k in params}
    return ParserManager.get_parser(**kwargs)


def stream_real(text: str, tools: list[dict] | None = None, mode: str = "token", seed: int = 0,
                finish: str = "stop", request=None, reasoning_parser_name: str | None = None,
                prompt: str | None = None) -> list[dict | None]:
    """Run chunks through vLLM's own ``Parser.parse_delta`` (the serving path)."""
    request = request if request is not None else make_request(tools)
    pcls = real_parser_class(reasoning_parser_name=reasoning_parser_name)
    p = pcls(tokenizer(), request.tools)
    request = p.adjust_request(request)
    skip = request.skip_special_tokens if request.skip_special_tokens is not None else True
    chunks = split_chunks(text, mode, seed, finish, skip)
    if finish == "length":
        request.max_tokens = sum(len(ch.ids) for ch in chunks)
    pids = encode(prompt) if prompt is not None else list(prompt_ids())
    out = []
    for ch in chunks:
        msg = p.parse_delta(ch.text, list(ch.ids), request, pids, finished=ch.finished)
        out.append(_dump(msg))
    return out


def parse_real(text: str, tools: list[dict] | None = None, request=None,
               reasoning_parser_name: str | None = None):
    """vLLM's non-streaming ``Parser.parse`` -> (reasoning, content, [(name, arguments)])."""
    request = request if request is not None else make_request(tools)
    pcls = real_parser_class(reasoning_parser_name=reasoning_parser_name)
    p = pcls(tokenizer(), request.tools)
    request = p.adjust_request(request)
    reasoning, content, calls = p.parse(text, request, enable_auto_tools=True,
                                        model_output_token_ids=encode(text))
    return reasoning, content, [(c.name, c.arguments) for c in (calls or [])]
