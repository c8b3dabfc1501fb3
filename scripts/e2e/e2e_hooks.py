"""Test-only hooks loaded INTO the e2e vLLM server (never into a production server).

* ``ForceOutput``: a vLLM v1 logits processor (``--logits-processors e2e_hooks:ForceOutput``)
  that makes the tiny random model say a scripted text. It is how the Anthropic ``/v1/messages``
  tests and the load benchmark script the model: vLLM's Anthropic endpoint accepts no
  ``structured_outputs`` field (it builds its ChatCompletionRequest field by field), but it does
  pass ``vllm_xargs`` through to ``SamplingParams.extra_args``, which is where vLLM's own custom
  logits processors read per-request settings. ``vllm_xargs`` keys:

  - ``qxt_says`` (str): the exact output. It is encoded with the served model's tokenizer
    (``<tool_call>``, ``<think>`` … as their single tokens, like a real Qwen3-Coder), then the
    end-of-sequence token is forced.
  - ``qxt_piece`` (int, optional): encode the text in pieces of at most this many characters
    (markers kept whole), for non-canonical token boundaries like the ones a sampling model
    produces. Default: one canonical encoding.
  - ``qxt_prompt_to`` (str, optional): write the prompt token ids this request reached the engine
    with (JSON list) to that file: the rendered prompt, for requests whose endpoint returns no
    prompt ids (``/v1/messages``).

  Requests without ``qxt_says`` are left alone.
* ``served_by``: an HTTP middleware (``--middleware e2e_hooks.served_by``) that tags every
  response with the API-server process that handled it (``x-qxt-pid``) and the class registered
  for ``qwen_xml_safe`` in that process (``x-qxt-parser``), for the several-API-server test.
* ``ScriptedMessages``: an ASGI middleware (``--middleware e2e_hooks.ScriptedMessages``) that
  scripts a client which sends its own requests (Claude Code, tests/e2e/test_reasoning_claude_code.py):
  a ``POST /v1/messages`` carrying the header ``x-qxt-script: FILE`` gets the next text of FILE's
  JSON list ``says`` attached as ``vllm_xargs.qxt_says`` (forced by ``ForceOutput``), with
  ``temperature`` 0 and ``max_tokens`` cut to fit it. Each such request is logged, one JSON line,
  to ``FILE.log`` (whose length is also the count of texts used); once the list is used up the
  request is refused (HTTP 400, which Claude Code does not retry), so an unexpected extra request
  fails the test instead of sampling the random model. Requests without the header pass untouched.
  The client sets the header itself (Claude Code: ``ANTHROPIC_CUSTOM_HEADERS``).

All are in the test server's PYTHONPATH only (stack.py); the plugin itself has no test hook.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from vllm.v1.sample.logits_processor import AdapterLogitsProcessor

_MARKERS = re.compile(r"(<tool_call>|</tool_call>|<think>|</think>|<tool_response>|</tool_response>)")


class ForceOutput(AdapterLogitsProcessor):
    """Force the scripted output of requests that carry ``vllm_xargs.qxt_says``."""

    def __init__(self, vllm_config: Any, device: torch.device, is_pin_memory: bool):
        super().__init__(vllm_config, device, is_pin_memory)
        from tokenizers import Tokenizer

        model_dir = Path(vllm_config.model_config.tokenizer)
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        eos = vllm_config.model_config.hf_config.eos_token_id
        self.eos = eos[0] if isinstance(eos, list) else int(eos)

    def is_argmax_invariant(self) -> bool:
        return False  # it changes the argmax: apply it under greedy sampling too

    def encode(self, text: str, piece: int) -> list[int]:
        if piece <= 0:
            return list(self.tokenizer.encode(text, add_special_tokens=False).ids)
        ids: list[int] = []
        for part in _MARKERS.split(text):
            chunks = [part] if _MARKERS.fullmatch(part) else [part[i:i + piece] for i in range(0, len(part), piece)]
            for chunk in chunks:
                if chunk:
                    ids.extend(self.tokenizer.encode(chunk, add_special_tokens=False).ids)
        return ids

    def new_req_logits_processor(self, params: Any) -> Callable[..., torch.Tensor] | None:
        extra = getattr(params, "extra_args", None) or {}
        text = extra.get("qxt_says")
        if not isinstance(text, str):
            return None
        forced = self.encode(text, int(extra.get("qxt_piece", 0) or 0)) + [self.eos]
        prompt_to = extra.get("qxt_prompt_to")

        def force(output_ids: list[int], logits: torch.Tensor) -> torch.Tensor:
            token = forced[min(len(output_ids), len(forced) - 1)]
            logits.fill_(float("-inf"))
            logits[token] = 0.0
            return logits

        if not prompt_to:
            return force
        written: list[bool] = []

        def force_and_dump(prompt_ids: list[int], output_ids: list[int], logits: torch.Tensor) -> torch.Tensor:
            if not written:
                Path(prompt_to).write_text(json.dumps(list(prompt_ids)))
                written.append(True)
            return force(output_ids, logits)

        return force_and_dump


class ScriptedMessages:
    """Attach the next scripted text to each ``/v1/messages`` request that names a script file."""

    HEADER = b"x-qxt-script"

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any], send: Callable[..., Any]) -> None:
        script = dict(scope.get("headers") or []).get(self.HEADER) if scope.get("type") == "http" else None
        if script is None or scope.get("method") != "POST" or scope.get("path") != "/v1/messages":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = json.loads(b"".join(chunks))
        path = Path(script.decode())
        log = path.with_name(path.name + ".log")
        used = len(log.read_text().splitlines()) if log.exists() else 0
        says = json.loads(path.read_text())["says"]
        text = says[used] if used < len(says) else None
        with log.open("a") as f:
            f.write(json.dumps({"says": text, "request": body}) + "\n")
        if text is None:
            error = json.dumps({"type": "error", "error": {"type": "invalid_request_error",
                                                           "message": f"script {path} used up"}}).encode()
            await send({"type": "http.response.start", "status": 400,
                        "headers": [(b"content-type", b"application/json")]})
            await send({"type": "http.response.body", "body": error})
            return
        body["vllm_xargs"] = {**(body.get("vllm_xargs") or {}), "qxt_says": text}
        body["temperature"] = 0
        body["max_tokens"] = len(text.encode()) + 16
        thinking = body.get("thinking")
        if isinstance(thinking, dict) and thinking.get("type") == "enabled":  # budget < max_tokens
            body["max_tokens"] = max(body["max_tokens"], int(thinking.get("budget_tokens", 0)) + 1)
        raw = json.dumps(body).encode()
        headers = [(k, v) for k, v in scope["headers"] if k != b"content-length"]
        scope = {**scope, "headers": [*headers, (b"content-length", str(len(raw)).encode())]}
        sent: list[bool] = []

        async def replay() -> dict[str, Any]:
            if not sent:
                sent.append(True)
                return {"type": "http.request", "body": raw, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def served_by(request: Any, call_next: Callable[[Any], Any]) -> Any:
    response = await call_next(request)
    response.headers["x-qxt-pid"] = str(os.getpid())
    try:
        from vllm.tool_parsers import ToolParserManager

        cls = ToolParserManager.get_tool_parser("qwen_xml_safe")
        response.headers["x-qxt-parser"] = f"{cls.__module__}.{cls.__qualname__}"
    except Exception as exc:  # noqa: BLE001 - reported to the test, which fails on it
        response.headers["x-qxt-parser"] = f"error: {type(exc).__name__}"
    return response
