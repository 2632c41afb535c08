#!/bin/sh
# The node-side steps of the slurm roles that are not plain daemon starts, run with
# ansible's `script` module (a shell script needs no Python module on the node: one
# quick round trip each).
#
#   slurm.sh keygen PATH          the cluster's MUNGE key, made once (base64 of 1 KiB of
#                                 random bytes, text so it travels through Ansible
#                                 unchanged), printed on stdout for the other nodes
#   slurm.sh munge                a credential encodes and decodes locally
#   slurm.sh nodes NAMES SECONDS  waits until every compute node of NAMES (comma-separated)
#                                 is up (idle, mixed, allocated or completing) in sinfo
#   slurm.sh status NAME:PIDFILE...  "<name> running|stopped" for each daemon; with
#                                 slurmctld among them, then "ping <scontrol ping>" and
#                                 one "node <node> <state>" line per node (sinfo)
set -u
up_nodes() {  # the compute nodes sinfo shows up, sorted, comma-separated
    sinfo --noheader --Node --format "%N %t" 2>/dev/null \
        | awk '$2 ~ /^(idle|mix|alloc|comp)$/ { print $1 }' | sort -u | paste -sd, -
}
case "$1" in
keygen)
    if [ ! -f "$2" ]; then
        (umask 077; head -c 1024 /dev/urandom | base64 -w 0 > "$2.new") && chown munge:munge "$2.new" \
            && mv "$2.new" "$2" || exit 1
    fi
    cat "$2"
    ;;
munge)
    munge -n | unmunge >/dev/null || { echo "MUNGE credentials do not decode on $(hostname)" >&2; exit 1; }
    ;;
nodes)
    want=$(echo "$2" | tr ',' '\n' | sort -u | paste -sd, -) tries=$(($3 * 4)) up=""
    while [ "$tries" -gt 0 ]; do
        up=$(up_nodes)
        [ "$up" = "$want" ] && exit 0
        tries=$((tries - 1))
        sleep 0.25
    done
    echo "compute nodes up after $3 s: ${up:-none}; expected: $want" >&2
    exit 1
    ;;
status)
    shift
    for daemon in "$@"; do
        name=${daemon%%:*}
        if start-stop-daemon --status --pidfile "${daemon#*:}" --name "$name"; then
            echo "$name running"
        else
            echo "$name stopped"
        fi
    done
    case " $* " in *" slurmctld:"*)
        echo "ping $(scontrol ping 2>&1 | head -n 1)"
        sinfo --noheader --Node --format "node %N %t" 2>/dev/null ;;
    esac
    exit 0
    ;;
*)
    echo "usage: slurm.sh keygen|munge|nodes|status ..." >&2
    exit 2
    ;;
esac
