#!/usr/bin/env bash
# Instructions per message of each JSON hot path, counted by callgrind (repeatable, unlike
# wall time on a shared machine). Each path runs twice, with N and 11N iterations; the
# difference divided by 10N is the per-message count, free of setup.
#   bash bench/json_callgrind.sh [path ...]     (paths: see examples/json_profile.rs)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked --example json_profile >/dev/null 2>&1
bin=target/release/examples/json_profile
paths=("$@")
if [ ${#paths[@]} -eq 0 ]; then
  paths=(decode-sequence decode-establish decode-negotiate classify-order decode-order
    encode-report encode-heartbeat session-inbound session-outbound
    ws-text-read ws-binary-read ws-text-send ws-binary-send)
fi
n=200
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
count() {
  valgrind --tool=callgrind --callgrind-out-file="$tmp/out" "$bin" "$1" "$2" >/dev/null 2>&1
  callgrind_annotate "$tmp/out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}'
}
printf '%-18s %12s\n' path instr/msg
for p in "${paths[@]}"; do
  a=$(count "$p" "$n")
  b=$(count "$p" $((n * 11)))
  printf '%-18s %12d\n' "$p" $(((b - a) / (n * 10)))
done
