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
  pip=("$venv/bin/pip" install -q --disable-pip-version-check)
  "${pip[@]}" torch==2.13.0 >&2                       # the CPU wheel from pip's find-links
  "${pip[@]}" --no-deps "vllm==$version" $extra_no_deps >&2
  "${pip[@]}" -c <(echo torch==2.13.0) -r "$reqs" -r "$here/test.txt" >&2 2> >(grep -v "^WARNING: Location" >&2)
  touch "$venv/.complete"
fi
"$venv/bin/pip" install -q --disable-pip-version-check --no-deps --no-build-isolation -e "$repo" >&2 2> >(grep -v "^WARNING: Location" >&2)
echo "$venv"
