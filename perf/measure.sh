#!/usr/bin/env bash
# Reproduces every run of perf/RESULTS.md: a release build, then
#   1. flat out (ping-pong), busy, pinned        -> perf/results/busy/
#   2. fixed rate, coordinated-omission corrected, blocking -> perf/results/rate/
#   3. throughput, one session one way, busy, pinned        -> perf/results/throughput/
#   4. scale: 1, 10, 100, 1 000 sessions, busy, pinned      -> perf/results/scale/
# Each run writes <row>.hgrm, summary.json, latency.svg and tables.md (the Markdown tables it
# printed) into its directory; machine.md records the machine and the load. About 4-6 minutes
# on 2 cores after the build; QUICK=1 runs a short version (a few thousand samples) to check the
# script itself.
#
# Settings (environment): PIN=server,client cores (default 0,1; PIN= for not pinned),
# REPEAT (default 3), RATE (default 2000 msg/s), OUT (default perf/results), QUICK=1.
set -euo pipefail

cd "$(dirname "$0")/.."
PIN=${PIN-0,1}
REPEAT=${REPEAT:-3}
RATE=${RATE:-2000}
OUT=${OUT:-perf/results}
if [[ ${QUICK:-0} == 1 ]]; then
    COUNT=2000 WARMUP=200 RATE_COUNT=500 MESSAGES=20000 SCALE_COUNT=2000 REPEAT=1
else
    COUNT=20000 WARMUP=2000 RATE_COUNT=4000 MESSAGES=1000000 SCALE_COUNT=20000
fi
LATENCY_ROWS=fixp-wss,engine-tcp,engine-wss,engine-wss-thread,engine-wss-json,engine-wss-storm
THROUGHPUT_ROWS=fixp-wss-oneway,engine-wss-oneway
SCALE_ROWS=engine-scale-1,engine-scale-10,engine-scale-100,engine-scale-1000

cargo build --release -p fixp-perf
BIN=target/release/fixp-perf
PIN_ARGS=()
[[ -n $PIN ]] && PIN_ARGS=(--pin "$PIN")

rm -rf "$OUT"
mkdir -p "$OUT"
started=$(date +%s)

machine() {
    echo "| | |"
    echo "|---|---|"
    echo "| CPU | $(lscpu | sed -n 's/^Model name: *//p' | head -1), $(nproc) CPUs |"
    echo "| memory | $(free -g | awk '/^Mem:/ {print $2}') GiB |"
    echo "| kernel | $(uname -sr) |"
    echo "| toolchain | $(rustc --version) |"
    echo "| load before | $(cut -d' ' -f1-3 /proc/loadavg) |"
    echo "| pinned | ${PIN:-no} |"
}
machine >"$OUT/machine.md"

# run NAME TITLE ARGS...: one fixp-perf run into $OUT/NAME, its tables printed and kept.
run() {
    local name=$1 title=$2
    shift 2
    mkdir -p "$OUT/$name"
    echo
    echo "## $title"
    echo
    "$BIN" "$@" --repeat "$REPEAT" --out "$OUT/$name" --markdown | tee "$OUT/$name/tables.md"
}

run busy "Flat out, busy, pinned ${PIN:-no}" \
    --rows "$LATENCY_ROWS" --count "$COUNT" --warmup "$WARMUP" --wait busy "${PIN_ARGS[@]}"
run rate "Fixed rate $RATE msg/s, blocking" \
    --rows "$LATENCY_ROWS" --rate "$RATE" --count "$RATE_COUNT" --warmup "$WARMUP" --wait blocking
run throughput "Throughput, one session one way, busy, pinned ${PIN:-no}" \
    --rows "$THROUGHPUT_ROWS" --messages "$MESSAGES" --count "$WARMUP" --warmup "$WARMUP" \
    --wait busy "${PIN_ARGS[@]}"
run scale "Scale: sessions on one engine thread, busy, pinned ${PIN:-no}" \
    --rows "$SCALE_ROWS" --count "$SCALE_COUNT" --warmup "$WARMUP" --wait busy "${PIN_ARGS[@]}"

echo "| load after | $(cut -d' ' -f1-3 /proc/loadavg) |" >>"$OUT/machine.md"
echo "| wall time | $(($(date +%s) - started)) s |" >>"$OUT/machine.md"
echo
echo "## Machine"
echo
cat "$OUT/machine.md"
