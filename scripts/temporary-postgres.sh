# Sourced by scripts that need a PostgreSQL of their own, as the tests start one: a new cluster in
# a temporary directory under /tmp, on a free loopback port, run as the `postgres` user when the
# script runs as root (PostgreSQL refuses root), stopped by its PID when the script exits. Never a
# system-wide cluster.
#
#   start_temporary_postgres [server option …]   # e.g. -c fsync=off; sets pg_bin, pg_port, pg_dir
#   psql_ …                                       # psql on it as postgres, unaligned, stops on error

start_temporary_postgres() {
    pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
    pg_dir=$(mktemp -d /tmp/credits-pg.XXXXXX)
    local run_as=()
    if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$pg_dir"; run_as=(runuser -u postgres --); fi
    "${run_as[@]}" "$pg_bin/initdb" -D "$pg_dir/data" -U postgres -A trust --no-sync -E UTF8 >/dev/null
    pg_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    "${run_as[@]}" "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w \
        -o "-p $pg_port -k $pg_dir -c listen_addresses=127.0.0.1 $*" start >/dev/null
    trap stop_temporary_postgres EXIT
}

stop_temporary_postgres() {
    local pid
    pid=$(head -1 "$pg_dir/data/postmaster.pid" 2>/dev/null || true)
    [ -n "$pid" ] && kill -INT "$pid" 2>/dev/null && while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    rm -rf "$pg_dir"
}

psql_() { "$pg_bin/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -At -v ON_ERROR_STOP=1 "$@"; }
