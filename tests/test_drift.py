"""Drift recovery (issue 10; the rules are docs/drift.md): shapes D1 - D5, the guard rails, the INFO
log line, and a property test that mutates valid renders into each drift shape.

* ``test_drift`` (through vLLM's interface, like tests/test_malformed.py): every case of ``CASES``
  (recovered shapes and the already-working forms they are pinned next to) and of ``RAILS`` (guard
  rails: outputs that look like drift but must stay what they are today) runs non-streaming and
  streamed in every split mode of tests/support/runs.py, with the contract §2 invariants
  (tests/support/invariants.py) on every run, the expected calls (names; arguments compared
  type-strictly) and the expected content, compared EXACTLY (whitespace next to calls is dropped,
  docs/behaviour.md). ``VERBATIM`` as the expected content means "the whole output, unchanged"
  (what the parser gives for text that is not a call).
* ``test_drift_log`` (core ``parse`` and ``StreamParser`` fed one character at a time, caplog): the
  ``drift recovered: <shape>`` INFO records of each case, exactly the expected ones (one per
  recovered occurrence, none for the rails and the already-working forms).
* ``test_mutated_renders`` (hypothesis, core): a valid render of random calls to declared tools,
  mutated into a drift shape, gives back the original calls and content, in one piece and in random
  splits, with one log record per mutation; the same mutation with the tool's name replaced by an
  undeclared one recovers nothing and logs nothing.

Reading chosen where docs/drift.md could be read two ways (see the report / docs/drift.md): in
``<tool_call>...</function>\\n</function>\\n</tool_call>`` the stray closer is the second
``</function>`` only; the ``</tool_call>`` closes the ``<tool_call>`` the call opened with and is
not logged (one ``stray-closer`` record, as the issue counts "``</function>`` doubled").
"""

from __future__ import annotations

import json
import logging
import random
import re
import zlib
from contextlib import contextmanager

import pytest
from hypothesis import Phase, assume, given, note, settings
from hypothesis import strategies as st

from qwen_xml_toolparser import ArgumentsDelta, ContentDelta, StreamParser, ToolCallEnd, ToolCallStart, parse
from tests.support import gen, runs
from tests.support.invariants import check_run, expected_problems, first_difference, whole_problems
from qwen_xml_toolparser._drift import fitting_tool
from qwen_xml_toolparser._schema import function_schemas
from tests.support.render import Rendered, ValueSpan, ambiguity, render_turn

STR = {"type": "string"}
INT = {"type": "integer"}


def tool(name, **props):
    return {"type": "function", "function": {"name": name, "parameters": {"type": "object", "properties": props}}}


TOOLS = [
    tool("bash", command=STR, timeout=INT),
    tool("read", path=STR),
    tool("get_time"),
    tool("write_file", path=STR, content=STR),
    tool("search", query=STR, limit=INT),
    tool("run", bash=STR, args=STR),  # declares a parameter named like the tool "bash"
]

P, D, F, S, V = "parameter-as-function", "doubled-prefix", "fused-json", "stray-closer", "value-on-opener-line"
A, AP, NT, NL = "attribute-opener", "attribute-parameter", "name-tag", "name-on-next-line"
JX, JA, HF, R = "json-head-xml", "json-arguments", "hermes-under-function", "closer-residue"
I = "inferred-name"
DEPLOY = {"type": "function", "function": {"name": "deploy", "parameters": {
    "type": "object", "properties": {"env": STR, "tag": STR}, "required": ["env", "tag"]}}}
VERBATIM = object()  # expected content: the output itself, unchanged

CMD = "<parameter=command>\nls -la\n</parameter>\n"
LS = ("bash", {"command": "ls -la"})
READ_A = "<parameter=path>\na.md\n</parameter>\n"
RA = ("read", {"path": "a.md"})
CALL_BASH = "<tool_call>\n<function=bash>\n" + CMD + "</function>\n</tool_call>"
CALL_READ = "<tool_call>\n<function=read>\n" + READ_A + "</function>\n</tool_call>"

# (id, tool-parser input, tools, expected calls [(name, args)], expected content (exact) or VERBATIM,
#  allow markup in content, expected "drift recovered" shapes (one per recovered occurrence))
CASES = [
    # -- D1 parameter-as-function: <parameter=TOOL> opens a call to TOOL
    ("d1-wrapped", "<tool_call>\n<parameter=bash>\n" + CMD + "</function>\n</tool_call>", TOOLS, [LS], "", False, [P]),
    ("d1-bare", "<parameter=bash>\n" + CMD + "</function>", TOOLS, [LS], "", False, [P]),
    # the single </tool_call> after a bare call is its closer (dropped silently, as for <function=)
    ("d1-bare-orphan-close", "<parameter=bash>\n" + CMD + "</function>\n</tool_call>", TOOLS, [LS], "", False, [P]),
    ("d1-after-prose", "I'll list the files.\n\n<parameter=bash>\n" + CMD + "</function>", TOOLS, [LS],
     "I'll list the files.", False, [P]),
    ("d1-name-spaces", "<tool_call>\n<parameter= bash >\n" + CMD + "</function>\n</tool_call>", TOOLS, [LS], "",
     False, [P]),
    ("d1-typed-args", "<tool_call>\n<parameter=search>\n<parameter=query>\nfoo\n</parameter>\n<parameter=limit>\n5\n"
     "</parameter>\n</function>\n</tool_call>", TOOLS, [("search", {"query": "foo", "limit": 5})], "", False, [P]),
    ("d1-zero-args", "<tool_call>\n<parameter=get_time>\n</function>\n</tool_call>", TOOLS, [("get_time", {})], "",
     False, [P]),
    ("d1-zero-args-tool-call-closer", "<tool_call>\n<parameter=get_time>\n</tool_call>", TOOLS, [("get_time", {})],
     "", False, [P]),
    ("d1-two-wrapped", "<tool_call>\n<parameter=bash>\n" + CMD + "</function>\n</tool_call>\n<tool_call>\n"
     "<parameter=read>\n" + READ_A + "</function>\n</tool_call>", TOOLS, [LS, RA], "", False, [P, P]),
    ("d1-two-bare-with-closers", "<parameter=bash>\n" + CMD + "</function>\n<parameter=read>\n" + READ_A
     + "</function>", TOOLS, [LS, RA], "", False, [P, P]),
    # no closer between: <parameter=read> is in bash's body (D1 b: read is not a parameter of bash)
    ("d1-two-bare-no-closers", "<parameter=bash>\n" + CMD + "<parameter=read>\n" + READ_A + "</function>", TOOLS,
     [LS, RA], "", False, [P, P]),
    ("d1-three-mixed", "Doing three things.\n\n<tool_call>\n<parameter=bash>\n" + CMD + "</function>\n</tool_call>\n"
     + CALL_READ + "\n<parameter=get_time>\n</function>", TOOLS, [LS, RA, ("get_time", {})],
     "Doing three things.", False, [P, P]),
    # D1 b: between the parameters of an open call to a declared tool that has no parameter "bash"
    ("d1-in-function-body", "<tool_call>\n<function=read>\n" + READ_A + "<parameter=bash>\n" + CMD
     + "</function>\n</tool_call>", TOOLS, [RA, LS], "", False, [P]),
    # D1 c: at a line start inside a value whose </parameter> is missing
    ("d1-in-value-line-start", "<tool_call>\n<function=read>\n<parameter=path>\na.md\n<parameter=bash>\n" + CMD
     + "</function>\n</tool_call>", TOOLS, [RA, LS], "", False, [P]),
    # -- D2 doubled-prefix
    ("d2-function-function", "<tool_call>\n<function=function=bash>\n" + CMD + "</function>\n</tool_call>", TOOLS,
     [LS], "", False, [D]),
    ("d2-function-function-bare", "<function=function=bash>\n" + CMD + "</function>", TOOLS, [LS], "", False, [D]),
    ("d2-parameter-function", "<tool_call>\n<parameter=function=bash>\n" + CMD + "</function>\n</tool_call>", TOOLS,
     [LS], "", False, [D]),
    ("d2-parameter-function-bare", "<parameter=function=bash>\n" + CMD + "</function>", TOOLS, [LS], "", False, [D]),
    # -- D3 fused-json
    ("d3-function-eq", '<tool_call>\n{"function=bash", "arguments": {"command": "ls -la"}}\n</tool_call>', TOOLS,
     [LS], "", False, [F]),
    ("d3-name-eq", '<tool_call>\n{"name=read", "arguments": {"path": "a.md"}}\n</tool_call>', TOOLS, [RA], "",
     False, [F]),
    ("d3-name-escaped-quotes", '<tool_call>\n{"name=\\"read\\"", "arguments": {"path": "a.md"}}\n</tool_call>',
     TOOLS, [RA], "", False, [F]),
    ("d3-name-single-quotes", "<tool_call>\n{\"name='read'\", \"arguments\": {\"path\": \"a.md\"}}\n</tool_call>",
     TOOLS, [RA], "", False, [F]),
    ("d3-spaces-around-eq", '<tool_call>\n{"function = bash","arguments":{"command":"ls -la"}}\n</tool_call>', TOOLS,
     [LS], "", False, [F]),
    # "parameters" for "arguments"; values coerced by the schema like JSON bodies ("5" -> 5)
    ("d3-parameters-coerced", '<tool_call>\n{"function=search", "parameters": {"query": "x", "limit": "5"}}\n'
     "</tool_call>", TOOLS, [("search", {"query": "x", "limit": 5})], "", False, [F]),
    ("d3-arguments-as-json-text", '<tool_call>\n{"function=bash", "arguments": "{\\"command\\": \\"ls -la\\"}"}\n'
     "</tool_call>", TOOLS, [LS], "", False, [F]),
    ("d3-function-key", '<tool_call>\n{"function": "bash", "arguments": {"command": "ls -la"}}\n</tool_call>', TOOLS,
     [LS], "", False, [F]),
    ("d3-after-prose", 'Fetching.\n\n<tool_call>\n{"function=read", "arguments": {"path": "a.md"}}\n</tool_call>',
     TOOLS, [RA], "Fetching.", False, [F]),
    # -- D4 stray-closer (one record per dropped closer)
    ("d4-lone-function-after-call", CALL_BASH + "\n</function>", TOOLS, [LS], "", False, [S]),
    ("d4-tool-call-twice", CALL_BASH + "\n</tool_call>", TOOLS, [LS], "", False, [S]),
    ("d4-function-doubled", "<tool_call>\n<function=bash>\n" + CMD + "</function>\n</function>\n</tool_call>", TOOLS,
     [LS], "", False, [S]),
    ("d4-drifted-closers", CALL_BASH + "\n</parameter_x>\n</function_invocation>", TOOLS, [LS], "", False, [S, S]),
    ("d4-parameter-closer", CALL_BASH + "\n</parameter>", TOOLS, [LS], "", False, [S]),
    ("d4-same-line", CALL_BASH + " </function></tool_call>", TOOLS, [LS], "", False, [S, S]),
    ("d4-bare-then-two-tool-call", "<function=bash>\n" + CMD + "</function>\n</tool_call>\n</tool_call>", TOOLS,
     [LS], "", False, [S]),
    ("d4-run-then-text", CALL_BASH + "\n</function>\n</tool_call>\nDone.", TOOLS, [LS], "Done.", False, [S, S]),
    ("d4-between-calls", CALL_BASH + "\n</function>\n" + CALL_READ, TOOLS, [LS, RA], "", False, [S]),
    ("d4-after-recovered-call", "<parameter=bash>\n" + CMD + "</function>\n</tool_call>\n</function>", TOOLS, [LS],
     "", False, [P, S]),
    # inside a call, drifted closers already close the value / function (unchanged, not logged)
    ("d4-drifted-inside-call", "<tool_call>\n<function=bash>\n<parameter=command>\nls -la\n</parameter_x>\n"
     "</function_invocation>\n</tool_call>", TOOLS, [LS], "", False, []),
    # -- D5 value-on-opener-line
    # stray closers and the value-on-opener-line space name no tool: also without tools (docs/drift.md)
    ("d4-no-tools", "<tool_call>\n<function=f>\n<parameter=a>\nx\n</parameter>\n</function>\n</function>\n"
     "</tool_call>", None, [("f", {"a": "x"})], "", False, [S]),
    ("d5-no-tools", "<tool_call>\n<function=f>\n<parameter=a> x\n</parameter>\n</function>\n</tool_call>", None,
     [("f", {"a": "x"})], "", False, [V]),
    ("d5-space", "<tool_call>\n<function=bash>\n<parameter=command> ls -la\n</parameter>\n</function>\n</tool_call>",
     TOOLS, [LS], "", False, [V]),
    ("d5-tab", "<tool_call>\n<function=bash>\n<parameter=command>\tls -la\n</parameter>\n</function>\n</tool_call>",
     TOOLS, [LS], "", False, [V]),
    ("d5-inline", "<tool_call>\n<function=bash>\n<parameter=command> ls -la</parameter>\n</function>\n</tool_call>",
     TOOLS, [LS], "", False, [V]),
    ("d5-two-params", "<tool_call>\n<function=write_file>\n<parameter=path> a.md\n</parameter>\n"
     "<parameter=content> hello\n</parameter>\n</function>\n</tool_call>", TOOLS,
     [("write_file", {"path": "a.md", "content": "hello"})], "", False, [V, V]),
    ("d5-in-recovered-call", "<tool_call>\n<parameter=bash>\n<parameter=command> ls -la\n</parameter>\n</function>\n"
     "</tool_call>", TOOLS, [LS], "", False, [P, V]),
    # -- issue 20: attribute-opener (also in <tool_use> / <function_calls>, as Claude Code prompts show it)
    ("a-function-name", '<function name="bash">\n<parameter name="command">ls -la</parameter>\n</function>', TOOLS,
     [LS], "", False, [A]),
    ("a-invoke", '<invoke name="bash">\n' + CMD + "</invoke>", TOOLS, [LS], "", False, [A]),
    ("a-invoke-attr-params", '<invoke name="write_file">\n<parameter name="path">a.md</parameter>\n'
     '<parameter name="content">hi\nthere</parameter>\n</invoke>', TOOLS,
     [("write_file", {"path": "a.md", "content": "hi\nthere"})], "", False, [A]),
    ("a-tool-use-wrapper", '<tool_use>\n<invoke name="bash">\n<parameter name="command">ls -la</parameter>\n'
     "</invoke>\n</tool_use>", TOOLS, [LS], "", False, [A]),
    ("a-function-calls-two", '<function_calls>\n<invoke name="bash">\n<parameter name="command">ls -la</parameter>'
     '\n</invoke>\n<invoke name="read">\n<parameter name="path">a.md</parameter>\n</invoke>\n</function_calls>',
     TOOLS, [LS, RA], "", False, [A, A]),
    ("a-missing-quote", '<tool_call>\n<function name="bash>\n' + CMD + "</function>\n</tool_call>", TOOLS, [LS], "",
     False, [A]),
    ("a-single-quotes-mixed", "<function name='write_file'>\n<parameter name=\"path\">a.md</parameter>\n"
     "<parameter=content>\nhi\n</parameter>\n</function>", TOOLS,
     [("write_file", {"path": "a.md", "content": "hi"})], "", False, [A]),
    ("a-after-prose", 'Listing.\n\n<function name="bash">\n' + CMD + "</function>", TOOLS, [LS], "Listing.", False,
     [A]),
    ("a-zero-args", '<function name="get_time">\n</function>', TOOLS, [("get_time", {})], "", False, [A]),
    ("a-attr-value-without-closer", '<invoke name="write_file">\n<parameter name="path">a.md\n'
     '<parameter name="content">hi</parameter>\n</invoke>', TOOLS, [("write_file", {"path": "a.md", "content": "hi"})],
     "", False, [A]),
    # -- attribute-parameter: <parameter name="KEY"> in an ordinary call to a declared tool (one record per call)
    ("ap-in-function-call", '<tool_call>\n<function=write_file>\n<parameter name="path">a.md</parameter>\n'
     '<parameter name="content">\nhi\n</parameter>\n</function>\n</tool_call>', TOOLS,
     [("write_file", {"path": "a.md", "content": "hi"})], "", False, [AP]),
    ("ap-bare-function", '<function=bash>\n<parameter name="command">ls -la</parameter>\n</function>', TOOLS, [LS],
     "", False, [AP]),
    ("ap-mixed-two-calls", '<tool_call>\n<function=search>\n<parameter name="limit">3</parameter>\n'
     "<parameter=query>\nfoo\n</parameter>\n</function>\n</tool_call>\n<tool_call>\n<function=read>\n"
     '<parameter name="path">a.md</parameter>\n</function>\n</tool_call>', TOOLS,
     [("search", {"limit": 3, "query": "foo"}), RA], "", False, [AP, AP]),
    # after a "</parameter>" of the template's form, '<parameter name=' is still value text (see docs/drift.md)
    ("ap-after-template-parameter", '<tool_call>\n<function=search>\n<parameter=query>\nfoo\n</parameter>\n'
     '<parameter name="limit">3</parameter>\n</function>\n</tool_call>', TOOLS,
     [("search", {"query": 'foo\n</parameter>\n<parameter name="limit">3'})], "", False, []),
    # -- name-tag
    ("nt-tool-name", "<tool_name>bash</tool_name>\n" + CMD + "</function>", TOOLS, [LS], "", False, [NT]),
    ("nt-name-wrapped", "<tool_call>\n<name>read</name>\n" + READ_A + "</function>\n</tool_call>", TOOLS, [RA], "",
     False, [NT]),
    # -- name-on-next-line
    ("nl-name-parameter-closer", "<name>\nbash\n</parameter>\n" + CMD + "</function>", TOOLS, [LS], "", False, [NL]),
    ("nl-function-name", "<tool_call>\n<function=name>\nbash\n" + CMD + "</function>\n</tool_call>", TOOLS, [LS],
     "", False, [NL]),
    ("nl-parameter-name", "<parameter=name>\nread\n</parameter>\n" + READ_A + "</function>", TOOLS, [RA], "", False,
     [NL]),
    # -- json-head-xml
    ("jx-function-eq-gt", '{"function=bash>\n' + CMD + "</function>", TOOLS, [LS], "", False, [JX]),
    ("jx-function-eq-quoted", '<tool_call>\n{"function="bash">\n' + CMD + "</function>\n</tool_call>", TOOLS, [LS],
     "", False, [JX]),
    ("jx-name-colon", '<tool_call>\n{"name": "read",\n' + READ_A + "</function>\n</tool_call>", TOOLS, [RA], "",
     False, [JX]),
    ("jx-name-colon-bare-after-prose", 'Reading.\n{"name": "read",\n' + READ_A + "</function>", TOOLS, [RA],
     "Reading.", False, [JX]),
    # -- json-arguments
    ("ja-function-tag", '<function>bash</function>\n{"command": "ls -la"}', TOOLS, [LS], "", False, [JA]),
    ("ja-function-tag-wrapped-typed", '<tool_call>\n<function>search</function>\n{"query": "foo", "limit": "5"}\n'
     "</tool_call>", TOOLS, [("search", {"query": "foo", "limit": 5})], "", False, [JA]),
    ("ja-name-arguments", '<name>bash, "arguments": {"command": "ls -la"}}', TOOLS, [LS], "", False, [JA]),
    ("ja-name-arguments-open-head", '<tool_call>\n<name>read, "arguments": {"path": "a.md"}\n</tool_call>', TOOLS,
     [RA], "", False, [JA]),
    # -- hermes-under-function
    ("hf-inline", '<function>{"name": "bash", "arguments": {"command": "ls -la"}}</function>', TOOLS, [LS], "",
     False, [HF]),
    ("hf-wrapped-then-text", '<tool_call>\n<function>\n{"name": "read", "arguments": {"path": "a.md"}}\n'
     "</function>\n</tool_call>\nDone.", TOOLS, [RA], "Done.", False, [HF]),
    # -- closer-residue (right after a call, on its own)
    ("r-tool", CALL_BASH + "\ntool>", TOOLS, [LS], "", False, [R]),
    ("r-call-then-text", CALL_BASH + "\n_call>\nDone.", TOOLS, [LS], "Done.", False, [R]),
    ("r-lt-slash-tool", CALL_BASH + "\n</tool", TOOLS, [LS], "", False, [R]),
    ("r-after-bare-call", "<function=bash>\n" + CMD + "</function>\ntool_call>", TOOLS, [LS], "", False, [R]),
    ("r-no-tools", "<tool_call>\n<function=f>\n</function>\n</tool_call>\ncall>", None, [("f", {})], "", False, [R]),
    # -- inferred-name: no name at all, an unopened </function>, the keys fit exactly one declared tool
    ("i-unopened-function", "<parameter=command>\nls -la\n</parameter>\n</function>", TOOLS, [LS], "", False, [I]),
    ("i-after-prose-typed", "Searching.\n\n<parameter=query>\nfoo\n</parameter>\n<parameter=limit>\n3\n</parameter>\n"
     "</function>\n</tool_call>\nDone.", TOOLS, [("search", {"query": "foo", "limit": 3})], "Searching.Done.", False,
     [I]),
    ("i-tool-call-no-function", "<tool_call>\n<parameter=command>\nls -la\n</parameter>\n</function>\n</tool_call>",
     TOOLS, [LS], "", False, [I]),
    # the keys are read by a probe of the held text: its records are not logged twice
    ("i-value-on-opener-line", "<parameter=command> ls -la\n</parameter>\n</function>", TOOLS, [LS], "", False,
     [I, V]),
    ("i-required-keys", "<parameter=env>\nprod\n</parameter>\n<parameter=tag>\nv1\n</parameter>\n</function>",
     [*TOOLS, DEPLOY], [("deploy", {"env": "prod", "tag": "v1"})], "", False, [I]),
    # a made-up tool result ends; a drifted call after it is recovered
    ("result-then-call", "<tool_response>\nok\n</tool_response>\n<invoke name=\"bash\">\n" + CMD + "</invoke>",
     TOOLS, [LS], "<tool_response>\nok\n</tool_response>", True, [A]),
    # already working (in the grammar; pinned, not logged)
    ("zero-args-newline", "<tool_call>\n<function=get_time>\n</function>\n</tool_call>", TOOLS, [("get_time", {})],
     "", False, []),
    ("zero-args-inline", "<tool_call>\n<function=get_time></function>\n</tool_call>", TOOLS, [("get_time", {})],
     "", False, []),
    ("zero-args-newline-bare", "<function=get_time>\n</function>", TOOLS, [("get_time", {})], "", False, []),
    ("zero-args-inline-bare", "<function=get_time></function>", TOOLS, [("get_time", {})], "", False, []),
    ("inline-value", "<tool_call>\n<function=search>\n<parameter=query>foo</parameter>\n<parameter=limit>10"
     "</parameter>\n</function>\n</tool_call>", TOOLS, [("search", {"query": "foo", "limit": 10})], "", False, []),
]

# Guard rails: each looks like a drift shape but must stay exactly what it is today (no log).
RAILS = [
    # -- issue 20 shapes: undeclared names
    ("rail-a-undeclared", '<function name="nope">\n<parameter name="x">1</parameter>\n</function>', TOOLS, [],
     VERBATIM, True, []),
    ("rail-nt-undeclared", "<tool_name>nope</tool_name>\n<parameter=x>\n1\n</parameter>\n</function>", TOOLS, [],
     VERBATIM, True, []),
    ("rail-nl-undeclared", "<tool_call>\n<function=name>\nnope\n<parameter=x>\n1\n</parameter>\n</function>\n"
     "</tool_call>", TOOLS, [("name", {"x": "1"})], "", False, []),
    ("rail-jx-undeclared", '{"function=nope>\n<parameter=x>\n1\n</parameter>\n</function>', TOOLS, [], VERBATIM,
     True, []),
    ("rail-ja-undeclared", '<function>nope</function>\n{"x": 1}', TOOLS, [], VERBATIM, True, []),
    ("rail-hf-undeclared", '<function>{"name": "nope", "arguments": {}}</function>', TOOLS, [], VERBATIM, True, []),
    ("rail-a-no-tools", '<invoke name="bash">\n' + CMD + "</invoke>", None, [], VERBATIM, True, []),
    # -- not a call frame: nothing after the opener goes on like a call
    ("rail-a-prose", 'Use <function name="bash"> to run commands.', TOOLS, [], VERBATIM, True, []),
    ("rail-nt-line-then-prose", "<tool_name>bash</tool_name>\nruns shell commands.", TOOLS, [], VERBATIM, True, []),
    ("rail-jx-hermes-json-bare", '{"name": "bash", "arguments": {"command": "ls"}}', TOOLS, [], VERBATIM, True, []),
    # a JSON opener followed by prose: its text is content as soon as the prose shows (not held to the end)
    ("rail-hf-prose-then-call", '<function>{"name": "bash" is the format\n' + CALL_READ, TOOLS, [RA],
     '<function>{"name": "bash" is the format', True, []),
    ("rail-ja-name-arguments-prose", '<name>bash, "arguments": {"command": maybe}}\nok', TOOLS, [], VERBATIM, True,
     []),
    ("rail-ja-function-tag-prose", '<function>bash</function> takes {"command": "ls"}', TOOLS, [], VERBATIM, True, []),
    # -- mid-line (prose, tables, inline code): only an opener at a line start opens a call
    ("rail-a-mid-line", 'The model wrote <function name="bash">\n' + CMD + "</function>", TOOLS, [], VERBATIM, True,
     []),
    ("rail-table", "| shape | example |\n|---|---|\n| attribute | <invoke name=\"bash\">\n<parameter=command>\nls\n"
     "</parameter>\n</invoke> |", TOOLS, [], VERBATIM, True, []),
    ("rail-inline-code", 'Write `{"function=bash>\n<parameter=command>\nls\n</parameter>\n</function>` to call it.',
     TOOLS, [], VERBATIM, True, []),
    # -- a call inside a made-up tool result is a transcript, not a call (drifted shapes only)
    ("rail-result-attribute", "<tool_response>\n<invoke name=\"bash\">\n" + CMD + "</invoke>\n</tool_response>",
     TOOLS, [], VERBATIM, True, []),
    ("rail-result-d1", "<result>\n<parameter=bash>\n" + CMD + "</function>\n</result>", TOOLS, [], VERBATIM, True,
     []),
    ("rail-output-name-tag", "<output>\n<tool_name>bash</tool_name>\n" + CMD + "</function>\n</output>", TOOLS, [],
     VERBATIM, True, []),
    # -- invented tags, a plain line naming a tool, a lone <tool_call
    ("rail-invented-tag", "<terminal_command>\nls -la\n</terminal_command>", TOOLS, [], VERBATIM, True, []),
    ("rail-plain-line-naming-tool", "bash\n<parameter=command>\nls -la\n</parameter>\n</function>", TOOLS, [],
     VERBATIM, True, []),
    ("rail-lone-tool-call", "Running it.\n<tool_call", TOOLS, [], VERBATIM, True, []),
    ("rail-lone-tool-call-then-opener", "<tool_call\n<function name=\"bash\">", TOOLS, [], VERBATIM, True, []),
    # -- closer residue only right after a call, on its own
    ("rail-r-after-prose", CALL_BASH + "\nDone. tool>", TOOLS, [LS], "Done. tool>", True, []),
    ("rail-r-words", CALL_BASH + "\ncall> me maybe", TOOLS, [LS], "call> me maybe", True, []),
    ("rail-r-not-after-call", "tool>\n_call>", TOOLS, [], VERBATIM, True, []),
    ("rail-ap-bare-undeclared", '<function=nope>\n<parameter name="x">1</parameter>\n</function>', TOOLS, [],
     VERBATIM, True, []),
    # -- an attribute header in a call to an undeclared function: dropped as today
    ("rail-ap-undeclared-call", '<tool_call>\n<function=nope>\n<parameter name="x">1</parameter>\n</function>\n'
     "</tool_call>", TOOLS, [("nope", {})], "", False, []),
    # -- inferred-name: not exactly one fitting tool, no evidence, or not at a line start
    ("rail-i-two-tools-fit", "<parameter=path>\na.md\n</parameter>\n</function>", TOOLS, [], VERBATIM, True, []),
    ("rail-i-unknown-key", "<parameter=command>\nls\n</parameter>\n<parameter=zz>\n1\n</parameter>\n</function>",
     TOOLS, [], VERBATIM, True, []),
    ("rail-i-required-missing", "<parameter=env>\nprod\n</parameter>\n</function>", [*TOOLS, DEPLOY], [], VERBATIM,
     True, []),
    ("rail-i-tool-call-no-fit", "<tool_call>\n<parameter=path>\na.md\n</parameter>\n</function>\n</tool_call>",
     TOOLS, [], VERBATIM, True, []),
    ("rail-i-no-closer", "<parameter=command>\nls -la\n</parameter>", TOOLS, [], VERBATIM, True, []),
    ("rail-i-mid-line", "Set <parameter=command>\nls\n</parameter>\n</function>", TOOLS, [], VERBATIM, True, []),
    ("rail-i-not-a-paragraph", "Set it:\n<parameter=command>\nls\n</parameter>\n</function>", TOOLS, [], VERBATIM,
     True, []),
    ("rail-i-then-call", "<parameter=command>\nls\n</parameter>\n" + CALL_READ, TOOLS, [RA],
     "<parameter=command>\nls\n</parameter>", True, []),
    ("rail-i-in-result", "<tool_response>\n<parameter=command>\nls\n</parameter>\n</function>\n</tool_response>",
     TOOLS, [], VERBATIM, True, []),
    # -- a tool named "name" is called by <function=name> (no placeholder reading)
    ("rail-nl-tool-named-name", "<tool_call>\n<function=name>\nbash\n" + CMD + "</function>\n</tool_call>",
     [*TOOLS, tool("name", command=STR)], [("name", {"command": "ls -la"})], "", False, []),
    # the name is not a declared tool
    ("rail-d1-undeclared-wrapped", "<tool_call>\n<parameter=nope>\n" + CMD + "</function>\n</tool_call>", TOOLS, [],
     VERBATIM, True, []),
    ("rail-d1-undeclared-bare", "<parameter=nope>\n" + CMD + "</function>", TOOLS, [], VERBATIM, True, []),
    ("rail-d1-no-tools", "<tool_call>\n<parameter=bash>\n" + CMD + "</function>\n</tool_call>", None, [], VERBATIM,
     True, []),
    ("rail-d2-undeclared-parameter", "<tool_call>\n<parameter=function=nope>\n" + CMD + "</function>\n</tool_call>",
     TOOLS, [], VERBATIM, True, []),
    # unchanged: a call named "function=nope" (a call to an undeclared function, as today)
    ("rail-d2-undeclared-function", "<tool_call>\n<function=function=nope>\n" + CMD + "</function>\n</tool_call>",
     TOOLS, [("function=nope", {"command": "ls -la"})], "", False, []),
    ("rail-d3-undeclared", '<tool_call>\n{"function=nope", "arguments": {"command": "ls"}}\n</tool_call>', TOOLS, [],
     VERBATIM, True, []),
    ("rail-d3-undeclared-function-key", '<tool_call>\n{"function": "nope", "arguments": {"command": "ls"}}\n'
     "</tool_call>", TOOLS, [], VERBATIM, True, []),
    ("rail-d3-arguments-not-object", '<tool_call>\n{"function=bash", "arguments": [1, 2]}\n</tool_call>', TOOLS, [],
     VERBATIM, True, []),
    ("rail-d3-not-json-after-head", '<tool_call>\n{"function=bash" "arguments": {"command": "ls"}}\n</tool_call>',
     TOOLS, [], VERBATIM, True, []),
    # prose that mentions the tags
    ("rail-prose-parameter-tool", "Use <parameter=bash> to run shell commands.", TOOLS, [], VERBATIM, True, []),
    ("rail-prose-parameter-tool-line", "The opener is\n<parameter=bash>\nfollowed by the command.", TOOLS, [],
     VERBATIM, True, []),
    # Markdown fences: any shape inside stays content
    ("rail-fence-d1", "Example:\n```\n<tool_call>\n<parameter=bash>\n" + CMD + "</function>\n</tool_call>\n```",
     TOOLS, [], VERBATIM, True, []),
    ("rail-fence-d1-bare", "```xml\n<parameter=bash>\n" + CMD + "</function>\n```\nThat's the format.", TOOLS, [],
     VERBATIM, True, []),
    ("rail-fence-d2-d3-d4-d5", "Shapes:\n~~~\n<function=function=bash>\n<parameter=command> ls\n</parameter>\n"
     "</function>\n</function>\n<tool_call>\n{\"function=bash\", \"arguments\": {\"command\": \"ls\"}}\n</tool_call>"
     "\n~~~", TOOLS, [], VERBATIM, True, []),
    # nested junk whose name is not a tool
    ("rail-nested-junk", "<parameter=client>\n<parameter=calls>\n[]\n</parameter>\n</parameter>\n</function>", TOOLS,
     [], VERBATIM, True, []),
    ("rail-nested-junk-wrapped", "<tool_call>\n<parameter=client>\n<parameter=calls>\n[]\n</parameter>\n"
     "</function>\n</tool_call>", TOOLS, [], VERBATIM, True, []),
    # foreign wrappers whose tool cannot be named
    ("rail-foreign-tool-use-undeclared", '<tool_use>\n<invoke name="nope">\n<parameter name="command">ls -la'
     "</parameter>\n</invoke>\n</tool_use>", TOOLS, [], VERBATIM, True, []),
    # NAME is a declared parameter of the open call: it stays a parameter (its value ends at the
    # line-start <parameter=args>, a declared parameter not given yet, as today)
    ("rail-declared-parameter-of-open-call", "<tool_call>\n<function=run>\n<parameter=bash>\n<parameter=args>\n-la\n"
     "</parameter>\n</function>\n</tool_call>", TOOLS, [("run", {"bash": "", "args": "-la"})], "", False, []),
    # the open call is to an undeclared function: <parameter=bash> stays a parameter (no schema:
    # any line-start <parameter= ends a value, as today)
    ("rail-undeclared-open-call", "<tool_call>\n<function=nope>\n<parameter=bash>\n" + CMD
     + "</function>\n</tool_call>", TOOLS, [("nope", {"bash": "", "command": "ls -la"})], "", False, []),
    # a value is never cut mid-line, nor by <function=function=TOOL>
    ("rail-value-param-tool-midline", "<tool_call>\n<function=write_file>\n<parameter=content>\nx <parameter=bash>\n"
     "<parameter=command>\ny\n</parameter>\n<parameter=path>\na.md\n</parameter>\n</function>\n</tool_call>", TOOLS,
     [("write_file", {"content": "x <parameter=bash>\n<parameter=command>\ny", "path": "a.md"})], "", False, []),
    ("rail-value-function-function", "<tool_call>\n<function=write_file>\n<parameter=content>\n"
     "<function=function=bash>\n<parameter=command>\nls\n</parameter>\n<parameter=path>\na.md\n</parameter>\n"
     "</function>\n</tool_call>", TOOLS,
     [("write_file", {"content": "<function=function=bash>\n<parameter=command>\nls", "path": "a.md"})], "", False,
     []),
    # a closer with text between it and the call's end is prose
    ("rail-d4-closer-after-prose", CALL_BASH + "\nDone. </function>", TOOLS, [LS], "Done. </function>", True, []),
    ("rail-d4-closer-line-after-prose", CALL_BASH + "\nDone.\n</function>\n</tool_call>", TOOLS, [LS],
     "Done.\n</function>\n</tool_call>", True, []),
    # D5: only exactly one space or tab before a character that is not whitespace nor "<"
    ("rail-d5-two-spaces", "<tool_call>\n<function=write_file>\n<parameter=content>    return x\n</parameter>\n"
     "</function>\n</tool_call>", TOOLS, [("write_file", {"content": "    return x"})], "", False, []),
    ("rail-d5-space-value", "<tool_call>\n<function=write_file>\n<parameter=content> </parameter>\n</function>\n"
     "</tool_call>", TOOLS, [("write_file", {"content": " "})], "", False, []),
    ("rail-d5-space-newline", "<tool_call>\n<function=write_file>\n<parameter=content> \nx\n</parameter>\n"
     "</function>\n</tool_call>", TOOLS, [("write_file", {"content": " \nx"})], "", False, []),
    ("rail-d5-space-lt", "<tool_call>\n<function=write_file>\n<parameter=content> <b>x</b>\n</parameter>\n"
     "</function>\n</tool_call>", TOOLS, [("write_file", {"content": " <b>x</b>"})], "", False, []),
]

ALL = CASES + RAILS


def _want_content(text: str, want) -> str:
    return text if want is VERBATIM else want


@pytest.mark.parametrize("cid,text,tools,want_calls,want_content,allow_markup,shapes", ALL, ids=[c[0] for c in ALL])
def test_drift(driver, cid, text, tools, want_calls, want_content, allow_markup, shapes):
    want_content = _want_content(text, want_content)
    whole = runs.whole(text, tools)
    problems = whole_problems(whole)
    problems += expected_problems("non-streaming", whole.calls, whole.content, want_calls, want_content)
    assert not problems, "\n".join([*problems, whole.describe()])
    for mode, seed, finish in runs.split_plans(seed_base=zlib.crc32(cid.encode()) % 1000):
        run = runs.stream(text, tools, mode, seed, finish)
        check_run(run, whole, allow_markup=allow_markup)
        problems = expected_problems(f"streamed {run.label()}", run.calls, run.content, want_calls, want_content)
        assert not problems, "\n".join([*problems, run.describe()])


# ----------------------------------------------------------------------------- the INFO log

LOGGER = "qwen_xml_toolparser"
_DRIFT = re.compile(r"drift recovered: ([a-z-]+)")


def _shapes(records) -> list[str]:
    """The shapes of the "drift recovered" records (INFO, logger qwen_xml_toolparser), in order."""
    out = []
    for r in records:
        m = _DRIFT.search(r.getMessage())
        if m:
            assert r.name == LOGGER and r.levelno == logging.INFO, (r.name, r.levelname, r.getMessage())
            out.append(m.group(1))
    return out


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@contextmanager
def _drift_log():
    """The parser's records at INFO and above (for hypothesis tests, where caplog cannot be used)."""
    lg = logging.getLogger(LOGGER)
    handler, level = _Collect(), lg.level
    lg.addHandler(handler)
    lg.setLevel(logging.INFO)
    try:
        yield handler.records
    finally:
        lg.removeHandler(handler)
        lg.setLevel(level)


def _core_stream(text: str, tools, pieces: list[str]):
    """Feed ``pieces`` to a core StreamParser: (content, [(name, args dict)], [ToolCallEnd])."""
    parser = StreamParser(tools)
    events = []
    for piece in pieces:
        events += parser.feed(piece)
    events += parser.finish()
    content, names, args, ends = [], {}, {}, []
    for e in events:
        if isinstance(e, ContentDelta):
            content.append(e.text)
        elif isinstance(e, ToolCallStart):
            names[e.index], args[e.index] = e.name, []
        elif isinstance(e, ArgumentsDelta):
            args[e.index].append(e.text)
        elif isinstance(e, ToolCallEnd):
            ends.append(e)
    calls = [(names[i], json.loads("".join(args[i]))) for i in sorted(names)]
    return "".join(content), calls, ends


def _calls_problems(label, got, want) -> list[str]:
    if [n for n, _ in got] != [n for n, _ in want]:
        return [f"{label}: calls {got}, expected {want}"]
    return [f"{label}: {n}: {d}" for (n, a), (_, w) in zip(got, want, strict=True) if (d := first_difference(a, w))]


@pytest.mark.parametrize("cid,text,tools,want_calls,want_content,allow_markup,shapes", ALL, ids=[c[0] for c in ALL])
def test_drift_log(caplog, monkeypatch, cid, text, tools, want_calls, want_content, allow_markup, shapes):
    """Each recovery is logged once at INFO as ``drift recovered: <shape>`` (non-streaming, and
    streamed one character at a time through the core StreamParser); nothing for the rails and the
    forms that already worked."""
    monkeypatch.setattr(logging.getLogger(LOGGER), "propagate", True)  # the CLI turns it off in-process
    want_content = _want_content(text, want_content)
    caplog.set_level(logging.INFO, logger=LOGGER)
    result = parse(text, tools)
    got = [(c.name, json.loads(c.arguments)) for c in result.tool_calls]
    problems = _calls_problems("parse()", got, want_calls)
    whole_shapes = _shapes(caplog.records)
    if sorted(whole_shapes) != sorted(shapes):
        problems.append(f"parse(): drift records {whole_shapes}, expected {shapes}")
    caplog.clear()
    content, calls, ends = _core_stream(text, tools, list(text))
    problems += _calls_problems("char by char", calls, want_calls)
    if content != want_content:
        problems.append(f"char by char: content {content!r}, expected {want_content!r}")
    if any(e.truncated for e in ends):
        problems.append(f"char by char: a call ended truncated: {ends}")
    char_shapes = _shapes(caplog.records)
    if sorted(char_shapes) != sorted(shapes):
        problems.append(f"char by char: drift records {char_shapes}, expected {shapes}")
    assert not problems, "\n".join([*problems, f"input={text!r}"])


WELL_FORMED = [
    CALL_BASH,
    "Checking both.\n\n" + CALL_BASH + "\n" + CALL_READ,
    '<tool_call>\n{"name": "bash", "arguments": {"command": "ls -la"}}\n</tool_call>',
    "<function=bash>\n" + CMD + "</function>\n</tool_call>",  # bare call + its </tool_call>: not drift
    "<tool_call>\n<function=write_file>\n<parameter=content>\ndef f():\n    return '</parameter>'\n\n</parameter>\n"
    "</function>\n</tool_call>",
    "Just text, with <b>tags</b> and a ```fence```.",
]


def test_no_drift_log_for_well_formed_output(caplog, monkeypatch):
    monkeypatch.setattr(logging.getLogger(LOGGER), "propagate", True)
    caplog.set_level(logging.INFO, logger=LOGGER)
    texts = [(t, TOOLS) for t in WELL_FORMED]
    for s in range(25):
        turn = gen.random_turn(20_000 + s)
        if _drift_ambiguity(turn.rendered, turn.tools) is None:
            texts.append((turn.text, turn.tools))
    assert len(texts) > len(WELL_FORMED) + 15
    for text, tools in texts:
        caplog.clear()
        parse(text, tools)
        _core_stream(text, tools, list(text))
        assert _shapes(caplog.records) == [], f"drift records for well-formed output {text!r}"


# ----------------------------------------------------------------------------- property: mutated renders


def _tool_names(tools) -> set[str]:
    return {t["function"]["name"] for t in tools or []}


def _declared(tools) -> dict[str, tuple[str, ...]]:
    return {t["function"]["name"]: tuple(t["function"]["parameters"]["properties"]) for t in tools or []}


_LINE_PARAM = re.compile(r"\n<parameter=([^>\n<]*)")


def _drift_ambiguity(r: Rendered, tools) -> str | None:
    """A value that the drift rules may read as markup: a line-start ``<parameter=TOOL`` (or
    ``<parameter=function=TOOL``) for a declared tool (D1 c; conservative: whatever the open call)."""
    names = _tool_names(tools)
    for sp in r.spans:
        for m in _LINE_PARAM.finditer(r.text, max(sp.start - 1, 0), sp.end):  # from the "\n" before it
            name = m.group(1).strip()
            if name in names or (name.startswith("function=") and name[len("function="):].strip() in names):
                return f"value of {sp.key!r} has a line-start <parameter={name}> and {name!r} is a tool"
    return None


class _Seg:
    """A piece of the mutated text, the value spans inside it (relative), and the piece's text in
    the undeclared variant (the mutated opener with another name) when it differs."""

    def __init__(self, text: str, spans: list[ValueSpan] | None = None, alt: str | None = None) -> None:
        self.text = text
        self.spans = spans or []
        self.alt = alt


def _call_segments(turn, i: int, declared):
    """(head, params, tail) of call i as the template renders it."""
    name, args = turn.calls[i]
    r = render_turn("", [(name, list(args.items()))], turn.variant, turn.style, declared)
    head = f"<tool_call>\n<function={name}>\n"
    tail = "</function>\n</tool_call>"
    assert r.text.startswith(head) and r.text.endswith(tail), r.text
    spans = [ValueSpan(s.start - len(head), s.end - len(head), i, s.key, s.given_before, s.declared)
             for s in r.spans]
    return head, _Seg(r.text[len(head):len(r.text) - len(tail)], spans), tail


def _assemble(segs: list[_Seg]) -> tuple[Rendered, str]:
    parts, spans, pos = [], [], 0
    for s in segs:
        parts.append(s.text)
        spans += [ValueSpan(x.start + pos, x.end + pos, x.call, x.key, x.given_before, x.declared) for x in s.spans]
        pos += len(s.text)
    return Rendered("".join(parts), spans), "".join(s.alt if s.alt is not None else s.text for s in segs)


CLOSERS = ["</function>", "</tool_call>", "</parameter>", "</parameter_x>", "</function_invocation>", "</parameter1>"]
D3_HEADS = ['"function=%s"', '"name=%s"', '"name=\\"%s\\""', "\"name='%s'\"", '"function = %s"', '"name= %s"']
D3_FUNCTION_KEY = '"function": "%s"'  # valid JSON with "function" for "name": "arguments" (an object) only
EXAMPLES = 200 if runs.THOROUGH else 40  # per shape
# No shrinking in CI: a failing example is reported as found (its note() shows the shape, the turn
# and the mutated text), which keeps a failing run of this file at seconds instead of minutes.
PHASES = (Phase.explicit, Phase.reuse, Phase.generate) + ((Phase.shrink,) if runs.THOROUGH else ())
SHAPES = ["d1-wrapped", "d1-bare", "d1-body", "d1-value", "d2-function", "d2-parameter", "d3", "d4", "d4-bare",
          "d5", "none", "json-control",
          # issue 20
          "attr", "name-tag", "name-next-line", "json-head", "json-args", "hermes-function", "residue", "inferred"]
NAMED_SHAPES = ("d1-wrapped", "d1-bare", "d1-body", "d1-value", "d2-function", "d2-parameter", "d3",
                "attr", "name-tag", "name-next-line", "json-head", "json-args", "hermes-function")
# Openers of the issue-20 shapes with XML parameters: (opener with %s for the name, tail, shape).
XML_OPENERS = {
    "attr": [('<function name="%s">\n', None, A), ('<tool_call>\n<function name="%s>\n', None, A),
             ("<invoke name='%s'>\n", "</invoke>", A), ('<tool_use>\n<invoke name="%s">\n', "</invoke>\n</tool_use>", A)],
    "name-tag": [("<tool_name>%s</tool_name>\n", "</function>", NT), ("<tool_call>\n<name>%s</name>\n", None, NT)],
    "name-next-line": [("<name>\n%s\n</parameter>\n", "</function>", NL), ("<tool_call>\n<function=name>\n%s\n", None, NL),
                       ("<parameter=name>\n%s\n", "</function>", NL)],
    "json-head": [('{"function=%s>\n', "</function>", JX), ('<tool_call>\n{"function="%s">\n', None, JX),
                  ('<tool_call>\n{"name": "%s",\n', None, JX)],
}
RESIDUES = ["tool>", "_call>", "call>", "tool_call>", "</tool", "/tool_call>"]
# Value text that a call opened by an attribute opener reads as markup, and text that ends a held nameless call.
_ATTR_MARKUP = ("<parameter name", "</invoke", "</tool_use")
_NAMELESS_ENDS = ("</function>", "<tool_call>", "<function=")


def _json_args(draw, args: dict) -> str | None:
    """The arguments as JSON text, or None when they hold "</tool_call>" (a body ends at the first one,
    docs/behaviour.md)."""
    text = json.dumps(args, ensure_ascii=draw(st.booleans()))
    return None if "</tool_call>" in text else text


def _mutate(draw, turn, shape: str, i: int, other: str):
    """The turn's text with call i mutated into ``shape``: (Rendered, the same text with the
    mutated opener naming ``other`` instead, expected drift shapes), or None when the shape does
    not apply to this call."""
    name = turn.calls[i][0]
    declared = _declared(turn.tools)
    segs: list[_Seg] = []
    if turn.content:
        segs.append(_Seg(turn.content + "\n\n"))
    logs: list[str] = []
    for k in range(len(turn.calls)):
        head, params, tail = _call_segments(turn, k, declared)
        sep = "\n" if k else ""
        if k != i:
            segs += [_Seg(sep + head), params, _Seg(tail)]
            continue
        opener = None  # the mutated opener, "%s" for the name
        if shape == "d1-wrapped":
            opener, logs = "<tool_call>\n<parameter=%s>\n", [P]
        elif shape == "d1-bare":
            opener, logs = "<parameter=%s>\n", [P]
            if draw(st.booleans()):
                tail = "</function>"
        elif shape in ("d1-body", "d1-value"):
            if k == 0:
                return None
            prev = turn.calls[k - 1][0]
            if prev not in declared or name in declared[prev]:
                return None  # the open call must be to a declared tool without a parameter `name`
            prev_tail = segs.pop()
            assert prev_tail.text == "</function>\n</tool_call>"
            if shape == "d1-value":
                prev_params = segs[-1]
                if not prev_params.text.endswith("\n</parameter>\n"):
                    return None  # no value to leave open
                prev_params.text = prev_params.text[: -len("</parameter>\n")]
            sep, opener, logs = "", "<parameter=%s>\n", [P]
        elif shape == "d2-function":
            opener, logs = "<tool_call>\n<function=function=%s>\n", [D]
        elif shape == "d2-parameter":
            opener = "<tool_call>\n<parameter=function=%s>\n" if draw(st.booleans()) else "<parameter=function=%s>\n"
            logs = [D]
        elif shape in ("d3", "json-control"):
            args = _json_args(draw, turn.calls[k][1])
            if args is None:
                return None
            if shape == "json-control":
                fhead, key = '"name": "%s"', "arguments"
            else:
                fhead = draw(st.sampled_from([*D3_HEADS, D3_FUNCTION_KEY]))
                key = "arguments"
                if fhead != D3_FUNCTION_KEY:
                    key = draw(st.sampled_from(["arguments", "parameters"]))
                    if draw(st.booleans()):
                        args = json.dumps(args)  # the arguments as JSON text
                logs = [F]
            rest = f", {json.dumps(key)}: {args}}}\n</tool_call>"
            segs.append(_Seg(sep + "<tool_call>\n{" + fhead % name + rest,
                             alt=sep + "<tool_call>\n{" + fhead % other + rest))
            continue
        elif shape in XML_OPENERS:
            values = params.text
            if shape == "name-next-line" and "name" in declared:
                return None  # <function=name> calls the tool "name"
            if shape == "attr" and any(m in values for m in _ATTR_MARKUP):
                return None
            opener, new_tail, log = draw(st.sampled_from(XML_OPENERS[shape]))
            if new_tail is not None:
                tail = new_tail
            logs = [log]
        elif shape in ("json-args", "hermes-function"):
            args = _json_args(draw, turn.calls[k][1])
            if args is None:
                return None
            if shape == "hermes-function":
                form = '<function>{"name": "%s", "arguments": ' + args + "}</function>"
                logs = [HF]
            elif draw(st.booleans()):
                form = "<tool_call>\n<function>%s</function>\n" + args + "\n</tool_call>"
                logs = [JA]
            else:
                form = '<name>%s, "arguments": ' + args + "}"
                logs = [JA]
            segs.append(_Seg(sep + form.replace("%s", name, 1), alt=sep + form.replace("%s", other, 1)))
            continue
        elif shape == "residue":
            tail += "\n" + draw(st.sampled_from(RESIDUES))
            logs = [R]
        elif shape == "inferred":
            keys = list(turn.calls[k][1])
            schemas = function_schemas(turn.tools)
            if not keys or fitting_tool(lambda t: keys, schemas) != name:
                return None  # the keys must fit this tool and no other
            if any(m in params.text for m in _NAMELESS_ENDS) or not params.text.startswith("<parameter="):
                return None
            opener, logs = "", [I]
        elif shape in ("d4", "d4-bare"):
            run = draw(st.lists(st.sampled_from(CLOSERS), min_size=1, max_size=3))
            gaps = draw(st.lists(st.sampled_from(["\n", " ", "\n\n", ""]), min_size=len(run), max_size=len(run)))
            if shape == "d4-bare":
                head = f"<function={name}>\n"  # its single </tool_call> is not drift
            gaps[0] = gaps[0] or "\n"
            tail += "".join(g + c for g, c in zip(gaps, run, strict=True))
            logs = [S] * len(run)
        elif shape == "d5":
            hits = 0
            for sp in params.spans:
                v = params.text[sp.start:sp.end]
                if v and not v[0].isspace() and v[0] != "<" and params.text[sp.start - 1] == "\n":
                    space = draw(st.sampled_from([" ", "\t"]))
                    params.text = params.text[: sp.start - 1] + space + params.text[sp.start:]
                    hits += 1
            if not hits:
                return None
            logs = [V] * hits
        if opener == "":  # inferred: no opener at all (content + "\n\n" or a call before: a paragraph)
            segs.append(_Seg(sep))
        elif opener is not None:
            segs.append(_Seg(sep + opener % name, alt=sep + opener % other))
        else:
            segs.append(_Seg(sep + head))
        segs += [params, _Seg(tail)]
    r, alt = _assemble(segs)
    return r, alt, logs


def _pieces(text: str, rng: random.Random) -> list[str]:
    if rng.random() < 0.2 or len(text) < 2:
        return list(text)
    cuts = sorted(rng.sample(range(1, len(text)), min(len(text) - 1, rng.randint(1, 8))))
    return [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]


def _run_core(text, tools, rng):
    """((content, calls, drift shapes) of parse(), the same streamed in random pieces)."""
    with _drift_log() as records:
        whole = parse(text, tools)
        whole_shapes = _shapes(records)
        records.clear()
        content, calls, _ = _core_stream(text, tools, _pieces(text, rng))
        stream_shapes = _shapes(records)
    whole_calls = [(c.name, json.loads(c.arguments)) for c in whole.tool_calls]
    return (whole.content or "", whole_calls, whole_shapes), (content, calls, stream_shapes)


# Markup in the mutated call's values: with an undeclared name the call's text becomes content,
# where such text may legitimately be a call or a drift shape of its own.
_MARKUPISH = ("<parameter=", "<function=", "<tool_call>", "</function", "</tool_call>", "</parameter")


@pytest.mark.parametrize("shape", SHAPES)
@settings(max_examples=EXAMPLES, phases=PHASES)
@given(data=st.data(), seed=st.integers(0, 2 ** 16))
def test_mutated_renders(shape, data, seed):
    """A valid render of random calls, one call to a declared tool mutated into a drift shape, gives
    the original calls and content back (parse() and StreamParser in random pieces) with one
    record per recovered occurrence; with the tool's name undeclared, nothing is recovered.
    "none" (the render itself) and "json-control" (a valid JSON body) must not log."""
    turn = gen.gen_turn(gen.HypoSource(data.draw))
    assume(turn.tools is not None and turn.ambiguous is None)
    # the render itself must parse to its calls (the generator's ambiguity check misses a few
    # drifted closers, e.g. "</parameter]" + newline before a line-start "<parameter=": see the report)
    assume([(c.name, json.loads(c.arguments)) for c in parse(turn.text, turn.tools).tool_calls] == turn.calls)
    names = _tool_names(turn.tools)
    declared = _declared(turn.tools)
    targets = [k for k, (n, _) in enumerate(turn.calls) if n in names]
    if shape in ("d1-body", "d1-value"):  # D1 b / c: the open call is to a declared tool without a parameter n
        targets = [k for k in targets if k and turn.calls[k - 1][0] in declared
                   and turn.calls[k][0] not in declared[turn.calls[k - 1][0]]]
    assume(targets)
    i = data.draw(st.sampled_from(targets))
    name = turn.calls[i][0]
    other = name + "_zz"
    while other in names:
        other += "z"
    mutated = _mutate(data.draw, turn, shape, i, other)
    assume(mutated is not None)
    r, alt, want_shapes = mutated
    # the mutation may change what follows a value (D1 c): the ambiguity rule on the new text
    assume(ambiguity(r) is None and _drift_ambiguity(r, turn.tools) is None)
    note(f"shape={shape} call={i}\n{turn.describe()}\nmutated={r.text!r}")
    rng = random.Random(seed)
    problems = []
    results = _run_core(r.text, turn.tools, rng)
    for label, (content, calls, shapes) in zip(("parse()", "streamed"), results, strict=True):
        problems += _calls_problems(label, calls, turn.calls)
        if content != turn.content:
            problems.append(f"{label}: content {content!r} != {turn.content!r}")
        if sorted(shapes) != sorted(want_shapes):
            problems.append(f"{label}: drift records {shapes}, expected {want_shapes}")
    values = [r.text[sp.start:sp.end] for sp in r.spans if sp.call == i]
    values.append(json.dumps(turn.calls[i][1], ensure_ascii=False))  # the D3 body
    keys = set(turn.calls[i][1])
    if shape in NAMED_SHAPES and not keys & names and not any(m in v for v in values for m in _MARKUPISH):
        note(f"undeclared variant={alt!r}")
        before = sum(1 for k, (n, _) in enumerate(turn.calls) if n == name and k != i)
        for label, (_, calls, shapes) in zip(("undeclared parse()", "undeclared streamed"),
                                             _run_core(alt, turn.tools, rng), strict=True):
            got = [n for n, _ in calls]
            if shapes:
                problems.append(f"{label}: drift records {shapes} for the undeclared name {other!r}")
            if other in got or got.count(name) > before:
                problems.append(f"{label}: calls {got}: the mutated call was recovered under {other!r}")
            if shape == "d2-function" and f"function={other}" not in got:
                problems.append(f"{label}: calls {got}, expected a call named 'function={other}' (as today)")
    assert not problems, "\n".join(problems)


def test_drift_exclusion_rule_examples():
    """The property's extra exclusion (``_drift_ambiguity``): a line-start ``<parameter=TOOL`` in a
    value may legitimately be read as a call (D1 c), so such renders are not used."""
    tools = [tool("bash", a=STR), tool("f", a=STR)]

    def amb(value):
        return _drift_ambiguity(render_turn("", [("f", [("a", value)])], "json", declared=_declared(tools)), tools)

    assert amb("<parameter=bash>\n<parameter=x>")  # at the value's start (after the header's newline)
    assert amb("x\n<parameter= bash >")
    assert amb("x\n<parameter=function=bash>")
    assert not amb("x <parameter=bash>")  # not at a line start
    assert not amb("x\n<parameter=nope>")  # not a tool


# ----------------------------------------------------------------------------- issue 20: shapes as data


def test_every_shape_has_recovering_cases_and_the_docs_table_is_the_enum():
    """docs/drift.md's table rows are the Shape enum (log name and "What the model wrote", in order),
    and every shape is recovered by at least one case above (its log record expected)."""
    from pathlib import Path

    from qwen_xml_toolparser._drift import Shape

    rows = [line for line in (Path(__file__).parent.parent / "docs" / "drift.md").read_text().splitlines()
            if line.startswith("| `")]
    table = [tuple(c.strip() for c in row.strip("|").split(" | ")[:2]) for row in rows]
    assert table == [(f"`{s.value}`", s.wrote) for s in Shape]
    logged = {shape for case in CASES for shape in case[6]}
    assert logged == {s.value for s in Shape}


def test_inference_switch(monkeypatch):
    """QWEN_XML_INFER_TOOL_NAME=0 turns name inference off: the nameless call stays content."""
    text = "<parameter=command>\nls -la\n</parameter>\n</function>"
    assert [c.name for c in parse(text, TOOLS).tool_calls] == ["bash"]
    monkeypatch.setenv("QWEN_XML_INFER_TOOL_NAME", "0")
    result = parse(text, TOOLS)
    assert result.tool_calls == [] and result.content == text


_MISSED = re.compile(r"drift missed: (.*)")

MISSES = [
    # (id, output, tools, the hints of the one "drift missed" record, or None for no record)
    ("unopened-function", "Done. </function>", TOOLS, ["an unopened </function>"]),
    ("parameter-line", "Like this:\n<parameter=nope>\n1", TOOLS, ["a <parameter= line outside any call"]),
    ("parameter-line-no-tools", "<parameter=x>\n1\n</parameter>", None, ["a <parameter= line outside any call"]),
    ("unread-opener", '<function name="bash" id="1">\n<parameter=command>\nls\n</parameter>', TOOLS,
     ["a declared tool's name in an opener that could not be read", "a <parameter= line outside any call"]),
    ("two-kinds-one-record", "</function>\nx </function>\n\n<parameter=q>\n1", TOOLS,
     ["an unopened </function>", "a <parameter= line outside any call"]),
    ("undeclared-opener-is-no-miss", '<function name="nope">\nx', TOOLS, None),
    ("fenced-is-no-miss", "```\n</function>\n<parameter=x>\n```", TOOLS, None),
    ("well-formed", CALL_BASH, TOOLS, None),
    ("recovered", "<parameter=bash>\n" + CMD + "</function>", TOOLS, None),
    ("prose-parameter-mid-line", "Use <parameter=bash> to run.", TOOLS, None),
]


@pytest.mark.parametrize("cid,text,tools,hints", MISSES, ids=[m[0] for m in MISSES])
def test_drift_missed_log(caplog, monkeypatch, cid, text, tools, hints):
    """Call-like markup left as content: one INFO record per output, ``drift missed: <hint>; ...``
    (whole and one character at a time); none for well-formed or recovered output, fences, prose."""
    monkeypatch.setattr(logging.getLogger(LOGGER), "propagate", True)
    caplog.set_level(logging.INFO, logger=LOGGER)
    for label, pieces in (("whole", [text]), ("by char", list(text))):
        caplog.clear()
        parser = StreamParser(tools)
        for piece in pieces:
            parser.feed(piece)
        parser.finish()
        records = [r for r in caplog.records if _MISSED.search(r.getMessage())]
        if hints is None:
            assert records == [], (label, [r.getMessage() for r in records])
            continue
        assert len(records) == 1, (label, [r.getMessage() for r in records])
        assert records[0].levelno == logging.INFO and records[0].name == LOGGER
        assert _MISSED.search(records[0].getMessage())[1].split("; ") == hints, label


def test_no_miss_log_for_well_formed_renders(caplog, monkeypatch):
    monkeypatch.setattr(logging.getLogger(LOGGER), "propagate", True)
    caplog.set_level(logging.INFO, logger=LOGGER)
    for s in range(40):
        turn = gen.random_turn(30_000 + s)
        caplog.clear()
        parse(turn.text, turn.tools)
        missed = [r.getMessage() for r in caplog.records if _MISSED.search(r.getMessage())]
        if missed:  # only values or content that hold markup of their own may be reported
            assert any(m in turn.text for m in ("</function", "<parameter=", "<function", "<name>", "{\"")), missed
