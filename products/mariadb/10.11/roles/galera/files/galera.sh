#!/bin/sh
# The node-side steps of the galera role, run with ansible's `script` module (a shell
# script needs no Python module on the node: one quick round trip per step).
#
#   galera.sh probe    DATADIR PIDFILE   data directory made; prints the node's state:
#                                        "fresh" (no data yet), "not-running" (data, no
#                                        server) or its wsrep_cluster_status (Primary,
#                                        non-Primary)
#   galera.sh prepare  DATADIR           the node that bootstraps a cluster: the image's
#                                        system tables when it has no data, else
#                                        safe_to_bootstrap: 1 (no other node runs)
#   galera.sh synced   PIDFILE SECONDS   waits until the node is Synced with the cluster
#   galera.sh status   PIDFILE           "not-running", or the node's wsrep status lines
#   galera.sh database NAME              the database exists (prints "created" if made now)
set -u
client="mariadb --connect-timeout=2 -NB"

running() {
    start-stop-daemon --status --pidfile "$1" --name mariadbd
}

wsrep() {  # the value of one wsrep status variable, "" when the server does not answer
    $client -e "SHOW GLOBAL STATUS LIKE '$1'" 2>/dev/null | cut -f2
}

case "$1" in
probe)
    install -d -o mysql -g mysql -m 0750 "$2"
    if running "$3"; then
        state=$(wsrep wsrep_cluster_status); echo "${state:-unknown}"
    elif [ -d "$2/mysql" ]; then
        echo not-running
    else
        echo fresh
    fi
    ;;
prepare)
    if [ ! -d "$2/mysql" ]; then
        # The system tables made at image build time (mariadb-install-db), faster than
        # making them now; a new cluster gets its own state UUID when it bootstraps.
        cp -a /usr/share/bdp/mariadb-seed/. "$2/" && chown -R mysql:mysql "$2" || exit 1
        echo initialised
        exit 0
    fi
    # Galera refuses to bootstrap from a node that did not stop last; no node runs, so
    # this node's data becomes the cluster's.
    sed -i 's/^safe_to_bootstrap: 0/safe_to_bootstrap: 1/' "$2/grastate.dat" 2>/dev/null
    exit 0
    ;;
synced)
    # A joiner first copies the data from a donor (SST, or IST when it has most of it).
    tries=$(($3 * 4))
    while [ "$tries" -gt 0 ]; do
        state=$(wsrep wsrep_local_state_comment)
        [ "$state" = Synced ] && exit 0
        if ! running "$2"; then
            echo "mariadbd exited on $(hostname) before it was Synced (its log: /var/log/mysql/error.log)" >&2
            # The run's output keeps them: the errors and state-transfer lines, then the end.
            grep -E '\[ERROR\]|SST|IST|[Ss]tate transfer' /var/log/mysql/error.log | tail -n 20
            echo ...
            tail -n 15 /var/log/mysql/error.log
            exit 1
        fi
        tries=$((tries - 1))
        sleep 0.25
    done
    echo "mariadbd on $(hostname) is not Synced after $3 s (state: ${state:-no answer})" >&2
    exit 1
    ;;
status)
    running "$2" || { echo not-running; exit 0; }
    $client -e "SHOW GLOBAL STATUS WHERE Variable_name IN ('wsrep_ready', 'wsrep_cluster_size',
        'wsrep_cluster_status', 'wsrep_local_state_comment', 'wsrep_incoming_addresses')"
    ;;
database)
    # The name is checked by the options schema (^[a-z_][a-z0-9_]*$): no quoting needed.
    [ -n "$($client -e "SHOW DATABASES LIKE '$2'")" ] && exit 0
    $client -e "CREATE DATABASE IF NOT EXISTS \`$2\`" && echo created
    ;;
*)
    echo "usage: galera.sh probe|prepare|synced|status|database ..." >&2
    exit 2
    ;;
esac
