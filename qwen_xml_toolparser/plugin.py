"""vLLM tool-parser plugin ``qwen_xml_safe`` for Qwen's XML tool calls.

Load it with::

    vllm serve MODEL --enable-auto-tool-choice \\
        --tool-parser-plugin /path/to/qwen_xml_toolparser/plugin.py \\
        --tool-call-parser qwen_xml_safe

or, with the package installed, through the ``vllm.general_plugins`` entry
point (``--tool-call-parser qwen_xml_safe`` alone; see the README for the
versions where vLLM loads general plugins in the API server).

This file only loads and registers the parser, so that its class exists once
however vLLM loads the plugin (by file path or as the package module). The
parser is ``_vllm_adapter.QwenXmlSafeToolParser``, which adapts the sans-I/O
:class:`~qwen_xml_toolparser.StreamParser` to vLLM's ``ToolParser`` interface;
it and the ``_compat`` modules (and the CLI's ``--vllm``) are the only code that imports vLLM.
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
    from qwen_xml_toolparser._vllm_adapter import PARSER_NAME, QwenXmlSafeToolParser, register

    __all__ = ["PARSER_NAME", "QwenXmlSafeToolParser", "register"]
    register()
