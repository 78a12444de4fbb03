#!/usr/bin/env bash
# How PostgreSQL runs a batch's idempotency-key lookup as the key table grows:
#   scripts/key-lookup-plans.sh [keys per batch]
# A temporary cluster (as the tests start it: /tmp, a free loopback port, stopped by its PID),
# the `idempotency_keys` table of migration 001_ledger, filled step by step to 3.2 million keys
# over 2 000 customers and analyzed; at each size, the plan and execution time of one batch's
# lookup (none of its keys stored) in the two forms: the join the store used before 054a4eb, and
# the lateral probe it uses now (`PostgresLedgerStore.keyLookup`). The arrays are constants, as
# PostgreSQL sees bound parameters in its first (custom) plans.
set -euo pipefail
cd "$(dirname "$0")/.."
batch=${1:-5000}
scripts/install-deps.sh tests >/dev/null
source scripts/temporary-postgres.sh
start_temporary_postgres -c fsync=off
psql_ -c "CREATE TABLE idempotency_keys (
    customer_id TEXT NOT NULL, kind SMALLINT NOT NULL, key TEXT NOT NULL, digest BYTEA NOT NULL,
    status SMALLINT NOT NULL, reason TEXT, entry_id BIGINT, recorded_at BIGINT NOT NULL,
    PRIMARY KEY (customer_id, kind, key))" >/dev/null
python3 - "$batch" "$pg_dir" <<'PY'
import sys
n, directory = int(sys.argv[1]), sys.argv[2]
arrays = (f"ARRAY[{','.join(f'$$cus_{i % 2000}$$' for i in range(n))}]::text[], "
          f"ARRAY[{','.join('0' for _ in range(n))}]::smallint[], "
          f"ARRAY[{','.join(f'$$call-{i}/1$$' for i in range(n))}]::text[]")
with open(f"{directory}/join.sql", "w") as f:
    f.write("EXPLAIN (ANALYZE, TIMING OFF) SELECT k.customer_id FROM idempotency_keys k "
            f"JOIN unnest({arrays}) AS b(customer_id, kind, key) "
            "ON k.customer_id = b.customer_id AND k.kind = b.kind AND k.key = b.key")
with open(f"{directory}/lateral.sql", "w") as f:
    f.write(f"EXPLAIN (ANALYZE, TIMING OFF) SELECT k.customer_id FROM unnest({arrays}) AS b(customer_id, kind, key) "
            "CROSS JOIN LATERAL (SELECT * FROM idempotency_keys i WHERE i.customer_id = b.customer_id "
            "AND i.kind = b.kind AND i.key = b.key LIMIT 1) k")
PY
plan() { psql_ -f "$1" | awk '/Join|Nested Loop/ && !shape { sub(/^ *(-> *)?/, ""); sub(/ *\(.*/, ""); shape = $0 }
                               /Execution Time/ { time = $3 } END { printf "%-12s %8.1f ms", shape, time }'; }
echo "one batch of $batch keys (none stored), 2 000 customers"
echo "stored keys | join (before 054a4eb)   | lateral probe (now)"
previous=0
for keys in 20000 50000 100000 200000 400000 800000 1600000 3200000; do
    psql_ -c "INSERT INTO idempotency_keys SELECT 'cus_' || (i % 2000), 0, 'earlier-' || i, '\\x00', 0, NULL, i, 0
              FROM generate_series($((previous + 1)), $keys) i" -c "ANALYZE idempotency_keys" >/dev/null
    previous=$keys
    printf "%11d | %s | %s\n" "$keys" "$(plan "$pg_dir/join.sql")" "$(plan "$pg_dir/lateral.sql")"
done
