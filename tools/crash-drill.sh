#!/usr/bin/env bash
# Crash drill (issue #9): builds fixp-drill and fixp-journal (release), then runs
#   fixp-drill run --rounds ROUNDS --seed SEED
# kill -9 of a journaled exchange or trader at seeded points of an order stream, restarts on the
# same journals, exactly-once checks both ways, fixp-journal verify on every journal, and the
# corruption drill. Prints the rounds and a summary; exits non-zero on any violation.
#
#   tools/crash-drill.sh [rounds=20] [seed=1] [extra fixp-drill run flags, e.g. --plain --keep]
set -euo pipefail
rounds=${1:-20}
seed=${2:-1}
shift $(( $# < 2 ? $# : 2 ))
cd "$(dirname "$0")/.."
cargo build --release --locked --quiet -p fixp-tools --bin fixp-drill --bin fixp-journal
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
target/release/fixp-drill run --rounds "$rounds" --seed "$seed" "$@" | tee "$log" || status=$?
echo
echo "summary: $(grep -E '^crash drill (PASS|FAIL)' "$log" || echo 'crash drill FAIL: no summary')"
if [ "$status" -ne 0 ]; then
  echo "crash drill: $(grep -c '^VIOLATION' "$log" || true) violation(s), exit $status" >&2
fi
exit "$status"
