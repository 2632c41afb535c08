#!/usr/bin/env bash
# Several real Docker hosts on one machine, for tests and benchmarks.
#
#   scripts/testhosts.sh up N     # N hosts, each a network namespace with its own dockerd
#   scripts/testhosts.sh down     # remove every one of them, and what they left behind
#   scripts/testhosts.sh status   # one line per host: name, address, daemon answering or not
#
# The hosts share one L2 segment: a Linux bridge in a namespace of its own (a bridge in
# the root namespace would drop host-to-host frames: bridged traffic crosses the root
# FORWARD chain, which the system dockerd sets to DROP). The root namespace joins it
# through a veth with address NET.1; host i has NET.(10+i) on its eth0 and a daemon
# listening on tcp://NET.(10+i):2375 (plain TCP: a test network only) and on a unix
# socket under the state directory. Hosts have no default route, so a registry lookup
# fails at once instead of waiting on DNS. See README.md ("Running on several
# hosts") and ../shared/DESIGN.md, "Several hosts on one machine".
#
# Settings (environment):
#   BDP_TESTHOSTS_PREFIX  names of namespaces, links and cgroups (default bdpth)
#   BDP_TESTHOSTS_NET     first three octets of the segment (default: the first free of
#                         192.168.250 .. 192.168.254)
#   BDP_TESTHOSTS_DIR     state directory (default /var/tmp/bdp-testhosts-PREFIX)
#   BDP_TESTHOSTS_TLS     1: daemons listen on tcp://ADDR:2376 with TLS and verify clients
#                         (certificates in the state directory's tls/: ca.pem, and
#                         cert.pem + key.pem for a client) instead of plain tcp on 2375
#
# Idempotent: `up` keeps hosts whose daemon answers and (re)builds the others; `down`
# works from whatever is left, even after a crash. Every wait is bounded. Root only.
set -euo pipefail

P=${BDP_TESTHOSTS_PREFIX:-bdpth}
DIR=${BDP_TESTHOSTS_DIR:-/var/tmp/bdp-testhosts-$P}
SW=$P-sw
ROOT_LINK=$P-root
START_WAIT=40    # seconds a daemon may take to answer
STOP_WAIT=20     # seconds a daemon may take to stop on SIGTERM

log() { echo "testhosts: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root (namespaces, links, daemons)"
for tool in ip nsenter unshare dockerd docker; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is missing: run scripts/setup-system.sh"
done

# containerd puts sockets under the exec root, and unix socket paths stop at 104 bytes.
longest="$DIR/h99/exec/containerd/containerd-debug.sock"
[ ${#longest} -le 100 ] || die "state directory $DIR is too long for containerd's sockets; use a shorter BDP_TESTHOSTS_DIR"

ns_exists() { [ -e "/run/netns/$1" ]; }

pick_net() {
    if [ -n "${BDP_TESTHOSTS_NET:-}" ]; then echo "$BDP_TESTHOSTS_NET"; return; fi
    if [ -s "$DIR/net" ]; then cat "$DIR/net"; return; fi
    for third in 250 251 252 253 254; do
        # Free when no route of the root namespace covers it (ours excepted).
        if ! ip -4 route show to match "192.168.$third.1" | grep -v "^default" | grep -vq "dev $ROOT_LINK"; then
            echo "192.168.$third"; return
        fi
    done
    die "no free /24 among 192.168.250.0 .. 192.168.254.0; set BDP_TESTHOSTS_NET"
}

sock() { echo "unix://$DIR/h$1/docker.sock"; }
answers() { timeout 5 docker -H "$(sock "$1")" version --format '{{.Server.Version}}' >/dev/null 2>&1; }
# What the platform will ask first, the way it will ask it: `docker info` over the segment.
# A daemon may answer on its socket a while before that (seen in CI: registrations that
# timed out right after `up`), so `up` waits for this too.
reachable() {
    local i=$1 addr=$2
    if [ "${BDP_TESTHOSTS_TLS:-}" = 1 ]; then
        timeout 10 docker -H "tcp://$addr:2376" --tlsverify --tlscacert "$DIR/tls/ca.pem" \
            --tlscert "$DIR/tls/cert.pem" --tlskey "$DIR/tls/key.pem" info --format '{{.ID}}' >/dev/null 2>&1
    else
        timeout 10 docker -H "tcp://$addr:2375" info --format '{{.ID}}' >/dev/null 2>&1
    fi
}

switch_up() {
    local net=$1
    if ! ns_exists "$SW"; then
        ip netns add "$SW"
    fi
    ip -n "$SW" link show br0 >/dev/null 2>&1 || ip -n "$SW" link add br0 type bridge
    ip -n "$SW" link set lo up
    ip -n "$SW" link set br0 up
    if ! ip link show "$ROOT_LINK" >/dev/null 2>&1; then
        ip link add "$ROOT_LINK" type veth peer name root netns "$SW"
        ip -n "$SW" link set root master br0 up
    fi
    ip addr replace "$net.1/24" dev "$ROOT_LINK"
    ip link set "$ROOT_LINK" up
}

host_down() {
    local i=$1 ns=$P-h$1 d=$DIR/h$1
    if [ -S "$d/docker.sock" ] && answers "$i"; then
        local ids
        ids=$(timeout 30 docker -H "$(sock "$i")" ps -aq 2>/dev/null || true)
        # shellcheck disable=SC2086
        [ -z "$ids" ] || timeout 60 docker -H "$(sock "$i")" rm -f $ids >/dev/null 2>&1 || true
        timeout 20 docker -H "$(sock "$i")" swarm leave --force >/dev/null 2>&1 || true
    fi
    if [ -s "$d/docker.pid" ]; then
        local pid
        pid=$(cat "$d/docker.pid")
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            for _ in $(seq 1 $((STOP_WAIT * 5))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    if ns_exists "$ns"; then
        # containerd, shims and container processes left behind live in the namespace.
        local pids
        pids=$(ip netns pids "$ns" 2>/dev/null || true)
        # shellcheck disable=SC2086
        [ -z "$pids" ] || kill -KILL $pids 2>/dev/null || true
        for _ in $(seq 1 25); do [ -z "$(ip netns pids "$ns" 2>/dev/null)" ] && break; sleep 0.2; done
        ip netns delete "$ns" 2>/dev/null || true
    fi
    ip -n "$SW" link delete "h$i" 2>/dev/null || true
    # Mounts the daemon left (overlay layers, shm, netns bind mounts), deepest first.
    awk -v d="$d/" 'index($2, d) == 1 {print $2}' /proc/self/mounts | sort -r | while read -r m; do
        umount -l "$m" 2>/dev/null || true
    done
    for root in /sys/fs/cgroup/*/ /sys/fs/cgroup/; do
        [ -d "$root$ns" ] && find "$root$ns" -depth -type d -exec rmdir {} \; 2>/dev/null || true
    done
    rm -rf --one-file-system "$d"
}

make_tls() {
    # A CA, one server certificate per host (its address as subjectAltName) and a client
    # certificate, as an admin would give them to dockerd and to the platform.
    local t=$DIR/tls
    [ -s "$t/ca.pem" ] && return 0
    mkdir -p "$t"
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=bdp test CA" \
        -keyout "$t/ca-key.pem" -out "$t/ca.pem" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=bdp platform" -keyout "$t/key.pem" \
        -out "$t/client.csr" 2>/dev/null
    printf 'extendedKeyUsage = clientAuth\n' > "$t/client.ext"
    openssl x509 -req -in "$t/client.csr" -CA "$t/ca.pem" -CAkey "$t/ca-key.pem" \
        -CAcreateserial -days 2 -extfile "$t/client.ext" -out "$t/cert.pem" 2>/dev/null
}

server_cert() {
    local t=$DIR/tls i=$1 addr=$2
    [ -s "$t/h$i-cert.pem" ] && return 0
    openssl req -newkey rsa:2048 -nodes -subj "/CN=$P-h$i" -keyout "$t/h$i-key.pem" \
        -out "$t/h$i.csr" 2>/dev/null
    printf 'subjectAltName = IP:%s\nextendedKeyUsage = serverAuth\n' "$addr" > "$t/h$i.ext"
    openssl x509 -req -in "$t/h$i.csr" -CA "$t/ca.pem" -CAkey "$t/ca-key.pem" \
        -CAcreateserial -days 2 -extfile "$t/h$i.ext" -out "$t/h$i-cert.pem" 2>/dev/null
}

host_up() {
    local i=$1 net=$2 ns=$P-h$1 d=$DIR/h$1 addr=$2.$((10 + $1))
    if ns_exists "$ns" && [ -S "$d/docker.sock" ] && answers "$i"; then
        ip -n "$ns" link set eth0 up  # a test may have left it partitioned
        reachable "$i" "$addr" && return 0
    fi
    host_down "$i"
    mkdir -p "$d"
    ip netns add "$ns"
    ip link add eth0 netns "$ns" type veth peer name "h$i" netns "$SW"
    ip -n "$SW" link set "h$i" master br0 up
    ip -n "$ns" addr add "$addr/24" dev eth0
    ip -n "$ns" link set lo up
    ip -n "$ns" link set eth0 up
    # Not /etc/docker/daemon.json nor key.json: those are the system daemon's (the key
    # is the daemon's ID, which must differ between hosts).
    echo "{\"deprecated-key-path\": \"$d/key.json\"}" > "$d/daemon.json"
    local listen="-H tcp://$addr:2375 --tls=false"
    if [ "${BDP_TESTHOSTS_TLS:-}" = 1 ]; then
        server_cert "$i" "$addr"
        listen="-H tcp://$addr:2376 --tlsverify --tlscacert $DIR/tls/ca.pem \
            --tlscert $DIR/tls/h$i-cert.pem --tlskey $DIR/tls/h$i-key.pem"
    fi
    # `ip netns exec` remounts /sys and dockerd then fails ("Devices cgroup isn't mounted");
    # nsenter keeps the mounts. --tls=false: with a TCP listener and no TLS flag dockerd
    # deliberately sleeps ~16 s at start.
    nsenter --net="/run/netns/$ns" unshare --uts sh -c "hostname $ns && exec dockerd \
        --config-file $d/daemon.json --data-root $d/data --exec-root $d/exec \
        --pidfile $d/docker.pid -H $(sock "$i") $listen \
        --bridge=none --cgroup-parent=/$ns --log-level=warn \
        --default-address-pool base=172.$((80 + i)).0.0/16,size=24" \
        >"$DIR/h$i.log" 2>&1 < /dev/null &
    local deadline=$((SECONDS + START_WAIT))
    while [ "$SECONDS" -lt "$deadline" ]; do
        answers "$i" && reachable "$i" "$addr" && return 0
        sleep 0.2
    done
    tail -20 "$DIR/h$i.log" >&2 || true
    die "the daemon of $ns did not answer on tcp://$addr within ${START_WAIT}s (log: $DIR/h$i.log)"
}

cmd_up() {
    local n=${1:-}
    [[ "$n" =~ ^[1-9][0-9]?$ ]] || die "usage: $0 up N (1..99 hosts)"
    mkdir -p "$DIR"
    local net
    net=$(pick_net)
    echo "$net" > "$DIR/net"
    [ "${BDP_TESTHOSTS_TLS:-}" = 1 ] && make_tls
    switch_up "$net"
    local i
    for i in $(seq 1 "$n"); do host_up "$i" "$net" & done
    local failed=0
    for job in $(jobs -p); do wait "$job" || failed=1; done
    [ "$failed" -eq 0 ] || die "some hosts did not come up"
    # Hosts beyond N from an earlier, larger `up` go.
    for d in "$DIR"/h*/; do
        [ -d "$d" ] || continue
        i=${d%/}; i=${i##*/h}
        [ "$i" -le "$n" ] || host_down "$i"
    done
    echo "$n" > "$DIR/count"
    cmd_status
}

cmd_down() {
    if [ -d "$DIR" ]; then
        for d in "$DIR"/h*/; do
            [ -d "$d" ] || continue
            local i=${d%/}; i=${i##*/h}
            host_down "$i" &
        done
        wait
    fi
    # Namespaces whose state directory is already gone.
    for ns in $(ip netns list | awk '{print $1}' | grep "^$P-h[0-9]*$" || true); do
        host_down "${ns#"$P"-h}"
    done
    ip link delete "$ROOT_LINK" 2>/dev/null || true
    if ns_exists "$SW"; then ip netns delete "$SW"; fi
    rm -rf --one-file-system "$DIR"
    log "down"
}

cmd_status() {
    [ -s "$DIR/count" ] || { log "no hosts"; return 0; }
    local net n
    net=$(cat "$DIR/net"); n=$(cat "$DIR/count")
    for i in $(seq 1 "$n"); do
        local state=down
        answers "$i" && state=up
        local port=2375
        [ -s "$DIR/tls/ca.pem" ] && port=2376
        echo "$P-h$i $net.$((10 + i)) tcp://$net.$((10 + i)):$port $(sock "$i") $state"
    done
}

case "${1:-}" in
    up) cmd_up "${2:-}" ;;
    down) cmd_down ;;
    status) cmd_status ;;
    *) die "usage: $0 up N | down | status" ;;
esac
