#!/usr/bin/env bash
# Lose or bring back one node of the multi-node dev cluster (start.sh --nodes N),
# as a fault test would on real hardware.
#
#   node.sh kill NODE     SIGKILL its slurmd and every process in its network
#                         namespace (job steps, ranks, workers), then take its
#                         link down: to the others it has vanished
#   node.sh revive NODE   link up; then run start.sh --nodes N again to start
#                         its slurmd and resume it in Slurm
#
# NODE is a node name such as chorus-n2. Same environment as start.sh
# (CHORUS_SLURM_DIR, CHORUS_NET_PREFIX). Must run as root.
set -euo pipefail

action=${1:-} node=${2:-}
case $action in
    kill|revive) ;;
    -h|--help|"") sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "node.sh: unknown action '$action' (kill or revive)" >&2; exit 2 ;;
esac
HERE=$(cd "$(dirname "$0")" && pwd -P)
DIR=${CHORUS_SLURM_DIR:-/var/tmp/chorus-slurm-multi}
# shellcheck source=net.sh
source "$HERE/net.sh"
[[ $node =~ ^$NET_PREFIX-n([0-9]+)$ ]] || { echo "node.sh: '$node' is not a node name like $NET_PREFIX-n2" >&2; exit 2; }
i=${BASH_REMATCH[1]}
[[ -e /run/netns/$node ]] || { echo "node.sh: there is no namespace $node (is the cluster up?)" >&2; exit 1; }
veth=$(net_veth "$i")

log() { echo "[chorus-slurm] $*" >&2; }

if [[ $action == kill ]]; then
    pf=$DIR/run/slurmd-$node.pid
    if [[ -s $pf ]]; then kill -KILL "$(tr -dc '0-9' <"$pf")" 2>/dev/null || true; fi
    # Everything else that runs there: slurmstepd, job scripts, ranks, workers.
    for _ in 1 2 3; do
        pids=$(ip netns pids "$node" 2>/dev/null || true)
        [[ -z $pids ]] && break
        # shellcheck disable=SC2086
        kill -KILL $pids 2>/dev/null || true
        sleep 0.2
    done
    ip link set "$veth" down
    log "node $node lost: its processes killed, link $veth down"
else
    ip link set "$veth" up
    log "node $node's link is up; run start.sh --nodes N to start its slurmd and resume it"
fi
