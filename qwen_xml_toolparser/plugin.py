"""vLLM tool-parser plugin ``qwen_xml_safe`` for Qwen's XML tool calls.

Load it with::

    vllm serve MODEL --enable-auto-tool-choice \\
        --tool-parser-plugin /path/to/qwen_xml_toolparser/plugin.py \\
        --tool-call-parser qwen_xml_safe \\
        --reasoning-parser-plugin /path/to/qwen_xml_toolparser/plugin.py \\
        --reasoning-parser qwen_xml_safe      # thinking models (Qwen3.5+)

or, with the package installed, through the ``vllm.general_plugins`` entry
point (``--tool-call-parser qwen_xml_safe`` alone; see the README for the
versions where vLLM loads general plugins in the API server).

It registers the tool parser (``_vllm_adapter``: the sans-I/O
:class:`~qwen_xml_toolparser.StreamParser` behind vLLM's ``ToolParser``, with the
bookkeeping vLLM's serving layer reads kept exact) and the reasoning parser
(``_vllm_reasoning``: the reasoning / content split of docs/contract.md §8 behind
vLLM's ``ReasoningParser``), both named ``qwen_xml_safe``.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ != "qwen_xml_toolparser.plugin":
    # Loaded by file path (vLLM's --tool-parser-plugin imports it as a top-level
    # module). Use the package module instead, so that the parser class exists
    # once however the plugin is loaded.
    try:
        import qwen_xml_toolparser  # noqa: F401
    except ImportError:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from qwen_xml_toolparser.plugin import *  # noqa: F403
    from qwen_xml_toolparser.plugin import __all__  # type: ignore[attr-defined]  # set below, at run time
else:
    from qwen_xml_toolparser._vllm_adapter import PARSER_NAME, QwenXmlSafeToolParser
    from qwen_xml_toolparser._vllm_adapter import register as _register_tool_parser
    from qwen_xml_toolparser._vllm_reasoning import QwenXmlSafeReasoningParser, register_reasoning_parser

    __all__ = ["PARSER_NAME", "QwenXmlSafeReasoningParser", "QwenXmlSafeToolParser", "register"]

    def register() -> None:
        """Register the tool parser and the reasoning parser, both named ``qwen_xml_safe``
        (the ``vllm.general_plugins`` entry point; safe to call again)."""
        _register_tool_parser()
        register_reasoning_parser()

    register()
