"""Grammar generations: how this vLLM routes and constrains tool_choice required / named and
strict tools (docs/grammar.md), and the xgrammar objects the adapter hands back.

Three generations, told apart by the API (not the version number):

* ``"parser"`` (0.26+): the serving layer's Parser asks the tool parser for a structural tag when
  ``structural_tag_model`` is set (``get_structural_tag(request, reasoning=, [strict_level=])``);
* ``"tool_parser"`` (0.21 - 0.22): ``ToolParser.adjust_request`` asks ``get_structural_tag(request)``
  when VLLM_ENFORCE_STRICT_TOOL_CALLING=1 (off by default there);
* None (<= 0.20): no structural tags; required / named use vLLM's JSON guided decoding.
"""

from __future__ import annotations

from typing import Any

from ._compat import VLLM_VERSION, ToolParser
from ._versions import version_tuple

__all__ = ["STRUCTURAL_TAGS", "SUPPORTS_REQUIRED_AND_NAMED", "builtin_structural_tag", "json_schema_excludes",
           "structural_tag"]

if hasattr(ToolParser, "structural_tag_model"):
    STRUCTURAL_TAGS: str | None = "parser"
elif "get_structural_tag" in vars(ToolParser):
    STRUCTURAL_TAGS = "tool_parser"
else:
    STRUCTURAL_TAGS = None


def _enforce_strict_tool_calling() -> bool:
    try:
        import vllm.envs as envs

        return bool(envs.VLLM_ENFORCE_STRICT_TOOL_CALLING)
    except (ImportError, AttributeError):
        return False


# The value in-tree qwen3_coder has, so that a request is routed as with it: True sends
# required / named through vLLM's JSON format (guided JSON, parsed by vLLM), False through the
# parser (constrained by the structural tag where vLLM applies one). On "parser" versions vLLM's
# ToolParser.__init_subclass__ lowers it to False when enforcement is on (the default);
# 0.21's qwen3_coder has False, 0.22's ``not VLLM_ENFORCE_STRICT_TOOL_CALLING``.
if STRUCTURAL_TAGS == "tool_parser":
    SUPPORTS_REQUIRED_AND_NAMED = version_tuple(VLLM_VERSION) >= (0, 22) and not _enforce_strict_tool_calling()
else:
    SUPPORTS_REQUIRED_AND_NAMED = True


def builtin_structural_tag(parser: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
    """The structural tag in-tree qwen3_coder returns for ``request`` on this vLLM (or None)."""
    if STRUCTURAL_TAGS == "parser":
        return ToolParser.get_structural_tag(parser, request, *args, **kwargs)
    if STRUCTURAL_TAGS == "tool_parser":
        from vllm.tool_parsers.structural_tag_registry import (
            get_enable_structured_outputs_in_reasoning,
            get_model_structural_tag,
        )

        return get_model_structural_tag(
            model="qwen_3_5",
            tools=request.tools,
            tool_choice=request.tool_choice,
            reasoning=get_enable_structured_outputs_in_reasoning(),
        )
    return None


def json_schema_excludes() -> bool:
    """Can xgrammar keep strings out of nested JSON strings (``JSONSchemaFormat.excludes``, 0.2.8+)?"""
    from xgrammar.structural_tag import JSONSchemaFormat

    return "excludes" in JSONSchemaFormat.model_fields


def structural_tag(data: dict[str, Any]) -> Any:
    """xgrammar's ``StructuralTag`` for a dumped one (what vLLM's serving layer takes)."""
    from xgrammar import StructuralTag

    return StructuralTag.model_validate(data)
