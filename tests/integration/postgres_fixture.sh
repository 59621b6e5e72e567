#!/usr/bin/env bash
# A throwaway PostgreSQL server for tests: postgres_fixture.sh up|down DIR PORT
#   up:   a new cluster in DIR (removed first), owned by the `postgres` system
#         account (the server refuses to run as root), listening only on its
#         Unix socket in DIR (no TCP), trust authentication, a database
#         `chorus`. Clients use postgresql:///chorus?host=DIR&port=PORT&user=postgres
#   down: stops it at once and removes DIR.
# DIR must lie where the postgres account can reach it (e.g. under /tmp).
set -euo pipefail
action=$1 dir=$2 port=$3
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$pgbin/pg_ctl" ] || { echo "postgres_fixture: no PostgreSQL server (apt install postgresql)" >&2; exit 1; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
case "$action" in
up)
  if [ -d "$dir" ]; then as_pg "$pgbin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$dir"; fi
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres: "$dir"
  as_pg "$pgbin/initdb" -D "$dir/data" --auth=trust -U postgres -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 ||
    { cat "$dir/initdb.log" >&2; exit 1; }
  as_pg "$pgbin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 \
    -o "-k $dir -p $port -c listen_addresses='' -c fsync=off" start >/dev/null ||
    { cat "$dir/server.log" >&2; exit 1; }
  as_pg "$pgbin/createdb" -h "$dir" -p "$port" -U postgres chorus
  ;;
down)
  [ -d "$dir/data" ] && as_pg "$pgbin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
  ;;
*) echo "usage: postgres_fixture.sh up|down DIR PORT" >&2; exit 2 ;;
esac
