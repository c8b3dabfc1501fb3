"""The bundled model outputs (examples/outputs/*.txt, tools examples/tools/coding_agent.json),
said by the model through the real server, give exactly what the parser core gives for the same
text offline (qwen_xml_toolparser.parse): same content, same calls, byte-identical arguments,
streaming and not, whatever the token splits."""

from __future__ import annotations

import json

import pytest
import stack
from qxt_support.scripted import SPELLINGS, reply_of, reply_of_stream, says

pytestmark = pytest.mark.e2e

OUTPUTS = sorted((stack.REPO / "examples" / "outputs").glob("*.txt"))
TOOLS = json.loads((stack.REPO / "examples" / "tools" / "coding_agent.json").read_text())


@pytest.mark.parametrize("spelling", SPELLINGS)
@pytest.mark.parametrize("stream", [False, True], ids=["nonstream", "stream"])
@pytest.mark.parametrize("path", OUTPUTS, ids=[p.stem for p in OUTPUTS])
def test_server_matches_core(openai_client, model, path, stream, spelling):
    from qwen_xml_toolparser import parse  # the core: pure Python, importable from the checkout

    text = path.read_text(encoding="utf-8")
    expected = parse(text, TOOLS)
    assert expected.tool_calls, "each bundled output holds at least one call"
    r = openai_client.chat.completions.create(model=model, messages=[{"role": "user", "content": "Go."}],
                                              tools=TOOLS, stream=stream, **says(text, spelling))
    got = reply_of_stream(r) if stream else reply_of(r)
    assert [(c.name, c.arguments) for c in got.calls] == [(c.name, c.arguments) for c in expected.tool_calls]
    assert (got.content or "").strip() == (expected.content or "").strip()
    assert got.finish_reason == "tool_calls"
