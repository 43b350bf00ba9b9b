#!/bin/sh
# First start (an empty PGDATA): a cluster whose superuser is POSTGRES_USER with the password
# of POSTGRES_PASSWORD_FILE, database POSTGRES_DB, TCP from anywhere with a password
# (scram-sha-256), the local socket trusted (only this container reaches it). Then, and at
# every later start, the server in the foreground.
set -eu
: "${PGDATA:=/var/lib/postgresql/data}"
user=${POSTGRES_USER:-postgres}
database=${POSTGRES_DB:-$user}
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    [ -r "${POSTGRES_PASSWORD_FILE:-}" ] || {
        echo "nasforge-postgres: POSTGRES_PASSWORD_FILE (${POSTGRES_PASSWORD_FILE:-unset}) is not readable" >&2
        exit 1
    }
    initdb -D "$PGDATA" -U "$user" --pwfile="$POSTGRES_PASSWORD_FILE" -E UTF8 --no-locale \
        --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
    echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
    if [ "$database" != postgres ]; then
        postgres --single -D "$PGDATA" -j postgres >/dev/null <<SQL
CREATE DATABASE "$database" OWNER "$user";
SQL
    fi
    echo "nasforge-postgres: cluster made in $PGDATA (user $user, database $database)"
fi
exec postgres -D "$PGDATA"
