"""The README's vLLM compatibility table, generated from the CI matrix so that it cannot drift.

    python3 ci/compat_table.py                 # print the table (markdown) for ci/matrix.txt
    python3 ci/compat_table.py --check README.md

``--check`` exits 1 unless README.md contains, between the markers
``<!-- compat-table:start -->`` and ``<!-- compat-table:end -->``, exactly the table printed by
the first form. The per-version columns come from ci/matrix.txt; the facts per version range
(stream-finishing generation, import paths) are the ones measured in docs/compat-notes.md, and
the results column comes from the last ``ci/matrix.sh`` run on this machine when ``--results`` is
given (not used by ``--check``, which must not depend on the machine).
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
START, END = "<!-- compat-table:start -->", "<!-- compat-table:end -->"


def versions() -> list[tuple[str, str]]:
    out = []
    for line in (HERE / "matrix.txt").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            parts = line.split()
            out.append((parts[0], parts[1]))
    return out


def vt(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in v.split(".")[:3])


def facts(v: str) -> tuple[str, str]:
    t = vt(v)
    if t < (0, 13):
        tp = "`vllm.entrypoints.openai.tool_parsers`"
    else:
        tp = "`vllm.tool_parsers`"
    if t < (0, 14):
        fin = "A: `json.dumps` + replace; replaces the last delta"
    elif t < (0, 17):
        fin = "B: `json.dumps` + replace; keeps id/name"
    elif t < (0, 23):
        fin = "C: str as-is + replace; keeps id/name"
    else:
        fin = "D: `get_remaining_unstreamed_args()`"
    return tp, fin


def tool_choice(v: str) -> str:
    """What guarantees a call for tool_choice required / named (docs/grammar.md, measured per version)."""
    t = vt(v)
    if t < (0, 21):
        return "vLLM's JSON format (guided JSON, parsed by vLLM), as in-tree"
    if t < (0, 26):
        return ("vLLM's JSON format; with `VLLM_ENFORCE_STRICT_TOOL_CALLING=1` our structural tag "
                "(`auto` too)")
    if t < (0, 31):
        return ("our structural tag, arguments pinned unless `strict: false` (`auto`: only with a `strict` tool); "
                "`VLLM_ENFORCE_STRICT_TOOL_CALLING=0`: JSON format")
    return ("our structural tag, `strict` tools, `--tool-strict-level`; "
            "`VLLM_ENFORCE_STRICT_TOOL_CALLING=0`: JSON format")


def reasoning(v: str) -> str:
    """How the reasoning parser qwen_xml_safe loads, and whether drafts are decided (docs/contract.md §8;
    read in each version's wheel: the --reasoning-parser-plugin flag, the --reasoning-parser choices,
    the engine-based reasoning hooks; the reasoning tests run on 0.10.2 - 0.34.0, docs/compat-notes.md §8)."""
    t = vt(v)
    if t < (0, 12):
        return ("installed package only (entry point: `--reasoning-parser` choices are fixed before a "
                "plugin file loads); a call in open reasoning ends it at once")
    how = "`--reasoning-parser-plugin …/plugin.py --reasoning-parser qwen_xml_safe` (or the installed package)"
    if t < (0, 26):
        return how + "; a call in open reasoning ends it at once"
    return how + "; drafts decided (held to `</think>` or the end)"


def table(results: dict[str, str] | None = None) -> str:
    head = ("| vLLM | tested in CI | load the plugin | `ToolParser` from | stream finishing (docs/compat-notes.md §4) "
            "| `tool_choice` required / named (docs/grammar.md) | reasoning parser (docs/contract.md §8) |"
            + (" last result |" if results else ""))
    sep = "|---|---|---|---|---|---|---|" + ("---|" if results else "")
    rows = [head, sep]
    for v, reqs in versions():
        tp, fin = facts(v)
        row = (f"| {v} | yes (`ci/{reqs}`) | `--tool-parser-plugin …/qwen_xml_toolparser/plugin.py "
               f"--tool-call-parser qwen_xml_safe` | {tp} | {fin} | {tool_choice(v)} | {reasoning(v)} |")
        if results:
            row += f" {results.get(v, '–')} |"
        rows.append(row)
    rows.append("| 0.10.1, other 0.10.2+ releases | no | same | | | | |" + (" |" if results else ""))
    rows.append("| 0.10.0 and older | no: not supported (0.10.0 rejects custom `--tool-call-parser` names) | | | | | |"
                + (" |" if results else ""))
    return "\n".join(rows) + "\n"


def last_results() -> dict[str, str]:
    import os

    logs = Path(os.environ.get("QXT_CACHE", Path.home() / ".cache" / "qwen-xml-toolparser")) / "matrix-logs" / "latest"
    out = {}
    for v, _ in versions():
        row = logs / f"{v}.row"
        if row.exists():
            out[v] = row.read_text().split("  ", 1)[-1].strip().replace("|", "/")
    return out


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "--check":
        text = Path(argv[1]).read_text(encoding="utf-8")
        if START not in text or END not in text:
            print(f"{argv[1]}: no {START} … {END} block", file=sys.stderr)
            return 1
        current = text.split(START, 1)[1].split(END, 1)[0].strip("\n") + "\n"
        if current != table():
            print(f"{argv[1]}: the compatibility table differs from ci/matrix.txt; regenerate it with "
                  "`python3 ci/compat_table.py`", file=sys.stderr)
            return 1
        return 0
    sys.stdout.write(table(last_results() if "--results" in argv else None))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
