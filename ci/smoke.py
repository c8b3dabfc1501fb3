"""Import-level smoke test of one vLLM install (used to find and check the ci/vllm-*.txt lists).

Run with the venv's python from the repository root:

    VENV/bin/python ci/smoke.py [--serving]

Checks, in order, and stops at the first failure with the exception (a missing module shows
up as ``ModuleNotFoundError: No module named 'X'``, which is how the dependency lists were found):

1. ``ToolParser`` / ``ToolParserManager`` import (``vllm.tool_parsers`` or the pre-0.13 path);
2. the protocol classes a tool parser uses (three module generations);
3. vLLM's ``get_tokenizer(dir)`` on the offline Qwen3 tokenizer;
4. ``ToolParserManager.import_tool_parser(<file>)`` with a tiny plugin file;
5. the in-tree ``qwen3_coder`` parser: built, called non-streaming and streamed as the serving layer
   does (``qwen_xml_toolparser._vllm_loop``, the driving code the suites and the CLI use);
6. with ``--serving``: the modules the serving-layer driver (tests/serving) imports, then one
   scripted streaming request through the real ``OpenAIServingChat``.

Prints one line per step and ``SMOKE OK <version>`` at the end.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from qwen_xml_toolparser._vllm_loop import (  # noqa: E402
    Received,
    ServingLoop,
    chat_request,
    generation,
    make_chunks,
    new_parser,
    token_texts,
)
from qxt_support.qwen_tokenizer import EOS_ID, TOOL_CALL_ID  # noqa: E402
from qxt_support.vllm import CHAT_PROTOCOL, PROTOCOL, TOKENIZERS, TOOL_PARSERS, first_module  # noqa: E402

PLUGIN = '''
try:
    from vllm.tool_parsers import ToolParser, ToolParserManager
except ImportError:
    from vllm.entrypoints.openai.tool_parsers import ToolParser, ToolParserManager


class SmokeParser(ToolParser):
    def __init__(self, tokenizer, *args, **kwargs):
        super().__init__(tokenizer, *args, **kwargs)


ToolParserManager.register_module(name="qxt_smoke", module=SmokeParser)
'''


def step(name: str, t0: float) -> float:
    t = time.perf_counter()
    print(f"  ok  {name:<40} {t - t0:6.2f}s", flush=True)
    return t


def main() -> None:
    import vllm

    t0 = time.perf_counter()
    print(f"vllm {vllm.__version__} from {Path(vllm.__file__).parent}", flush=True)
    tp = first_module(*TOOL_PARSERS)
    ToolParser, ToolParserManager = tp.ToolParser, tp.ToolParserManager
    t0 = step(f"ToolParser from {tp.__name__}", t0)

    req_mod = first_module(*CHAT_PROTOCOL)
    delta_mod = first_module(*PROTOCOL)
    req_mod.ChatCompletionRequest  # noqa: B018  (it must exist)
    for sym in ("DeltaMessage", "DeltaToolCall", "DeltaFunctionCall", "ExtractedToolCallInformation",
                "FunctionCall", "ToolCall"):
        getattr(delta_mod, sym)
    t0 = step(f"protocol {req_mod.__name__} / {delta_mod.__name__}", t0)

    from qxt_support.qwen_tokenizer import ensure_tokenizer_dir

    tok_mod = first_module(*TOKENIZERS)
    tok = tok_mod.get_tokenizer(str(ensure_tokenizer_dir()))
    assert tok.convert_tokens_to_ids("<tool_call>") == TOOL_CALL_ID
    t0 = step(f"get_tokenizer from {tok_mod.__name__}: {type(tok).__name__}", t0)

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "qxt_smoke_plugin.py"
        path.write_text(PLUGIN)
        ToolParserManager.import_tool_parser(str(path))
    cls = ToolParserManager.get_tool_parser("qxt_smoke")
    assert issubclass(cls, ToolParser)
    t0 = step("import_tool_parser(<file>)", t0)

    tools = [{"type": "function", "function": {"name": "write_file", "parameters": {
        "type": "object", "properties": {"path": {"type": "string"}, "content": {"type": "string"}}}}}]
    pcls = ToolParserManager.get_tool_parser("qwen3_coder")
    parser, req = new_parser(pcls, tok, chat_request(tools))
    out = ("Ok.\n<tool_call>\n<function=write_file>\n<parameter=path>\na.py\n</parameter>\n"
           "<parameter=content>\nx = 1\n</parameter>\n</function>\n</tool_call>")
    info = parser.extract_tool_calls(out, req)
    assert info.tools_called and info.tool_calls[0].function.name == "write_file", info
    t0 = step(f"qwen3_coder {type(parser).__name__}.extract_tool_calls", t0)

    parser, req = new_parser(pcls, tok, chat_request(tools))
    ids = tok.encode(out, add_special_tokens=False)
    received = Received()
    for served in ServingLoop(parser, req).run(make_chunks(token_texts(tok, ids), ids, eos_id=EOS_ID)):
        received.take(served.sent)
    assert [name for name, _ in received.tool_calls()] == ["write_file"], received
    t0 = step(f"qwen3_coder streamed (serving generation {generation()})", t0)

    if "--serving" in sys.argv:
        import asyncio
        import json

        from qxt_support.serving import ScriptedServing

        srv = ScriptedServing(tool_parser="qwen3_coder")
        t0 = step(f"serving driver built ({srv.generation})", t0)

        async def run():
            chunks = await srv.stream(out, tools=tools)
            return chunks

        chunks = asyncio.run(run())
        args = "".join(
            tc["function"].get("arguments") or ""
            for c in chunks for ch in c["choices"] for tc in (ch["delta"].get("tool_calls") or [])
        )
        json.loads(args)
        t0 = step(f"serving stream: {len(chunks)} chunks", t0)

    print(f"SMOKE OK {vllm.__version__}", flush=True)


if __name__ == "__main__":
    main()
