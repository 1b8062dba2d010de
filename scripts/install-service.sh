#!/usr/bin/env bash
# Installs berthd.service (contrib/systemd) so systemd starts berthd at boot
# and restarts it on failure; its settings come from /etc/berth/daemon.json.
#   bash scripts/install-service.sh                  install, enable and start
#   bash scripts/install-service.sh --unit-dir DIR   only write the unit into DIR
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
UNIT_DIR=/etc/systemd/system
ONLY_WRITE=
while [ $# -gt 0 ]; do
  case "$1" in
    --unit-dir) UNIT_DIR=${2:?--unit-dir needs a directory}; ONLY_WRITE=1; shift 2 ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "install-service: unknown argument: $1" >&2; exit 2 ;;
  esac
done

if [ -z "$ONLY_WRITE" ] && [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then exec sudo bash "$ROOT/scripts/install-service.sh" "$@"; fi
  echo "install-service: run as root (sudo is not installed)" >&2
  exit 1
fi

NODE=$(command -v node || true)
if [ -z "$NODE" ]; then echo "install-service: node is not on the PATH" >&2; exit 1; fi
mkdir -p "$UNIT_DIR"
sed -e "s#@NODE@#$NODE#g" -e "s#@BERTHD@#$ROOT/bin/berthd#g" contrib/systemd/berthd.service > "$UNIT_DIR/berthd.service.tmp"
mv "$UNIT_DIR/berthd.service.tmp" "$UNIT_DIR/berthd.service"
echo "wrote $UNIT_DIR/berthd.service"
[ -n "$ONLY_WRITE" ] && exit 0

if [ ! -d /run/systemd/system ]; then
  echo "systemd is not running on this machine: start berthd by hand (nohup $ROOT/bin/berthd &), as the quickstart does."
  exit 0
fi
# A berthd started by the quickstart holds the data root: stop it (its containers keep running).
PIDFILE=/run/berth/berthd.pid
if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null && ! systemctl is-active --quiet berthd; then
  echo "stopping the berthd started by hand (pid $(cat "$PIDFILE")); the service takes over its containers"
  kill "$(cat "$PIDFILE")"
  for _ in $(seq 1 100); do kill -0 "$(cat "$PIDFILE" 2>/dev/null || echo 0)" 2>/dev/null || break; sleep 0.1; done
fi
systemctl daemon-reload
systemctl enable --now berthd.service
echo "berthd.service is enabled and started: systemctl status berthd; journalctl -u berthd; systemctl reload berthd re-reads /etc/berth/daemon.json"
