#!/usr/bin/env bash
# The service's apply rate and where its CPU goes, as an operator runs it: `credits-ledger broker`
# (32 partitions) as one process, the input loaded before, then `credits-ledger serve` as another,
# timed from its readiness until every usage event is applied (from its /metrics). Prints the
# rate, the CPU cores the service and the broker used meanwhile, and the busiest threads.
#
#   scripts/bench-service.sh [events] [customers] [partitions]
#
# Set PERF=1 to run the service under `perf record -g` (perf.data in the current directory), and
# SERVICE=path to measure another build of credits-ledger (e.g. the previous commit's) the same way.
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS=${1:-400000}
CUSTOMERS=${2:-10000}
PARTITIONS=${3:-32}
BIN=$PWD/.build/release
[ -x "$BIN/credits-ledger" ] && [ -x "$BIN/credits-bench" ] || {
    swift build -c release --product credits-ledger >/dev/null
    swift build -c release --product credits-bench >/dev/null
}
WORK=$(mktemp -d /tmp/credits-service.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; sleep 1; rm -rf "$WORK"; }
trap cleanup EXIT

"$BIN/credits-ledger" broker --partitions "$PARTITIONS" >"$WORK/broker.out" 2>"$WORK/broker.log" &
BROKER=$!
PIDS+=("$BROKER")
until [ -s "$WORK/broker.out" ]; do sleep 0.1; done
ADDRESS=$(head -1 "$WORK/broker.out")
"$BIN/credits-bench" load "$ADDRESS" "$EVENTS" "$CUSTOMERS" both >/dev/null
cpu() { awk '{print ($14 + $15) / 100}' "/proc/$1/stat"; }
applied() {
    curl -s "http://127.0.0.1:$PORT/metrics" | awk '$1 == "credits_messages_applied_total{topic=\"credits.usage\"}" {print $2}'
}
SERVICE_BIN=${SERVICE:-$BIN/credits-ledger}
PREFIX=()
[ "${PERF:-0}" = 1 ] && PREFIX=(perf record -F 999 -g -o "$PWD/perf.data" --)
env CREDITS_KAFKA_BROKERS="$ADDRESS" CREDITS_KAFKA_GROUP_ID=bench CREDITS_LOG_LEVEL=warning \
    CREDITS_STORE_PATH="$WORK/ledger.sqlite" CREDITS_HTTP_PORT="$PORT" \
    "${PREFIX[@]}" "$SERVICE_BIN" serve >"$WORK/serve.log" 2>&1 &
PIDS+=($!)
until curl -s "http://127.0.0.1:$PORT/readyz" | grep -q '"ready":true'; do sleep 0.05; done
SERVE=$(pgrep -x -f "$SERVICE_BIN serve" -n)
START=$(date +%s.%N); BROKER0=$(cpu "$BROKER"); SERVE0=$(cpu "$SERVE")
until [ "$(applied)" = "$EVENTS" ]; do sleep 0.05; done
END=$(date +%s.%N); BROKER1=$(cpu "$BROKER"); SERVE1=$(cpu "$SERVE")
python3 -c "
w = $END - $START
print(f'applied $EVENTS usage events in {w:.2f} s: {$EVENTS / w:.0f} events/s; '
      f'service {($SERVE1 - $SERVE0) / w:.2f} cores, broker {($BROKER1 - $BROKER0) / w:.2f} cores')"
echo "busiest threads of the service (CPU seconds since it started):"
for task in /proc/"$SERVE"/task/*; do echo "  $(cat "$task/comm") $(awk '{print ($14 + $15) / 100}' "$task/stat")"; done \
    | sort -k2 -n -r | head -4
kill -INT "$SERVE"
wait "$SERVE" 2>/dev/null || true
