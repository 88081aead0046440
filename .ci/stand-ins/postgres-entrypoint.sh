#!/bin/sh
# STAND-IN, FOR MACHINES WITHOUT A REACHABLE REGISTRY ONLY (see .ci/cluster-stand-ins.sh).
# The entrypoint of a local image named docker.io/library/postgres:15-bookworm, built from
# Debian's postgresql-15. It honours the part of the official image's contract that
# deploy/compose.yaml relies on, nothing more:
#   - POSTGRES_USER (superuser, default postgres), POSTGRES_PASSWORD, POSTGRES_DB (default: the
#     user's name); password (scram-sha-256) for TCP clients, trust on the local socket;
#   - data in PGDATA=/var/lib/postgresql/data, initialised only when empty;
#   - on first start only, /docker-entrypoint-initdb.d/*.sh run (executable: executed, else
#     sourced) and *.sql fed to psql, against a server that listens on no TCP port;
#   - then the server in the foreground as the postgres user, listening on every address;
#     pg_isready and psql on the PATH.
# Everywhere a registry is reachable the official image is pulled and this file is unused.
set -eu
PGDATA=${PGDATA:-/var/lib/postgresql/data}
export PGDATA
BIN=/usr/lib/postgresql/15/bin
[ "${1:-}" = postgres ] && shift  # the image's CMD, as in the official image: postgres [options]

if [ "$(id -u)" = 0 ]; then
    mkdir -p "$PGDATA" /var/run/postgresql
    chown postgres:postgres "$PGDATA" /var/run/postgresql
    chmod 700 "$PGDATA"
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    : "${POSTGRES_PASSWORD:?the official image refuses to start without POSTGRES_PASSWORD}"
    POSTGRES_USER=${POSTGRES_USER:-postgres}
    POSTGRES_DB=${POSTGRES_DB:-$POSTGRES_USER}
    export POSTGRES_USER POSTGRES_DB
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    "$BIN/initdb" -D "$PGDATA" --username="$POSTGRES_USER" --pwfile="$pwfile" \
        --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    rm -f "$pwfile"
    printf '\nhost all all all scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
    # A private socket folder during initialisation: pg_isready (the healthcheck) stays
    # negative until the real server is up, and clients cannot connect half-way.
    init_socket=$(mktemp -d)
    "$BIN/pg_ctl" -D "$PGDATA" -w -o "-c listen_addresses='' -k $init_socket" start >/dev/null
    export PGHOST="$init_socket"
    if [ "$POSTGRES_DB" != postgres ]; then
        psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
             -c "CREATE DATABASE \"$POSTGRES_DB\"" >/dev/null
    fi
    for f in /docker-entrypoint-initdb.d/*; do
        case $f in
            *.sh) if [ -x "$f" ]; then echo "stand-in: running $f"; "$f"
                  else echo "stand-in: sourcing $f"; . "$f"; fi ;;
            *.sql) echo "stand-in: running $f"
                   psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" \
                        --dbname "$POSTGRES_DB" -f "$f" ;;
            *) ;;
        esac
    done
    unset PGHOST
    "$BIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null
    rmdir "$init_socket"
    echo "stand-in: database initialised"
fi
exec "$BIN/postgres" -D "$PGDATA" -c listen_addresses='*' "$@"
