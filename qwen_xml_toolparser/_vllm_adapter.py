"""The vLLM ``ToolParser`` around :class:`~qwen_xml_toolparser.StreamParser`.

vLLM creates one parser per request and calls ``extract_tool_calls`` (whole
output) or ``extract_tool_calls_streaming`` (once per generated delta). The
adapter feeds only ``delta_text`` to the core (never re-scans
``current_text``) and turns the core's events into ``DeltaMessage`` objects:

* what a delta decided goes out in that delta's chunk (docs/contract.md §2, "Delta
  shape"): a call's first entry carries ``index``, ``id``, ``type`` and ``name``
  with the arguments decided so far; later entries carry ``index`` and
  ``arguments`` only. Where the serving layer cannot take that
  (docs/compat-notes.md §4: a header's arguments on 0.12 - 0.16, a second call
  in a chunk before 0.23) the rest waits for the next chunk, and at the end of
  the stream everything left goes out in the last chunk;
* the end of the stream (docs/behaviour.md, "The end of the output") is
  recognised from every signal the running vLLM gives: an EOS or stop token id
  in the delta, ``max_tokens`` reached, vLLM 0.23+ asking for
  ``get_remaining_unstreamed_args()`` (only done on the last chunk), and
  ``finish_streaming()`` (vLLM 0.26+, which then feeds the parser the delta
  text alone: ``engine_based_streaming``). Held-back text and pending calls are
  released and an open call's JSON is closed. Where none comes (a stop string
  before 0.23), every step inside an open call returns at least an empty
  arguments delta, so that the serving layer's end-of-stream remainder
  (``prev_tool_call_arr`` below) closes the JSON;
* ``prev_tool_call_arr[i]["arguments"]`` is the call's arguments dict and
  ``streamed_args_for_tool[i]`` the exact text sent, one entry per call, from
  the call's header on. Both attributes are properties that build new plain
  lists, dicts and strings when read (keeping a growing string up to date on
  every delta would copy it: O(n) per delta); vLLM reads them only on a
  stream's last chunk (tests/test_bookkeeping.py pins how).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

from . import _compat as vc
from . import _compat_context as cx
from . import _compat_grammar as cg
from ._api import parse
from ._compat_logging import logger
from ._events import ArgumentsDelta, ContentDelta, Event, ToolCallEnd, ToolCallStart
from ._grammar import declared_parameters, widen_structural_tag
from ._parser import StreamParser

__all__ = ["PARSER_NAME", "QwenXmlSafeToolParser", "register"]

PARSER_NAME = "qwen_xml_safe"

_EOS_TOKENS = ("<|im_end|>", "<|endoftext|>")


def tool_call_id() -> str:
    """A call id as vLLM makes them."""
    return f"chatcmpl-tool-{uuid.uuid4().hex}"


def eos_ids(tokenizer: Any) -> frozenset[int]:
    """The token ids that end an output (the tokenizer's end-of-sequence and Qwen's turn ends)."""
    ids: set[int] = set()
    if tokenizer is None:
        return frozenset()
    eos = getattr(tokenizer, "eos_token_id", None)
    if isinstance(eos, int):
        ids.add(eos)
    try:
        vocab = tokenizer.get_vocab()
    except Exception:  # some tokenizers have no vocabulary to show
        vocab = {}
    ids.update(vocab[token] for token in _EOS_TOKENS if token in vocab)
    return frozenset(ids)


class _SentArgs:
    """One call's name and the arguments text sent for it, kept as pieces, joined when read."""

    __slots__ = ("name", "parts", "_text", "_joined")

    def __init__(self, name: str) -> None:
        self.name = name
        self.parts: list[str] = []
        self._text = ""
        self._joined = 0

    def text(self) -> str:
        if self._joined != len(self.parts):
            self._text = "".join(self.parts)
            self._joined = len(self.parts)
        return self._text


class QwenXmlSafeToolParser(vc.ToolParser):  # type: ignore[misc]
    """Tool parser for Qwen3-Coder / Qwen3.5+ XML tool calls (``qwen_xml_safe``)."""

    # tool_choice="required", named tools and strict tools: routed and constrained as with
    # in-tree qwen3_coder (docs/grammar.md). Where vLLM applies a structural tag, it is the
    # builtin qwen_3_coder one with call contents the parser reads back exactly.
    structural_tag_model = "qwen_3_coder"
    supports_required_and_named = cg.SUPPORTS_REQUIRED_AND_NAMED
    # vLLM 0.26+: pass only the delta (no accumulated previous_text/current_text, which cost
    # O(output) per delta) and call finish_streaming() at the end of the stream.
    engine_based_streaming = True
    # vLLM 0.31+ sets this to True when no reasoning parser is configured: <think> markup is then
    # content as written. None: not told (see _drop_think).
    skip_reasoning_parsing: bool | None = None

    def __init__(self, tokenizer: Any, tools: Any = None, *args: Any, **kwargs: Any) -> None:
        vc.init_tool_parser(self, tokenizer, tools)  # assigns prev_tool_call_arr = [] etc.
        self._assigned = {}
        self._init_tools = tools
        self._stop_ids = eos_ids(tokenizer)  # a delta ending in one of these ends the stream
        self._max_tokens: int | None = None
        self._core: StreamParser | None = None
        self._pending: list[Event] = []
        self._sent: list[_SentArgs] = []
        self._seen = 0  # characters of output received, for error reports
        self._tokens = 0  # token ids received (current_token_ids is the delta alone on the engine path)
        self._finished = False  # the core has seen the end of the output
        self._passthrough = False  # the rest of the output is content: tool_choice none, or an internal error
        reasoning = cx.reasoning_parser_configured()  # vLLM 0.31+ also tell: skip_reasoning_parsing
        if reasoning is not None:
            self.skip_reasoning_parsing = not reasoning

    # ── vLLM interface ───────────────────────────────────────────────────────

    def extract_tool_calls(self, model_output: str, request: Any) -> Any:
        if _tool_choice_none(request):  # vLLM's engine path (0.26+) asks even then: keep the text
            return vc.ExtractedToolCallInformation(tools_called=False, tool_calls=[], content=model_output)
        try:
            result = parse(model_output, self._tools(request), id_factory=tool_call_id,
                           cut_off=lambda: self._output_cut(model_output, request), drop_think=self._drop_think())
        except Exception:  # never let a parser bug fail the request
            logger.exception("qwen_xml_safe: internal error; returning the output as content")
            return vc.ExtractedToolCallInformation(tools_called=False, tool_calls=[], content=model_output)
        calls = [
            vc.ToolCall(id=c.id, type="function", function=vc.FunctionCall(name=c.name, arguments=c.arguments))
            for c in result.tool_calls
        ]
        # With no call, vLLM's serving layer shows the raw output unless tools_called is set; set it
        # when call markup was left out of the content (an unfinished or cut-off call at the end).
        # Not before 0.12, where that would also turn finish_reason "length" into "tool_calls".
        dropped = not calls and result.content != model_output and bool(model_output.strip()) and (
            not vc.TOOLS_CALLED_SETS_FINISH_REASON)
        return vc.ExtractedToolCallInformation(tools_called=bool(calls) or dropped, tool_calls=calls,
                                               content=result.content)

    def extract_tool_calls_streaming(
        self,
        previous_text: str,
        current_text: str,
        delta_text: str,
        previous_token_ids: Sequence[int],
        current_token_ids: Sequence[int],
        delta_token_ids: Sequence[int],
        request: Any,
    ) -> Any:
        if self._passthrough:
            return vc.DeltaMessage(content=delta_text) if delta_text else None
        try:
            core = self._core
            if core is None:
                if _tool_choice_none(request):  # asked once per stream, not on every delta
                    self._passthrough = True
                    return vc.DeltaMessage(content=delta_text) if delta_text else None
                core = self._start_stream(request)
            events = core.feed(delta_text) if delta_text else []
            self._seen += len(delta_text)
            self._tokens += len(delta_token_ids)
            stopped = bool(delta_token_ids) and delta_token_ids[-1] in self._stop_ids
            final = stopped or (self._max_tokens is not None and self._tokens >= self._max_tokens)
            if final:
                events += self._finish_core(cut_off=not stopped)
            if self._pending:
                events = self._pending + events
                self._pending = []
            elif len(events) == 1 and type(events[0]) is ArgumentsDelta and not final:
                # The hot path: one more piece of an argument value.
                event = events[0]
                self._sent[event.index].parts.append(event.text)
                # pydantic builds the nested models from plain dicts faster than from model objects.
                return vc.DeltaMessage(tool_calls=[{"index": event.index, "function": {"arguments": event.text}}])
            if events:
                return self._message(events, final)
            if self._sent and len(self._sent) == core.calls_started and core.closing_text():
                # A call is open and nothing is ready to send. Give vLLM's serving layer a
                # tool-call delta anyway: if this turns out to be the last step (a stop string,
                # the server's default max_tokens), it appends the JSON that closes the call.
                return vc.DeltaMessage(tool_calls=self._tool_call(len(self._sent) - 1, None, [], False))
            return None
        except Exception:
            return self._fail(delta_text)

    def get_remaining_unstreamed_args(self) -> str:
        """Arguments of the last call parsed but not sent yet, closed to valid JSON.

        vLLM 0.23+ calls this on a stream's last chunk only and appends it to that chunk's
        last tool call: it is an end-of-output signal. If the parser had not seen the end
        yet (a stop string), it finishes the parse here; the rest of the last call's
        arguments is returned, what comes after it (content, more calls) waits for
        ``finish_streaming()`` (0.26+). Older versions compute the remainder from
        ``prev_tool_call_arr`` themselves. Defined here so that it exists (and is exact)
        on every version.
        """
        records = self.prev_tool_call_arr  # built when read: read it once
        if not records:
            return ""
        if self._core is not None and not self._finished and not self._passthrough:
            try:
                self._pending += self._finish_core(cut_off=self._cut_at_end())
                return self._take_arguments(len(self._sent) - 1)
            except Exception:
                self._fail("")
                return ""
        index = len(records) - 1
        expected = json.dumps(records[index]["arguments"], ensure_ascii=False)
        sent = self.streamed_args_for_tool[index]
        return expected[len(sent) :] if expected.startswith(sent) else ""

    def finish_streaming(self) -> Any:
        """vLLM 0.26+: the stream has ended; send what is left.

        Called after the last chunk (``engine_based_streaming``): releases held-back text,
        pending calls (a last chunk that completed two calls) and the closers of an open
        call, whatever ended the output (EOS, a stop string, the token limit).
        """
        if self._passthrough or self._core is None:
            return None
        try:
            events = self._pending + (self._finish_core(self._cut_at_end()) if not self._finished else [])
            self._pending = []
            return self._message(events, True) if events else None
        except Exception:
            return self._fail("")

    # ── vLLM's bookkeeping, built when read ──────────────────────────────────
    # vLLM (0.10 - 0.22 in the serving layer, every version in the base class's
    # get_remaining_unstreamed_args) reads these two attributes on a stream's last chunk.
    # Keeping them as stored lists would mean re-joining a growing string on every delta;
    # instead each read returns new, plain objects: a list of dicts, a list of str.
    # Assigning replaces them (the base class's __init__ assigns empty lists; anything
    # assigned after that is returned as stored, as with a plain attribute).

    _assigned: dict[str, Any] | None = None  # what was assigned, once __init__ has set it to {}

    @property
    def prev_tool_call_arr(self) -> list[dict[str, Any]]:
        """One plain dict per call started, ``{"name": ..., "arguments": {...}}``.

        ``arguments`` is the dict of the arguments parsed so far (an open string value
        included up to what was parsed), so ``json.dumps`` of it starts with the text
        streamed so far and vLLM's end-of-stream remainder is exact.
        """
        if self._assigned and "prev_tool_call_arr" in self._assigned:
            return self._assigned["prev_tool_call_arr"]  # type: ignore[no-any-return]
        core = self._core
        if core is None:
            return []
        return [{"name": sent.name, "arguments": core.call_arguments(i)} for i, sent in enumerate(self._sent)]

    @prev_tool_call_arr.setter
    def prev_tool_call_arr(self, value: list[dict[str, Any]]) -> None:
        self._assign("prev_tool_call_arr", value)

    @property
    def streamed_args_for_tool(self) -> list[str]:
        """One plain str per call started: the exact arguments text sent for it."""
        if self._assigned and "streamed_args_for_tool" in self._assigned:
            return self._assigned["streamed_args_for_tool"]  # type: ignore[no-any-return]
        return [sent.text() for sent in self._sent]

    @streamed_args_for_tool.setter
    def streamed_args_for_tool(self, value: list[str]) -> None:
        self._assign("streamed_args_for_tool", value)

    def _assign(self, name: str, value: Any) -> None:
        # None while ToolParser.__init__ runs: its empty lists are not kept, ours are built from
        # the parser's state. (Not self.__dict__: touching it makes every attribute read of the
        # hot path slower on CPython 3.11+.)
        if self._assigned is not None:
            self._assigned[name] = value

    def get_structural_tag(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        """The grammar for a request: in-tree qwen3_coder's, with the calls' contents widened.

        vLLM calls this for tool_choice auto / required / named (0.21+, see
        ``_compat_grammar.STRUCTURAL_TAGS``); None means "no grammar", as in-tree.
        """
        tag = cg.builtin_structural_tag(self, request, *args, **kwargs)
        if tag is None:
            return None
        try:
            tools = [tool.model_dump() if hasattr(tool, "model_dump") else tool for tool in request.tools or ()]
            widened = widen_structural_tag(tag.model_dump(), declared_parameters(tools), cg.json_schema_excludes())
            return cg.structural_tag(widened)
        except Exception:  # never fail a request over the grammar: in-tree's is still valid
            logger.exception("qwen_xml_safe: could not build the structural tag; using the builtin one")
            return tag

    # ── helpers ──────────────────────────────────────────────────────────────

    def _drop_think(self) -> bool:
        """Drop stray ``<think>`` / ``</think>`` only next to a reasoning parser.

        Without one, think blocks are content as the model wrote them (vLLM's behaviour).
        Known from the vLLM object that built the parser (``__init__``) or, 0.31+, from vLLM
        setting ``skip_reasoning_parsing``; when not known, think markup is content unless
        this vLLM would have said there is no reasoning parser.
        """
        if self.skip_reasoning_parsing is None:
            return cx.tells_no_reasoning_parser()
        return not self.skip_reasoning_parsing

    def _cut_at_end(self) -> bool:
        """At vLLM's end-of-stream calls: did the token limit end the output?"""
        if self._max_tokens is not None and self._tokens >= self._max_tokens:
            return True
        return cx.engine_finish_reason() == "length"  # the server's default limit

    def _finish_core(self, cut_off: bool) -> list[Event]:
        """The end of the output: ``cut_off`` when the token limit ended it."""
        assert self._core is not None
        self._finished = True
        return self._core.finish(cut_off=cut_off)

    def _take_arguments(self, index: int) -> str:
        """Take the pending arguments text of call ``index`` that comes first.

        Not recorded in ``streamed_args_for_tool``: vLLM reads that as what the parser itself
        returned (the remainder is computed against it, and asked for again gives the same).
        """
        taken = 0
        parts: list[str] = []
        for event in self._pending:
            if type(event) is ArgumentsDelta and event.index == index:
                parts.append(event.text)
            elif not (type(event) is ToolCallEnd and event.index == index):
                break
            taken += 1
        del self._pending[:taken]
        return "".join(parts)

    def _output_cut(self, model_output: str, request: Any) -> bool:
        """Non-streaming: did the token limit end this output?

        Asked only when an output ends inside a value. The serving layer does not pass the
        finish reason: it is read from the engine output the serving layer holds; failing that,
        the output's tokens are counted against the request's limit (a reasoning parser's
        tokens are not in ``model_output``, and a generated tokenization may be longer than
        the re-encoded one, so a cut can then go unseen: docs/behaviour.md).
        """
        reason = cx.engine_finish_reason()
        if reason is not None:
            return reason == "length"
        limit = _token_limit(request)
        if limit is None:
            return False
        try:
            count = len(self.model_tokenizer.encode(model_output, add_special_tokens=False))
        except Exception:  # no usable tokenizer: treat the output as ended by the model
            return False
        return count >= limit

    def _tools(self, request: Any) -> Any:
        tools = getattr(request, "tools", None)
        return tools if tools else (self._init_tools or getattr(self, "tools", None))

    def _start_stream(self, request: Any) -> StreamParser:
        """Read what the stream needs from the request once, on its first delta."""
        fields = getattr(request, "__dict__", {})  # no deprecation warning for max_tokens
        stop_ids = fields.get("stop_token_ids") or ()
        self._stop_ids = self._stop_ids.union(i for i in stop_ids if isinstance(i, int))
        self._max_tokens = _token_limit(request)
        self._core = StreamParser(self._tools(request), id_factory=tool_call_id, drop_think=self._drop_think())
        return self._core

    def _message(self, events: list[Event], final: bool) -> Any:
        """Build one DeltaMessage from the events that fit in it; keep the rest pending."""
        content: list[str] = []
        tool_calls: list[Any] = []
        index: int | None = None  # the call this chunk carries
        header: ToolCallStart | None = None
        args: list[str] = []
        taken = 0
        for event in events:
            if type(event) is ArgumentsDelta:
                if index is not None and (event.index != index or (
                        header is not None and not final and not vc.HEADER_TAKES_ARGUMENTS)):
                    break
                index = event.index
                args.append(event.text)
            elif type(event) is ContentDelta:
                content.append(event.text)
            elif type(event) is ToolCallStart:
                if index is not None:
                    if not final and not vc.CALLS_SHARE_A_CHUNK:
                        break
                    tool_calls += self._tool_call(index, header, args, final)
                    args = []
                index, header = event.index, event
            taken += 1
        if taken < len(events):
            self._pending = events[taken:]
        if index is not None:
            tool_calls += self._tool_call(index, header, args, final)
        if not tool_calls:
            text = "".join(content)
            return vc.DeltaMessage(content=text) if text else None
        if final and (content or len(tool_calls) > 1) and tool_calls[0].function.arguments is not None:
            # vLLM <= 0.22 rewrites a stream's last chunk whose first tool call has arguments into
            # "the rest of the last call" alone. A first entry without arguments keeps the chunk.
            tool_calls.insert(0, vc.DeltaToolCall(index=tool_calls[0].index, function=vc.DeltaFunctionCall()))
        if content:
            return vc.DeltaMessage(content="".join(content), tool_calls=tool_calls)
        return vc.DeltaMessage(tool_calls=tool_calls)

    def _tool_call(self, index: int, header: ToolCallStart | None, args: list[str], final: bool) -> list[Any]:
        """The DeltaToolCall entries for one call, recording what is sent."""
        text = "".join(args)
        if header is None:
            self._sent[index].parts.append(text)
            return [vc.DeltaToolCall(index=index, function=vc.DeltaFunctionCall(arguments=text))]
        assert self._core is not None  # the call's first chunk
        self._sent.append(_SentArgs(header.name))
        self.current_tool_id = index
        self.current_tool_name_sent = True
        if not final:  # the header with the arguments decided with it (one entry: see §4 A - C)
            if text:
                self._sent[index].parts.append(text)
            return [vc.DeltaToolCall(index=index, id=header.id, type="function",
                                     function=vc.DeltaFunctionCall(name=header.name, arguments=text))]
        # The last chunk of the stream: the header goes without "arguments". vLLM <= 0.22 rewrites a
        # finishing chunk whose first tool call has arguments into "the rest of the last call"
        # only, dropping content, other calls and headers; with arguments None it keeps the chunk.
        entries = [vc.DeltaToolCall(index=index, id=header.id, type="function",
                                    function=vc.DeltaFunctionCall(name=header.name))]
        if text:
            self._sent[index].parts.append(text)
            entries.append(vc.DeltaToolCall(index=index, function=vc.DeltaFunctionCall(arguments=text)))
        return entries

    def _fail(self, delta_text: str) -> Any:
        """Log an internal error once and pass the rest of the output through as content."""
        self._passthrough = True
        logger.exception(
            "qwen_xml_safe: internal error at output character %d; passing the rest through as content",
            self._seen,
        )
        tool_calls = []
        try:  # close a call whose arguments are open, so that they stay valid JSON
            closing = self._core.closing_text() if self._core is not None and self._sent else ""
            if closing:
                index = len(self._sent) - 1
                json.loads(self._sent[index].text() + closing)  # only send a closer that closes
                self._sent[index].parts.append(closing)
                tool_calls.append(vc.DeltaToolCall(index=index, function=vc.DeltaFunctionCall(arguments=closing)))
        except Exception:
            pass
        if not tool_calls and not delta_text:
            return None
        return vc.DeltaMessage(content=delta_text or None, tool_calls=tool_calls)


def _token_limit(request: Any) -> int | None:
    fields = getattr(request, "__dict__", {})  # no deprecation warning for max_tokens
    limit = fields.get("max_completion_tokens") or fields.get("max_tokens")
    return limit if isinstance(limit, int) and limit > 0 else None


def _tool_choice_none(request: Any) -> bool:
    """The client asked for no tool calls (``tool_choice: "none"``, set explicitly).

    vLLM 0.26+ call an engine-based tool parser even then and keeps only its content; the
    output is passed through as written, as older versions do (they do not call the parser).
    """
    return getattr(request, "tool_choice", None) == "none" and "tool_choice" in getattr(
        request, "model_fields_set", ())


def register() -> None:
    """Register ``qwen_xml_safe`` with vLLM (eagerly; safe to call again)."""
    vc.ToolParserManager.register_module(name=PARSER_NAME, module=QwenXmlSafeToolParser, force=True)
