#!/bin/sh
# The scheduler node's checks, run with ansible's `script` module (no Python module of
# Ansible on the node: one quick round trip). They read the dashboard's JSON (the
# scheduler's identity), which lists the workers by name.
#
#   dask.sh workers HOST DASHBOARD_PORT NAMES SECONDS [PREFIX]   waits until every worker
#                                                      of NAMES (comma-separated) is registered
#   dask.sh check   HOST DASHBOARD_PORT PATH [PREFIX]   {"workers": [names], "dashboard": <HTTP status of PATH>}
# PREFIX: the dashboard's --dashboard-prefix (its pages and JSON are under it).
set -u
probe() {  # prints the JSON of `check`; never fails
    python3 - "$@" <<'PY'
import json, sys, time, urllib.error, urllib.request
host, port, path, prefix = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
base = f"http://{host}:{port}{prefix}"
# Dask's own identity handler answers 500 for about one heartbeat after a computation
# (the workers' task digests have tuple keys, which it cannot encode): ask again, briefly.
workers = []
for _ in range(8):
    try:
        identity = json.load(urllib.request.urlopen(base + "/json/identity.json", timeout=5))
        workers = sorted(w.get("name") or a for a, w in identity.get("workers", {}).items())
        break
    except urllib.error.HTTPError as exc:
        if exc.code != 500:
            break
        time.sleep(0.5)
    except (OSError, ValueError):
        break
try:
    status = urllib.request.urlopen(base + path, timeout=5).status
except urllib.error.HTTPError as exc:
    status = exc.code
except OSError:
    status = 0
print(json.dumps({"workers": [str(w) for w in workers], "dashboard": status}))
PY
}
case "$1" in
workers)
    host=$2 port=$3 names=$4 tries=$(($5 * 2)) prefix=${6:-}
    while [ "$tries" -gt 0 ]; do
        seen=$(probe "$host" "$port" /json/counts.json "$prefix")
        missing=""
        for n in $(echo "$names" | tr ',' ' '); do
            case "$seen" in *"\"$n\""*) ;; *) missing="$missing $n" ;; esac
        done
        [ -z "$missing" ] && exit 0
        tries=$((tries - 1))
        sleep 0.5
    done
    echo "workers not registered with the scheduler after $5 s:$missing" >&2
    exit 1
    ;;
check)
    probe "$2" "$3" "$4" "${5:-}"
    ;;
*)
    echo "usage: dask.sh workers|check ..." >&2
    exit 2
    ;;
esac
