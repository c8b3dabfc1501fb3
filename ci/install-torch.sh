#!/usr/bin/env bash
# Usage: ci/install-torch.sh PYTHON VERSION [--dry-run]
#
# Install torch VERSION into PYTHON's environment (a venv with pip), a CPU build when one can be had.
# Used by ci/venv.sh (the test venvs) and scripts/e2e/setup.sh (the demo / e2e server venv).
#   1. torch==VERSION+cpu from what pip is configured with (pip.conf, PIP_* variables): a find-links
#      directory or an index that has the CPU build (this project's CI machine has the wheel in a
#      find-links directory, so this takes a few seconds there).
#   2. Otherwise PyTorch's CPU wheel index (QXT_TORCH_CPU_INDEX, default
#      https://download.pytorch.org/whl/cpu), if it answers within 5 s: torch VERSION+cpu (~200 MB
#      download, ~750 MB installed).
#   3. Otherwise torch==VERSION from the package index. On Linux x86-64 that is the CUDA build:
#      several GB with its nvidia-* wheels, slower to download; it runs on the CPU all the same.
# One line on stderr says which source was taken and why. pip's own output goes to stdout (the
# callers log it), except for step 1's attempt, which is expected to fail on a stock machine.
# --dry-run: decide (step 1 with `pip install --dry-run`, the probe for real), print the pip command
# on stdout instead of running it.
set -euo pipefail
py=${1:?usage: ci/install-torch.sh PYTHON VERSION [--dry-run]}
version=${2:?usage: ci/install-torch.sh PYTHON VERSION [--dry-run]}
dry=${3:-}
cpu_index=${QXT_TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}
me="install-torch"

pip_install() {  # pip_install ARGS...: run (or, with --dry-run, print) the install
  if [ "$dry" = "--dry-run" ]; then
    echo "$py -m pip install $*"
  else
    "$py" -m pip install -q --disable-pip-version-check "$@" 2>&1
  fi
}

# 1. what pip already sees
if "$py" -m pip install -q --disable-pip-version-check ${dry:+--dry-run} "torch==$version+cpu" >/dev/null 2>&1; then
  echo "$me: torch $version+cpu (CPU build) from pip's configured sources" >&2
  [ "$dry" = "--dry-run" ] && echo "$py -m pip install torch==$version+cpu"
  exit 0
fi

# 2. PyTorch's CPU index, if reachable
probe=$("$py" - "$cpu_index/torch/" <<'EOF' 2>&1
import sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1], timeout=5) as r:
        print("ok" if r.status == 200 else f"HTTP {r.status}")
except Exception as e:  # noqa: BLE001 - any failure means "not reachable"
    print(getattr(e, "reason", None) or e)
EOF
) || true
if [ "$probe" = "ok" ]; then
  echo "$me: no CPU torch $version in pip's configured sources; taking torch $version+cpu from $cpu_index" >&2
  if pip_install --extra-index-url "$cpu_index" "torch==$version+cpu"; then
    exit 0
  fi
  echo "$me: $cpu_index has no torch $version+cpu for this Python/platform" >&2
else
  echo "$me: no CPU torch $version in pip's configured sources, and $cpu_index is not reachable ($probe)" >&2
fi

# 3. the package index's torch
echo "$me: installing torch==$version from the package index instead: on Linux x86-64 that is the CUDA" \
  "build (several GB with its nvidia-* wheels; it runs on the CPU). For the CPU build, make it reachable to pip" \
  "(e.g. PIP_EXTRA_INDEX_URL=$cpu_index) and rebuild." >&2
pip_install "torch==$version"
