#!/usr/bin/env bash
# Stop the single-node Slurm dev cluster started by start.sh.
#
#   stop.sh            cancel this cluster's jobs, stop slurmd, slurmctld, munged
#   stop.sh --keep-jobs  do not scancel first (steps keep running unmanaged)
#   stop.sh --purge    additionally delete the state directory (fresh cluster next time)
#
# Only the daemons named in start.sh's pid files are signalled.  Exit 0 if
# nothing was running.
set -euo pipefail

DIR=${CHORUS_SLURM_DIR:-/var/tmp/chorus-slurm}
KEEP_JOBS=0; PURGE=0
for a in "$@"; do
    case $a in
        --keep-jobs) KEEP_JOBS=1 ;;
        --purge) PURGE=1 ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        *) echo "unknown argument: $a" >&2; exit 2 ;;
    esac
done

log() { echo "[chorus-slurm] $*" >&2; }

if [[ ! -d $DIR ]]; then
    log "no state directory $DIR; nothing to stop"
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
    jobs=$(squeue -h -t PD,R,CG,S -o %i 2>/dev/null </dev/null || true)
    if [[ -n $jobs ]]; then
        log "cancelling jobs: ${jobs//$'\n'/ }"
        # shellcheck disable=SC2086
        scancel $jobs </dev/null 2>/dev/null || true
        for _ in $(seq 1 30); do
            [[ -z $(squeue -h -o %i 2>/dev/null </dev/null) ]] && break
            sleep 1
        done
    fi
fi

stopped=0
for d in "slurmd:$DIR/run/slurmd.pid" "slurmctld:$DIR/run/slurmctld.pid" \
         "munged:$DIR/munge/munged.pid"; do
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

if (( PURGE )); then
    if [[ -f $DIR/slurm.conf ]] && grep -q '^ClusterName=chorus-dev$' "$DIR/slurm.conf"; then
        log "removing $DIR"
        rm -rf -- "$DIR"
    else
        log "not purging $DIR: it does not look like a chorus dev-cluster directory"
    fi
fi
exit 0
