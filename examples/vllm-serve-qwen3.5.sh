#!/usr/bin/env bash
# Qwen3.5 and later (same XML tool-call format, with thinking) on a GPU: the reasoning parser
# qwen_xml_safe splits the reasoning off into `reasoning` (ending it at </think> or at a call in
# template position; a draft call before </think> stays reasoning: docs/contract.md §8), then the
# tool parser qwen_xml_safe parses the calls. Both come from the same plugin file.
#
#   examples/vllm-serve-qwen3.5.sh                                 # Qwen/Qwen3.5-35B-A3B-FP8
#   MODEL=Qwen/Qwen3.6-35B-A3B-FP8 examples/vllm-serve-qwen3.5.sh
#
# Environment: MODEL, HOST (127.0.0.1), PORT (8000), MAX_MODEL_LEN (65536),
# QWEN_XML_PLUGIN (path of qwen_xml_toolparser/plugin.py; default: this checkout's).
# Extra arguments go to `vllm serve` as they are. Clients use the model name "qwen3-coder".
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MODEL=${MODEL:-Qwen/Qwen3.5-35B-A3B-FP8}
PLUGIN=${QWEN_XML_PLUGIN:-$here/../qwen_xml_toolparser/plugin.py}
# shellcheck disable=SC2086  # VLLM may be a command with arguments
exec ${VLLM:-vllm} serve "$MODEL" \
  --served-model-name qwen3-coder \
  --host "${HOST:-127.0.0.1}" --port "${PORT:-8000}" \
  --max-model-len "${MAX_MODEL_LEN:-65536}" \
  --reasoning-parser-plugin "$PLUGIN" \
  --reasoning-parser qwen_xml_safe \
  --enable-auto-tool-choice \
  --tool-parser-plugin "$PLUGIN" \
  --tool-call-parser qwen_xml_safe \
  "$@"
