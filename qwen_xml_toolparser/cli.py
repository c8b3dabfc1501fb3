"""``python -m qwen_xml_toolparser``: look at how a raw model output is parsed.

    python -m qwen_xml_toolparser parse OUTPUT.txt --tools TOOLS.json [--stream]

Without ``--stream`` it prints the tool calls and content, as a non-streaming
response would carry them. With ``--stream`` it prints every delta as vLLM
would send it (one JSON ``delta`` per line), then the reassembled result. When
vLLM is installed the output goes through the real plugin (vLLM's
``ToolParserManager`` and protocol classes); otherwise through the core, and
the CLI says so. ``--tokenizer DIR`` (a Hugging Face tokenizer directory, e.g.
the model's) splits the stream at real token boundaries; without it the text is
split into word-sized pieces.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from . import StreamParser, parse
from ._events import ArgumentsDelta, ContentDelta, ToolCallStart

_PIECES = re.compile(r"\s+|\w+|[^\w\s]")
_NO_TOKEN = -1  # stands for the end-of-sequence token when no tokenizer is given


def _split(text: str, tokenizer_dir: str | None) -> tuple[list[str], list[int], int]:
    """Deltas and token ids as vLLM's detokenizer would produce them, and the EOS id."""
    if tokenizer_dir is None:
        pieces = _PIECES.findall(text)
        return pieces, list(range(len(pieces))), _NO_TOKEN
    from tokenizers import Tokenizer
    from tokenizers.decoders import DecodeStream

    tok = Tokenizer.from_file(str(Path(tokenizer_dir) / "tokenizer.json"))
    ids = tok.encode(text, add_special_tokens=False).ids
    stream = DecodeStream(skip_special_tokens=False)
    deltas = [stream.step(tok, i) or "" for i in ids]
    eos = tok.token_to_id("<|im_end|>")
    return deltas, ids, eos if eos is not None else _NO_TOKEN


def _load_tools(path: str | None) -> list[Any]:
    if path is None:
        return []
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return data["tools"] if isinstance(data, dict) and "tools" in data else data


def _print_result(content: str | None, calls: list[tuple[str, str]]) -> None:
    """Print the result; ``arguments`` is the exact JSON text, ``parsed`` its value."""
    print(json.dumps({"content": content, "tool_calls": [
        {"name": name, "arguments": arguments, "parsed": json.loads(arguments)} for name, arguments in calls
    ]}, ensure_ascii=False, indent=2))


def _run_vllm(text: str, tools: list[Any], stream: bool, tokenizer_dir: str | None) -> None:
    from . import _compat as vc
    from .plugin import PARSER_NAME

    tokenizer = None
    if tokenizer_dir is not None:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    cls = vc.ToolParserManager.get_tool_parser(PARSER_NAME)
    if not stream:
        request = vc.chat_request(tools or None)
        info = cls(tokenizer, request.tools).extract_tool_calls(text, request)
        _print_result(info.content, [(c.function.name, c.function.arguments) for c in info.tool_calls])
        return
    deltas, ids, eos = _split(text, tokenizer_dir)
    request = vc.chat_request(tools or None, stop_token_ids=[eos])
    parser = cls(tokenizer, request.tools)
    content, calls = "", {}
    previous = ""
    steps = [(d, i) for d, i in zip(deltas, ids)] + [("", eos)]  # vLLM sends the stop token with no text
    for k, (delta, token) in enumerate(steps):
        message = parser.extract_tool_calls_streaming(
            previous, previous + delta, delta, ids[:k], ids[: k + 1], [token], request
        )
        previous += delta
        if k == len(steps) - 1 and message is not None and message.tool_calls:
            last = message.tool_calls[-1]  # what vLLM's serving layer does at the end (0.23+)
            if last.function is not None:
                last.function.arguments = (last.function.arguments or "") + parser.get_remaining_unstreamed_args()
        if message is None:
            continue
        print(message.model_dump_json(exclude_none=True))
        content += message.content or ""
        for call in message.tool_calls or []:
            entry = calls.setdefault(call.index, ["", ""])
            if call.function is not None:
                entry[0] += call.function.name or ""
                entry[1] += call.function.arguments or ""
    print("---")
    _print_result(content or None, [tuple(calls[i]) for i in sorted(calls)])


def _run_core(text: str, tools: list[Any], stream: bool, tokenizer_dir: str | None) -> None:
    if not stream:
        result = parse(text, tools)
        _print_result(result.content, [(c.name, c.arguments) for c in result.tool_calls])
        return
    parser = StreamParser(tools)
    deltas, _, _ = _split(text, tokenizer_dir)
    content, calls = "", {}
    for delta in deltas + [None]:
        events = parser.finish() if delta is None else parser.feed(delta)
        for event in events:
            print(json.dumps({"event": type(event).__name__, **{
                k: getattr(event, k) for k in event.__dataclass_fields__  # type: ignore[union-attr]
            }}, ensure_ascii=False))
            if isinstance(event, ContentDelta):
                content += event.text
            elif isinstance(event, ToolCallStart):
                calls[event.index] = [event.name, ""]
            elif isinstance(event, ArgumentsDelta):
                calls[event.index][1] += event.text
    print("---")
    _print_result(content or None, [tuple(calls[i]) for i in sorted(calls)])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="qwen-xml-toolparser", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("parse", help="parse a raw model output file")
    p.add_argument("file", help="raw model output ('-' for stdin)")
    p.add_argument("--tools", help="JSON file with the request's tools (a list, or {'tools': [...]})")
    p.add_argument("--stream", action="store_true", help="print each streamed delta")
    p.add_argument("--tokenizer", help="Hugging Face tokenizer directory for real token boundaries")
    p.add_argument("--core", action="store_true", help="use the core even if vLLM is installed")
    args = ap.parse_args(argv)
    text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
    tools = _load_tools(args.tools)
    use_vllm = not args.core
    if use_vllm:
        try:
            import vllm  # noqa: F401
        except ImportError:
            print("(vLLM is not installed: parsing with the core, not through the plugin)", file=sys.stderr)
            use_vllm = False
    if use_vllm:
        print(f"(through vLLM {__import__('vllm').__version__} and the qwen_xml_safe plugin)", file=sys.stderr)
    (_run_vllm if use_vllm else _run_core)(text, tools, args.stream, args.tokenizer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
