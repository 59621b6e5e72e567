#!/usr/bin/env bash
# Stop the Slurm dev cluster started by start.sh.
#
#   stop.sh              cancel this cluster's jobs, stop slurmd, slurmctld, munged
#   stop.sh --nodes N    the multi-node cluster (any N >= 2): also removes every
#                        network namespace, link and bridge start.sh made
#   stop.sh --keep-jobs  do not scancel first (steps keep running unmanaged)
#   stop.sh --purge      additionally delete the state directory (fresh cluster next time)
#
# Same environment as start.sh (CHORUS_SLURM_DIR, CHORUS_NET_PREFIX). Only the
# daemons named in start.sh's pid files are signalled, and in multi-node mode
# every process left in the nodes' namespaces. Exit 0 if nothing was running.
set -euo pipefail

KEEP_JOBS=0; PURGE=0; MULTI=0
while (( $# )); do
    case $1 in
        --keep-jobs) KEEP_JOBS=1; shift ;;
        --purge) PURGE=1; shift ;;
        --nodes) MULTI=1; shift; [[ ${1:-} =~ ^[0-9]+$ ]] && shift ;;   # the count is not needed
        --nodes=*) MULTI=1; shift ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) echo "stop.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
if (( MULTI )); then DIR=${CHORUS_SLURM_DIR:-/var/tmp/chorus-slurm-multi}
else DIR=${CHORUS_SLURM_DIR:-/var/tmp/chorus-slurm}; fi
HERE=$(cd "$(dirname "$0")" && pwd -P)

log() { echo "[chorus-slurm] $*" >&2; }

if (( MULTI )); then
    # shellcheck source=net.sh
    source "$HERE/net.sh"
fi

if [[ ! -d $DIR ]]; then
    log "no state directory $DIR; nothing to stop"
    if (( MULTI )); then net_down; fi
    exit 0
fi
export SLURM_CONF=$DIR/slurm.conf

running() {   # running PID -> 0 if PID exists and is not a zombie
    kill -0 "$1" 2>/dev/null || return 1
    # a killed daemon may linger as a zombie until init reaps it: treat as dead
    [[ $(sed -E 's/.*\) (.).*/\1/' "/proc/$1/stat" 2>/dev/null) != Z ]]
}

pid_of() {   # pid_of NAME PIDFILE -> prints pid if alive and really NAME
    local name=$1 pf=$2 pid
    [[ -s $pf ]] || return 1
    pid=$(tr -dc '0-9' <"$pf")
    [[ -n $pid ]] && running "$pid" || return 1
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$name" ]] || return 1
    echo "$pid"
}

# Cancel jobs first so no orphaned slurmstepd/user processes survive.
if (( ! KEEP_JOBS )) && pid_of slurmctld "$DIR/run/slurmctld.pid" >/dev/null \
        && [[ -f $SLURM_CONF ]]; then
    jobs=$(timeout 10 squeue -h -t PD,R,CG,S -o %i 2>/dev/null </dev/null || true)
    if [[ -n $jobs ]]; then
        log "cancelling jobs: ${jobs//$'\n'/ }"
        # shellcheck disable=SC2086
        timeout 10 scancel $jobs </dev/null 2>/dev/null || true
        for _ in $(seq 1 30); do
            [[ -z $(timeout 10 squeue -h -o %i 2>/dev/null </dev/null) ]] && break
            sleep 1
        done
    fi
fi

daemons=()
for pf in "$DIR"/run/slurmd*.pid; do [[ -e $pf ]] && daemons+=("slurmd:$pf"); done
daemons+=("slurmctld:$DIR/run/slurmctld.pid" "munged:$DIR/munge/munged.pid")
stopped=0
for d in "${daemons[@]}"; do
    name=${d%%:*}; pf=${d#*:}
    if pid=$(pid_of "$name" "$pf"); then
        log "stopping $name (pid $pid)"
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 100); do          # up to 20 s
            running "$pid" || break
            sleep 0.2
        done
        if running "$pid"; then
            log "$name did not exit; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            sleep 0.5
        fi
        stopped=$((stopped + 1))
    fi
    rm -f "$pf"
done
rm -f "$DIR/munge/munge.socket" "$DIR/munge/munge.socket.lock"
if (( stopped )); then log "stopped $stopped daemon(s)"; else log "nothing was running"; fi

if (( MULTI )); then
    log "removing the network (namespaces $NET_PREFIX-n*, links $NET_PREFIX-v*, bridge $NET_BRIDGE)"
    net_down
fi

if (( PURGE )); then
    if [[ -f $DIR/slurm.conf ]] && grep -q '^ClusterName=chorus-dev$' "$DIR/slurm.conf"; then
        log "removing $DIR"
        rm -rf -- "$DIR"
    else
        log "not purging $DIR: it does not look like a chorus dev-cluster directory"
    fi
fi
exit 0
