"""ci/install-torch.sh picks torch's source: pip's own CPU wheel, PyTorch's CPU index, or the index's torch.

Run with ``--dry-run`` (pip resolves, nothing is installed; the probe of the CPU index is real) in a
throwaway venv, with pip's configuration replaced by a stock one (PIP_CONFIG_FILE=/dev/null) whose
index is a local, empty directory, so nothing here needs the network: the CPU index is a local HTTP
server (reachable) or a closed port (not reachable), and "a CPU wheel pip can see" is a find-links
directory holding a minimal ``torch-2.13.0+cpu`` wheel.
"""

from __future__ import annotations

import functools
import http.server
import os
import socket
import subprocess
import threading
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "ci" / "install-torch.sh"


@pytest.fixture(scope="module")
def python(tmp_path_factory) -> str:
    """A venv with pip (the test venvs themselves have none)."""
    where = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=True).create(where)
    return str(where / "bin" / "python")


@pytest.fixture
def stock_env(tmp_path) -> dict[str, str]:
    """pip as on a stock machine, except that the index is an empty local directory."""
    index = tmp_path / "empty-index"
    index.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "QXT_"))}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_INDEX_URL=index.as_uri(), PIP_DISABLE_PIP_VERSION_CHECK="1")
    return env


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again when the socket is


@pytest.fixture
def cpu_index(tmp_path):
    """A local stand-in for https://download.pytorch.org/whl/cpu: answers 200 on /torch/."""
    root = tmp_path / "cpu-index"
    (root / "torch").mkdir(parents=True)
    (root / "torch" / "index.html").write_text("<html><body></body></html>\n")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _run(python: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPT), python, "2.13.0", "--dry-run"], env=env, capture_output=True,
                          text=True, timeout=120, check=False)


def test_cpu_wheel_that_pip_sees_is_taken(python, stock_env, tmp_path):
    links = tmp_path / "wheels"
    links.mkdir()
    name = "torch-2.13.0+cpu"
    with zipfile.ZipFile(links / "torch-2.13.0+cpu-py3-none-any.whl", "w") as whl:
        whl.writestr("torch/__init__.py", "")
        whl.writestr(f"{name}.dist-info/METADATA", "Metadata-Version: 2.1\nName: torch\nVersion: 2.13.0+cpu\n")
        whl.writestr(f"{name}.dist-info/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                                               "Tag: py3-none-any\n")
        whl.writestr(f"{name}.dist-info/RECORD", "")
    stock_env.update(PIP_FIND_LINKS=str(links), QXT_TORCH_CPU_INDEX=f"http://127.0.0.1:{_closed_port()}")
    out = _run(python, stock_env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [f"{python} -m pip install torch==2.13.0+cpu"]
    assert out.stderr == "install-torch: torch 2.13.0+cpu (CPU build) from pip's configured sources\n"


def test_pytorch_cpu_index_when_pip_has_no_cpu_wheel(python, stock_env, cpu_index):
    stock_env["QXT_TORCH_CPU_INDEX"] = cpu_index
    out = _run(python, stock_env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [f"{python} -m pip install --extra-index-url {cpu_index} torch==2.13.0+cpu"]
    assert out.stderr.splitlines() == [
        f"install-torch: no CPU torch 2.13.0 in pip's configured sources; taking torch 2.13.0+cpu from {cpu_index}"]


def test_index_torch_when_the_cpu_index_is_unreachable(python, stock_env):
    unreachable = f"http://127.0.0.1:{_closed_port()}"
    stock_env["QXT_TORCH_CPU_INDEX"] = unreachable
    out = _run(python, stock_env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [f"{python} -m pip install torch==2.13.0"]
    first, second = out.stderr.splitlines()
    assert first.startswith(f"install-torch: no CPU torch 2.13.0 in pip's configured sources, and {unreachable} "
                            "is not reachable (")
    assert "CUDA build" in second and "it runs on the CPU" in second and f"PIP_EXTRA_INDEX_URL={unreachable}" in second



def test_each_group_installs_the_torch_its_constraints_were_locked_with():
    """ci/torch-version.sh (read by ci/venv.sh and ci/lock.sh) gives each group of ci/matrix.txt the torch
    its constraints file pins: 2.13.0 unless the group's list names one (0.34: 2.14.1)."""
    groups = {tuple(line.split()[1:3]) for line in (REPO / "ci" / "matrix.txt").read_text().splitlines()
              if line.strip() and not line.startswith("#")}
    seen = {}
    for reqs, cons in sorted(groups):
        version = subprocess.run(["bash", str(REPO / "ci" / "torch-version.sh"), str(REPO / "ci" / reqs)],
                                 capture_output=True, text=True, check=True).stdout.strip()
        pinned = [line.split("==", 1)[1].split("+")[0] for line in (REPO / "ci" / cons).read_text().splitlines()
                  if line.startswith("torch==")]
        assert pinned == [version], (reqs, cons, version, pinned)
        seen[reqs] = version
    assert seen["vllm-0.20-0.33.txt"] == "2.13.0" and seen["vllm-0.34.txt"] == "2.14.1"
