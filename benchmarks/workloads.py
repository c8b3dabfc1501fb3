"""The benchmark's workloads: realistic coding-agent tool calls, rendered as Qwen3-Coder writes them.

``write_file`` with real Python source (stdlib modules plus a header with quotes, backslashes,
``<tags>``, é, ✓, 你好, 👋) of the requested sizes; one call with 20 typed parameters; five parallel
calls; prose before a call. ``tokenize`` adds the per-token deltas of a real Qwen3 tokenizer
(``qwen_xml_toolparser._vllm_loop.token_texts``: vLLM's incremental detokenizer,
``tokenizers.decoders.DecodeStream``), ending with the EOS step (token id ``EOS_ID``, empty text).
"""

from __future__ import annotations

import json
import sysconfig
from dataclasses import dataclass, field
from pathlib import Path

from qxt_support.qwen_tokenizer import EOS_ID

STDLIB_FILES = ["textwrap.py", "json/decoder.py", "shlex.py", "csv.py", "heapq.py",
                "difflib.py", "argparse.py", "dataclasses.py", "ipaddress.py", "pprint.py"]
CODE_HEADER = (
    '# -*- coding: utf-8 -*-\n'
    '"""Generated module. Überprüfung der Eingaben ✓ — 你好, 世界 👋."""\n'
    'from __future__ import annotations\n\n'
    'GREETING = "héllo \\"world\\"\\n"  # quotes, backslashes & <angle> brackets: a < b > c\n'
    "WINDOWS_PATH = r'C:\\tmp\\new_folder\\file.txt'\n"
    'HTML = "<div class=\\"x\\">&amp; <b>bold</b></div>"\n\n\n'
)


def _code_corpus() -> str:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    parts = [CODE_HEADER]
    for rel in STDLIB_FILES:
        p = stdlib / rel
        try:
            parts.append(f"\n# ---- {rel} ----\n" + p.read_text(encoding="utf-8"))
        except OSError:
            continue
    text = "".join(parts)
    if len(text) < 200_000:  # stdlib not readable: deterministic synthetic code instead
        out, i = [text], 0
        while sum(map(len, out)) < 200_000:
            out.append(f"def handler_{i}(req, limit={i % 97}):\n"
                       f"    if req.size < limit and req.kind != \"<tag{i}>\":\n"
                       f"        return {{'id': {i}, 'msg': \"héllo\\n\", "
                       f"'path': r'C:\\tmp\\f{i}'}}  # ✓\n"
                       f"    return None\n\n")
            i += 1
        text = "".join(out)
    return text


_CORPUS: str | None = None


def code_of(n: int) -> str:
    """Realistic Python source of about n chars (stdlib modules), stripped at both ends."""
    global _CORPUS
    if _CORPUS is None:
        _CORPUS = _code_corpus()
    reps = -(-n // len(_CORPUS))
    return (_CORPUS * reps)[:n].strip()


def render_value(v) -> str:
    """How the Qwen3-Coder chat template writes a parameter value."""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (dict, list)):
        return json.dumps(v, ensure_ascii=False)
    return str(v)


def render_call(name: str, args: dict) -> str:
    params = "".join(f"<parameter={k}>\n{render_value(v)}\n</parameter>\n" for k, v in args.items())
    return f"<tool_call>\n<function={name}>\n{params}</function>\n</tool_call>"


def _fn(name: str, props: dict, required=None) -> dict:
    params = {"type": "object", "properties": props}
    if required:
        params["required"] = required
    return {"type": "function", "function": {"name": name, "description": f"{name} tool",
                                             "parameters": params}}


S, I, N, B = ({"type": "string"}, {"type": "integer"}, {"type": "number"}, {"type": "boolean"})

WRITE_FILE = _fn("write_file", {"path": S, "content": S}, ["path", "content"])
TWENTY_TOOL = _fn("configure_job", {
    "name": S, "replicas": I, "cpu": N, "memory_gb": N, "enabled": B,
    "priority": {"type": "string", "enum": ["low", "normal", "high"]},
    "tags": {"type": "array", "items": S}, "env": {"type": "object"}, "retries": I,
    "timeout_s": N, "schedule": S, "owner": S, "dry_run": B, "max_parallel": I, "region": S,
    "labels": {"type": "object"}, "ports": {"type": "array", "items": I}, "notes": S, "seed": I,
    "ratio": N})
TWENTY_ARGS = {
    "name": "nightly-etl", "replicas": 3, "cpu": 1.5, "memory_gb": 4, "enabled": True,
    "priority": "high", "tags": ["etl", "nightly", "billing"], "env": {"STAGE": "prod", "DEBUG": "0"},
    "retries": 5, "timeout_s": 90.5, "schedule": "*/15 2-5 * * 1-5", "owner": "ops@example.com",
    "dry_run": False, "max_parallel": 8, "region": "eu-west-1",
    "labels": {"team": "data", "cost-center": 4711}, "ports": [8080, 8443],
    "notes": 'Run after the "ingest" job; skip on holidays.', "seed": -42, "ratio": 0.25}
PARALLEL_TOOLS = [
    _fn("read_file", {"path": S}), _fn("grep", {"pattern": S, "path": S, "max_count": I}),
    _fn("run_command", {"command": S, "timeout": I}), WRITE_FILE,
    _fn("web_search", {"query": S, "top_k": I}),
]
PARALLEL_CALLS = [
    ("read_file", {"path": "src/app/config.py"}),
    ("grep", {"pattern": r"def \w+_handler\(", "path": "src/", "max_count": 50}),
    ("run_command", {"command": "pytest -q tests/test_config.py -k 'not slow'", "timeout": 120}),
    ("write_file", {"path": "src/app/__init__.py",
                    "content": 'from .config import load\n\n__all__ = ["load"]\n__version__ = "1.2.0"'}),
    ("web_search", {"query": "python tomllib load example", "top_k": 5}),
]
EDIT_TOOL = _fn("edit_file", {"path": S, "old_str": S, "new_str": S})
PROSE = (
    "I looked at `src/app/config.py` and found the problem: `load()` reads the TOML file with "
    "`open(path)` in text mode, but `tomllib.load` needs a binary file object, so every start-up "
    "with a config file raises `TypeError: File must be opened in binary mode`. The test suite "
    "never noticed because the fixtures pass a `dict` directly.\n\n"
    "Here is what I'm going to change:\n\n"
    "1. Open the file with `open(path, \"rb\")`.\n"
    "2. Keep the `FileNotFoundError` branch, but return the defaults instead of `None` — the "
    "callers already expect a mapping (see `app/__main__.py`, line 41).\n"
    "3. Add a regression test that writes a real file to `tmp_path`.\n\n"
    "Note: `tomllib` is only in the standard library from Python 3.11 onwards; `pyproject.toml` "
    "already declares `requires-python = \">=3.11\"`, so no fallback to `tomli` is needed. "
    "Ünïcödé in paths (e.g. `~/Données/app.toml`) is handled by `pathlib` already.\n\n"
    "Let me make the edit first."
)
EDIT_ARGS = {
    "path": "src/app/config.py",
    "old_str": "    with open(path) as f:\n        data = tomllib.load(f)",
    "new_str": "    with open(path, \"rb\") as f:\n        data = tomllib.load(f)",
}


@dataclass
class Workload:
    name: str
    text: str
    tools: list
    calls: list  # [(name, args)]
    content: str = ""
    chars: int = 0  # size of the big value, for the growth figures
    ids: list = field(default_factory=list)
    deltas: list = field(default_factory=list)


def make_workloads(sizes: list[int]) -> list[Workload]:
    wls = []
    for n in sizes:
        code = code_of(n)
        args = {"path": "src/generated/module.py", "content": code}
        wls.append(Workload(f"write_file {_size_label(n)}", render_call("write_file", args),
                            [WRITE_FILE], [("write_file", args)], chars=len(code)))
    wls.append(Workload("20 typed params", render_call("configure_job", TWENTY_ARGS),
                        [TWENTY_TOOL], [("configure_job", TWENTY_ARGS)]))
    wls.append(Workload("5 parallel calls", "\n".join(render_call(n, a) for n, a in PARALLEL_CALLS),
                        PARALLEL_TOOLS, list(PARALLEL_CALLS)))
    wls.append(Workload("text before call", PROSE + "\n\n" + render_call("edit_file", EDIT_ARGS),
                        [EDIT_TOOL], [("edit_file", EDIT_ARGS)], content=PROSE))
    for wl in wls:
        body = "".join(json.dumps(a) for _, a in wl.calls)
        for marker in ("<parameter=", "</parameter>", "<function=", "</function>", "<tool_call>"):
            assert marker not in body, (wl.name, marker)
    return wls


def _size_label(n: int) -> str:
    return f"{n // 1000}k" if n >= 1000 and n % 1000 == 0 else f"{n}"


def tokenize(wls: list[Workload], tok) -> None:
    from qwen_xml_toolparser._vllm_loop import token_texts

    for wl in wls:
        ids = tok.encode(wl.text, add_special_tokens=False)
        deltas = token_texts(tok, ids, skip_special_tokens=False)
        if "".join(deltas) != wl.text:
            raise RuntimeError(f"{wl.name}: detokenized deltas do not rebuild the text")
        wl.ids, wl.deltas = ids + [EOS_ID], deltas + [""]  # final step: EOS, empty text
