#!/bin/sh
# The node-side steps of the postgresql, pg_primary and pg_replica roles (the bundle's
# files/, so all three find it), run with ansible's `script` module (a shell
# script needs no Python module on the node: one quick round trip per step). Servers run
# under pg_ctl as the postgres user; every step is idempotent.
#
#   pg.sh init    DATA SECRET           primary: data directory, initdb (once), the
#                                       replication password file (once), bdp.conf included
#   pg.sh clone   DATA HOST PORT USER   replica: pg_basebackup from the primary (once, when
#                                       DATA has no data), standby.signal, bdp.conf included
#   pg.sh hba     DATA BLOCK_BASE64     pg_hba.conf ends with the platform's block
#   pg.sh start   DATA LOG TIMEOUT 1|0  the server runs (1: it re-reads changed settings)
#   pg.sh stop    DATA                  fast shutdown, when it runs
#   pg.sh primary DATA SECRET USER SLOTS DATABASE POSTGIS [LEAVING]
#                                       replication role with the password from SECRET (on
#                                       stdin, never in argv), one slot per replica (SLOTS:
#                                       comma-separated), the database, PostGIS (1|0); the
#                                       slots of replicas leaving in a scale-in (LEAVING:
#                                       comma-separated) dropped, as a slot no replica uses
#                                       keeps WAL for ever
#   pg.sh streaming DATA SECONDS        waits until the replica streams from the primary
#   pg.sh status  DATA PORT             "not-running", "refusing" or "<in recovery> <wal
#                                       receiver status> <replicas streaming, comma-separated>"
# Names and identifiers come from the options schema (lower-case identifiers, no quoting
# needed). Prints "changed" when it changed something.
set -u
bin=/usr/lib/postgresql/15/bin
as_pg() { (cd / && runuser -u postgres -- "$@"); }  # postgres cannot enter /root
psql_() { as_pg "$bin/psql" -X -qAt -v ON_ERROR_STOP=1 -d postgres "$@"; }
include() {  # postgresql.conf includes the platform's settings (bdp.conf)
    grep -qx "include_if_exists = 'bdp.conf'" "$1/postgresql.conf" && return 0
    echo "include_if_exists = 'bdp.conf'" >> "$1/postgresql.conf"
    changed=1
}
changed=0
action=$1; data=$2; shift 2

case "$action" in
init)
    secret=$1
    install -d -o postgres -g postgres -m 0700 "$data"
    if [ ! -f "$data/PG_VERSION" ]; then
        # --no-sync, then one sync of the file system: the same durability as initdb's
        # file-by-file fsync, in a fraction of the time.
        as_pg "$bin/initdb" -D "$data" --encoding=UTF8 --no-locale --auth-local=peer \
            --auth-host=scram-sha-256 --no-sync >/dev/null || exit 1
        sync -f "$data"
        changed=1
    fi
    if [ ! -f "$secret" ]; then
        (umask 077; head -c 32 /dev/urandom | base64 -w 0 | tr -d '/+=' > "$secret.new")
        chown postgres:postgres "$secret.new" && mv "$secret.new" "$secret"
        changed=1
    fi
    include "$data"
    ;;
clone)
    host=$1 port=$2 user=$3
    install -d -o postgres -g postgres -m 0700 "$data"
    if [ ! -f "$data/PG_VERSION" ]; then
        # The password comes from ~postgres/.pgpass (written by the playbook).
        as_pg "$bin/pg_basebackup" -h "$host" -p "$port" -U "$user" -D "$data" -X stream \
            --checkpoint=fast -w --no-sync || exit 1
        sync -f "$data"
        changed=1
    fi
    [ -f "$data/standby.signal" ] || { as_pg touch "$data/standby.signal"; changed=1; }
    include "$data"
    ;;
hba)
    file=$data/pg_hba.conf begin="# BEGIN BDP cluster access" end="# END BDP cluster access"
    new=$(mktemp)
    awk -v b="$begin" -v e="$end" '$0 == b { skip = 1; next } $0 == e { skip = 0; next } !skip' "$file" > "$new"
    { echo "$begin"; printf '%s' "$1" | base64 -d; echo "$end"; } >> "$new"
    if cmp -s "$new" "$file"; then rm -f "$new"; else
        chown postgres:postgres "$new" && chmod 0600 "$new" && mv "$new" "$file"
        changed=1
    fi
    ;;
start)
    log=$1 timeout=$2 reload=$3
    if as_pg "$bin/pg_ctl" -D "$data" status >/dev/null; then
        if [ "$reload" = 1 ]; then as_pg "$bin/pg_ctl" -D "$data" reload >/dev/null || exit 1; changed=1; fi
    else
        as_pg "$bin/pg_ctl" -D "$data" -l "$log" -w -t "$timeout" start >/dev/null || {
            echo "postgres did not start on $(hostname); the end of $log:" >&2; tail -n 5 "$log" >&2; exit 1; }
        changed=1
    fi
    ;;
stop)
    if as_pg "$bin/pg_ctl" -D "$data" status >/dev/null; then
        as_pg "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null || exit 1
        changed=1
    fi
    ;;
primary)
    secret=$1 user=$2 slots=$3 database=$4 postgis=$5 leaving=${6:-}
    # The password is read here, on the primary, and sent to psql on stdin.
    { echo "SELECT 'CREATE ROLE $user' WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$user')\\gexec"
      echo "ALTER ROLE $user WITH REPLICATION LOGIN PASSWORD '$(cat "$secret")';"; } | psql_ >/dev/null || exit 1
    for slot in $(echo "$slots" | tr ',' ' '); do
        made=$(psql_ -c "SELECT pg_create_physical_replication_slot('$slot')
                         WHERE '$slot' NOT IN (SELECT slot_name FROM pg_replication_slots)") || exit 1
        [ -n "$made" ] && changed=1
    done
    for slot in $(echo "$leaving" | tr ',' ' '); do
        dropped=$(psql_ -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots
                            WHERE NOT active AND slot_name = '$slot'") || exit 1
        [ -n "$dropped" ] && changed=1
    done
    if [ -n "$database" ]; then
        had=$(psql_ -c "SELECT 1 FROM pg_database WHERE datname = '$database'") || exit 1
        [ -n "$had" ] || { psql_ -c "CREATE DATABASE \"$database\"" || exit 1; changed=1; }
    fi
    if [ "$postgis" = 1 ]; then
        had=$(psql_ -d "${database:-postgres}" -c "SELECT 1 FROM pg_extension WHERE extname = 'postgis'") || exit 1
        [ -n "$had" ] || { psql_ -d "${database:-postgres}" -c "CREATE EXTENSION postgis" || exit 1; changed=1; }
    fi
    ;;
streaming)
    tries=$(($1 * 4)) state=""
    while [ "$tries" -gt 0 ]; do
        state=$(psql_ -c "SELECT status FROM pg_stat_wal_receiver" 2>/dev/null)
        [ "$state" = streaming ] && exit 0
        tries=$((tries - 1))
        sleep 0.25
    done
    echo "the replica on $(hostname) does not stream from the primary after $1 s (wal receiver: ${state:-none})" >&2
    exit 1
    ;;
status)
    port=$1
    as_pg "$bin/pg_ctl" -D "$data" status >/dev/null || { echo not-running; exit 0; }
    "$bin/pg_isready" -q -h 127.0.0.1 -p "$port" || { echo refusing; exit 0; }
    psql_ -F ' ' -c "SELECT pg_is_in_recovery(), coalesce((SELECT status FROM pg_stat_wal_receiver), 'none'),
                            coalesce((SELECT string_agg(application_name, ',' ORDER BY application_name)
                                      FROM pg_stat_replication WHERE state = 'streaming'), '-')"
    exit
    ;;
*)
    echo "usage: pg.sh init|clone|hba|start|stop|primary|streaming|status DATA ..." >&2
    exit 2
    ;;
esac
[ "$changed" = 1 ] && echo changed
exit 0
