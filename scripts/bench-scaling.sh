#!/usr/bin/env bash
# End to end with each store and instance count, as an operator runs it: the release binary as
# its own processes, the broker (`credits-ledger broker`, librdkafka's mock cluster) as another,
# PostgreSQL as another (a temporary cluster with its durable defaults: fsync and synchronous
# commit on). All on this machine, sharing its cores.
#
#   scripts/bench-scaling.sh [events] [customers] [partitions] [runs]
#
# For each setup (SQLite x1, PostgreSQL x1, PostgreSQL x3) and run: a fresh broker and store; the
# instances start and enable every customer; once every instance is ready with its partitions,
# the usage events are produced (by another process, while the instances consume them) and the
# rate is measured from 10 % to 90 % of the usage events applied, from the instances' /metrics. Every event makes an entry and a balance-changed
# event. PostgreSQL runs also print the WAL bytes and row writes per event; every run prints where
# the cores went between the two marks (the instances, the PostgreSQL cluster, the broker, the
# loader, in % of one core) and how busy the machine's cores were.
#
# SETUPS="postgres:1" runs only some setups (default "sqlite:1 postgres:1 postgres:3"),
# SERVICE=path serves with another build of credits-ledger (e.g. the previous commit's), and
# STATEMENTS=1 loads pg_stat_statements and prints, after each PostgreSQL run, the statements'
# execution time per usage event (it costs the database a little), and PREFILL_KEYS=n stores n
# idempotency keys of other events before the usage is loaded (a key table as a long-running
# ledger has it; PostgreSQL runs only).
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS=${1:-100000}
CUSTOMERS=${2:-2000}
PARTITIONS=${3:-12}
RUNS=${4:-3}
scripts/install-deps.sh
swift build -c release --product credits-ledger >/dev/null
swift build -c release --product credits-bench >/dev/null
BIN=$PWD/.build/release
SERVICE_BIN=${SERVICE:-$BIN/credits-ledger}
SETUPS=${SETUPS:-sqlite:1 postgres:1 postgres:3}
WORK=$(mktemp -d /tmp/credits-scaling.XXXXXX)
chmod 755 "$WORK"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    if [ -f "$WORK/pg/data/postmaster.pid" ]; then kill -INT "$(head -1 "$WORK/pg/data/postmaster.pid")" 2>/dev/null || true; fi
    sleep 1
    rm -rf "$WORK"
}
trap cleanup EXIT

# PostgreSQL: a cluster of our own, as the postgres user when we are root.
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
AS=""
[ "$(id -u)" -eq 0 ] && AS="runuser -u postgres --"
mkdir -p "$WORK/pg" && [ -n "$AS" ] && chown postgres:postgres "$WORK/pg"
PGPORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
$AS "$PGBIN/initdb" -D "$WORK/pg/data" -U postgres -A trust >/dev/null
$AS "$PGBIN/postgres" -D "$WORK/pg/data" -p "$PGPORT" -k "$WORK/pg" -c listen_addresses=127.0.0.1 \
    -c max_connections=100 ${STATEMENTS:+-c shared_preload_libraries=pg_stat_statements} >"$WORK/pg/log" 2>&1 &
until "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PGPORT"; do sleep 0.2; done
psql_() { "$PGBIN/psql" -h 127.0.0.1 -p "$PGPORT" -U postgres -At "$@"; }

applied() {   # topic, then ports: messages applied, summed over the instances' /metrics
    # One curl and one awk per instance: the poll runs five times a second on the cores it measures.
    local topic=$1 total=0 port value
    shift
    for port in "$@"; do
        value=$(curl -s "http://127.0.0.1:$port/metrics" 2>/dev/null \
            | awk -v series="credits_messages_applied_total{topic=\"$topic\"}" '$1 == series {printf "%d", $2}')
        total=$((total + ${value:-0}))
    done
    echo "$total"
}

ticks() {   # pids: their own CPU time so far (user + system, clock ticks; not their children's)
    local total=0 pid
    for pid in "$@"; do
        [ -r "/proc/$pid/stat" ] || continue
        total=$((total + $(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat")))
    done
    echo "$total"
}

machine_ticks() {   # busy and total CPU ticks of the machine, all cores
    awk '/^cpu / { busy = $2 + $3 + $4 + $7 + $8 + $9; print busy, busy + $5 + $6 }' /proc/stat
}

cpu_snapshot() {   # broker pid, loader pid, service pids: one line of ticks (services, PostgreSQL, broker, loader, machine)
    local broker=$1 loader=$2 postmaster
    shift 2
    postmaster=$(head -1 "$WORK/pg/data/postmaster.pid")
    echo "$(ticks "$@") $(ticks "$postmaster" $(pgrep -P "$postmaster")) $(ticks "$broker") $(ticks "$loader") $(machine_ticks)"
}

run() {   # store instances run
    local store=$1 instances=$2 number=$3
    "$BIN/credits-ledger" broker --partitions "$PARTITIONS" >"$WORK/broker.out" 2>"$WORK/broker.log" &
    local broker=$!
    PIDS+=("$broker")
    until [ -s "$WORK/broker.out" ]; do sleep 0.1; done
    local address
    address=$(head -1 "$WORK/broker.out")
    "$BIN/credits-bench" load "$address" "$EVENTS" "$CUSTOMERS" commands >/dev/null
    local env=(CREDITS_KAFKA_BROKERS="$address" CREDITS_KAFKA_GROUP_ID="bench-$store-$instances-$number" CREDITS_LOG_LEVEL=warning)
    if [ "$store" = postgres ]; then
        local db="bench_${instances}_$number"
        psql_ -c "CREATE DATABASE $db" >/dev/null
        [ -n "${STATEMENTS:-}" ] && psql_ -d "$db" -c "CREATE EXTENSION pg_stat_statements" >/dev/null
        env+=(CREDITS_STORE_URL="postgres://postgres@127.0.0.1:$PGPORT/$db")
    else
        env+=(CREDITS_STORE_PATH="$WORK/ledger-$number.sqlite")
    fi
    local ports=() pids=() i
    start_instances() {
        ports=() pids=()
        for i in $(seq 1 "$instances"); do
            local port=$((18090 + i))
            env "${env[@]}" CREDITS_HTTP_PORT=$port "$SERVICE_BIN" serve >>"$WORK/serve-$i.log" 2>&1 &
            pids+=($!)
            PIDS+=($!)
            ports+=("$port")
        done
    }
    stop_instances() {
        for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
        for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    }
    start_instances
    until [ "$(applied credits.commands "${ports[@]}")" -ge "$CUSTOMERS" ]; do sleep 0.2; done
    # The group is stable (every instance ready with partitions) before the usage is loaded, so
    # the measurement holds no rebalance.
    local ready=0
    until [ "$ready" -eq "$instances" ]; do
        sleep 0.5
        ready=0
        for port in "${ports[@]}"; do
            curl -s "http://127.0.0.1:$port/readyz" | grep -q '"ready":true,"store_open":true,"assigned_partitions":\["' \
                && ready=$((ready + 1))
        done
    done
    if [ "$store" = postgres ] && [ -n "${PREFILL_KEYS:-}" ]; then
        psql_ -d "$db" -c "INSERT INTO idempotency_keys (customer_id, kind, key, digest, status, reason, entry_id, recorded_at)
            SELECT 'cus_' || (i % $CUSTOMERS), 0, 'earlier-' || i, '\\x00', 0, NULL, NULL,
                   (extract(epoch FROM now()) * 1000)::bigint
            FROM generate_series(1, $PREFILL_KEYS) i" -c "ANALYZE idempotency_keys" >/dev/null
    fi
    sleep 2
    local wal_before
    [ "$store" = postgres ] && wal_before=$(psql_ -c "SELECT pg_current_wal_lsn() - '0/0'") \
        && rows_before=$(psql_ -d "$db" -c "SELECT sum(n_tup_ins + n_tup_upd + n_tup_del) FROM pg_stat_user_tables")
    "$BIN/credits-bench" load "$address" "$EVENTS" "$CUSTOMERS" usage >/dev/null &
    local loader=$!
    local low=$((EVENTS / 10)) high=$((EVENTS * 9 / 10)) t_low="" t_high="" count=0 deadline=$((SECONDS + 600))
    while [ -z "$t_high" ] && [ $SECONDS -lt $deadline ]; do
        count=$(applied credits.usage "${ports[@]}")
        now=$EPOCHREALTIME
        [ -z "$t_low" ] && [ "$count" -ge "$low" ] && t_low=$now && c_low=$count && cpu_low=$(cpu_snapshot "$broker" "$loader" "${pids[@]}")
        [ -n "$t_low" ] && [ "$count" -ge "$high" ] && t_high=$now && c_high=$count && cpu_high=$(cpu_snapshot "$broker" "$loader" "${pids[@]}")
        sleep 0.2
    done
    [ -z "$t_high" ] && { echo "timed out at $count applied"; tail -20 "$WORK"/serve-*.log; exit 1; }
    wait "$loader"
    local rate
    rate=$(python3 -c "print(round(($c_high - $c_low) / ($t_high - $t_low)))")
    local extra=""
    if [ "$store" = postgres ]; then
        until [ "$(applied credits.usage "${ports[@]}")" -ge "$EVENTS" ]; do sleep 0.2; done
        sleep 2   # the outbox rows of the last batches are deleted once delivered
        local wal_after rows
        wal_after=$(psql_ -c "SELECT pg_current_wal_lsn() - '0/0'")
        rows=$(psql_ -d "$db" -c "SELECT sum(n_tup_ins + n_tup_upd + n_tup_del) FROM pg_stat_user_tables")
        extra=$(python3 -c "print(f'; WAL {($wal_after - $wal_before) / $EVENTS:.0f} bytes/event, row writes {($rows - $rows_before) / $EVENTS:.1f}/event')")
    fi
    # Where the cores went between the two marks, in % of one core (the machine: of all of them).
    local cpu
    cpu=$(python3 - "$cpu_low" "$cpu_high" "$t_low" "$t_high" "$(getconf CLK_TCK)" "$(nproc)" <<'PY'
import sys
low, high = [list(map(int, a.split())) for a in sys.argv[1:3]]
seconds, hz, cores = float(sys.argv[4]) - float(sys.argv[3]), int(sys.argv[5]), int(sys.argv[6])
d = [h - l for h, l in zip(high, low)]
pct = lambda ticks: round(100 * ticks / hz / seconds)
print(f"CPU % of one core: service {pct(d[0])}, postgres {pct(d[1])}, broker {pct(d[2])}, loader {pct(d[3])}; "
      f"machine busy {round(100 * d[4] / max(1, d[5]))} % of {cores} cores")
PY
)
    echo "$store x$instances run $number: $rate events/s$extra; $cpu"
    if [ "$store" = postgres ] && [ -n "${STATEMENTS:-}" ]; then
        echo "  µs per usage event | calls | rows | statement"
        psql_ -d "$db" -F ' | ' -c "SELECT round((total_exec_time * 1000 / $EVENTS)::numeric, 2), calls, rows,
            left(regexp_replace(query, '\s+', ' ', 'g'), 100) FROM pg_stat_statements
            WHERE query NOT LIKE 'CREATE%' AND query NOT LIKE '%pg_stat_statements%' ORDER BY total_exec_time DESC LIMIT 12" \
            | sed 's/^/  /'
    fi
    stop_instances
    kill -TERM "$broker"; wait "$broker" 2>/dev/null || true
    rm -f "$WORK"/ledger-*.sqlite* "$WORK/broker.out" "$WORK"/serve-*.log
}

echo "bench-scaling: $EVENTS usage events, $CUSTOMERS customers, $PARTITIONS partitions, $(nproc) cores"
for number in $(seq 1 "$RUNS"); do
    for setup in $SETUPS; do run "${setup%%:*}" "${setup##*:}" "$number"; done
done
