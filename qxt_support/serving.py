"""Drive vLLM's real ``OpenAIServingChat`` with a scripted engine client (no GPU, no model).

Everything a client sees is produced by vLLM itself: chat-template rendering, the tool parser
(in-tree or a plugin), the serving layer's stream-finishing logic, chunk building and SSE
framing. Only the engine is replaced: ``generate()`` returns the text of a script, tokenized
with the offline Qwen3 tokenizer (``qxt_support/qwen_tokenizer.py``), one token per output,
with the per-token text deltas that vLLM's incremental detokenizer produces
(``tokenizers.decoders.DecodeStream``). The final EOS ``<|im_end|>`` (id 151645) is sent with
empty text and ``finish_reason="stop"``, as vLLM does when the stop token ends a request.

The constructors around ``OpenAIServingChat`` changed many times between vLLM 0.10 and 0.33;
``ScriptedServing`` absorbs that (feature-detected, not version-compared, where possible).

Usage::

    srv = ScriptedServing(tool_parser="qwen3_coder")
    chunks = asyncio.run(srv.stream(MODEL_TEXT, tools=TOOLS))        # list of parsed SSE dicts
    resp = asyncio.run(srv.complete(MODEL_TEXT, tools=TOOLS))        # ChatCompletionResponse dict
"""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass, field
from typing import Any
from unittest.mock import MagicMock

from qwen_xml_toolparser._vllm_loop import OMIT, Chunk, chat_request, generation, make_chunks, token_texts
from qxt_support.qwen_tokenizer import EOS_ID
from qxt_support.vllm import TOKENIZERS, first_module, version_tuple

MODEL_NAME = "qwen3-coder"

# A small ChatML template that renders assistant tool calls the way Qwen3-Coder's template does:
# ``arguments|items`` needs a mapping, so an ``arguments`` string vLLM cannot json.loads makes
# rendering fail (the echo HTTP 400 of research §2.4).
CHAT_TEMPLATE = (
    "{%- for m in messages %}"
    "{%- if m.role == 'assistant' and m.tool_calls %}"
    "<|im_start|>assistant\n{{ m.content or '' }}"
    "{%- for tc in m.tool_calls %}{%- set f = tc.function if tc.function else tc %}"
    "\n<tool_call>\n<function={{ f.name }}>\n"
    "{%- for k, v in f.arguments|items %}"
    "<parameter={{ k }}>\n{{ v if v is string else v|tojson }}\n</parameter>\n"
    "{%- endfor %}</function>\n</tool_call>"
    "{%- endfor %}<|im_end|>\n"
    "{%- elif m.role == 'tool' %}"
    "<|im_start|>user\n<tool_response>\n{{ m.content }}\n</tool_response><|im_end|>\n"
    "{%- else %}"
    "<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n"
    "{%- endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}<|im_start|>assistant\n{%- endif %}"
)


def _kwargs_for(fn, **candidates):
    """Keep only the keyword arguments ``fn`` accepts."""
    params = inspect.signature(fn).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return candidates
    return {k: v for k, v in candidates.items() if k in params}


@dataclass
class _HFConfig:
    model_type: str = "qwen3"
    architectures: list = field(default_factory=lambda: ["Qwen3ForCausalLM"])


class ScriptedServing:
    """A real ``OpenAIServingChat`` whose engine replays scripted model text."""

    def __init__(self, tool_parser: str = "qwen3_coder", tokenizer_dir: str | None = None,
                 chat_template: str = CHAT_TEMPLATE, reasoning_parser: str = ""):
        from qxt_support.qwen_tokenizer import ensure_tokenizer_dir

        self.tool_parser = tool_parser
        self.reasoning_parser = reasoning_parser
        self.tokenizer_dir = str(tokenizer_dir or ensure_tokenizer_dir())
        self.chat_template = chat_template
        self.version = version_tuple()
        self.generation = generation()  # docs/compat-notes.md §4: A - D
        self.next_text = ""
        self.next_chunking: tuple[int, bool] = (1, False)  # (tokens per engine output, EOS merged)
        self.next_finish = "stop"  # or "length": no EOS, the last text output finishes the request
        self.prompts: list[list[int]] = []  # prompt token ids of every request, in order
        self._build()

    # ---------------------------------------------------------------- engine
    def _model_config(self):
        from vllm.config import MultiModalConfig

        d = self.tokenizer_dir
        mc = MagicMock(name="ModelConfig")
        attrs = dict(
            model=d, tokenizer=d, served_model_name=MODEL_NAME, task="generate", runner_type="generate",
            trust_remote_code=False, tokenizer_mode="auto", max_model_len=32768, revision=None,
            code_revision=None, tokenizer_revision=None, multimodal_config=MultiModalConfig(),
            hf_config=_HFConfig(), hf_text_config=_HFConfig(), logits_processors=None,
            logits_processor_pattern=None, diff_sampling_param=None, allowed_local_media_path="",
            allowed_media_domains=None, encoder_config=None, generation_config="auto",
            override_generation_config={}, media_io_kwargs={}, skip_tokenizer_init=False,
            is_encoder_decoder=False, is_multimodal_model=False, supports_multimodal_inputs=False,
            renderer_num_workers=1, enable_prompt_embeds=False, max_logprobs=20, io_processor_plugin=None,
            pooler_config=None, hf_overrides={}, enable_return_routed_experts=False, tokenizer_revision_=None,
            is_hybrid=False, use_mla=False, dtype="float32", seed=0, quantization=None,
        )
        for k, v in attrs.items():
            setattr(mc, k, v)
        mc.get_diff_sampling_param = lambda: {}
        mc.get_vocab_size = lambda: 151936
        mc.get_max_model_len = lambda: 32768
        return mc

    def _make_generate(self):
        from vllm.outputs import CompletionOutput, RequestOutput

        serving = self

        def generate(prompt, sampling_params, request_id, *args, **kwargs):
            prompt_ids = _prompt_ids(prompt)
            serving.prompts.append(prompt_ids)
            text = serving.next_text
            chunk, merge_eos = serving.next_chunking
            finish = serving.next_finish
            delta_mode = getattr(sampling_params.output_kind, "name", "") == "DELTA"
            outputs = engine_outputs(serving.tokenizer, text, chunk, merge_eos,
                                     skip_special_tokens=sampling_params.skip_special_tokens,
                                     eos=finish == "stop")

            async def gen():
                acc, acc_ids = "", []
                for output in outputs:
                    last, piece, group = output.finished, output.text, output.ids
                    acc += piece
                    acc_ids.extend(group)
                    if not delta_mode and not last:
                        continue  # FINAL_ONLY: only the final output matters
                    out = CompletionOutput(
                        index=0, text=piece if delta_mode else acc,
                        token_ids=list(group) if delta_mode else list(acc_ids), cumulative_logprob=None,
                        logprobs=None, finish_reason=finish if last else None, stop_reason=None)
                    yield RequestOutput(
                        request_id=request_id, prompt=None, prompt_token_ids=prompt_ids or [1],
                        prompt_logprobs=None, outputs=[out], finished=last)

            return gen()

        return generate

    def _build(self):
        import vllm.engine.protocol as ep

        tok_mod = first_module(*TOKENIZERS)
        self.tokenizer = tok_mod.get_tokenizer(self.tokenizer_dir)
        self._backend = getattr(self.tokenizer, "_tokenizer", None) or self.tokenizer.backend_tokenizer

        engine = MagicMock(spec=ep.EngineClient)
        engine.errored = False
        engine.dead_error = RuntimeError("dead")
        mc = self._model_config()
        engine.model_config = mc
        engine.generate = self._make_generate()

        async def get_tokenizer(*a, **k):
            return self.tokenizer

        engine.get_tokenizer = get_tokenizer

        async def is_tracing_enabled():
            return False

        engine.is_tracing_enabled = is_tracing_enabled
        engine.io_processor = None
        # 0.12 - 0.14 turn the rendered prompt into an EngineCoreRequest before generate();
        # pass the prompt through so the scripted engine sees its token ids.
        engine.input_processor = MagicMock()
        engine.input_processor.process_inputs = lambda request_id, prompt, *a, **k: prompt
        self.engine, self.model_config = engine, mc

        models_mod = first_module("vllm.entrypoints.openai.models.serving", "vllm.entrypoints.openai.serving_models")
        serving_mod = first_module("vllm.entrypoints.openai.chat_completion.serving", "vllm.entrypoints.openai.serving_chat")
        BaseModelPath = models_mod.BaseModelPath
        OpenAIServingModels = models_mod.OpenAIServingModels
        OpenAIServingChat = serving_mod.OpenAIServingChat

        common = dict(request_logger=None, chat_template=self.chat_template,
                      chat_template_content_format="auto", enable_auto_tools=True,
                      tool_parser=self.tool_parser, reasoning_parser=self.reasoning_parser)
        chat_params = inspect.signature(OpenAIServingChat.__init__).parameters

        paths = [BaseModelPath(name=MODEL_NAME, model_path=self.tokenizer_dir)]
        try:  # 0.17+: the engine client carries a renderer (template rendering + tokenizer)
            from vllm.renderers.hf import HfRenderer

            engine.renderer = HfRenderer(_VllmConfig(mc), self.tokenizer)
        except ImportError:  # <= 0.16
            pass

        if "model_config" in chat_params:  # 0.10 - 0.11
            models = OpenAIServingModels(engine_client=engine, model_config=mc, base_model_paths=paths)
            self.serving = OpenAIServingChat(engine, mc, models, "assistant", **common)
            return

        models = OpenAIServingModels(engine_client=engine, base_model_paths=paths)
        extra: dict[str, Any] = {}
        if "online_renderer" in chat_params:  # 0.24+
            from vllm.renderers.online_renderer import OnlineRenderer

            extra["online_renderer"] = OnlineRenderer(**_kwargs_for(
                OnlineRenderer.__init__, model_config=mc, renderer=engine.renderer, **common))
        elif "openai_serving_render" in chat_params:  # 0.18 - 0.23
            from vllm.entrypoints.serve.render.serving import OpenAIServingRender

            registry = getattr(models, "registry", models)
            extra["openai_serving_render"] = OpenAIServingRender(**_kwargs_for(
                OpenAIServingRender.__init__, model_config=mc, renderer=engine.renderer,
                model_registry=registry, **common))
        self.serving = OpenAIServingChat(engine, models, "assistant", **extra, **common)

    # ---------------------------------------------------------------- requests
    def request(self, messages=None, tools=None, stream=False, **kw):
        tool_choice = kw.pop("tool_choice", "auto" if tools is not None else OMIT)
        return chat_request(tools, tool_choice, model=MODEL_NAME,
                            messages=messages or [{"role": "user", "content": "Go."}], stream=stream, **kw)

    async def stream(self, text: str, messages=None, tools=None, raw: list | None = None,
                     chunk: int = 1, merge_eos: bool = False, finish: str = "stop", **kw) -> list[dict]:
        """Stream ``text`` as the model output; return the parsed SSE ``data:`` payloads (without [DONE]).

        ``chunk`` tokens go out per engine output (1 = vLLM's default); with ``merge_eos`` the
        final EOS shares the last output with the last text tokens instead of coming alone.
        ``finish="length"``: no EOS, the last text output carries ``finish_reason="length"`` and
        the request has ``max_tokens`` = the number of generated tokens (a truncated output).
        """
        self.next_text = text
        self.next_chunking = (chunk, merge_eos)
        self.next_finish = finish
        if finish == "length":
            kw.setdefault("max_tokens", len(self.tokenizer.encode(text, add_special_tokens=False)))
        res = await self.serving.create_chat_completion(self.request(messages, tools, stream=True, **kw))
        if not hasattr(res, "__aiter__"):
            raise ServingError(_dump(res))
        chunks, done = [], False
        async for line in res:
            if raw is not None:
                raw.append(line)
            assert line.startswith("data: ") and line.endswith("\n\n"), repr(line)
            payload = line[len("data: "):-2]
            if payload == "[DONE]":
                done = True
                continue
            obj = json.loads(payload)
            if "error" in obj:
                raise ServingError(obj)
            chunks.append(obj)
        assert done, "stream did not end with data: [DONE]"
        return chunks

    async def complete(self, text: str, messages=None, tools=None, **kw) -> dict:
        """Non-streaming request; return the ChatCompletionResponse as a dict."""
        self.next_text = text
        self.next_chunking = (1, False)
        self.next_finish = "stop"
        res = await self.serving.create_chat_completion(self.request(messages, tools, stream=False, **kw))
        d = _dump(res)
        if "choices" not in d:
            raise ServingError(d)
        return d

    def decode_prompt(self, i: int = -1) -> str:
        return self.tokenizer.decode(self.prompts[i], skip_special_tokens=False)


def engine_outputs(tokenizer, text: str, chunk: int = 1, merge_eos: bool = False,
                   skip_special_tokens: bool = True, eos: bool = True) -> list[Chunk]:
    """The scripted engine's outputs for ``text``: ``chunk`` tokens per output, the EOS
    ``<|im_end|>`` alone at the end or (``merge_eos``) in the last output, none with ``eos=False``
    (``_vllm_loop.make_chunks``). Text deltas are what vLLM's incremental detokenizer produces
    (``_vllm_loop.token_texts``); the EOS stop token adds no text."""
    ids = tokenizer.encode(text, add_special_tokens=False)
    texts = token_texts(tokenizer, ids, skip_special_tokens=skip_special_tokens)
    return make_chunks(texts, ids, chunk, eos_id=EOS_ID if eos else None, merge_eos=merge_eos)


class ServingError(Exception):
    """The serving layer answered with an error response instead of a completion."""


@dataclass
class _ParallelConfig:
    _api_process_rank: int = 0


@dataclass
class _VllmConfig:
    model_config: Any
    parallel_config: Any = field(default_factory=_ParallelConfig)


def _prompt_ids(prompt) -> list[int]:
    if isinstance(prompt, dict):
        ids = prompt.get("prompt_token_ids")
        if ids is None and "prompt" in prompt and isinstance(prompt["prompt"], dict):
            ids = prompt["prompt"].get("prompt_token_ids")
        return list(ids or [])
    ids = getattr(prompt, "prompt_token_ids", None)
    return list(ids or [])


def _dump(res) -> dict:
    if hasattr(res, "model_dump"):
        return res.model_dump(mode="json", exclude_none=True)
    if isinstance(res, dict):
        return res
    return {"error": repr(res)}


def collect(chunks: list[dict]) -> dict:
    """Reassemble what a client sees from the SSE chunks of one choice-0 stream."""
    content, reasoning, calls, finish = "", "", {}, []
    for c in chunks:
        for ch in c.get("choices", []):
            d = ch.get("delta") or {}
            content += d.get("content") or ""
            reasoning += d.get("reasoning") or d.get("reasoning_content") or ""
            for tc in d.get("tool_calls") or []:
                slot = calls.setdefault(tc["index"], {"id": [], "name": [], "arguments": [], "type": []})
                if tc.get("id"):
                    slot["id"].append(tc["id"])
                if tc.get("type"):
                    slot["type"].append(tc["type"])
                fn = tc.get("function") or {}
                if fn.get("name"):
                    slot["name"].append(fn["name"])
                if fn.get("arguments"):
                    slot["arguments"].append(fn["arguments"])
            if ch.get("finish_reason"):
                finish.append(ch["finish_reason"])
    return {"content": content, "reasoning": reasoning, "calls": [calls[i] for i in sorted(calls)],
            "finish": finish}
