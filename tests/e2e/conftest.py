"""Session fixtures for the end-to-end tests: a real vLLM server with the plugin and a LiteLLM
proxy in front of it, both on free loopback ports, both stopped by process group at the end.

These tests only run when asked for: ``pytest -m e2e`` (or QWEN_XML_E2E=1). Otherwise this
directory is not even imported, so a plain ``pytest`` in a venv without the client SDKs is
unaffected. Run them with the client venv that scripts/e2e/setup.sh builds, e.g.
``scripts/e2e/run-tests.sh``.

Environment knobs:
  QWEN_XML_E2E_PARSER   tool parser to serve with (default qwen_xml_safe, our plugin; an in-tree
                        name such as qwen3_coder runs the same tests against vLLM's own parser)
  QWEN_XML_E2E_LOG_DIR  where server logs go (default: a pytest tmp dir, printed at the end)
  E2E_VLLM_PY, E2E_CLIENT_PY, E2E_LITELLM, E2E_MODEL   skip setup.sh and use these paths
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
sys.path.insert(0, str(REPO / "scripts" / "e2e"))

import stack  # noqa: E402

_TIMINGS: dict[str, float] = {}
_LOGS: dict[str, Path] = {}


def _e2e_selected(config: pytest.Config) -> bool:
    """-m mentions e2e (and not as "not e2e"), QWEN_XML_E2E=1, or a path inside tests/e2e was given."""
    if os.environ.get("QWEN_XML_E2E") == "1":
        return True
    markexpr = config.getoption("markexpr", "") or ""
    if "e2e" in markexpr and "not e2e" not in markexpr:
        return True
    for arg in config.args:
        p = Path(arg.split("::")[0]).resolve()
        if p == HERE or HERE in p.parents:
            return True
    return False


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if not _e2e_selected(config) and HERE in (collection_path, *collection_path.parents):
        return True
    return None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: end-to-end tests against a real vLLM server (run alone with -m e2e)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


def pytest_sessionstart(session: pytest.Session) -> None:
    # pytest runs fixture teardown on KeyboardInterrupt but not on SIGTERM: turn SIGTERM into
    # KeyboardInterrupt so that a terminated run still stops the servers it started.
    def _term(signum, frame):  # noqa: ARG001
        raise KeyboardInterrupt(f"signal {signum}")

    if _e2e_selected(session.config):
        signal.signal(signal.SIGTERM, _term)


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:  # noqa: ARG001
    if _TIMINGS or _LOGS:
        terminalreporter.section("e2e stack")
        for k, v in _TIMINGS.items():
            terminalreporter.write_line(f"{k}: {v:.1f} s")
        for k, v in _LOGS.items():
            terminalreporter.write_line(f"{k} log: {v}")


@pytest.fixture(scope="session")
def e2e_setup() -> dict[str, str]:
    t0 = time.monotonic()
    setup = stack.load_setup()
    _TIMINGS["setup (cached)"] = time.monotonic() - t0
    return setup


@pytest.fixture(scope="session")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = os.environ.get("QWEN_XML_E2E_LOG_DIR")
    path = Path(d) if d else tmp_path_factory.mktemp("e2e-logs")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="session")
def parser_name() -> str:
    return os.environ.get("QWEN_XML_E2E_PARSER", stack.PLUGIN_PARSER)


@pytest.fixture(scope="session")
def uses_plugin(parser_name: str) -> bool:
    return parser_name == stack.PLUGIN_PARSER


@pytest.fixture(scope="session")
def vllm(e2e_setup, log_dir, parser_name):
    server = stack.vllm_server(e2e_setup, log_dir, parser=parser_name)
    _LOGS["vllm"] = server.log_path
    server.start()
    _TIMINGS[f"vLLM start ({parser_name})"] = server.start_seconds
    try:
        yield server
    finally:
        t0 = time.monotonic()
        server.stop()
        _TIMINGS["vLLM stop"] = time.monotonic() - t0


@pytest.fixture(scope="session")
def litellm(e2e_setup, log_dir, vllm):
    server = stack.litellm_proxy(e2e_setup, vllm.base_url + "/v1", log_dir)
    _LOGS["litellm"] = server.log_path
    server.start()
    _TIMINGS["LiteLLM start"] = server.start_seconds
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def openai_client(vllm):
    from openai import OpenAI

    return OpenAI(base_url=vllm.base_url + "/v1", api_key="dummy", max_retries=0, timeout=300)


@pytest.fixture(scope="session")
def model() -> str:
    return stack.SERVED_MODEL


@pytest.fixture(scope="session")
def litellm_openai(litellm):
    from openai import OpenAI

    return OpenAI(base_url=litellm.base_url + "/v1", api_key=stack.LITELLM_KEY, max_retries=0, timeout=300)


@pytest.fixture(scope="session")
def litellm_anthropic(litellm):
    from anthropic import Anthropic

    return Anthropic(base_url=litellm.base_url, api_key=stack.LITELLM_KEY, max_retries=0, timeout=300)
