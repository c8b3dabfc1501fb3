#!/usr/bin/env bash
# Usage: ci/torch-version.sh ci/vllm-<group>.txt  -> prints the torch version of that group's venvs:
# the list's own `torch==X` line if it has one, else 2.13.0 (the CPU wheel of the older groups).
set -euo pipefail
v=$(awk '$1 ~ /^torch==/ { sub(/^torch==/, "", $1); print $1; exit }' "${1:?usage: ci/torch-version.sh REQUIREMENTS}")
echo "${v:-2.13.0}"
