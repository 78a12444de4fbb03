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
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
dir=$(mktemp -d /tmp/credits-sim-pg.XXXXXX)
run_as=()
if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$dir"; run_as=(runuser -u postgres --); fi
"${run_as[@]}" "$bin/initdb" -D "$dir/data" -U postgres -A trust --no-sync -E UTF8 >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"${run_as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
    -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off" start >/dev/null
stop() {
    pid=$(head -1 "$dir/data/postmaster.pid" 2>/dev/null || true)
    [ -n "$pid" ] && kill -INT "$pid" 2>/dev/null && while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    rm -rf "$dir"
}
trap stop EXIT
"$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -q -c "CREATE DATABASE simulation"
postgres_status=0
"$bench" sim "$seeds" "$first" "$steps" "postgres://postgres@127.0.0.1:$port/simulation" \
    | grep -E "^(FAILED|  replay|simulated)" || postgres_status=$?
[ "$sqlite_status" = 0 ] && [ "$postgres_status" = 0 ]
