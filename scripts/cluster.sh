#!/bin/sh
# A cluster of berthd "hosts" on one machine, for trying swarm mode by hand:
# each host is a network namespace with a veth to a bridge in the root
# namespace, its own address (172.30.N.0/24, no default route) and its own
# berthd, started as `ip netns exec NS unshare --uts berthd ...` with its own
# hostname, socket, data root, exec root, pid file and iptables chain prefix.
#
#   scripts/cluster.sh up N [--names a,b,c] [-- extra berthd flags]
#   scripts/cluster.sh ls
#   scripts/cluster.sh down
#
# Run as root after `npm run build` (it starts dist/). State lives in
# $BERTH_CLUSTER_DIR (default /tmp/berth-cluster); one cluster per directory.
set -eu

DIR=${BERTH_CLUSTER_DIR:-/tmp/berth-cluster}
REPO=$(cd "$(dirname "$0")/.." && pwd)
BERTHD="$REPO/dist/src/daemon/main.js"
SUBNETS=/tmp/berth-test-subnets   # shared with the test harness: one owner per /24
NODE=${NODE:-node}

die() { echo "cluster.sh: $*" >&2; exit 1; }
usage() { sed -n '8,14p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }

# Claims a free 172.30.N.0/24: a file made with noclobber names its owner dir.
reserve_subnet() {
  mkdir -p "$SUBNETS"
  start=$(od -An -N1 -tu1 /dev/urandom | tr -d ' ')
  i=0
  while [ $i -lt 256 ]; do
    n=$(( (start + i) % 256 )); i=$((i + 1))
    f="$SUBNETS/$n"
    if [ -e "$f" ]; then
      owner=$(cat "$f" 2>/dev/null || true)
      # Reclaim it only when its owner is gone.
      if [ -n "$owner" ] && [ ! -e "$owner" ]; then rm -f "$f"; else continue; fi
    fi
    if (set -C; echo "$DIR" > "$f") 2>/dev/null; then echo "$n"; return 0; fi
  done
  die "no free 172.30.N.0/24 subnet in $SUBNETS"
}

ping_sock() {
  curl -s --max-time 1 --unix-socket "$1" http://localhost/_ping 2>/dev/null | grep -q OK
}

cmd_up() {
  [ $# -ge 1 ] || usage 1
  n=$1; shift
  case $n in ''|*[!0-9]*) die "N must be a number, not '$n'";; esac
  [ "$n" -ge 1 ] && [ "$n" -le 35 ] || die "N must be between 1 and 35"
  names=""
  while [ $# -gt 0 ]; do
    case $1 in
      --names) names=$(echo "$2" | tr ',' ' '); shift 2;;
      --) shift; break;;
      *) die "unknown flag $1";;
    esac
  done
  [ -f "$BERTHD" ] || die "$BERTHD not found: run 'npm run build' first"
  [ ! -e "$DIR/cluster.env" ] || die "a cluster is already up in $DIR ('$0 down' first)"
  mkdir -p "$DIR"
  id=$(od -An -N2 -tx1 /dev/urandom | tr -d ' ')
  net="172.30.$(reserve_subnet)"
  bip="172.30.$(reserve_subnet).1/24"
  bridge="bcl$id"
  printf 'ID=%s\nNET=%s\nBIP=%s\nBRIDGE=%s\nHOSTS=""\n' "$id" "$net" "$bip" "$bridge" > "$DIR/cluster.env"
  ip link add "$bridge" type bridge
  ip addr add "$net.1/24" dev "$bridge"
  ip link set "$bridge" up
  # Bridged traffic crosses FORWARD when br_netfilter is loaded.
  iptables -w 5 -I FORWARD -i "$bridge" -o "$bridge" -j ACCEPT
  i=1
  hosts=""
  while [ $i -le "$n" ]; do
    name=$(echo "$names" | awk -v i=$i '{print $i}')
    [ -n "$name" ] || name="host$i"
    idx=$(printf '%s' "0123456789abcdefghijklmnopqrstuvwxyz" | cut -c$((i + 1)))
    ns="berth-$id-$name"; veth="bcv$id$idx"; addr="$net.$((i + 1))"
    root="$DIR/$name"; mkdir -p "$root"
    prefix=$(echo "BC$id$idx" | tr a-z A-Z)
    hosts="$hosts $name"
    sed -i "s/^HOSTS=.*/HOSTS=\"$hosts\"/" "$DIR/cluster.env"
    printf 'NAME=%s\nNS=%s\nVETH=%s\nADDR=%s\nPREFIX=%s\nBR=bb%s%s\n' "$name" "$ns" "$veth" "$addr" "$prefix" "$id" "$idx" > "$root/host.env"
    ip netns add "$ns"
    ip link add "$veth" type veth peer name eth0 netns "$ns"
    ip link set "$veth" master "$bridge" up
    ip -n "$ns" addr add "$addr/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
    start_host "$root" "$@"
    i=$((i + 1))
  done
  cmd_ls
}

# Starts one host's berthd in its namespaces; waits (bounded) for /_ping.
start_host() {
  root=$1; shift
  # shellcheck disable=SC1091
  . "$root/host.env"
  # shellcheck disable=SC1091
  . "$DIR/cluster.env"
  setsid ip netns exec "$NS" unshare --uts sh -c 'hostname "$0" && exec "$@"' "$NAME" \
    "$NODE" "$BERTHD" -H "unix://$root/berthd.sock" --data-root "$root/data" --exec-root "$root/exec" \
    --pidfile "$root/berthd.pid" --bridge "$BR" --bip "$BIP" --iptables-chain-prefix "$PREFIX" "$@" \
    </dev/null >>"$root/berthd.log" 2>&1 &
  t=0
  until ping_sock "$root/berthd.sock"; do
    t=$((t + 1))
    [ $t -lt 300 ] || { tail -20 "$root/berthd.log" >&2; die "berthd on $NAME did not answer in 30 s (log: $root/berthd.log)"; }
    sleep 0.1
  done
}

cmd_ls() {
  [ -f "$DIR/cluster.env" ] || { echo "no cluster in $DIR"; return 0; }
  # shellcheck disable=SC1091
  . "$DIR/cluster.env"
  printf '%-10s %-16s %-8s %-28s %s\n' HOST ADDRESS PID NAMESPACE DOCKER_HOST
  for name in $HOSTS; do
    # shellcheck disable=SC1091
    . "$DIR/$name/host.env"
    pid=$(cat "$DIR/$name/berthd.pid" 2>/dev/null || true)
    if [ -z "$pid" ] || ! kill -0 "$pid" 2>/dev/null; then pid=down; fi
    printf '%-10s %-16s %-8s %-28s %s\n' "$NAME" "$ADDR" "$pid" "$NS" "unix://$DIR/$name/berthd.sock"
  done
}

cmd_down() {
  [ -f "$DIR/cluster.env" ] || { echo "no cluster in $DIR"; return 0; }
  # shellcheck disable=SC1091
  . "$DIR/cluster.env"
  for name in $HOSTS; do
    root="$DIR/$name"
    # shellcheck disable=SC1091
    . "$root/host.env"
    pid=$(cat "$root/berthd.pid" 2>/dev/null || true)
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid"
      t=0; while kill -0 "$pid" 2>/dev/null && [ $t -lt 150 ]; do sleep 0.1; t=$((t + 1)); done
      kill -KILL "$pid" 2>/dev/null || true
    fi
    # Whatever still runs in the namespace: etcd, conmon.
    for p in $(ip netns pids "$NS" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
    # Containers (their runc states are under the exec root), then berthd's
    # own clean-up of mounts, netns, cgroups for this data root.
    for s in "$root"/exec/runc/*/; do
      [ -d "$s" ] && runc --root "$root/exec/runc" delete --force "$(basename "$s")" 2>/dev/null || true
    done
    ip netns exec "$NS" "$NODE" "$BERTHD" --cleanup --data-root "$root/data" --exec-root "$root/exec" \
      --bridge "$BR" --bip "$BIP" --iptables-chain-prefix "$PREFIX" >/dev/null 2>&1 || true
    ip netns delete "$NS" 2>/dev/null || true
    ip link delete "$VETH" 2>/dev/null || true
  done
  ip link delete "$BRIDGE" 2>/dev/null || true
  while iptables -w 5 -D FORWARD -i "$BRIDGE" -o "$BRIDGE" -j ACCEPT 2>/dev/null; do :; done
  for f in "$SUBNETS"/*; do
    [ -f "$f" ] && [ "$(cat "$f" 2>/dev/null)" = "$DIR" ] && rm -f "$f"
  done
  rm -rf "$DIR"
  echo "cluster $ID removed"
}

[ "$(id -u)" = 0 ] || die "run as root"
case ${1:-} in
  up) shift; cmd_up "$@";;
  ls) cmd_ls;;
  down) cmd_down;;
  -h|--help|help) usage 0;;
  *) usage 1;;
esac
