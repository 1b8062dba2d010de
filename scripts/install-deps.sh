#!/usr/bin/env bash
# Installs what Berth and its tests stand on (Debian packages and npm
# packages) and builds the TypeScript. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "run as root: berthd needs root for mounts, namespaces, cgroups and iptables" >&2
  exit 1
fi

PKGS=(runc conmon golang-github-containers-common iproute2 iptables busybox-static attr socat tmux skopeo docker-registry ca-certificates procps curl openssl tini util-linux mmdebstrap docker-compose)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
# The official docker CLI is the reference client in the tests.
command -v docker >/dev/null 2>&1 || missing+=(docker.io)
if [ "${#missing[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

npm ci --no-audit --no-fund
npm run build
