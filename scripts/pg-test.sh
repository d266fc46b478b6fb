#!/bin/sh
# A throwaway PostgreSQL server for tests: Debian's binaries, a temp data
# directory, a Unix socket in it and no TCP, run as a non-root user.
#
#   scripts/pg-test.sh start [DIR]   initdb + pg_ctl start; prints
#                                    the lines NUBO_TEST_PG_DIR=... and
#                                    NUBO_TEST_PG_URL=... (the URL has a &: quote it);
#                                    DIR defaults to a new temp dir
#   scripts/pg-test.sh stop DIR      stops the server and removes DIR
#
# The URL names the maintenance database "postgres" as the superuser "nubo"
# (trust authentication over the socket, which only DIR's owner and root can
# reach); tests create a database per nubod in it.  The binaries are found
# at run time in /usr/lib/postgresql/<newest>/bin (scripts/deps.sh installs
# the postgresql package), not through symlinks a fresh machine lacks.
# As root the server runs as the user nobody, since PostgreSQL refuses root.
set -eu

pg_bin() {
    for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -n -r); do
        if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then
            echo "$d"
            return 0
        fi
    done
    echo "pg-test.sh: no PostgreSQL server in /usr/lib/postgresql/*/bin;" \
        "run scripts/deps.sh (Debian package postgresql)" >&2
    return 1
}

# Runs a command as the server's user.
as_pg() {
    if [ "$(id -u)" = 0 ]; then
        setpriv --reuid=nobody --regid=nogroup --clear-groups --reset-env -- "$@"
    else
        "$@"
    fi
}

cmd=${1:-}
case "$cmd" in
start)
    bin=$(pg_bin)
    dir=${2:-$(mktemp -d /tmp/nubo-pg.XXXXXX)}
    mkdir -p "$dir"
    chmod 700 "$dir"
    [ "$(id -u)" = 0 ] && chown nobody:nogroup "$dir"
    as_pg "$bin/initdb" -D "$dir/data" -U nubo -A trust -E UTF8 --no-locale >"$dir/initdb.log" 2>&1 || {
        cat "$dir/initdb.log" >&2
        [ -z "${2:-}" ] && rm -rf "$dir"
        exit 1
    }
    # Tests need speed, not durability: fsync off (a real deployment keeps it on).
    as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-k $dir -c listen_addresses= -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
        start >/dev/null || {
        cat "$dir/server.log" >&2
        as_pg "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
        [ -z "${2:-}" ] && rm -rf "$dir"
        exit 1
    }
    echo "NUBO_TEST_PG_DIR=$dir"
    echo "NUBO_TEST_PG_URL=postgresql:///postgres?host=$dir&user=nubo"
    ;;
stop)
    dir=${2:?usage: pg-test.sh stop DIR}
    bin=$(pg_bin)
    if [ -d "$dir/data" ]; then
        as_pg "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    case "$dir" in
    /tmp/nubo-pg.*) rm -rf "$dir" ;;
    esac
    ;;
*)
    echo "usage: scripts/pg-test.sh start [DIR] | stop DIR" >&2
    exit 2
    ;;
esac
