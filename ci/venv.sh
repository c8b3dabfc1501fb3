#!/usr/bin/env bash
# Usage: ci/venv.sh VERSION   -> prints the path of a venv with vLLM VERSION (light CPU install)
#
# The venv lives outside the clone, under ${QXT_CACHE:-~/.cache/qwen-xml-toolparser}/venvs/,
# keyed by the version and a hash of the requirement lists, so reruns on the same machine reuse
# it; a missing or half-built venv is rebuilt from scratch. Progress goes to stderr.
set -euo pipefail
version=${1:?usage: ci/venv.sh VERSION}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
cache=${QXT_CACHE:-$HOME/.cache/qwen-xml-toolparser}
case "$version" in
  0.33.0) reqs="$here/vllm-0.33.0.txt"; extra_no_deps="xgrammar==0.2.8" ;;
  *) echo "ci/venv.sh: no requirement list for vLLM $version" >&2; exit 2 ;;
esac
key=$(cat "$reqs" "$here/test.txt" "$0" | sha256sum | cut -c1-12)
venv="$cache/venvs/vllm-$version-$key"
if [ ! -f "$venv/.complete" ]; then
  echo "ci/venv.sh: building $venv" >&2
  rm -rf "$venv"
  mkdir -p "$cache/venvs"
  python3 -m venv "$venv"
  log="$venv/install.log"
  pip() {  # quiet unless it fails; pip's resolver complains about the deps we leave out on purpose
    "$venv/bin/pip" install --disable-pip-version-check "$@" >>"$log" 2>&1 \
      || { tail -n 40 "$log" >&2; echo "ci/venv.sh: pip install $* failed" >&2; exit 1; }
  }
  pip torch==2.13.0                                   # the CPU wheel from pip's find-links
  pip --no-deps "vllm==$version" $extra_no_deps       # no CUDA torch, no triton
  pip -c <(echo torch==2.13.0) -r "$reqs" -r "$here/test.txt"
  touch "$venv/.complete"
  echo "ci/venv.sh: built in $SECONDS s" >&2
fi
"$venv/bin/pip" install -q --disable-pip-version-check --no-deps --no-build-isolation -e "$repo" \
  >"$venv/editable.log" 2>&1 || { cat "$venv/editable.log" >&2; exit 1; }
echo "$venv"
