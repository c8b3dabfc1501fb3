"""How much decided output the vLLM adapter holds back (issue 21), per chunking of the engine output.

For each bundled model output (examples/outputs, tools of examples/tools/coding_agent.json), cut
into deltas of N tokens of the real Qwen3 tokenizer (``_vllm_loop.token_texts``: what vLLM's
incremental detokenizer yields), the plugin is driven through vLLM's serving loop
(``_vllm_loop.ServingLoop``: one ``extract_tool_calls_streaming`` per delta, the texts the
installed vLLM passes) but with no end signal: no chunk carries a finish reason, as for a caller
that never tells the parser the output ended. After each delta the client's view (calls,
arguments) is compared with what the sans-I/O core had decided after the same text:

* ``lagging deltas``: deltas after which the client has less than the core decided;
* ``calls incomplete``: calls whose arguments the client does not have in full after the last
  text delta (a caller with no end signal never gets the rest).

    python benchmarks/bench_holdback.py          # inside a venv with vLLM (bash ci/venv.sh VERSION)
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

import qxt_support  # noqa: F401  (offline environment defaults)
from qwen_xml_toolparser import StreamParser, parse
from qwen_xml_toolparser._events import ArgumentsDelta, ToolCallStart
from qwen_xml_toolparser._vllm_loop import Chunk, ServingLoop, chat_request, make_chunks, new_parser, token_texts
from qxt_support.qwen_tokenizer import ensure_tokenizer_dir
from qxt_support.vllm import PLUGIN_NAME, PLUGIN_PATH, get_tokenizer, symbol, version_tuple

REPO = Path(__file__).resolve().parents[1]
CHUNKINGS = (1, 4, 16, 10**9)


def chunks(tok, text: str, n: int) -> list[Chunk]:
    """``text`` as the engine hands it on in steps of ``n`` tokens, none carrying a finish reason."""
    ids = tok.encode(text, add_special_tokens=False)
    pieces = [replace(chunk, finished=False) for chunk in make_chunks(token_texts(tok, ids), ids, n)]
    assert "".join(chunk.text for chunk in pieces) == text
    return pieces


def measure(parser_cls, tok, tools, pieces: list[Chunk]) -> tuple[int, int, int]:
    """(lagging deltas, calls incomplete at the end, calls)."""
    loop = ServingLoop(*new_parser(parser_cls, tok, chat_request(tools)))
    core = StreamParser(tools)
    decided: list[list[str]] = []  # per call: [name, arguments]
    client: list[list[str]] = []
    previous, lagging = "", 0
    for step in loop.run(pieces):
        for event in core.feed(step.chunk.text):
            if type(event) is ToolCallStart:
                decided.append([event.name, ""])
            elif type(event) is ArgumentsDelta:
                decided[event.index][1] += event.text
        previous += step.chunk.text
        for tc in (step.sent.tool_calls if step.sent is not None else None) or []:
            if tc.index == len(client):
                client.append([tc.function.name, ""])
            client[tc.index][1] += tc.function.arguments or ""
        lagging += client != decided
    final = [[c.name, c.arguments] for c in parse(previous, tools).tool_calls]
    incomplete = sum(1 for i, call in enumerate(final) if i >= len(client) or client[i] != call)
    return lagging, incomplete, len(final)


def main() -> int:
    import logging

    logging.getLogger("qwen_xml_toolparser").setLevel(logging.WARNING)  # the drift lines of the examples
    tp = symbol("ToolParserManager", "vllm.tool_parsers", "vllm.entrypoints.openai.tool_parsers")
    tp.import_tool_parser(str(PLUGIN_PATH))
    parser_cls = tp.get_tool_parser(PLUGIN_NAME)
    tools = json.loads((REPO / "examples" / "tools" / "coding_agent.json").read_text())
    tok = get_tokenizer(ensure_tokenizer_dir())
    outputs = sorted((REPO / "examples" / "outputs").glob("*.txt"))
    print(f"vLLM {'.'.join(map(str, version_tuple()))}: {len(outputs)} outputs of examples/outputs, no end signal")
    print("tokens/delta  deltas  lagging deltas  calls incomplete")
    for n in CHUNKINGS:
        total = lag = bad = calls = 0
        for path in outputs:
            pieces = chunks(tok, path.read_text(encoding="utf-8"), n)
            lagging, incomplete, count = measure(parser_cls, tok, tools, pieces)
            total, lag, bad, calls = total + len(pieces), lag + lagging, bad + incomplete, calls + count
        label = "whole" if n >= 10**9 else str(n)
        print(f"{label:>12}  {total:6}  {lag:14}  {bad:>7} of {calls}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
