#!/bin/sh
# The node-side steps of the gluster roles, run with ansible's `script` module (a shell
# script needs no Python module of Ansible on the node: one quick round trip each). Each
# step is idempotent and prints "changed" when it changed something.
#
#   gluster.sh glusterd PORT SECONDS [BRICK_DIR ...]  glusterd runs (started unless it
#                                              runs, then its port answers); brick dirs exist
#   gluster.sh probe SECONDS PEER ...          (initiator) every peer probed, then waits
#                                              until the pool has all of them Connected
#   gluster.sh peerback INITIATOR              (a responder) probes the initiator by name
#   gluster.sh volume NAME REPLICA SECONDS BRICK ...  the volume exists and is started,
#                                              then waits until every brick is online
#   gluster.sh mount MOUNTPOINT HOST VOLUME    the volume is mounted with the FUSE client
#   gluster.sh status VOLUME MOUNTPOINT        one line each: "glusterd running|stopped",
#                                              "pool ok|failed", "mount ok|missing|none",
#                                              and with VOLUME: "volume started|stopped|missing",
#                                              "bricks <online> <total>"
set -u
changed=0
g() { gluster --mode=script --timeout=10 "$@"; }
bricks_online() {  # "<online> <total>" bricks of a volume, from its XML status
    g volume status "$1" --xml 2>/dev/null | python3 -c '
import sys, xml.etree.ElementTree as ET
try:
    nodes = [n for n in ET.parse(sys.stdin).getroot().iter("node") if n.findtext("path", "").startswith("/")]
except ET.ParseError:
    nodes = []
print(sum(n.findtext("status") == "1" for n in nodes), len(nodes))'
}
connected() {  # number of Connected members of the pool (this node included)
    g pool list 2>/dev/null | grep -cw Connected
}
pool_full() { test "$(connected)" -eq "$1"; }
bricks_all() { test "$(bricks_online "$1")" = "$2 $2"; }
port_open() { python3 -c "import socket; socket.create_connection(('127.0.0.1', $1), 1).close()" 2>/dev/null; }
wait_for() {  # wait_for SECONDS COMMAND...: retry (a command or a function above) every half second
    tries=$(($1 * 2)); shift
    while [ "$tries" -gt 0 ]; do
        "$@" && return 0
        tries=$((tries - 1))
        sleep 0.5
    done
    return 1
}
action=$1; shift
case "$action" in
glusterd)
    port=$1 seconds=$2; shift 2
    for dir in "$@"; do [ -d "$dir" ] || { mkdir -p "$dir"; changed=1; }; done
    if ! pgrep -x glusterd >/dev/null; then
        glusterd -p /run/glusterd.pid --log-level INFO || exit 1
        changed=1
    fi
    wait_for "$seconds" port_open "$port" \
        || { echo "glusterd on $(hostname) does not answer on port $port after $seconds s" >&2; exit 1; }
    ;;
probe)
    seconds=$1; shift
    for peer in "$@"; do
        out=$(g peer probe "$peer" 2>&1) || { echo "peer probe $peer: $out" >&2; exit 1; }
        case "$out" in *"already in peer list"*) ;; *) changed=1 ;; esac
    done
    members=$(($# + 1))
    wait_for "$seconds" pool_full "$members" \
        || { echo "the pool has $(connected) of $members servers Connected after $seconds s" >&2; exit 1; }
    ;;
peerback)
    out=$(g peer probe "$1" 2>&1) || { echo "peer probe $1: $out" >&2; exit 1; }
    case "$out" in *"already in peer list"*) ;; *) changed=1 ;; esac
    ;;
volume)
    name=$1 replica=$2 seconds=$3; shift 3
    info=$(g volume info "$name" 2>/dev/null)
    if [ -z "$info" ]; then
        # force: on a host whose disks are directories of one file system, a brick may
        # sit on the same device as the container's root, which gluster otherwise refuses.
        g volume create "$name" replica "$replica" transport tcp "$@" force >/dev/null || exit 1
        changed=1
        info=$(g volume info "$name")
    fi
    case "$info" in *"Status: Started"*) ;; *) g volume start "$name" >/dev/null || exit 1; changed=1 ;; esac
    want=$#
    wait_for "$seconds" bricks_all "$name" "$want" \
        || { echo "bricks of $name online (online total): $(bricks_online "$name"); expected $want" >&2; exit 1; }
    ;;
mount)
    mnt=$1 host=$2 volume=$3
    mountpoint -q "$mnt" && exit 0
    mkdir -p "$mnt"
    # The volume may need a moment after its bricks came online.
    wait_for 10 mount -t glusterfs "$host:/$volume" "$mnt" || { echo "cannot mount $host:/$volume on $mnt" >&2; exit 1; }
    changed=1
    ;;
status)
    volume=$1 mnt=$2
    if pgrep -x glusterd >/dev/null; then echo "glusterd running"; else echo "glusterd stopped"; fi
    if g pool list >/dev/null 2>&1; then echo "pool ok"; else echo "pool failed"; fi
    if [ -z "$mnt" ]; then echo "mount none"
    elif mountpoint -q "$mnt" && timeout 10 stat -f "$mnt" >/dev/null 2>&1; then echo "mount ok"
    else echo "mount missing"; fi
    if [ -n "$volume" ]; then
        info=$(g volume info "$volume" 2>/dev/null)
        case "$info" in "") echo "volume missing" ;; *"Status: Started"*) echo "volume started" ;; *) echo "volume stopped" ;; esac
        echo "bricks $(bricks_online "$volume")"
    fi
    exit 0
    ;;
*)
    echo "usage: gluster.sh glusterd|probe|peerback|volume|mount|status ..." >&2
    exit 2
    ;;
esac
[ "$changed" = 1 ] && echo changed
exit 0
