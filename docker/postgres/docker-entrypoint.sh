#!/bin/sh
# First start: create the cluster, the user and the database named in the environment
# (POSTGRES_PASSWORD required; POSTGRES_USER, POSTGRES_DB default to postgres / the user).
set -eu
user=${POSTGRES_USER:-postgres}
db=${POSTGRES_DB:-$user}
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    case "${POSTGRES_PASSWORD:-}" in
        '' | *[!A-Za-z0-9_-]*) echo "POSTGRES_PASSWORD must be a token of [A-Za-z0-9_-]" >&2; exit 64 ;;
    esac
    case "$user$db" in *[!A-Za-z0-9_]*) echo "POSTGRES_USER/POSTGRES_DB: letters, digits, _" >&2; exit 64 ;; esac
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
    initdb --username="$user" --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 \
        --encoding=UTF8 --no-instructions >/dev/null
    rm -f "$pwfile"
    printf "listen_addresses = '*'\nunix_socket_directories = '/tmp'\n" >> "$PGDATA/postgresql.conf"
    printf 'host all all 0.0.0.0/0 scram-sha-256\nhost all all ::/0 scram-sha-256\n' \
        >> "$PGDATA/pg_hba.conf"
    if [ "$db" != postgres ]; then  # a local-only server for the one statement
        pg_ctl -D "$PGDATA" -w -s -o "-c listen_addresses=''" start
        psql -q -h /tmp -U "$user" -d postgres -c "CREATE DATABASE \"$db\" OWNER \"$user\""
        pg_ctl -D "$PGDATA" -w -s stop
    fi
fi
exec "$@"
