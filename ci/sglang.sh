#!/usr/bin/env bash
# Usage: ci/sglang.sh   -> prints the path of a venv with SGLang 0.5.23 (light CPU install, no GPU,
#                          no model) and this repository installed, for tests/sglang (make test-sglang)
#
# Recipe, in two layers like ci/venv.sh:
#   base-0.20-0.33-*   the vLLM 0.20 - 0.33 base layer (`ci/venv.sh --base 0.33.0`: torch 2.13.0 CPU
#                      through ci/install-torch.sh, the import-level deps of ci/vllm-0.20-0.33.txt,
#                      ci/test.txt), shared with `make test`;
#   sglang-0.5.23-*    a venv without pip whose site-packages has a .pth that adds the base's
#                      site-packages (after its own), plus `pip install --no-deps -r ci/sglang.txt`
#                      (sglang, the xgrammar it pins, triton, IPython) and the repository
#                      (`pip install --no-deps -e`, which also installs its `sglang.srt.plugins`
#                      entry point: SGLang finds the plugin through importlib.metadata).
# Cached under ${QXT_CACHE:-~/.cache/qwen-xml-toolparser}/venvs/, keyed by the base and ci/sglang.txt;
# QXT_VENV_REBUILD=1 rebuilds. Cost on the 2-core CI machine: about 40 s the first time (triton's
# wheel is the bulk: ~1 GB installed), nothing after that.
set -euo pipefail
RECIPE=1  # bump when the install steps below change
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
cache=${QXT_CACHE:-$HOME/.cache/qwen-xml-toolparser}
python=${QXT_PYTHON:-python3}
reqs="$here/sglang.txt"

base=$(bash "$here/venv.sh" --base 0.33.0)
base_site=$("$base/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
version=$(awk -F'==' '$1 == "sglang" { print $2 }' "$reqs")
key=$( { echo "recipe $RECIPE $(basename "$base")"; "$python" --version; cat "$reqs"; } | sha256sum | cut -c1-12)
venv="$cache/venvs/sglang-$version-$key"

exec 9>"$cache/venvs/.lock-sglang-$version"
flock 9
if [ ! -f "$venv/.complete" ] || [ -n "${QXT_VENV_REBUILD:-}" ] || [ "$base/.complete" -nt "$venv/.complete" ]; then
  echo "ci/sglang.sh: building $venv" >&2
  rm -rf "$venv"
  t0=$SECONDS
  "$python" -m venv --without-pip "$venv"
  site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  echo "import site; site.addsitedir('$base_site')" >"$site/_qxt_base.pth"
  "$venv/bin/python" -m pip install --disable-pip-version-check --no-deps --ignore-installed -r "$reqs" \
    >>"$venv/install.log" 2>&1 || {
    tail -n 40 "$venv/install.log" >&2
    echo "ci/sglang.sh: pip install -r $reqs failed (log: $venv/install.log)" >&2
    exit 1
  }
  printf '%4d s  total (sglang %s)\n' $((SECONDS - t0)) "$version" | tee -a "$venv/.build-times" >&2
  touch "$venv/.complete"
  find "$cache/venvs" -mindepth 1 -maxdepth 1 -type d -name "sglang-$version-*" ! -name "$(basename "$venv")" \
    -mmin +120 -exec rm -rf {} + 2>/dev/null || true
fi

stamp="$repo $(sha256sum "$repo/pyproject.toml" | cut -c1-12)"
if [ "$(cat "$venv/.editable" 2>/dev/null)" != "$stamp" ]; then
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e "$repo" \
    >"$venv/editable.log" 2>&1 || { cat "$venv/editable.log" >&2; exit 1; }
  echo "$stamp" >"$venv/.editable"
fi
echo "$venv"
