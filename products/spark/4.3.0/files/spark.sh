#!/bin/sh
# The node-side steps of the spark_* roles, run with ansible's `script` module (a shell
# script needs no Python module of Ansible on the node: one quick round trip each).
#
#   spark.sh start  CLASS INSTANCE [ARG ...]  the daemon runs (sbin/spark-daemon.sh; prints
#                                             "started" when it started it now)
#   spark.sh stop   CLASS INSTANCE            the daemon is stopped ("stopped" if it ran)
#   spark.sh status CLASS INSTANCE            "running" or "stopped"
#   spark.sh alive  URL SECONDS [HOST,...]    waits until the master's JSON (URL) says ALIVE
#                                             and lists every HOST as an ALIVE worker
#   spark.sh master URL                       the master's status and ALIVE workers:
#                                             {"status": ..., "alive": [hosts]}
set -u
daemon=/opt/spark/sbin/spark-daemon.sh
master_json() {  # {"status", "alive"} from the master's web UI JSON; status "" when it does not answer
    python3 - "$1" <<'PY'
import json, sys, urllib.request
try:
    doc = json.load(urllib.request.urlopen(sys.argv[1], timeout=5))
except (OSError, ValueError):
    doc = {}
alive = sorted(w["host"] for w in doc.get("workers", []) if w.get("state") == "ALIVE")
print(json.dumps({"status": doc.get("status", ""), "alive": alive}))
PY
}
action=$1; shift
case "$action" in
start)
    # spark-daemon.sh refuses a second copy with an error: ask first.
    "$daemon" status "$1" "$2" >/dev/null 2>&1 && exit 0
    # A JVM that dies at once is seen in 0.3 s (its log's tail is the reason); one that
    # dies later, by the ALIVE wait.
    out=$(SPARK_DAEMON_LAUNCH_CHECK=0.3 "$daemon" start "$@" 2>&1) || { echo "$out" >&2; exit 1; }
    case "$out" in *"failed to launch"*) echo "$out" >&2; exit 1 ;; esac
    echo started
    ;;
stop)
    "$daemon" status "$1" "$2" >/dev/null 2>&1 || exit 0
    "$daemon" stop "$1" "$2" >/dev/null && echo stopped
    ;;
status)
    if "$daemon" status "$1" "$2" >/dev/null 2>&1; then echo running; else echo stopped; fi
    ;;
alive)
    url=$1 tries=$(($2 * 4)) want=$(echo "${3:-}" | tr ',' ' ')
    while [ "$tries" -gt 0 ]; do
        doc=$(master_json "$url") missing=""
        for host in $want; do
            case "$doc" in *"\"$host\""*) ;; *) missing="$missing $host" ;; esac
        done
        case "$doc" in *'"status": "ALIVE"'*) [ -z "$missing" ] && exit 0 ;; esac
        tries=$((tries - 1))
        sleep 0.25
    done
    echo "after $2 s the master at $url says $doc; workers not ALIVE:${missing:- none}" >&2
    exit 1
    ;;
master)
    master_json "$1"
    ;;
*)
    echo "usage: spark.sh start|stop|status|alive|master ..." >&2
    exit 2
    ;;
esac
