#!/usr/bin/env bash
# The main job on a fresh machine: install everything, start berthd with its
# embedded defaults, make the busybox base image, and run a container.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh

SOCK=/run/berth/berth.sock
if ! ./bin/berth version >/dev/null 2>&1; then
  mkdir -p /var/log
  nohup ./bin/berthd >>/var/log/berthd.log 2>&1 &
  for _ in $(seq 1 100); do
    [ -S "$SOCK" ] && ./bin/berth version >/dev/null 2>&1 && break
    sleep 0.1
  done
fi
./bin/berth load -i "$(node dist/test/fixtures/busybox.js)"
./bin/berth run --rm busybox /bin/echo 'Hello world'
echo "berthd is running (log: /var/log/berthd.log). Try: DOCKER_HOST=unix://$SOCK docker run --rm busybox uname -a"
