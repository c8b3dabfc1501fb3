"""docs/contract.md §2 invariants, checked on every streamed run (see ``check_run``).

Pure Python (no vLLM import): it works on the ``StreamRun`` / ``WholeRun``
records produced by ``tests.support.vllm_driver``.

Checked for every run:

* the delta-shape rules of vLLM's test reconstructor and contract §2 (enforced while
  streaming by ``vllm_driver.Reconstructor``: content or tool calls in each
  DeltaMessage, one call per chunk except the finished one before vLLM 0.23, id / type / name once
  and first, sequential indices, unique ids);
* every call's ``arguments`` (streamed and non-streamed) is canonical
  ``json.dumps(obj, ensure_ascii=False)`` of a JSON object;
* after every chunk, every call's streamed arguments so far parse with
  ``partial_json_parser.loads`` (what streaming clients such as the Anthropic SDK
  do) to a value consistent with the final arguments: keys appear in the final
  order, every completed value equals the final one (type-strict), only the
  last, still open, string may be a prefix of the final string;
* the parser state vLLM reads at the end of a stream (``prev_tool_call_arr``:
  one dict per call; ``streamed_args_for_tool``: exactly the streamed text);
* streamed == non-streamed: the same calls (names, byte-equal arguments) and the
  same content (``None`` and ``""`` are the same; the whitespace policy of
  docs/behaviour.md applies to both, so they must be equal exactly). Exception
  (contract §5): truncated output, where streaming may have one more (closed) call
  and the non-streaming content holds that call's raw text instead. Not checked
  for ``finish="length-unknown"`` runs (the parser is never told the output
  ended; the other invariants still hold);
* no call markup in content (unless the case says it is legitimate there);
* non-streaming without any call returns the output verbatim as content (no
  whitespace dropped: it is dropped only next to a call), and for a truncated
  output the raw text of the unfinished call is content (contract §5);
* no internal error logged by the parser (an exception swallowed by the
  adapter's safety net is still a bug).
"""

from __future__ import annotations

import json
import re
from typing import Any

import partial_json_parser

from qxt_support.equality import strict_equal

MARKUP = ("<tool_call>", "</tool_call>", "<function=", "<parameter=", "</parameter>",
          "</function>", "<think>", "</think>")


# ----------------------------------------------------------------------------- equality


def first_difference(got: Any, want: Any, path: str = "$") -> str | None:
    if type(got) is not type(want):
        return f"{path}: got {type(got).__name__} {got!r}, want {type(want).__name__} {want!r}"
    if isinstance(want, dict):
        if got.keys() != want.keys():
            return (f"{path}: keys differ: missing {sorted(want.keys() - got.keys())}, "
                    f"extra {sorted(got.keys() - want.keys())}")
        for k in want:
            d = first_difference(got[k], want[k], f"{path}.{k}")
            if d:
                return d
        return None
    if isinstance(want, list):
        if len(got) != len(want):
            return f"{path}: got {len(got)} items {got!r}, want {len(want)} {want!r}"
        for i, (x, y) in enumerate(zip(got, want)):
            d = first_difference(x, y, f"{path}[{i}]")
            if d:
                return d
        return None
    return None if strict_equal(got, want) else f"{path}: got {got!r}, want {want!r}"


def prefix_inconsistency(partial: Any, final: Any, open_: bool = True, path: str = "$") -> str | None:
    """Why ``partial`` (a partial-json parse of a prefix) is not consistent with ``final``."""
    if isinstance(final, dict):
        if not isinstance(partial, dict):
            return f"{path}: prefix parses to {type(partial).__name__} {partial!r}"
        keys, fkeys = list(partial), list(final)
        if keys != fkeys[: len(keys)]:
            return f"{path}: prefix keys {keys} are not a prefix of the final keys {fkeys}"
        for i, k in enumerate(keys):
            if open_ and i == len(keys) - 1:
                d = prefix_inconsistency(partial[k], final[k], True, f"{path}.{k}")
            else:
                d = first_difference(partial[k], final[k], f"{path}.{k}")
            if d:
                return d
        return None
    if isinstance(final, list):
        if not isinstance(partial, list) or len(partial) > len(final):
            return f"{path}: prefix parses to {partial!r}, final {final!r}"
        for i, x in enumerate(partial):
            if open_ and i == len(partial) - 1:
                d = prefix_inconsistency(x, final[i], True, f"{path}[{i}]")
            else:
                d = first_difference(x, final[i], f"{path}[{i}]")
            if d:
                return d
        return None
    if isinstance(final, str) and isinstance(partial, str) and open_:
        return None if final.startswith(partial) else (
            f"{path}: partial string {partial!r} is not a prefix of the final {final!r}")
    return first_difference(partial, final, path)


# ----------------------------------------------------------------------------- helpers

# A call opener (docs/behaviour.md): <tool_call> followed by <function= or a JSON
# object, or a bare <function=NAME> followed by <parameter= or </function>.
_OPENER = re.compile(r"<tool_call>\s*(?:<function=|\{)|<function=[^>\n]*>\s*(?:<parameter=|</function>)")
_CLOSER = re.compile(r"</function>|</tool_call>")


def is_truncated(text: str) -> bool:
    """contract §5 truncated output: the output ends inside a call (an opener after
    which neither ``</function>`` nor ``</tool_call>`` appears)."""
    last = None
    for m in _OPENER.finditer(text):
        last = m
    return last is not None and _CLOSER.search(text, last.end()) is None


def ends_in_call_markup(text: str) -> bool:
    """The output ends inside a call or in the markup that opens one (docs/behaviour.md, "The end
    of the output"): that markup is not content in either mode."""
    if is_truncated(text):
        return True
    start = text.rfind("<tool_call>")
    rest = text[start + len("<tool_call>"):].lstrip() if start >= 0 else None
    return rest is not None and ("<function=".startswith(rest) or (
        rest.startswith("<function=") and ">" not in rest and "\n" not in rest))


def markup_in(content: str | None) -> list[str]:
    return [m for m in MARKUP if content and m in content]


def _args_problems(where: str, args: str) -> list[str]:
    try:
        obj = json.loads(args)
    except Exception as e:
        return [f"{where}: arguments is not valid JSON ({e}): {args!r}"]
    if not isinstance(obj, dict):
        return [f"{where}: arguments is not a JSON object: {args!r}"]
    canon = json.dumps(obj, ensure_ascii=False)
    if canon != args:
        return [f"{where}: arguments {args!r} is not json.dumps(args, ensure_ascii=False) = {canon!r}"]
    return []


def _internal_errors(logs) -> list[str]:
    return [f"internal error logged by {r.logger}: {r.message} ({r.exc})"
            for r in logs if r.exc or r.level in ("ERROR", "CRITICAL")]


# ----------------------------------------------------------------------------- checks


def stream_problems(run, *, prefixes: bool = True, state: bool = True) -> list[str]:
    problems: list[str] = []
    for i, c in enumerate(run.calls):
        problems += _args_problems(f"streamed call {i} ({c.name!r})", c.arguments)
    if prefixes:
        for i, c in enumerate(run.calls):
            try:
                final = json.loads(c.arguments)
            except Exception:
                continue
            for p in run.arg_prefixes[i]:
                if not p:
                    continue
                try:
                    partial = partial_json_parser.loads(p)
                except Exception as e:
                    problems.append(f"streamed call {i}: prefix {p!r} does not parse with "
                                    f"partial_json_parser ({type(e).__name__}: {e})")
                    break
                d = prefix_inconsistency(partial, final)
                if d:
                    problems.append(f"streamed call {i}: prefix {p!r} -> {partial!r} is inconsistent "
                                    f"with the final arguments: {d}")
                    break
    if state:
        problems += run.state_violations[:5]
        prev = run.final_prev_tool_call_arr
        for i, c in enumerate(run.calls):
            if i < len(prev) and isinstance(prev[i], dict) and isinstance(prev[i].get("arguments"), dict):
                dumped = json.dumps(prev[i]["arguments"], ensure_ascii=False)
                if dumped != c.arguments:
                    problems.append(f"end of stream: json.dumps(prev_tool_call_arr[{i}]['arguments']) = "
                                    f"{dumped!r} but the client received {c.arguments!r}")
    problems += _internal_errors(run.logs)
    return problems


def truncation_problems(whole) -> list[str]:
    """docs/contract.md §5 / docs/behaviour.md, non-streaming side of a truncated output: with no token
    limit in the request the model ended it, so the call is returned (as streamed); its markup is never
    content."""
    text = whole.text
    last = None
    for m in _OPENER.finditer(text):
        last = m
    if last is None or _CLOSER.search(text, last.end()) is not None:
        return []
    raw = text[last.start():].rstrip()
    if raw in (whole.content or ""):
        return [f"non-streaming, truncated output: the raw text of the unfinished call {raw!r} "
                f"is in the content {whole.content!r} (calls: {[(c.name, c.arguments) for c in whole.calls]})"]
    return []


def whole_problems(whole) -> list[str]:
    problems: list[str] = []
    text = whole.text
    dropped = ends_in_call_markup(text)  # unfinished call markup at the end is not content
    if (not whole.calls and text.strip() and "<think>" not in text and "</think>" not in text
            and (whole.content or "") != text and not dropped):
        problems.append(f"non-streaming: no call, so the content must be the output verbatim "
                        f"(docs/behaviour.md): got {whole.content!r}")
    # tools_called without calls: markup was left out, so the serving layer must show this content
    if whole.tools_called != bool(whole.calls) and not (not whole.calls and (whole.content or "") != text):
        problems.append(f"non-streaming: tools_called={whole.tools_called} with {len(whole.calls)} calls")
    ids = [c.id for c in whole.calls]
    if len(set(ids)) != len(ids) or not all(isinstance(i, str) and i for i in ids):
        problems.append(f"non-streaming: tool call ids missing or not unique: {ids}")
    if any(t != "function" for t in whole.types):
        problems.append(f"non-streaming: tool call types {whole.types}")
    for i, c in enumerate(whole.calls):
        if not isinstance(c.name, str):
            problems.append(f"non-streaming call {i}: name {c.name!r}")
        problems += _args_problems(f"non-streaming call {i} ({c.name!r})", c.arguments)
    problems += _internal_errors(whole.logs)
    return problems


def agreement_problems(run, whole, truncated: bool) -> list[str]:
    s_calls = [(c.name, c.arguments) for c in run.calls]
    w_calls = [(c.name, c.arguments) for c in whole.calls]
    s_content, w_content = run.content or "", whole.content or ""
    if s_calls == w_calls and s_content == w_content:
        return []
    if truncated and run.finish == "length":
        # The non-streaming request has no token limit (the model ended the output); the stream was
        # cut, so it leaves a cut number, object... of the last call out.
        n = len(w_calls)
        if len(s_calls) == n and s_calls[:-1] == w_calls[:-1] and s_content == w_content:
            return []
    return [f"streamed != non-streamed{' (truncated output)' if truncated else ''}:\n"
            f"  streamed     content={s_content!r} calls={s_calls}\n"
            f"  non-streamed content={w_content!r} calls={w_calls}"]


def run_problems(run, whole, *, allow_markup: bool = False, truncated: bool | None = None,
                 agreement: bool = True) -> list[str]:
    if truncated is None:
        truncated = is_truncated(run.text)
    problems = stream_problems(run) + whole_problems(whole)
    if truncated:
        problems += truncation_problems(whole)
    if agreement and run.finish != "length-unknown":
        # With "length-unknown" the parser is never told that the output ended,
        # so text it holds back (a possible marker, a pending call) cannot come
        # out: only the invariants that hold for any prefix are checked.
        problems += agreement_problems(run, whole, truncated)
    if not allow_markup:
        if markup_in(run.content):
            problems.append(f"markup {markup_in(run.content)} in streamed content {run.content!r}")
        if markup_in(whole.content) and not truncated:
            problems.append(f"markup {markup_in(whole.content)} in non-streamed content {whole.content!r}")
    return problems


def check_run(run, whole, **kw) -> None:
    problems = run_problems(run, whole, **kw)
    if problems:
        raise AssertionError("\n".join(["contract §2 invariants broken:"] + [f"- {p}" for p in problems]
                                       + [whole.describe(), run.describe()]))


def expected_problems(label: str, calls, content: str | None, want_calls, want_content: str, *,
                      strip: bool = False) -> list[str]:
    """``calls`` (names, then arguments compared type-strictly) and ``content`` against the
    expected ones; ``strip``: compare the content after ``.strip()``."""
    problems = []
    got = [(c.name, c.arguments) for c in calls]
    if [n for n, _ in got] != [n for n, _ in want_calls]:
        return [f"{label}: calls {got}, expected {want_calls}"]
    for (n, a), (_, w) in zip(got, want_calls, strict=True):
        try:
            d = first_difference(json.loads(a), w)
        except Exception as e:
            d = f"not JSON: {e}"
        if d:
            problems.append(f"{label}: {n} arguments {a!r}: {d}")
    if strip:
        if (content or "").strip() != want_content.strip():
            problems.append(f"{label}: content {content!r}, expected {want_content!r} (stripped)")
    elif (content or "") != want_content:
        problems.append(f"{label}: content {content!r}, expected {want_content!r}")
    return problems
