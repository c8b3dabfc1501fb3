"""``python -m qwen_xml_toolparser``: look at how a raw model output is parsed.

    python -m qwen_xml_toolparser parse OUTPUT.txt --tools TOOLS.json [--stream] [--vllm]

Without ``--stream`` it prints the tool calls and content, as a non-streaming
response would carry them. With ``--stream`` it prints every delta (one JSON
object per line), then the reassembled result.

By default the output goes through the core parser (no vLLM). ``--vllm`` sends
it through the real plugin instead: vLLM's ``ToolParserManager``, its protocol
classes, and each delta as vLLM would send it; that is much slower, nearly all
of it importing vLLM. The tool
calls and their ``arguments`` text are the same either way (the plugin emits
the core's output); the ``--stream`` lines differ in form (core events vs
vLLM ``DeltaMessage`` JSON). ``--tokenizer DIR`` (a Hugging Face tokenizer
directory, e.g. the model's) splits the stream at real token boundaries;
without it the text is split into word-sized pieces.

Every input is checked before vLLM is imported: a bad file or tools list gets
one line on stderr naming the file and the fix, and exit status 2. Without
``--tools`` every value stays a string (a warning says so).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import StreamParser, parse
from ._events import ArgumentsDelta, ContentDelta, ToolCallStart
from ._vllm_loop import Received, ServingLoop, chat_request, make_chunks, new_parser, token_texts

PROG = "qwen-xml-toolparser"
_PIECES = re.compile(r"\s+|\w+|[^\w\s]")
_NO_TOKEN = -1  # stands for the end-of-sequence token when no tokenizer is given
_TOOL_SHAPE = '[{"type": "function", "function": {"name": ..., "parameters": {...}}}, ...]'

Calls = list[tuple[str, str]]  # (name, arguments JSON text) per call


class UsageError(Exception):
    """Bad input: one line for the user, exit status 2."""


def _warn(message: str) -> None:
    print(f"{PROG}: warning: {message}", file=sys.stderr)


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"{PROG}: {record.levelname.lower()}: {record.getMessage()}"


def _show_parser_warnings() -> None:
    """The parser's own warnings (e.g. a call to a function the tools do not declare), one line each."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    log = logging.getLogger("qwen_xml_toolparser")
    log.addHandler(handler)
    log.setLevel(logging.WARNING)
    log.propagate = False


def _read_bytes(path: str, what: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    p = Path(path)
    if not p.exists():
        raise UsageError(f"{path}: no such file ({what}); check the path")
    if p.is_dir():
        raise UsageError(f"{path}: is a directory ({what}); pass a file")
    try:
        return p.read_bytes()
    except OSError as e:
        raise UsageError(f"{path}: cannot read it ({what}): {e.strerror}") from None


def _read_output(path: str) -> str:
    """The raw model output: UTF-8 text."""
    name = "<stdin>" if path == "-" else path
    data = _read_bytes(path, "the model output")
    if b"\x00" in data:
        raise UsageError(f"{name}: a binary file (it contains NUL bytes), not a model output; "
                         "pass the raw text the model generated, as UTF-8")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise UsageError(f"{name}: not UTF-8 text (byte {e.start}: {data[e.start:e.start + 1]!r}); "
                         "pass the raw text the model generated, as UTF-8") from None


def _check_tool(i: int, tool: Any) -> str | None:
    """What is wrong with tool ``i`` for a chat-completions request, or None.

    Accepts what vLLM's ``ChatCompletionToolsParam`` accepts: ``type`` is optional
    (``"function"``), ``function.name`` is required, ``description`` and
    ``parameters`` are optional (``parameters`` an object or null).
    """
    if not isinstance(tool, dict):
        return f"tool {i} is a JSON {_json_type(tool)}, not an object"
    if tool.get("type", "function") != "function":
        return f'tool {i} has "type": {json.dumps(tool["type"])}; only "function" tools can be called'
    fn = tool.get("function")
    if fn is None:
        if isinstance(tool.get("name"), str):
            name = tool["name"]
            return f'tool {i} ({name}) has the Responses API shape (name at the top level): nest it in "function"'
        return f'tool {i} has no "function" object'
    if not isinstance(fn, dict):
        return f'tool {i}: "function" is a JSON {_json_type(fn)}, not an object'
    if not isinstance(fn.get("name"), str) or not fn["name"]:
        return f'tool {i}: "function" has no "name" string'
    if fn.get("parameters") is not None and not isinstance(fn["parameters"], dict):
        kind = _json_type(fn["parameters"])
        return f'tool {i} ({fn["name"]}): "parameters" is a JSON {kind}, not a JSON schema object'
    if fn.get("description") is not None and not isinstance(fn["description"], str):
        return f'tool {i} ({fn["name"]}): "description" is not a string'
    return None


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)


def _load_tools(path: str) -> list[dict[str, Any]]:
    """The request's tools from a JSON file (a list, or an object with ``tools``), checked."""
    raw = _read_bytes(path, "--tools")
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise UsageError(f"{path}: not UTF-8 text; --tools takes a JSON file with the request's tools") from None
    except json.JSONDecodeError as e:
        raise UsageError(f"{path}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg}); "
                         "--tools takes a JSON file with the request's tools") from None
    tools = data["tools"] if isinstance(data, dict) and "tools" in data else data
    if not isinstance(tools, list):
        raise UsageError(f'{path}: expected a JSON array of tools (or an object with "tools"), got a '
                         f"JSON {_json_type(tools)}; write it as {_TOOL_SHAPE}")
    for i, tool in enumerate(tools):
        problem = _check_tool(i, tool)
        if problem:
            raise UsageError(f"{path}: {problem}; expected {_TOOL_SHAPE}")
    return tools


def _check_tokenizer(tokenizer_dir: str | None, use_vllm: bool) -> None:
    if tokenizer_dir is None:
        return
    if not (Path(tokenizer_dir) / "tokenizer.json").is_file():
        raise UsageError(f"{tokenizer_dir}: no tokenizer.json in it (--tokenizer); "
                         "pass a Hugging Face tokenizer directory, e.g. the model's")
    needed = ["tokenizers"] + (["transformers"] if use_vllm else [])
    missing = [m for m in needed if importlib.util.find_spec(m) is None]
    if missing:
        raise UsageError(f"--tokenizer needs {' and '.join(missing)}, which this Python lacks: "
                         f"pip install {' '.join(missing)} (or leave --tokenizer out)")


def _split(text: str, tokenizer_dir: str | None) -> tuple[list[str], list[int], int]:
    """Deltas and token ids as vLLM's detokenizer would produce them, and the EOS id."""
    if tokenizer_dir is None:
        pieces = _PIECES.findall(text)
        return pieces, list(range(len(pieces))), _NO_TOKEN
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(Path(tokenizer_dir) / "tokenizer.json"))
    ids = tok.encode(text, add_special_tokens=False).ids
    eos = tok.token_to_id("<|im_end|>")
    return token_texts(tok, ids, skip_special_tokens=False), ids, eos if eos is not None else _NO_TOKEN


def _print_result(content: str | None, calls: Calls) -> None:
    """Print the result; ``arguments`` is the exact JSON text, ``parsed`` its value."""
    print(json.dumps({"content": content, "tool_calls": [
        {"name": name, "arguments": arguments, "parsed": json.loads(arguments)} for name, arguments in calls
    ]}, ensure_ascii=False, indent=2))


def _run_vllm(text: str, tools: list[Any], stream: bool, tokenizer_dir: str | None) -> tuple[str | None, Calls]:
    print(f"({PROG}: importing vLLM for --vllm, which is slow)", file=sys.stderr, flush=True)
    # vLLM's own logging setup prints INFO lines on stdout, which is the CLI's JSON: leave logging
    # unconfigured instead (its warnings and errors still reach stderr).
    os.environ.setdefault("VLLM_CONFIGURE_LOGGING", "0")
    from . import _compat as vc
    from .plugin import PARSER_NAME

    print(f"({PROG}: through vLLM {vc.VLLM_VERSION} and the {PARSER_NAME} plugin)", file=sys.stderr)
    tokenizer = None
    if tokenizer_dir is not None:
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir)
    cls = vc.ToolParserManager.get_tool_parser(PARSER_NAME)
    deltas, ids, eos = _split(text, tokenizer_dir)
    parser, request = new_parser(cls, tokenizer, chat_request(tools or None, stop_token_ids=[eos]))
    if not stream:
        info = parser.extract_tool_calls(text, request)
        return info.content, [(c.function.name, c.function.arguments) for c in info.tool_calls]
    received = Received()
    for step in ServingLoop(parser, request).run(make_chunks(deltas, ids, eos_id=eos)):
        if step.sent is not None:
            print(step.sent.model_dump_json(exclude_none=True))
        received.take(step.sent)
    return received.text() or None, received.tool_calls()


def _run_core(text: str, tools: list[Any], stream: bool, tokenizer_dir: str | None) -> tuple[str | None, Calls]:
    if not stream:
        result = parse(text, tools)
        return result.content, [(c.name, c.arguments) for c in result.tool_calls]
    parser = StreamParser(tools)
    deltas, _, _ = _split(text, tokenizer_dir)
    content, calls = "", dict[int, list[str]]()
    for delta in [*deltas, None]:
        events = parser.finish() if delta is None else parser.feed(delta)
        for event in events:
            print(json.dumps({"event": type(event).__name__, **{
                k: getattr(event, k) for k in event.__dataclass_fields__
            }}, ensure_ascii=False))
            if isinstance(event, ContentDelta):
                content += event.text
            elif isinstance(event, ToolCallStart):
                calls[event.index] = [event.name, ""]
            elif isinstance(event, ArgumentsDelta):
                calls[event.index][1] += event.text
    return content or None, [(calls[i][0], calls[i][1]) for i in sorted(calls)]


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog=PROG, description=(__doc__ or "").split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("parse", help="parse a raw model output file",
                       description="Parse a raw model output. Default: the core (fast, no vLLM); "
                                   "--vllm: through vLLM and the qwen_xml_safe plugin (slow: it imports vLLM).")
    p.add_argument("file", help="raw model output, UTF-8 text ('-' for stdin)")
    p.add_argument("--tools", help="JSON file with the request's tools (a list, or {'tools': [...]}); "
                                   "without it every value stays a string")
    p.add_argument("--stream", action="store_true", help="print each streamed delta")
    p.add_argument("--tokenizer", help="Hugging Face tokenizer directory for real token boundaries")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--vllm", action="store_true",
                      help="go through vLLM's ToolParserManager and the real plugin (slow: it imports vLLM)")
    mode.add_argument("--core", action="store_true", help="use the core parser, no vLLM (the default)")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    warnings = []
    try:
        # Everything is checked before vLLM is imported.
        text = _read_output(args.file)
        if args.tools is None:
            tools: list[Any] = []
            warnings.append("no --tools: every parameter value stays a string; pass --tools TOOLS.json "
                            "(the request's tools) to type values by their JSON schemas")
        else:
            tools = _load_tools(args.tools)
            if not tools:
                warnings.append(f"{args.tools} lists no tools: every parameter value stays a string")
        if args.vllm and importlib.util.find_spec("vllm") is None:
            raise UsageError(f"--vllm: vLLM is not installed in this Python ({sys.executable}); "
                             "run it with the Python that has vLLM, or leave --vllm out to use the core")
        _check_tokenizer(args.tokenizer, args.vllm)
    except UsageError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    for warning in warnings:
        _warn(warning)
    _show_parser_warnings()
    run: Callable[[str, list[Any], bool, str | None], tuple[str | None, Calls]] = (
        _run_vllm if args.vllm else _run_core)
    content, calls = run(text, tools, args.stream, args.tokenizer)
    if args.stream:
        print("---")
    _print_result(content, calls)
    return 0


if __name__ == "__main__":
    sys.exit(main())
