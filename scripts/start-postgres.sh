#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server on loopback for the tests and `archnet bench market`,
# installing Debian's package first when it is missing. Prints the server URL on stdout.
#
#   export ARCHNET_TEST_POSTGRES="$(scripts/start-postgres.sh)"
#
# The cluster lives in a temporary folder (trust authentication, loopback only, port
# ${ARCHNET_PG_PORT:-54329}); stop it with `scripts/start-postgres.sh stop`.
set -euo pipefail
PORT="${ARCHNET_PG_PORT:-54329}"
DATA="${ARCHNET_PG_DATA:-/tmp/archnet-pg-$PORT}"

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1; }

# PostgreSQL refuses to run as root: run its tools as the `postgres` user when we are root.
as_pg() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

if [ "${1:-}" = stop ]; then
    as_pg "$(pg_bin)/pg_ctl" -D "$DATA" -m fast stop >/dev/null 2>&1 || true
    exit 0
fi

if [ -z "$(pg_bin)" ]; then
    echo "installing PostgreSQL from Debian's packages" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
fi
BIN="$(pg_bin)"

# A server left running by an earlier run on this port is stopped and its data discarded.
as_pg "$BIN/pg_ctl" -D "$DATA" -m immediate stop >/dev/null 2>&1 || true
rm -rf "$DATA"
mkdir -p "$DATA"
[ "$(id -u)" = 0 ] && chown postgres "$DATA"
as_pg "$BIN/initdb" -D "$DATA" --auth=trust -U postgres >/dev/null
as_pg "$BIN/pg_ctl" -D "$DATA" -l "$DATA/server.log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $PORT -k $DATA -c max_connections=200" start >&2
echo "postgres://postgres@127.0.0.1:$PORT/postgres"
