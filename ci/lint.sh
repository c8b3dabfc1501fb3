#!/usr/bin/env bash
# Usage: ci/lint.sh   -> mypy --strict and ruff check on the package (config in pyproject.toml).
# The tools live in their own small venv (ci/lint.txt), cached under
# ${QXT_CACHE:-~/.cache/qwen-xml-toolparser}/venvs/lint-<hash>, without vLLM: the package's vLLM
# imports are all in _compat.py and typed as Any there, so the check does not depend on a vLLM version.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
cache=${QXT_CACHE:-$HOME/.cache/qwen-xml-toolparser}
python=${QXT_PYTHON:-python3}
key=$( { "$python" --version; cat "$here/lint.txt"; } | sha256sum | cut -c1-12)
venv="$cache/venvs/lint-$key"
mkdir -p "$cache/venvs"
if [ ! -f "$venv/.complete" ]; then
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$here/lint.txt" >"$cache/venvs/lint.log" 2>&1 || {
    tail -n 20 "$cache/venvs/lint.log" >&2
    echo "ci/lint.sh: pip install -r ci/lint.txt failed (log: $cache/venvs/lint.log)" >&2
    exit 1
  }
  touch "$venv/.complete"
fi
cd "$repo"
"$venv/bin/mypy" qwen_xml_toolparser
"$venv/bin/ruff" check qwen_xml_toolparser
