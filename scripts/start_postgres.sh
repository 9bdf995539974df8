#!/usr/bin/env bash
# A private PostgreSQL server for the tests (the shared search store on several machines is an Optuna
# RDB study; tests/search runs its two-worker test on it). Debian's server binaries
# (scripts/install_system_deps.sh installs `postgresql`), a throwaway cluster owned by the `postgres`
# user in $GLYPH_PG_DIR (default /tmp/glyph-pg-$PORT), listening on 127.0.0.1:$GLYPH_PG_PORT (default
# 54329) with trust auth for local connections only, database glyph_test. Idempotent: a running
# server is reused. Prints the export line for the tests, so callers do:
#   eval "$(bash scripts/start_postgres.sh)"     # sets GLYPH_TEST_POSTGRES_URL
# Stop it with: bash scripts/start_postgres.sh stop
set -euo pipefail
PORT="${GLYPH_PG_PORT:-54329}"
DIR="${GLYPH_PG_DIR:-/tmp/glyph-pg-$PORT}"
BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$BIN" ] || [ ! -x "$BIN/initdb" ]; then
  echo "start_postgres: no PostgreSQL server binaries (apt-get install postgresql)" >&2
  exit 3
fi
as_pg() {  # the server refuses to run as root: run as the postgres user when we are root
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
if [ "${1:-}" = "stop" ]; then
  [ -f "$DIR/data/postmaster.pid" ] && as_pg "$BIN/pg_ctl" -D "$DIR/data" -m fast stop >/dev/null
  exit 0
fi
if [ ! -f "$DIR/data/PG_VERSION" ]; then
  mkdir -p "$DIR"
  [ "$(id -u)" -eq 0 ] && chown postgres:postgres "$DIR"
  as_pg "$BIN/initdb" -D "$DIR/data" -U postgres --auth=trust -E UTF8 >/dev/null
fi
if ! as_pg "$BIN/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
  as_pg "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 \
    -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c max_connections=100 -c fsync=off" start >/dev/null
fi
as_pg "$BIN/psql" -h 127.0.0.1 -p "$PORT" -U postgres -d postgres -tAc \
  "SELECT 1 FROM pg_database WHERE datname = 'glyph_test'" | grep -q 1 \
  || as_pg "$BIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres glyph_test
echo "export GLYPH_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:$PORT/glyph_test"
