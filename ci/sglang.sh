#!/usr/bin/env bash
# Usage: ci/sglang.sh   -> prints the path of a venv with SGLang (ci/sglang.txt: 0.5.23) for tests/sglang
#                          and benchmarks/bench_sglang.py (make test-sglang): light CPU install, no GPU,
#                          no model, this repository installed (`pip install --no-deps -e`, which also
#                          installs its `sglang.srt.plugins` entry point: SGLang finds the plugin
#                          through importlib.metadata).
#
# Two layers, built and cached by ci/venv.sh: the vLLM 0.20 - 0.33 base layer (torch 2.13.0 CPU through
# ci/install-torch.sh, the import-level deps of ci/vllm-0.20-0.33.txt, ci/test.txt), shared with
# `make test`; on it a layer sglang-<version>-<key> with `pip install --no-deps -r ci/sglang.txt`
# (sglang and the modules it imports on CPU) instead of vLLM. Cost on the 2-core CI machine: 45 - 250 s
# the first time (the layer is about 1.3 GB installed, most of it triton's wheel), nothing after that.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
version=$(awk -F'==' '$1 == "sglang" { print $2 }' "$here/sglang.txt")
exec bash "$here/venv.sh" --layer "sglang-$version=$here/sglang.txt" 0.33.0
