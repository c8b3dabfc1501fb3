"""vLLM across versions, for tests, benchmarks and CI.

* ``first_module(*names)`` / ``symbol(name, *modules)``: vLLM moved its modules between 0.10 and
  0.34; both take candidates newest first. ``symbol`` is the package's own lookup
  (``qwen_xml_toolparser._compat``), so a symbol the plugin finds is found here the same way.
* ``version_tuple()``: the installed vLLM's version, read as the plugin reads it.

How vLLM drives a tool parser (per chunk, and on the chunk that finishes a stream, per serving
generation) is the package's ``qwen_xml_toolparser._vllm_loop``, which the CLI uses too.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

import qxt_support  # noqa: F401  (offline environment defaults)
from qwen_xml_toolparser import _versions

REPO = Path(__file__).resolve().parents[1]
PLUGIN_PATH = REPO / "qwen_xml_toolparser" / "plugin.py"
PLUGIN_NAME = "qwen_xml_safe"

# Candidate modules, newest first.
TOOL_PARSERS = ("vllm.tool_parsers", "vllm.entrypoints.openai.tool_parsers")
PROTOCOL = (  # DeltaMessage, DeltaToolCall, ...
    "vllm.entrypoints.generate.base.protocol",  # 0.29+
    "vllm.entrypoints.openai.engine.protocol",  # 0.15 - 0.28
    "vllm.entrypoints.openai.protocol",  # 0.10 - 0.14
)
CHAT_PROTOCOL = ("vllm.entrypoints.openai.chat_completion.protocol", "vllm.entrypoints.openai.protocol")
TOKENIZERS = ("vllm.tokenizers", "vllm.transformers_utils.tokenizer")


def first_module(*names: str) -> ModuleType:
    """Import the first module of ``names`` that exists (a module that exists but fails to
    import, e.g. for a missing dependency, raises: that is how the dependency lists were found)."""
    last: ModuleNotFoundError | None = None
    for name in names:
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
                last = exc
                continue
            raise
    raise ImportError(f"none of {names}") from last


def symbol(name: str, *modules: str) -> Any:
    """vLLM's ``name`` from the first of ``modules`` that has it: the plugin's own lookup
    (imported when called, so that importing this module does not import vLLM)."""
    from qwen_xml_toolparser._compat import _first

    return _first(name, *modules)


def version_tuple() -> tuple[int, int, int]:
    """The installed vLLM's version, read as the plugin reads it (``qwen_xml_toolparser._versions``)."""
    import vllm

    return _versions.version_tuple(vllm.__version__)


def get_tokenizer(directory: str | Path) -> Any:
    """vLLM's own ``get_tokenizer`` on a tokenizer directory."""
    return symbol("get_tokenizer", *TOKENIZERS)(str(directory))
