#!/usr/bin/env bash
# The deterministic simulator as a soak: `scripts/sim-soak.sh [seeds] [first seed] [steps]`.
# Runs the seeds on SQLite, then on a shared PostgreSQL store (a temporary cluster in /tmp on a
# free loopback port, as the tests start it, stopped by its PID at the end), and prints the seeds
# and steps explored. A failing seed prints its replay command. Builds credits-bench in release.
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=${1:-500}
first=${2:-1}
steps=${3:-400}
scripts/install-deps.sh >/dev/null
swift build -c release --product credits-bench >/dev/null
bench=.build/release/credits-bench
export SWIFT_DETERMINISTIC_HASHING=1  # dictionaries iterate alike in every process: a seed replays exactly

echo "== SQLite"
sqlite_status=0
"$bench" sim "$seeds" "$first" "$steps" | grep -E "^(FAILED|  replay|simulated)" || sqlite_status=$?

echo "== PostgreSQL (shared store, three instances)"
source scripts/temporary-postgres.sh
start_temporary_postgres -c fsync=off -c synchronous_commit=off
psql_ -q -c "CREATE DATABASE simulation"
postgres_status=0
"$bench" sim "$seeds" "$first" "$steps" "postgres://postgres@127.0.0.1:$pg_port/simulation" \
    | grep -E "^(FAILED|  replay|simulated)" || postgres_status=$?
[ "$sqlite_status" = 0 ] && [ "$postgres_status" = 0 ]
