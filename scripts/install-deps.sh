#!/usr/bin/env bash
# Installs what Berth and its tests stand on (Debian packages and npm
# packages) and builds the TypeScript. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" != 0 ]; then
  echo "run as root: berthd needs root for mounts, namespaces, cgroups and iptables" >&2
  exit 1
fi

PKGS=(runc conmon golang-github-containers-common iproute2 iptables busybox-static attr socat tmux skopeo docker-registry ca-certificates procps curl openssl tini util-linux
      gcc g++ make libc6-dev libseccomp-dev sudo zsh systemd python3-docker mmdebstrap docker-compose etcd-server etcd-client)
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

# Swarm managers run their own etcd members (berthd starts them): Debian's
# etcd.service, started by the package, must neither run nor come back at boot.
if [ -e /lib/systemd/system/etcd.service ] && [ "$(readlink -f /etc/systemd/system/etcd.service 2>/dev/null)" != /dev/null ]; then
  systemctl stop etcd >/dev/null 2>&1 || true
  systemctl disable etcd >/dev/null 2>&1 || true
  systemctl mask etcd >/dev/null 2>&1 || ln -sf /dev/null /etc/systemd/system/etcd.service
  # without a running systemd (containers), the package may have started it through its init script
  if [ -x /etc/init.d/etcd ]; then /etc/init.d/etcd stop >/dev/null 2>&1 || true; fi
fi

# npm ci starts by deleting node_modules: only when what is installed does not satisfy package.json.
if [ ! -d node_modules ] || ! npm ls --depth=0 >/dev/null 2>&1; then
  npm ci --no-audit --no-fund
fi
# The native addon of cp/export (npm ci builds it; a kept node_modules may predate it).
if [ ! -f native/fsroot/build/Release/fsroot.node ]; then
  npm run build:native
fi
# Build unless dist/ is newer than every source (a second run is quick).
if [ ! -f dist/.built ] || [ -n "$(find src test bench scripts tsconfig.json package-lock.json -newer dist/.built -print -quit)" ]; then
  npm run build
  touch dist/.built
fi
