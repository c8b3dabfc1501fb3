"""The vLLM ``ReasoningParser`` ``qwen_xml_safe`` around :class:`~._reasoning.ReasoningSplitter`.

Registered by ``plugin.py`` next to the tool parser (docs/contract.md §8 has the rules, README
"Thinking models" how to load it per version). How vLLM drives it:

* non-streaming: ``extract_reasoning`` (``extract_reasoning_content`` before 0.11.1) gets the
  whole output and returns ``(reasoning, content)``; vLLM's tool parser then parses the content.
  The prompt comes first through ``set_prompt_token_ids`` (0.33; read from the serving layer on
  0.26 - 0.32).
* streaming, vLLM 0.26+ (``DelegatingParser``, ``engine_based_streaming``): vLLM feeds the delta
  text alone to ``extract_reasoning_streaming`` and asks ``has_engine_confirmed_reasoning_end()``
  after each delta; once that is true, the content of that delta and everything after it goes
  to the tool parser. The prompt is checked first (``is_reasoning_end(prompt_token_ids)``: a
  prompt that closed its think block needs no reasoning parser). A call opened inside the
  reasoning is held (rule 2) until ``</think>`` or the end of the output, which this parser
  learns from an end-of-sequence / stop token id in the delta (then the held call goes to the
  tool parser in the same step, which sees the same token id and finishes too), or else from
  ``finish_streaming()`` at the stream's end (a stop string, the token limit): the held call
  is then parsed here, with the request's tools, and sent as the last chunk's tool calls.
* streaming before 0.26: vLLM asks ``is_reasoning_end(delta_token_ids)`` after each delta and
  gives a reasoning parser no end-of-output signal, so a held call could never reach the tool
  parser: there the reasoning ends at a call's opener at once (``hold_calls=False``), in both
  modes, so that streaming and non-streaming agree.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from . import _compat as vc
from . import _compat_context as cx
from ._api import parse
from ._compat_logging import logger
from ._reasoning import ReasoningSplitter, SplitEvent, texts
from ._scanner import THINK_END, THINK_START
from ._vllm_adapter import PARSER_NAME, eos_ids, tool_call_id

__all__ = ["HOLDS_CALLS", "QwenXmlSafeReasoningParser", "register_reasoning_parser"]

HOLDS_CALLS: bool = hasattr(vc.ReasoningParser, "has_engine_confirmed_reasoning_end")
"""vLLM 0.26+: the serving layer lets a reasoning parser decide when reasoning ends and tells it
when the stream ends, so calls inside open reasoning can be held until decided (rule 2)."""

_REASONING_FIELD = "reasoning" if "reasoning" in getattr(vc.DeltaMessage, "model_fields", {}) else "reasoning_content"
_TURN_START = "<|im_start|>"


class QwenXmlSafeReasoningParser(vc.ReasoningParser):  # type: ignore[misc]
    """Reasoning parser for Qwen3.5+ thinking models (``qwen_xml_safe``)."""

    # vLLM 0.26+: pass the delta text alone, ask has_engine_confirmed_reasoning_end() after each
    # delta, call finish_streaming() at the end of a stream whose reasoning never ended.
    engine_based_streaming = True

    def __init__(self, tokenizer: Any, *args: Any, **kwargs: Any) -> None:
        try:
            super().__init__(tokenizer, *args, **kwargs)
        except TypeError:  # vLLM < 0.26 takes the tokenizer alone (and passes nothing else)
            super().__init__(tokenizer)
        try:
            vocab = dict(tokenizer.get_vocab())
        except Exception:  # a tokenizer without a vocabulary to show: no token-id checks
            vocab = {}
        self._start_id: int | None = vocab.get(THINK_START)
        self._end_id: int | None = vocab.get(THINK_END)
        self._turn_id: int | None = vocab.get(_TURN_START)
        self._stop_ids = eos_ids(tokenizer)
        self._tokenizer = tokenizer
        template_kwargs = kwargs.get("chat_template_kwargs") or {}
        self._thinking_off = isinstance(template_kwargs, dict) and template_kwargs.get("enable_thinking") is False
        self._prompt: str | None = None  # what the prompt did: "open", "closed", "none"; None: not seen
        self._splitter: ReasoningSplitter | None = None
        self._request: Any = None
        self._finished = False
        self._passthrough = False  # the rest of the output is content (thinking off, or an internal error)
        self._gate_open = False  # the engine's instance has seen the output start inside a think block
        self._content_chars = 0  # the split's content so far, in characters (count_reasoning_tokens)
        self._reasoning_tokens: int | None = None  # counted once the split has ended
        self._reasoned = False  # the split has given reasoning text

    @property
    def reasoning_start_str(self) -> str:
        return THINK_START

    @property
    def reasoning_end_str(self) -> str:
        return THINK_END

    # ── the prompt (rule 4) ──────────────────────────────────────────────────

    def _think_state(self, ids: Sequence[int]) -> str:
        """What the last turn of ``ids`` did with the think block: "open", "closed" or "none".

        Only the last turn counts (after the last ``<|im_start|>``): earlier turns' reasoning
        says nothing about this one.
        """
        start, end, turn = self._start_id, self._end_id, self._turn_id
        for token in reversed(ids):
            if token == end:
                return "closed"
            if token == start:
                return "open"
            if token == turn:
                return "none"
        return "unknown"  # no think marker, and no turn start: output ids alone

    def set_prompt_token_ids(self, prompt_token_ids: Sequence[int]) -> None:
        """vLLM 0.33, before a whole output is parsed."""
        self._prompt = self._think_state(prompt_token_ids)

    def adjust_initial_state_from_prompt(self, prompt_token_ids: Sequence[int]) -> None:
        """vLLM 0.26+, before the first streamed delta (when the prompt left the reasoning open)."""
        self._prompt = self._think_state(prompt_token_ids)

    def is_reasoning_end(self, input_ids: Sequence[int]) -> bool:
        """Whether ``input_ids`` (a prompt, or output tokens) leave the reasoning closed.

        vLLM asks it of the prompt (0.26+: first; the prompt closed the think block, so the
        output is content), of the output for structured outputs (the grammar applies after the
        reasoning), and, before 0.26, of each delta's token ids after the delta was parsed: then
        it also answers whether this parser's split has ended the reasoning.
        """
        state = self._think_state(input_ids)
        if state in ("open", "none"):  # a prompt (or a delta holding "<think>"): what it says
            return False
        # Delta ids (vLLM < 0.26 asks after each delta): true in the step the split ended. Not for
        # a prompt that closed the block: vLLM 0.10 - 0.14 ask of the prompt first, then of the
        # delta, and a second "true" there would drop the delta's content.
        return state == "closed" or (self._splitter is not None and self._splitter.ended)

    def is_reasoning_end_streaming(self, input_ids: Sequence[int], delta_ids: Iterable[int]) -> bool:
        """Asked for structured outputs (the engine's own instance: the prompt and the output so far
        in ``input_ids``; the grammar applies once this is true) and, on versions that ask it after
        each streamed delta, for this parser's split."""
        if self._splitter is not None or self._passthrough:
            return self._ended()
        # The last turn closed its think block, or opened none and the output did not open one
        # either (vLLM then constrains from the next token). vLLM asks again only while the
        # answer was "open": then the step's ids alone decide (no reading back to <think> each
        # step); vLLM 0.34 asks by token id from then on.
        state = self._think_state(list(delta_ids) if self._gate_open else input_ids)
        if state in ("open", "unknown"):
            self._gate_open = True
        return state in ("closed", "none")

    # ── structured outputs' reasoning gate, by token id (vLLM 0.34) ──────────

    @property
    def reasoning_end_token_ids(self) -> frozenset[int]:
        """The ids that alone end the reasoning for the grammar of a forced call: ``</think>``.

        Only once ``is_reasoning_end_streaming`` has seen the output start inside a think block
        (the prompt opened it, or the output did): vLLM 0.34 asks this instance nothing of the
        prompt when the serving layer has answered for it, and where the turn opened no think
        block the grammar applies unless the output opens one. Before vLLM 0.34 nothing asks.
        """
        end = self._end_id
        if vc.ReasoningEnd is None or end is None or not self._gate_open:
            return frozenset()
        return frozenset((end,))

    @property
    def implicit_reasoning_end_token_ids(self) -> frozenset[int]:
        """None (docs/contract.md §8.5): ``<tool_call>`` ends the reasoning only in template
        position, which token ids alone cannot tell. Declared, vLLM would start the grammar at
        any ``<tool_call>`` in the reasoning, a mention included (its ``qwen3`` does), and
        masking it is no way out either: the forced call's grammar starts with it, so vLLM
        would not mask it but end the reasoning there."""
        return frozenset()

    def find_reasoning_end(self, token_ids: Sequence[int]) -> Any:
        """vLLM 0.34, for the tokens of a step: the first ``</think>`` (the grammar starts after it)."""
        end = self._end_id
        if vc.ReasoningEnd is None or end is None:
            return None
        for offset, token in enumerate(token_ids):
            if token == end:
                return vc.ReasoningEnd(offset, False)
        return vc.ReasoningEnd(len(token_ids), False)

    def has_engine_confirmed_reasoning_end(self) -> bool:
        """vLLM 0.26+: asked after each streamed delta; true once the content has started."""
        return self._ended()

    def _ended(self) -> bool:
        return self._passthrough or (self._splitter is not None and self._splitter.ended)

    def extract_content_ids(self, input_ids: list[int]) -> list[int]:
        """The token ids after ``</think>`` (all of them when the reasoning ended at a call's opener:
        the tool parser then sees the delta's end-of-sequence id and finishes with the output)."""
        end = self._end_id
        if end is not None and end in input_ids:
            return input_ids[len(input_ids) - input_ids[::-1].index(end) :]
        return input_ids

    # ── splitting ────────────────────────────────────────────────────────────

    def _content_only(self) -> bool:
        """The request or the prompt turned thinking off / closed the think block (rule 4)."""
        return self._thinking_off or self._prompt == "closed"

    def _new_splitter(self) -> ReasoningSplitter:
        # The prompt opened the think block (Qwen3.5+ templates), or it is not known (as vLLM's
        # qwen3): the output starts in the reasoning. It opened none: content unless "<think>".
        return ReasoningSplitter(in_reasoning=self._prompt != "none", hold_calls=HOLDS_CALLS)

    def _read_prompt(self) -> None:
        """The prompt, where vLLM did not show it (streaming before 0.26, non-streaming before
        0.33): read from the serving layer's engine output, so that every version and both modes
        start the output the same way."""
        if self._prompt is None:
            prompt = cx.engine_prompt_token_ids()
            if prompt is not None:
                self._prompt = self._think_state(prompt)

    def extract_reasoning(self, model_output: str, request: Any) -> tuple[str | None, str | None]:
        self._read_prompt()
        if self._content_only():
            return None, model_output
        try:
            self._splitter = splitter = self._new_splitter()
            self._finished = True
            events = splitter.feed(model_output) + splitter.finish()
        except Exception:  # never fail a request over the split: the output as vLLM's qwen3 would see it
            logger.exception("qwen_xml_safe reasoning parser: internal error; the output is returned as content")
            self._passthrough = True
            return None, model_output
        reasoning, content = self._texts(events)
        return reasoning or None, content or None

    extract_reasoning_content = extract_reasoning  # vLLM <= 0.11.0

    def extract_reasoning_streaming(
        self,
        previous_text: str,
        current_text: str,
        delta_text: str,
        previous_token_ids: Sequence[int],
        current_token_ids: Sequence[int],
        delta_token_ids: Sequence[int],
    ) -> Any:
        if self._passthrough:
            return _message("", delta_text)
        if self._finished:
            return None
        splitter = self._splitter
        if splitter is None:
            self._read_prompt()
            if self._content_only():  # vLLM < 0.26 does not check the prompt itself first
                self._passthrough = True
                return _message("", delta_text)
            self._splitter = splitter = self._new_splitter()
        try:
            events = splitter.feed(delta_text) if delta_text else []
            if delta_token_ids and delta_token_ids[-1] in self._stop_ids:  # the output ended here
                events += self._finish()
        except Exception:
            logger.exception("qwen_xml_safe reasoning parser: internal error; the rest of the output is content")
            self._passthrough = True
            return _message("", delta_text)
        return _message(*self._texts(events))

    extract_reasoning_content_streaming = extract_reasoning_streaming  # vLLM <= 0.11.0

    def get_streaming_fallback_content(self, text: str, request: Any) -> str | None:
        """vLLM 0.26+, at the end of a stream whose reasoning did not end: keep the request, whose
        tools ``finish_streaming`` (called next) needs to read a held call."""
        self._request = request
        return None

    def finish_streaming(self) -> Any:
        """vLLM 0.26+: called when the reasoning ends (nothing to add: the content went with the
        delta) and at the end of a stream whose reasoning never ended: decide what is held."""
        splitter = self._splitter
        if splitter is None or self._ended() or self._finished:
            return None
        try:
            reasoning, content = self._texts(self._finish())
        except Exception:
            logger.exception("qwen_xml_safe reasoning parser: internal error at the end of the output")
            return None
        if not content:
            return _message(reasoning, "")
        return self._held_calls(reasoning, content)

    def _finish(self) -> list[SplitEvent]:
        assert self._splitter is not None
        self._finished = True
        return self._splitter.finish()

    def _texts(self, events: list[SplitEvent]) -> tuple[str, str]:
        reasoning, content = texts(events)
        self._content_chars += len(content)
        self._reasoned = self._reasoned or bool(reasoning)
        return reasoning, content

    # ── usage ────────────────────────────────────────────────────────────────

    def count_reasoning_tokens(self, token_ids: Sequence[int]) -> int:
        """The output tokens of the reasoning, without ``<think>`` / ``</think>`` and stop tokens
        (usage's ``reasoning_tokens``; vLLM asks it after the split, per chunk with continuous
        usage). Where the reasoning ended is this parser's split: at the first ``</think>``, or
        at a call's opener (the tokens whose text is the split's content are not counted). A
        held call counts as reasoning until it is decided."""
        splitter = self._splitter
        if splitter is None or self._passthrough or self._content_only():
            return 0
        if self._reasoning_tokens is not None:
            return self._reasoning_tokens
        ids = list(token_ids)
        if not splitter.ended:
            end = len(ids)
        elif not self._reasoned:  # the output opened no think block: all content
            end = 0
        elif not splitter.implicit and self._end_id in ids:
            end = ids.index(self._end_id)
        else:
            end = self._content_start(ids)
        skip = {self._start_id, self._end_id, *self._stop_ids}
        count = sum(1 for token in ids[:end] if token not in skip)
        if splitter.ended:
            self._reasoning_tokens = count
        return count

    def _decode(self, ids: list[int]) -> str:
        return str(self._tokenizer.decode(ids, skip_special_tokens=True))

    def _content_start(self, ids: list[int]) -> int:
        """The first token of the content: the last ``k`` whose ``ids[k:]`` still decode to at least
        the split's content (a token holding both reasoning and content counts as content)."""
        lo, hi = 0, len(ids)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if len(self._decode(ids[mid:])) >= self._content_chars:
                lo = mid
            else:
                hi = mid - 1
        return lo

    def _held_calls(self, reasoning: str, content: str) -> Any:
        """The answer held back until a stream ended with no end-of-sequence id in its last delta:
        the tool parser is past its last step, so the calls are read here with the same parser."""
        request = self._request
        tools = getattr(request, "tools", None)
        if not tools or getattr(request, "tool_choice", None) == "none":
            return _message(reasoning, content)
        try:
            result = parse(content, tools, id_factory=tool_call_id, drop_think=True,
                           cut_off=lambda: cx.engine_finish_reason() == "length")
        except Exception:  # never fail a request over a parser bug: the held text as content
            logger.exception("qwen_xml_safe reasoning parser: internal error reading the held calls")
            return _message(reasoning, content)
        calls = [vc.DeltaToolCall(index=i, id=c.id, type="function",
                                  function=vc.DeltaFunctionCall(name=c.name, arguments=c.arguments))
                 for i, c in enumerate(result.tool_calls)]
        message = _message(reasoning, result.content or "")
        if not calls:
            return message
        if message is None:
            message = vc.DeltaMessage()
        message.tool_calls = calls
        return message


def _message(reasoning: str, content: str) -> Any:
    if not reasoning and not content:
        return None
    fields: dict[str, str] = {}
    if reasoning:
        fields[_REASONING_FIELD] = reasoning
    if content:
        fields["content"] = content
    return vc.DeltaMessage(**fields)


def register_reasoning_parser() -> None:
    """Register the reasoning parser ``qwen_xml_safe`` with vLLM (eagerly; safe to call again)."""
    vc.ReasoningParserManager.register_module(name=PARSER_NAME, module=QwenXmlSafeReasoningParser, force=True)
