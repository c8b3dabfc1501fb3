#!/usr/bin/env bash
# Usage: ci/matrix.sh [VERSION...]   (default: every version of ci/matrix.txt)
#
# For each vLLM version: build or reuse its venv (ci/venv.sh), run the import-level smoke check
# (ci/smoke.py --serving) and the test suite without the end-to-end server tests
# (pytest tests -m "not e2e"). Prints a table with the setup and test time per version and
# exits non-zero if any version failed. PYTEST_ARGS adds pytest arguments (e.g. "-x");
# QXT_MATRIX_JOBS=2 runs two versions at a time.
# Logs: ${QXT_CACHE:-~/.cache/qwen-xml-toolparser}/matrix-logs/<run>/<version>.log (one directory per
# run, so concurrent runs do not clobber each other; matrix-logs/latest points at the newest; the
# 10 newest runs are kept).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
cd "$repo"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 VLLM_NO_USAGE_STATS=1 DO_NOT_TRACK=1 PYTHONDONTWRITEBYTECODE=1
root=${QXT_CACHE:-$HOME/.cache/qwen-xml-toolparser}/matrix-logs
logs="$root/$(date +%Y%m%dT%H%M%S)-$$"
mkdir -p "$logs"
ln -sfn "$logs" "$root/latest"
# keep the 10 newest runs
find "$root" -mindepth 1 -maxdepth 1 -type d -name '20*' | sort | head -n -10 | xargs -r rm -rf
# files of the single-directory layout used before
rm -f "$root"/*.log "$root"/*.row
versions=("$@")
[ ${#versions[@]} -gt 0 ] || mapfile -t versions < <(bash "$here/venv.sh" --list)

run_one() {  # run_one VERSION: writes one result row to $logs/VERSION.row
  local v=$1 log="$logs/$1.log" t venv setup status rc summary
  : >"$log"
  t=$SECONDS
  if ! venv=$(bash "$here/venv.sh" "$v" 2>>"$log"); then
    printf '%-8s %6s %6s  %s\n' "$v" "$((SECONDS - t))" "-" "venv FAILED (see $log)" >"$logs/$v.row"
    return 1
  fi
  setup=$((SECONDS - t))
  t=$SECONDS
  status=ok
  "$venv/bin/python" ci/smoke.py --serving >>"$log" 2>&1 || status="smoke FAILED"
  # shellcheck disable=SC2086
  "$venv/bin/python" -m pytest tests -m "not e2e" -p no:cacheprovider -q -ra ${PYTEST_ARGS:-} >>"$log" 2>&1
  rc=$?
  summary=$(grep -E '^=* ?[0-9]+ (passed|failed)|^=* ?(passed|failed|no tests ran)' "$log" | tail -1 | tr -d '=' | sed 's/^ *//')
  if [ $rc -ne 0 ] && [ $rc -ne 5 ]; then status="pytest FAILED"; fi
  printf '%-8s %6s %6s  %s: %s\n' "$v" "$setup" "$((SECONDS - t))" "$status" "$summary" >"$logs/$v.row"
  echo "   $v: setup ${setup}s, tests $((SECONDS - t))s, $status: $summary" >&2
  [ "$status" = ok ]
}

jobs_max=${QXT_MATRIX_JOBS:-1}  # versions run in parallel (the machine has 2 cores)
start=$SECONDS
for v in "${versions[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs_max" ]; do wait -n || true; done
  echo "== vLLM $v" >&2
  rm -f "$logs/$v.row"
  run_one "$v" &
done
wait
failed=0
rows=()
for v in "${versions[@]}"; do
  row=$(cat "$logs/$v.row" 2>/dev/null || printf '%-8s %6s %6s  %s' "$v" - - "no result")
  rows+=("$row")
  case "$row" in *": "*) case "$row" in *" ok: "*) ;; *) failed=1 ;; esac ;; *) failed=1 ;; esac
done

echo
echo "vLLM     setup-s test-s  result"
printf '%s\n' "${rows[@]}"
echo "total $((SECONDS - start)) s"
exit $failed
