#!/usr/bin/env bash
# Runs every fuzz target for N executions each and prints a summary (docs/fuzzing.md).
#
#   fuzz/run-all.sh N [target...]
#
# Environment: FUZZ_TOOLCHAIN (default: nightly; "stable" works too, sanitizer forced to
# none), FUZZ_SANITIZER (default: none; "address" for ASan, several
# times slower), FUZZ_JOBS (default 1), FUZZ_ARGS (extra libFuzzer flags).
# Each target starts from its committed seeds (fuzz/corpus/<target>/seed-*) plus what earlier
# runs added there; crashes go to fuzz/artifacts/<target>/ and fail the script.
set -euo pipefail
cd "$(dirname "$0")"
runs=${1:?usage: fuzz/run-all.sh N [target...]}
shift
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(ls fuzz_targets | sed -n 's/\.rs$//p')
fi
toolchain=${FUZZ_TOOLCHAIN:-nightly}
sanitizer=${FUZZ_SANITIZER:-none}
if [ "$toolchain" = stable ]; then
  sanitizer=none
fi
fuzz=(cargo "+$toolchain" fuzz)
logs=$(mktemp -d)
summary=()
failed=0
for target in "${targets[@]}"; do
  mkdir -p "corpus/$target"
  echo "== $target: $runs runs (sanitizer $sanitizer)" >&2
  start=$(date +%s)
  status=ok
  # libFuzzer's -jobs mode writes fuzz-N.log files in the working directory instead of stderr,
  # so it is only used when more than one job is asked for.
  jobs=()
  if [ "${FUZZ_JOBS:-1}" -gt 1 ]; then
    jobs=(-jobs="$FUZZ_JOBS")
  fi
  # shellcheck disable=SC2086
  if ! "${fuzz[@]}" run -O -s "$sanitizer" "$target" "corpus/$target" -- \
      -runs="$runs" "${jobs[@]}" -print_final_stats=1 ${FUZZ_ARGS:-} \
      >"$logs/$target.log" 2>&1; then
    status=FAILED
    failed=1
  fi
  seconds=$(( $(date +%s) - start ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$target.log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$logs/$target.log" | tail -1)
  cov=$(grep -o 'cov: [0-9]*' "$logs/$target.log" | tail -1 || true)
  summary+=("$(printf '%-18s %-6s %12s execs %9s execs/s %6ss  %s' \
    "$target" "$status" "${execs:-?}" "${rate:-?}" "$seconds" "${cov:-}")")
  if [ "$status" != ok ]; then
    grep -E 'panicked|SUMMARY|Test unit written' "$logs/$target.log" >&2 || tail -20 "$logs/$target.log" >&2
  fi
done
printf '%s\n' "${summary[@]}"
echo "logs: $logs"
exit $failed
