"""vLLM's serving loop around a tool parser: the one place that drives a parser as vLLM does.

What each serving generation hands a tool parser per chunk of output, and what it makes of the
chunk that finishes the stream (docs/compat-notes.md §4). The CLI's ``--vllm``, the test suites,
the benchmarks and ``ci/smoke.py`` all drive the plugin (and vLLM's in-tree parsers) through
here, so the way vLLM is emulated is written once; tests/serving checks it against vLLM's real
``OpenAIServingChat`` on every version of the matrix.

Per request, as vLLM builds it:

* ``chat_request(tools)``: a real ``ChatCompletionRequest``;
* ``new_parser(cls, tokenizer, request)``: ``cls(tokenizer, request.tools)`` (before 0.19
  ``cls(tokenizer)``), ``skip_reasoning_parsing`` as the serving layer sets it, then
  ``adjust_request``.

Per chunk (``ServingLoop.step``): ``extract_tool_calls_streaming(previous_text, current_text,
delta_text, previous_token_ids, current_token_ids, delta_token_ids, request)``. The texts and id
lists are accumulated, except on 0.26+ for a parser that declares ``engine_based_streaming``
(ours does): vLLM's ``StreamState`` then passes the delta alone as "current". On the chunk that
carries the finish reason, generation A - D rewrites or completes the parser's delta
(``finish_message``), and on 0.26+ an engine-based parser's ``finish_streaming()`` is merged in.

Chunks come from the output's token ids and per-token texts: ``token_texts`` is vLLM's
incremental detokenizer (``tokenizers.decoders.DecodeStream``), ``make_chunks`` groups tokens per
engine step and places the stop token.

Nothing here imports vLLM when this module is imported: the CLI reads ``token_texts`` from here
without vLLM, and every vLLM name comes from ``_compat`` when a function needs it.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._versions import serving_generation, version_tuple

__all__ = [
    "OMIT",
    "Chunk",
    "Received",
    "ServingLoop",
    "Step",
    "chat_request",
    "finish_message",
    "generation",
    "make_chunks",
    "new_parser",
    "token_texts",
]


# ── the request and the parser ────────────────────────────────────────────────────────────


OMIT: Any = object()  # chat_request(tool_choice=OMIT): the request's own default


def chat_request(tools: Any, tool_choice: Any = "default", **fields: Any) -> Any:
    """A real ``ChatCompletionRequest`` with ``tools`` (OpenAI JSON or None).

    ``tool_choice`` defaults to what a client that sends tools usually sends, ``"auto"``, and to
    ``None`` without tools (which the serving layer treats as auto too); ``tool_choice=OMIT``
    leaves it to the request's own default.
    """
    from . import _compat as vc

    if tool_choice == "default":
        tool_choice = "auto" if tools else None
    body = {"model": "qwen", "messages": [{"role": "user", "content": "-"}], **fields}
    if tool_choice is not OMIT:
        body["tool_choice"] = tool_choice
    return vc.chat_request_class()(tools=tools, **body)



def new_parser(cls: Any, tokenizer: Any, request: Any, *, reasoning_parser: bool = False) -> tuple[Any, Any]:
    """One parser per request, as the installed vLLM's serving layer builds it: (parser, request).

    ``reasoning_parser``: whether the server runs a reasoning parser next to it. Without one,
    0.31+ set ``skip_reasoning_parsing`` on a tool parser that has the attribute.
    """
    from . import _compat as vc
    from ._compat_context import tells_no_reasoning_parser

    parser = cls(tokenizer, request.tools) if vc.TOOL_PARSER_TAKES_TOOLS else cls(tokenizer)
    if not reasoning_parser and hasattr(parser, "skip_reasoning_parsing") and tells_no_reasoning_parser():
        parser.skip_reasoning_parsing = True
    adjust = getattr(parser, "adjust_request", None)
    if adjust is not None:
        request = adjust(request)
    return parser, request


# ── tokens -> chunks ──────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Chunk:
    """One engine step as the serving layer hands it on: its text, its token ids, and whether it
    carries the finish reason."""

    text: str
    ids: tuple[int, ...]
    finished: bool = False


def token_texts(tokenizer: Any, ids: Sequence[int], *, skip_special_tokens: bool = True,
                prompt_ids: Sequence[int] = ()) -> list[str]:
    """Each token's text as vLLM's incremental detokenizer yields it (``DecodeStream``, primed
    with the prompt; a token that completes no character yields ``""``).

    ``tokenizer``: a ``tokenizers.Tokenizer``, or a Hugging Face fast tokenizer (its backend is
    used).
    """
    from tokenizers.decoders import DecodeStream

    backend = getattr(tokenizer, "_tokenizer", None) or getattr(tokenizer, "backend_tokenizer", None) or tokenizer
    try:
        stream = DecodeStream(ids=list(prompt_ids), skip_special_tokens=skip_special_tokens)
    except TypeError:  # tokenizers before native prefill
        stream = DecodeStream(skip_special_tokens=skip_special_tokens)
        for token in prompt_ids:
            stream.step(backend, token)
    return [stream.step(backend, token) or "" for token in ids]


def make_chunks(texts: Sequence[str], ids: Sequence[int], groups: int | Iterable[Sequence[int]] = 1, *,
                eos_id: int | None = None, merge_eos: bool = False) -> list[Chunk]:
    """The chunks of one output: ``groups`` tokens per chunk (vLLM's default is 1), or the token
    positions of each chunk.

    ``eos_id``: the stop token that ends the output. vLLM drops its text: it comes as a last chunk
    of its own with no text, or (``merge_eos``: several tokens per step) in the last text chunk.
    Without it the output ended otherwise (``max_tokens``, a stop string): the last text chunk
    is the finished one.
    """
    if isinstance(groups, int):
        groups = [range(i, min(i + groups, len(ids))) for i in range(0, len(ids), groups)]
    pieces = [("".join(texts[i] for i in group), [ids[i] for i in group]) for group in groups]
    if eos_id is not None:
        if merge_eos and pieces:
            pieces[-1][1].append(eos_id)
        else:
            pieces.append(("", [eos_id]))
    return [Chunk(text, tuple(group), k == len(pieces) - 1) for k, (text, group) in enumerate(pieces)]


# ── the loop ──────────────────────────────────────────────────────────────────────────────


def generation() -> str:
    """The installed vLLM's way of finishing a stream: A - D (docs/compat-notes.md §4)."""
    from . import _compat as vc

    return serving_generation(version_tuple(vc.VLLM_VERSION))


@functools.cache
def _engine_streaming() -> bool:
    """Whether the installed vLLM passes an ``engine_based_streaming`` parser the delta alone and
    flushes it with ``finish_streaming()`` (``vllm.parser``'s ``StreamState.engine_based``, 0.26+)."""
    try:
        from vllm.parser.abstract_parser import StreamState
    except ImportError:
        return False
    return "engine_based" in getattr(StreamState, "__dataclass_fields__", {})


@dataclass(frozen=True)
class Step:
    """One chunk through the loop: what the parser returned (``own``) and what the client gets
    (``sent``; they differ only on the finished chunk)."""

    chunk: Chunk
    own: Any
    sent: Any


class ServingLoop:
    """Drives one parser through one request's chunks as the installed serving layer does.

    ``step`` is the whole loop body; ``arguments`` / ``commit`` / ``finish`` are its parts, for a
    caller that times the parser call alone (benchmarks/harness.py).
    """

    def __init__(self, parser: Any, request: Any, *, reasoning_parser: bool = False) -> None:
        self.parser = parser
        self.request = request
        self.generation = generation()
        engine = _engine_streaming() and bool(getattr(parser, "engine_based_streaming", False))
        self.delta_texts = engine and not reasoning_parser  # vLLM's qwen3 reasoning parser is not engine-based
        self.flushes = engine
        self._text = ""
        self._ids: list[int] = []

    def arguments(self, text: str, ids: Sequence[int]) -> tuple[str, str, str, list[int], list[int], list[int]]:
        """``extract_tool_calls_streaming``'s arguments but the request, for a chunk."""
        delta_ids = list(ids)
        if self.delta_texts:
            return "", text, text, [], delta_ids, delta_ids
        return self._text, self._text + text, text, self._ids, self._ids + delta_ids, delta_ids

    def commit(self, current_text: str, current_ids: list[int]) -> None:
        if not self.delta_texts:
            self._text, self._ids = current_text, current_ids

    def step(self, chunk: Chunk) -> Step:
        previous, current, delta, previous_ids, current_ids, delta_ids = self.arguments(chunk.text, chunk.ids)
        own = self.parser.extract_tool_calls_streaming(
            previous, current, delta, previous_ids, current_ids, delta_ids, self.request)
        self.commit(current, current_ids)
        if not chunk.finished:
            return Step(chunk, own, own)
        sent = self.finish(own.model_copy(deep=True) if own is not None else None)
        return Step(chunk, own, sent)

    def run(self, chunks: Iterable[Chunk]) -> Iterator[Step]:
        for chunk in chunks:
            yield self.step(chunk)

    def finish(self, message: Any) -> Any:
        """What the serving layer makes of the parser's delta on the finished chunk."""
        message = finish_message(self.parser, message, self.generation)
        if self.flushes and hasattr(self.parser, "finish_streaming"):
            flushed = self.parser.finish_streaming()
            if flushed is not None:
                if message is None:
                    return flushed
                if flushed.content:
                    message.content = (message.content or "") + flushed.content
                if flushed.tool_calls:
                    message.tool_calls = (message.tool_calls or []) + flushed.tool_calls
        return message


def finish_message(parser: Any, message: Any, generation: str) -> Any:
    """The delta the client receives on the chunk that finishes a stream (may be ``message``).

    * A (0.10 - 0.13): if ``message.tool_calls[0].function.arguments is not None``, the delta is
      replaced by one holding only ``DeltaToolCall(index, function=DeltaFunctionCall(
      arguments=remaining))``, with ``remaining = json.dumps(prev_tool_call_arr[index]
      ["arguments"]).replace(actual, "", 1)``;
    * B (0.14 - 0.16): the same, keeping the id, type and name of the entry with that index;
    * C (0.17 - 0.22): as B, but a ``str`` ``arguments`` entry is used as it is;
    * D (0.23+): ``parser.get_remaining_unstreamed_args()`` is appended to the arguments of the
      delta's last tool call.

    ``index = len(prev_tool_call_arr) - 1``; ``actual = streamed_args_for_tool[index]`` less the
    last ``len(message.tool_calls[0].function.arguments)`` characters (A - C).
    """
    if message is None or not message.tool_calls:
        return message
    if generation == "D":
        last = message.tool_calls[-1]
        if last.function:
            last.function.arguments = (last.function.arguments or "") + parser.get_remaining_unstreamed_args()
        return message
    first = message.tool_calls[0]
    if not (first and first.function and _arguments(first.function) is not None):
        return message
    from . import _compat as vc

    index, remaining = _remaining(parser, _arguments(first.function), generation)
    if generation == "A":
        return vc.DeltaMessage(tool_calls=[vc.DeltaToolCall(
            index=index, function=vc.DeltaFunctionCall(arguments=remaining).model_dump(exclude_none=True))])
    original = next((tc for tc in message.tool_calls if tc.index == index), None)
    fn = original.function if original else None
    return vc.DeltaMessage(tool_calls=[vc.DeltaToolCall(
        index=index, id=original.id if original else None, type=original.type if original else None,
        function=vc.DeltaFunctionCall(name=fn.name if fn else None, arguments=remaining))])


def _remaining(parser: Any, latest: Any, generation: str) -> tuple[int, str]:
    """(index, remaining) as generations A - C compute them."""
    entries = parser.prev_tool_call_arr
    index = len(entries) - 1 if entries else 0
    arguments = entries[index].get("arguments", {})
    expected = arguments if generation == "C" and isinstance(arguments, str) else json.dumps(
        arguments, ensure_ascii=False)
    actual = parser.streamed_args_for_tool[index]
    if isinstance(latest, str) and latest:
        actual = actual[:-len(latest)]
    return index, expected.replace(actual, "", 1)


def _arguments(function: Any) -> Any:
    return function.get("arguments") if isinstance(function, dict) else function.arguments


# ── the client's side ─────────────────────────────────────────────────────────────────────


@dataclass
class ReceivedCall:
    """What was sent for one call index: every id and name (a well-formed stream sends one of each)
    and the arguments pieces."""

    ids: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    arguments: list[str] = field(default_factory=list)


@dataclass
class Received:
    """What a client holds after reading a stream's deltas (``DeltaMessage`` objects)."""

    content: list[str] = field(default_factory=list)
    calls: dict[int, ReceivedCall] = field(default_factory=dict)
    messages: int = 0  # deltas received
    empty: int = 0  # ... that carry nothing a client would see (no text, id, name or arguments)

    def take(self, message: Any) -> None:
        if message is None:
            return
        self.messages += 1
        visible = bool(message.content)
        if message.content:
            self.content.append(message.content)
        for tc in message.tool_calls or []:
            call = self.calls.setdefault(tc.index, ReceivedCall())
            if tc.id:
                call.ids.append(tc.id)
                visible = True
            if tc.function is not None:
                if tc.function.name:
                    call.names.append(tc.function.name)
                    visible = True
                if tc.function.arguments:
                    call.arguments.append(tc.function.arguments)
                    visible = True
        if not visible:
            self.empty += 1

    def text(self) -> str:
        return "".join(self.content)

    def tool_calls(self) -> list[tuple[str, str]]:
        """(name, arguments text) per call, in index order."""
        return [("".join(c.names), "".join(c.arguments)) for _, c in sorted(self.calls.items())]
