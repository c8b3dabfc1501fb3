#!/usr/bin/env bash
# Run the end-to-end suite: set up (cached), then pytest -m e2e with the client venv.
# Extra arguments go to pytest, e.g.  scripts/e2e/run-tests.sh -k litellm -x
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO"
eval "$(bash scripts/e2e/setup.sh)"
export E2E_VLLM_PY E2E_CLIENT_PY E2E_LITELLM E2E_MODEL E2E_CLAUDE
# --confcutdir: the unit suites' tests/conftest.py needs vLLM and hypothesis, which this venv lacks
exec "$E2E_CLIENT_PY" -m pytest -m e2e tests/e2e --confcutdir=tests/e2e -p no:cacheprovider "$@"
