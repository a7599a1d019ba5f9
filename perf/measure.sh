#!/usr/bin/env bash
# Reproduces every run of perf/RESULTS.md: a release build, then
#   1. flat out (ping-pong), busy, pinned: the rows with two busy threads -> perf/results/busy/
#   2. flat out, busy, pinned: the thread-strategy rows (three busy threads; on fewer than 3
#      cores they share, so this run is short there)                    -> perf/results/thread/
#   3. fixed rate, coordinated-omission corrected, blocking, every row  -> perf/results/rate/
#   4. throughput, one session one way, busy, pinned                    -> perf/results/throughput/
#   5. scale: 1, 10, 100, 1 000 sessions, busy, pinned                  -> perf/results/scale/
# Each run writes <row>.hgrm, summary.json, latency.svg and tables.md (the Markdown tables it
# printed) into its directory; machine.md records the machine and the load. About 6-8 minutes
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
INLINE_ROWS=fixp-wss,engine-wss,engine-wss-json,engine-wss-storm
THREAD_ROWS=engine-tcp,engine-wss-thread
THREAD_COUNT=$COUNT THREAD_REPEAT=$REPEAT
if (($(nproc) < 3)); then
    # Three busy threads on two cores share them in scheduler ticks (ms per round trip).
    THREAD_COUNT=2000 THREAD_REPEAT=1
fi
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
    "$BIN" "$@" --out "$OUT/$name" --markdown | tee "$OUT/$name/tables.md"
}

run busy "Flat out, busy, pinned ${PIN:-no}" --repeat "$REPEAT" \
    --rows "$INLINE_ROWS" --count "$COUNT" --warmup "$WARMUP" --wait busy "${PIN_ARGS[@]}"
run thread "Flat out, busy, pinned ${PIN:-no}: three busy threads on $(nproc) cores" \
    --repeat "$THREAD_REPEAT" --rows "$THREAD_ROWS" --count "$THREAD_COUNT" --warmup "$WARMUP" \
    --wait busy "${PIN_ARGS[@]}"
run rate "Fixed rate $RATE msg/s, blocking" --repeat "$REPEAT" \
    --rows "$INLINE_ROWS,$THREAD_ROWS" --rate "$RATE" --count "$RATE_COUNT" --warmup "$WARMUP" \
    --wait blocking
run throughput "Throughput, one session one way, busy, pinned ${PIN:-no}" --repeat "$REPEAT" \
    --rows "$THROUGHPUT_ROWS" --messages "$MESSAGES" --count "$WARMUP" --warmup "$WARMUP" \
    --wait busy "${PIN_ARGS[@]}"
run scale "Scale: sessions on one engine thread, busy, pinned ${PIN:-no}" --repeat "$REPEAT" \
    --rows "$SCALE_ROWS" --count "$SCALE_COUNT" --warmup "$WARMUP" --wait busy "${PIN_ARGS[@]}"

echo "| load after | $(cut -d' ' -f1-3 /proc/loadavg) |" >>"$OUT/machine.md"
echo "| wall time | $(($(date +%s) - started)) s |" >>"$OUT/machine.md"
echo
echo "## Machine"
echo
cat "$OUT/machine.md"
