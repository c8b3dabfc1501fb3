#!/usr/bin/env bash
# Usage: ci/matrix.sh [VERSION...]   (default: every version of ci/matrix.txt)
#
# For each vLLM version: build or reuse its venv (ci/venv.sh), run the import-level smoke check
# (ci/smoke.py --serving) and the test suite without the end-to-end server tests
# (pytest tests -m "not e2e"). Prints a table with the setup and test time per version and
# exits non-zero if any version failed. PYTEST_ARGS adds pytest arguments (e.g. "-x").
# Logs: ${QXT_CACHE:-~/.cache/qwen-xml-toolparser}/matrix-logs/<version>.log
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
cd "$repo"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 VLLM_NO_USAGE_STATS=1 DO_NOT_TRACK=1 PYTHONDONTWRITEBYTECODE=1
logs=${QXT_CACHE:-$HOME/.cache/qwen-xml-toolparser}/matrix-logs
mkdir -p "$logs"
versions=("$@")
[ ${#versions[@]} -gt 0 ] || mapfile -t versions < <(bash "$here/venv.sh" --list)

rows=()
failed=0
start=$SECONDS
for v in "${versions[@]}"; do
  log="$logs/$v.log"
  : >"$log"
  echo "== vLLM $v" >&2
  t=$SECONDS
  if ! venv=$(bash "$here/venv.sh" "$v" 2> >(tee -a "$log" >&2)); then
    rows+=("$(printf '%-8s %6s %6s  %s' "$v" "$((SECONDS - t))" "-" "venv FAILED (see $log)")")
    failed=1
    continue
  fi
  setup=$((SECONDS - t))
  t=$SECONDS
  status=ok
  if ! "$venv/bin/python" ci/smoke.py --serving >>"$log" 2>&1; then
    status="smoke FAILED"
  fi
  # shellcheck disable=SC2086
  "$venv/bin/python" -m pytest tests -m "not e2e" -p no:cacheprovider -q -ra ${PYTEST_ARGS:-} >>"$log" 2>&1
  rc=$?
  summary=$(grep -E '^=* ?[0-9]+ (passed|failed)|^=* ?(passed|failed|no tests ran)' "$log" | tail -1 | tr -d '=' | sed 's/^ *//')
  if [ $rc -ne 0 ] && [ $rc -ne 5 ]; then status="pytest FAILED"; fi
  [ "$status" = ok ] || failed=1
  rows+=("$(printf '%-8s %6s %6s  %s: %s' "$v" "$setup" "$((SECONDS - t))" "$status" "$summary")")
  echo "   $v: setup ${setup}s, tests $((SECONDS - t))s, $status: $summary" >&2
done

echo
echo "vLLM     setup-s test-s  result"
printf '%s\n' "${rows[@]}"
echo "total $((SECONDS - start)) s"
exit $failed
