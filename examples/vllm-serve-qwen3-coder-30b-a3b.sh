#!/usr/bin/env bash
# Qwen3-Coder-30B-A3B-Instruct on a GPU, with the qwen_xml_safe tool parser.
#
#   examples/vllm-serve-qwen3-coder-30b-a3b.sh                     # FP8 checkpoint (~31 GB of weights)
#   MODEL=Qwen/Qwen3-Coder-30B-A3B-Instruct examples/vllm-serve-qwen3-coder-30b-a3b.sh \
#       --tensor-parallel-size 2                                   # BF16 (~61 GB): an 80 GB GPU or two
#
# Environment: MODEL, HOST (127.0.0.1), PORT (8000), MAX_MODEL_LEN (65536; the model takes 262144),
# QWEN_XML_PLUGIN (path of qwen_xml_toolparser/plugin.py; default: this checkout's).
# Extra arguments go to `vllm serve` as they are. Clients use the model name "qwen3-coder".
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MODEL=${MODEL:-Qwen/Qwen3-Coder-30B-A3B-Instruct-FP8}
PLUGIN=${QWEN_XML_PLUGIN:-$here/../qwen_xml_toolparser/plugin.py}
# shellcheck disable=SC2086  # VLLM may be a command with arguments
exec ${VLLM:-vllm} serve "$MODEL" \
  --served-model-name qwen3-coder \
  --host "${HOST:-127.0.0.1}" --port "${PORT:-8000}" \
  --max-model-len "${MAX_MODEL_LEN:-65536}" \
  --enable-auto-tool-choice \
  --tool-parser-plugin "$PLUGIN" \
  --tool-call-parser qwen_xml_safe \
  "$@"
