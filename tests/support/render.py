"""A small renderer of an assistant turn as the Qwen3-Coder chat template renders
it, and the "truly ambiguous" test of docs/behaviour.md.

Layout (docs/contract.md §1; the Qwen3-Coder / Qwen3.5 templates; checked against the
llama.cpp and vLLM strings in tests/fixtures/public_reports.jsonl)::

    [CONTENT "\\n\\n"]<tool_call>
    <function=NAME>
    <parameter=KEY>
    VALUE
    </parameter>
    </function>
    </tool_call>["\\n" + next <tool_call>...]

* the template writes ``'\\n' + content|trim + '\\n'`` after
  ``<|im_start|>assistant`` and every call as ``'\\n<tool_call>\\n<function=' +
  name + '>\\n'``; the generation prompt already ends with
  ``<|im_start|>assistant\\n``, so the completion is ``content + "\\n\\n"`` (if
  any content) and the calls joined by ``"\\n"``;
* each parameter is ``'<parameter=' + key + '>\\n' + VALUE + '\\n</parameter>\\n'``
  and the call ends with ``'</function>\\n</tool_call>'``;
* string values are raw text; other values are ``tojson`` (the JSON variant of
  the new templates; HF's ``tojson`` is ``json.dumps(ensure_ascii=False)``, we
  also vary ``ensure_ascii``, compact separators and ``indent=2``) or Python
  ``str()`` (the old-template variant: ``True``, ``None``, ``{'a': 1}``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

VARIANTS = ("json", "python")


@dataclass
class JsonStyle:
    ensure_ascii: bool = False
    compact: bool = False
    indent: int | None = None

    def dumps(self, v: Any) -> str:
        return json.dumps(v, ensure_ascii=self.ensure_ascii, indent=self.indent,
                          separators=(",", ":") if self.compact else None)


def render_value(value: Any, variant: str, style: JsonStyle | None = None) -> str:
    if isinstance(value, str):
        return value
    if variant == "json":
        return (style or JsonStyle()).dumps(value)
    if variant == "python":
        return str(value)
    raise ValueError(variant)


@dataclass
class ValueSpan:
    start: int
    end: int
    call: int
    key: str
    given_before: tuple[str, ...]  # parameter names of this call rendered before this one
    declared: tuple[str, ...] | None  # the function's declared parameters, None without a schema
    tools: tuple[str, ...] = ()  # the request's declared tools


@dataclass
class Rendered:
    text: str
    spans: list[ValueSpan] = field(default_factory=list)


def render_turn(content: str, calls: list[tuple[str, list[tuple[str, Any]]]], variant: str,
                style: JsonStyle | None = None,
                declared: dict[str, tuple[str, ...]] | None = None) -> Rendered:
    """``calls``: [(name, [(key, value), ...]), ...]; ``declared``: function name ->
    declared parameter names (None: the request has no tools; a function missing
    from it has no schema)."""
    parts: list[str] = []
    pos = 0
    spans: list[ValueSpan] = []

    def put(s: str) -> None:
        nonlocal pos
        parts.append(s)
        pos += len(s)

    if content:
        assert content == content.strip(), "the template trims content"
        put(content + "\n\n")
    for ci, (name, args) in enumerate(calls):
        if ci:
            put("\n")
        put(f"<tool_call>\n<function={name}>\n")
        given: list[str] = []
        for key, value in args:
            put(f"<parameter={key}>\n")
            v = render_value(value, variant, style)
            # an undeclared function has no schema either
            decl = None if declared is None or name not in declared else declared[name]
            spans.append(ValueSpan(pos, pos + len(v), ci, key, tuple(given), decl, tuple(declared or ())))
            put(v)
            put("\n</parameter>\n")
            given.append(key)
        put("</function>\n</tool_call>")
    return Rendered("".join(parts), spans)


# ----------------------------------------------------------------------------- ambiguity

# docs/behaviour.md "Values": the closers, and what must follow them (after
# optional whitespace) for them to be viable.
_CONT_PARAM = r"\s*(?:<parameter=|</function>|</tool_call>|<tool_call>|<function=|\Z)"
_CONT_FUNC = r"\s*(?:</tool_call>|<tool_call>|<function=|\Z)"
_CONT_TC = r"\s*(?:<tool_call>|<function=|\Z)"
VIABLE_CLOSERS = [
    # </parameter>, a drifted </parameter...> (</parameter1>, </parameter_function>), or </parameter + newline
    re.compile(r"</parameter(?:[^<>\n]*>|\n)" + _CONT_PARAM),
    re.compile(r"</function>" + _CONT_FUNC),
    re.compile(r"</tool_call>" + _CONT_TC),
]


def _tool_opener(tool: str) -> re.Pattern[str]:
    return re.compile(r"<parameter=\s*(?:function=\s*)?" + re.escape(tool)
                      + r"\s*>\s*(?:<parameter=|</function|</tool_call>)")


def ambiguity(r: Rendered) -> str | None:
    """Why some value of ``r`` is truly ambiguous (docs/behaviour.md), or None.

    A value is truly ambiguous when its text contains, starting inside the
    value,
    * a viable closer: ``</parameter>`` / a drifted ``</parameter...>`` /
      ``</parameter`` + newline followed (after optional whitespace, looking
      past the end of the value into the rendered markup) by ``<parameter=``,
      ``</function>``, ``</tool_call>``, ``<tool_call>``, ``<function=`` or the end;
      ``</function>`` followed by ``</tool_call>``, ``<tool_call>``, ``<function=``
      or the end; ``</tool_call>`` followed by ``<tool_call>``, ``<function=`` or
      the end;
    * a line-start ``<parameter=NAME`` for a declared parameter of the function
      that has not been given yet (with no schema: any line-start
      ``<parameter=``);
    * a line-start drifted call opener ``<parameter=TOOL>`` (also
      ``<parameter=function=TOOL>``) naming a declared tool that is not a
      parameter of the (declared) function, followed after optional whitespace
      by ``<parameter=``, ``</function`` or ``</tool_call>`` (docs/drift.md).
    """
    text = r.text
    for sp in r.spans:
        i = text.find("<", sp.start, sp.end)
        while i != -1:
            for pat in VIABLE_CLOSERS:
                m = pat.match(text, i)
                if m:
                    return (f"value of {sp.key!r} (call {sp.call}) contains a viable closer "
                            f"{text[i:m.end()]!r}")
            if text.startswith("<parameter=", i) and (i == 0 or text[i - 1] == "\n"):
                if sp.declared is None:
                    return f"value of {sp.key!r} has a line-start <parameter= and there is no schema"
                done = set(sp.given_before) | {sp.key}
                for name in sp.declared:
                    if name not in done and text.startswith(f"<parameter={name}", i):
                        return (f"value of {sp.key!r} has a line-start <parameter={name}> "
                                f"(declared, not given yet)")
                for tool in sp.tools:
                    if tool not in sp.declared and _tool_opener(tool).match(text, i):
                        return f"value of {sp.key!r} has a line-start drifted opener <parameter={tool}>"
            i = text.find("<", i + 1, sp.end)
    return None
