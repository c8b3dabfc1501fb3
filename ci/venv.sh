#!/usr/bin/env bash
# Usage: ci/venv.sh VERSION   -> prints the path of a venv with vLLM VERSION (light CPU install)
#        ci/venv.sh --list    -> prints the versions of the matrix (ci/matrix.txt), one per line
#        ci/venv.sh --layer NAME=REQS VERSION -> the same, with `pip install --no-deps -r REQS` in a
#                             layer NAME-<key> on VERSION's base instead of vLLM (ci/sglang.sh)
#
# Recipe (one line of ci/matrix.txt per version), in two layers:
#   base-<group>     torch 2.13.0 through ci/install-torch.sh (the CPU build where pip can get one: its
#                    configured sources, else PyTorch's CPU index; else the index's torch, on Linux
#                    x86-64 a CUDA build, which runs on the CPU too), then the group's import-level
#                    dependency list (ci/vllm-<group>.txt) and ci/test.txt under the group's
#                    constraints file. Shared by every version of the group.
#   vllm-<VERSION>   a venv without pip whose site-packages has a .pth that adds the base's
#                    site-packages (after its own), plus `pip install --no-deps vllm==VERSION <extras>`
#                    (no CUDA torch, no triton) and the repository (`pip install --no-deps -e`).
# Everything the tests import is then: the version's own vllm/xgrammar first, the base next.
#
# Both live outside the clone, under ${QXT_CACHE:-~/.cache/qwen-xml-toolparser}/venvs/, keyed by a
# hash of what goes into them (matrix line, requirement/constraint lists, test list, Python version,
# RECIPE below; not where torch came from, which depends on the machine, not on the repository: a
# CPU and a CUDA build of the same torch give the same test results), so reruns on the same machine
# reuse them; a missing or half-built one is rebuilt
# from scratch (nothing depends on the cache). QXT_VENV_REBUILD=1 forces a rebuild of both layers.
# Stale layers of the same group/version (other keys, built more than 2 hours ago) are deleted.
# The repository is (re)installed only when the venv does not already point at this clone with
# this pyproject.toml. Progress and step timings go to stderr and to LAYER/.build-times.
set -euo pipefail
RECIPE=3  # bump when the install steps below change
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
cache=${QXT_CACHE:-$HOME/.cache/qwen-xml-toolparser}
matrix="$here/matrix.txt"
python=${QXT_PYTHON:-python3}

versions() { awk '!/^[[:space:]]*#/ && NF { print $1 }' "$matrix"; }
if [ "${1:-}" = "--list" ]; then
  versions
  exit 0
fi
layer=  # --layer: NAME, and the requirement file of that layer
layer_reqs=
if [ "${1:-}" = "--layer" ]; then
  layer=${2%%=*}
  layer_reqs=${2#*=}
  shift 2
fi
version=${1:?usage: ci/venv.sh [--layer NAME=REQS] VERSION | --list}
line=$(awk -v v="$version" '!/^[[:space:]]*#/ && $1 == v' "$matrix")
if [ -z "$line" ]; then
  echo "ci/venv.sh: vLLM $version is not in ci/matrix.txt (have: $(versions | tr '\n' ' '))" >&2
  exit 2
fi
read -r _ reqs cons extras <<<"$line"
group=${reqs%.txt}
group=${group#vllm-}
reqs="$here/$reqs"
cons="$here/$cons"
pyver=$("$python" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')
base_key=$( { echo "recipe $RECIPE python $pyver"; cat "$reqs" "$cons" "$here/test.txt"; } | sha256sum | cut -c1-12)
base="$cache/venvs/base-$group-$base_key"
if [ -n "$layer" ]; then  # pip install --no-deps -r REQS instead of vLLM
  key=$( { echo "recipe $RECIPE python $pyver base $base_key"; cat "$layer_reqs"; } | sha256sum | cut -c1-12)
  install=(-r "$layer_reqs")
else
  layer="vllm-$version"
  key=$( { echo "recipe $RECIPE python $pyver base $base_key"; echo "$line"; } | sha256sum | cut -c1-12)
  # shellcheck disable=SC2206  # extras is a word list
  install=("vllm==$version" $extras)
fi
venv="$cache/venvs/$layer-$key"
mkdir -p "$cache/venvs"

step() {  # step LAYER ARGS...: pip install ARGS into LAYER, quiet unless it fails, timed
  local layer=$1 t=$SECONDS
  shift
  "$layer/bin/python" -m pip install --disable-pip-version-check "$@" >>"$layer/install.log" 2>&1 || {
    tail -n 40 "$layer/install.log" >&2
    echo "ci/venv.sh: pip install $* failed (log: $layer/install.log)" >&2
    exit 1
  }
  printf '%4d s  pip install %s\n' $((SECONDS - t)) "$*" | tee -a "$layer/.build-times" >&2
}

torch_step() {  # torch_step LAYER VERSION: ci/install-torch.sh (its choice on stderr, pip's output logged), timed
  local layer=$1 t=$SECONDS
  bash "$here/install-torch.sh" "$layer/bin/python" "$2" >>"$layer/install.log" || {
    tail -n 40 "$layer/install.log" >&2
    echo "ci/venv.sh: installing torch $2 failed (log: $layer/install.log)" >&2
    exit 1
  }
  printf '%4d s  torch %s (ci/install-torch.sh)\n' $((SECONDS - t)) "$2" | tee -a "$layer/.build-times" >&2
}

prune() {  # prune PREFIX KEEP: drop other builds of the same layer not touched for 2 hours
  find "$cache/venvs" -mindepth 1 -maxdepth 1 -type d -name "$1-*" ! -name "$2" -mmin +120 \
    -exec rm -rf {} + 2>/dev/null || true
}

# ---- base layer (per group) ----
exec 8>"$cache/venvs/.lock-base-$group"
flock 8
if [ ! -f "$base/.complete" ] || [ -n "${QXT_VENV_REBUILD:-}" ]; then
  echo "ci/venv.sh: building $base" >&2
  rm -rf "$base"
  t0=$SECONDS
  "$python" -m venv "$base"
  torch_step "$base" 2.13.0
  step "$base" -c "$cons" -c <(echo torch==2.13.0) -r "$reqs" -r "$here/test.txt"
  printf '%4d s  total (base %s)\n' $((SECONDS - t0)) "$group" | tee -a "$base/.build-times" >&2
  touch "$base/.complete"
  prune "base-$group" "$(basename "$base")"
fi
base_site=$("$base/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
flock -u 8

# ---- version layer (or --layer) ----
exec 9>"$cache/venvs/.lock-$layer"
flock 9
if [ ! -f "$venv/.complete" ] || [ -n "${QXT_VENV_REBUILD:-}" ] || [ "$base/.complete" -nt "$venv/.complete" ]; then
  echo "ci/venv.sh: building $venv" >&2
  rm -rf "$venv"
  t0=$SECONDS
  "$python" -m venv --without-pip "$venv"
  site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  # addsitedir (not a bare path) so that the base's own .pth files are processed too.
  echo "import site; site.addsitedir('$base_site')" >"$site/_qxt_base.pth"
  step "$venv" --no-deps --ignore-installed "${install[@]}"
  printf '%4d s  total (%s)\n' $((SECONDS - t0)) "$layer" | tee -a "$venv/.build-times" >&2
  touch "$venv/.complete"
  prune "$layer" "$(basename "$venv")"
fi

stamp="$repo $(sha256sum "$repo/pyproject.toml" | cut -c1-12)"
if [ "$(cat "$venv/.editable" 2>/dev/null)" != "$stamp" ]; then
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e "$repo" \
    >"$venv/editable.log" 2>&1 || { cat "$venv/editable.log" >&2; exit 1; }
  echo "$stamp" >"$venv/.editable"
fi
echo "$venv"
