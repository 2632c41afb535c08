#!/usr/bin/env bash
# Make sure a Docker Engine answers on this host, and that debootstrap is present
# (the base image is built with it when no registry answers).
#
# Idempotent; run as root on a fresh Debian 12. There is no systemd on our VMs, so
# dockerd is started in the background when it is not already answering.
set -euo pipefail

log() { echo "ensure-docker: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" -eq 0 ] || die "must run as root"

# A docker *client* may already be in /usr/local/bin without an engine, so look for
# dockerd specifically.
missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v docker >/dev/null 2>&1 || missing+=(docker.io)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
    pkgs=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
    log "installing: $pkgs"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q || die "apt-get update failed"
    # shellcheck disable=SC2086
    apt-get install -y -q $pkgs || die "apt-get install $pkgs failed"
fi
command -v dockerd >/dev/null 2>&1 || die "dockerd still missing after install"

if docker info >/dev/null 2>&1; then
    log "docker engine answers"
    exit 0
fi

log "starting dockerd (log: /var/log/bdp-dockerd.log)"
nohup dockerd >/var/log/bdp-dockerd.log 2>&1 &
for _ in $(seq 1 60); do
    if docker info >/dev/null 2>&1; then
        log "docker engine answers"
        exit 0
    fi
    sleep 1
done
die "dockerd did not answer within 60 s; see /var/log/bdp-dockerd.log"
