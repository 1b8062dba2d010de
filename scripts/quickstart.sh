#!/usr/bin/env bash
# The first command on a fresh machine: install everything, start berthd in
# the background (no systemd needed), make the busybox base image and run a
# container. Works as root, and as a user who may sudo (it re-runs itself
# under sudo). Overrides, for a second private daemon beside another one:
#   BERTH_SOCK BERTH_DATA_ROOT BERTH_EXEC_ROOT BERTH_BRIDGE BERTH_BIP
#   BERTH_CHAIN_PREFIX BERTH_LOG
# and, for ./bin/berth's resident CLI server (README), BERTH_CLI_SOCKET and
# BERTH_CLI_SERVER.
set -euo pipefail
cd "$(dirname "$0")/.."
OVERRIDES=(BERTH_SOCK BERTH_DATA_ROOT BERTH_EXEC_ROOT BERTH_BRIDGE BERTH_BIP BERTH_CHAIN_PREFIX BERTH_LOG BERTH_CLI_SOCKET BERTH_CLI_SERVER)

if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then
    echo "quickstart: berthd needs root; re-running under sudo" >&2
    # sudo resets the environment: hand the overrides over explicitly.
    pass=()
    for v in "${OVERRIDES[@]}"; do
      if [ -n "${!v:-}" ]; then pass+=("$v=${!v}"); fi
    done
    exec sudo env "${pass[@]}" bash "$PWD/scripts/quickstart.sh" "$@"
  fi
  echo "quickstart: berthd needs root (mounts, namespaces, cgroups, iptables) and sudo is not installed." >&2
  echo "Run it as root, e.g.: su -c 'bash $PWD/scripts/quickstart.sh'" >&2
  exit 1
fi

bash scripts/install-deps.sh

SOCK=${BERTH_SOCK:-/run/berth/berth.sock}
EXEC_ROOT=${BERTH_EXEC_ROOT:-/run/berth}
LOG=${BERTH_LOG:-/var/log/berthd.log}
# Flags only for what was overridden, so /etc/berth/daemon.json still decides the rest.
ARGS=()
if [ -n "${BERTH_SOCK:-}" ]; then ARGS+=(-H "unix://$BERTH_SOCK"); fi
if [ -n "${BERTH_DATA_ROOT:-}" ]; then ARGS+=(--data-root "$BERTH_DATA_ROOT"); fi
if [ -n "${BERTH_EXEC_ROOT:-}" ]; then ARGS+=(--exec-root "$BERTH_EXEC_ROOT"); fi
if [ -n "${BERTH_BRIDGE:-}" ]; then ARGS+=(--bridge "$BERTH_BRIDGE"); fi
if [ -n "${BERTH_BIP:-}" ]; then ARGS+=(--bip "$BERTH_BIP"); fi
if [ -n "${BERTH_CHAIN_PREFIX:-}" ]; then ARGS+=(--iptables-chain-prefix "$BERTH_CHAIN_PREFIX"); fi
berth() { ./bin/berth -H "unix://$SOCK" "$@"; }

if ! berth version >/dev/null 2>&1; then
  mkdir -p "$(dirname "$LOG")"
  nohup ./bin/berthd "${ARGS[@]}" >>"$LOG" 2>&1 &
  for _ in $(seq 1 200); do
    if berth version >/dev/null 2>&1; then break; fi
    if ! kill -0 $! 2>/dev/null; then break; fi
    sleep 0.1
  done
  if ! berth version >/dev/null 2>&1; then
    echo "quickstart: berthd did not start; the end of $LOG:" >&2
    tail -n 20 "$LOG" >&2
    exit 1
  fi
fi
berth load -i "$(node dist/test/fixtures/busybox.js)"
berth run --rm busybox /bin/echo 'Hello world'
cat <<MSG

berthd is running in the background (pid $(cat "$EXEC_ROOT/berthd.pid" 2>/dev/null || echo '?'), log: $LOG).
  Use it:      ./bin/berth -H unix://$SOCK ps    or    DOCKER_HOST=unix://$SOCK docker run --rm busybox uname -a
  Stop it:     kill \$(cat $EXEC_ROOT/berthd.pid)     (containers keep running; a restart picks them up)
  Leftovers:   ./bin/berthd ${ARGS[*]} --cleanup     (after stopping: bridges, chains, mounts)
  At boot:     bash scripts/install-service.sh        (a systemd unit, berthd.service)
MSG
