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


# Modules that need a vLLM server with other flags run last, so the default server starts once.
# They keep their (alphabetical) order among themselves: test_anthropic_messages.py and
# test_api_servers.py share a server, test_reasoning*.py another.
LATE_MODULES = ("test_anthropic_messages.py", "test_api_servers.py", "test_reasoning.py",
                "test_reasoning_anthropic.py", "test_reasoning_claude_code.py")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)
    items.sort(key=lambda item: Path(str(item.fspath)).name in LATE_MODULES)  # stable


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


class VllmPool:
    """At most one vLLM server at a time, on one loopback port; a test module that needs other
    server flags (e.g. a reasoning parser) gets the current server stopped and a new one started."""

    def __init__(self, setup: dict[str, str], log_dir: Path, parser: str):
        self.setup, self.log_dir, self.parser = setup, log_dir, parser
        self.port = stack.free_port()
        self.key: tuple | None = None
        self.server: stack.ManagedServer | None = None

    def get(self, extra_args: tuple[str, ...] = (), label: str = "") -> stack.ManagedServer:
        return self._get((self.parser, extra_args), label, lambda name: stack.vllm_server(
            self.setup, self.log_dir, parser=self.parser, port=self.port, extra_args=list(extra_args),
            log_name=name + ".log"))

    def get_serve(self, extra_args: tuple[str, ...] = (), api_server_count: int = 1, plugin_via: str = "file",
                  label: str = "serve") -> stack.ManagedServer:
        """A `vllm serve` server (stack.vllm_serve_server): several API-server processes, the
        plugin by file or by its installed entry point, scripts/e2e/e2e_hooks.py on the path."""
        key = ("serve", self.parser, api_server_count, plugin_via, extra_args)
        return self._get(key, label, lambda name: stack.vllm_serve_server(
            self.setup, self.log_dir, parser=self.parser, port=self.port, api_server_count=api_server_count,
            plugin_via=plugin_via, extra_args=list(extra_args), log_name=name + ".log"))

    def _get(self, key: tuple, label: str, make) -> stack.ManagedServer:
        if self.server is not None and self.key == key:
            return self.server
        self.close()
        name = f"vllm{'-' + label if label else ''}"
        server = make(name)
        _LOGS[name] = server.log_path
        server.start()
        _TIMINGS[f"{name} start ({self.parser})"] = server.start_seconds
        self.server, self.key = server, key
        return server

    def close(self) -> None:
        if self.server is not None:
            t0 = time.monotonic()
            try:
                self.server.stop()
            finally:
                _TIMINGS["vLLM stop"] = time.monotonic() - t0
                self.server = self.key = None


@pytest.fixture(scope="session")
def vllm_pool(e2e_setup, log_dir, parser_name):
    pool = VllmPool(e2e_setup, log_dir, parser_name)
    try:
        yield pool
    finally:
        pool.close()


@pytest.fixture(scope="module")
def vllm(vllm_pool):
    """The default server: plugin (or QWEN_XML_E2E_PARSER), no reasoning parser."""
    return vllm_pool.get()


@pytest.fixture(scope="session")
def litellm(e2e_setup, log_dir, vllm_pool):
    """One LiteLLM proxy for the session, pointed at the pool's port (whichever vLLM is up there;
    the client fixtures below make sure it is the default one)."""
    server = stack.litellm_proxy(e2e_setup, f"http://127.0.0.1:{vllm_pool.port}/v1", log_dir)
    _LOGS["litellm"] = server.log_path
    server.start()
    _TIMINGS["LiteLLM start"] = server.start_seconds
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def openai_client(vllm):
    from openai import OpenAI

    return OpenAI(base_url=vllm.base_url + "/v1", api_key="dummy", max_retries=0, timeout=300)


@pytest.fixture(scope="session")
def model() -> str:
    return stack.SERVED_MODEL


@pytest.fixture(scope="module")
def litellm_openai(litellm, vllm):
    from openai import OpenAI

    return OpenAI(base_url=litellm.base_url + "/v1", api_key=stack.LITELLM_KEY, max_retries=0, timeout=300)


@pytest.fixture(scope="module")
def litellm_anthropic(litellm, vllm):
    Anthropic = pytest.importorskip("anthropic", reason="run the e2e suite with scripts/e2e/run-tests.sh").Anthropic

    return Anthropic(base_url=litellm.base_url, api_key=stack.LITELLM_KEY, max_retries=0, timeout=300)
