#!/usr/bin/env bash
# Qwen3-Coder-480B-A35B-Instruct on one 8-GPU node, with the qwen_xml_safe tool parser.
#
#   examples/vllm-serve-qwen3-coder-480b-a35b.sh                   # FP8 (~480 GB): 8 x 80 GB,
#                                                                  # data + expert parallel
#   MODEL=Qwen/Qwen3-Coder-480B-A35B-Instruct examples/vllm-serve-qwen3-coder-480b-a35b.sh
#                                                                  # BF16 (~960 GB): 8 x 141 GB+, TP 8
#
# vLLM's recipe serves the FP8 checkpoint with data parallel 8 + expert parallelism: under tensor
# parallel 8 its block-quantised (128) MoE weights do not split evenly.
# Environment: MODEL, HOST (127.0.0.1), PORT (8000), MAX_MODEL_LEN (131072; the model takes 262144),
# QWEN_XML_PLUGIN (path of qwen_xml_toolparser/plugin.py; default: this checkout's).
# Extra arguments go to `vllm serve` as they are. Clients use the model name "qwen3-coder".
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MODEL=${MODEL:-Qwen/Qwen3-Coder-480B-A35B-Instruct-FP8}
PLUGIN=${QWEN_XML_PLUGIN:-$here/../qwen_xml_toolparser/plugin.py}
case "$MODEL" in
  *-FP8) parallel=(--data-parallel-size 8 --enable-expert-parallel) ;;
  *) parallel=(--tensor-parallel-size 8) ;;
esac
# shellcheck disable=SC2086  # VLLM may be a command with arguments
exec ${VLLM:-vllm} serve "$MODEL" \
  --served-model-name qwen3-coder \
  --host "${HOST:-127.0.0.1}" --port "${PORT:-8000}" \
  --max-model-len "${MAX_MODEL_LEN:-131072}" \
  "${parallel[@]}" \
  --enable-auto-tool-choice \
  --tool-parser-plugin "$PLUGIN" \
  --tool-call-parser qwen_xml_safe \
  "$@"
