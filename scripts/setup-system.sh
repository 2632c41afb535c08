#!/usr/bin/env bash
# Installs the Debian packages the platform and its tests need, then makes sure the
# Docker Engine answers. Idempotent: installs only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# docker.io comes with its recommends (cgroupfs-mount, apparmor, ...), as it was tested;
# the rest without, to stay small (chromium's recommends alone are hundreds of MB).
with_recommends=(docker.io)
# iproute2 and util-linux (ip, bridge, nsenter, unshare) build the test hosts (scripts/testhosts.sh),
# openssl their TLS certificates.
without_recommends=(debootstrap iptables iproute2 util-linux procps openssl postgresql openssh-client python3-venv docker-compose chromium)

missing_of() {
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
  done
}
mapfile -t missing_with < <(missing_of "${with_recommends[@]}")
mapfile -t missing_without < <(missing_of "${without_recommends[@]}")
if [ ${#missing_with[@]} -gt 0 ] || [ ${#missing_without[@]} -gt 0 ]; then
  echo "setup: installing ${missing_with[*]} ${missing_without[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  if [ ${#missing_with[@]} -gt 0 ]; then
    apt-get install -y -qq "${missing_with[@]}" >/dev/null
  fi
  if [ ${#missing_without[@]} -gt 0 ]; then
    apt-get install -y -qq --no-install-recommends "${missing_without[@]}" >/dev/null
  fi
fi
bash scripts/ensure-docker.sh
