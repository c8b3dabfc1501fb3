#!/usr/bin/env bash
# The demo (README's first command): set up (cached; the README's quick start says what it takes
# the first time), start vLLM with the qwen_xml_safe plugin on CPU, stream a coding-agent
# conversation with tool calls through the OpenAI SDK, and stop everything.
#   scripts/e2e/demo.sh                     # OpenAI SDK -> vLLM
#   scripts/e2e/demo.sh --client anthropic  # Anthropic SDK -> LiteLLM /v1/messages -> vLLM
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
eval "$(bash "$REPO/scripts/e2e/setup.sh")"
export E2E_VLLM_PY E2E_CLIENT_PY E2E_LITELLM E2E_MODEL
exec "$E2E_CLIENT_PY" "$REPO/scripts/e2e/demo.py" "$@"
