#!/usr/bin/env bash
# Start (or check) a Slurm dev cluster on this host: a private munged +
# slurmctld + slurmd(s), all state under one directory.
#
#   start.sh               one node: this host, over loopback (the default)
#   start.sh --nodes N     N nodes (N >= 2), each a network namespace with its
#                          own address on a private bridge, running its own
#                          slurmd under its own node name and host name
#
#   CHORUS_SLURM_DIR   state directory   (default /var/tmp/chorus-slurm, or
#                      /var/tmp/chorus-slurm-multi with --nodes)
#   CHORUS_SLURM_WAIT  seconds to wait for the nodes to come up   (default 60)
#   CHORUS_SLURM_CPUS  CPUs each node declares (default: this host's nproc);
#                      more than the host has is allowed (the nodes share its
#                      cores anyway): slurmd then reports the configured count
#   CHORUS_SLURMCTLD_PORT / CHORUS_SLURMD_PORT  ports (default 6917 / 6918,
#                      or 6927 / 6928 with --nodes, so both clusters can run)
#   CHORUS_NET_PREFIX  names of the multi-node network (default "chorus"):
#                      bridge PREFIX-br, namespaces and nodes PREFIX-n1..N,
#                      host ends of the links PREFIX-v1..N
#   CHORUS_NET_SUBNET  first three octets of the private /24 (default
#                      198.18.0, from the benchmarking range 198.18.0.0/15):
#                      the bridge (where slurmctld and the coordinator are
#                      reached) is .1, node i is .(10+i)
#
# Idempotent: if the cluster is already up it only reports (and resumes
# DOWN/DRAINED nodes).  Clients must use SLURM_CONF=$CHORUS_SLURM_DIR/slurm.conf;
# the last line printed on stdout is that export line.  Must run as root.
set -euo pipefail

NODES=1
while (( $# )); do
    case $1 in
        --nodes) NODES=${2:?--nodes needs a number}; shift 2 ;;
        --nodes=*) NODES=${1#--nodes=}; shift ;;
        -h|--help) sed -n '2,29p' "$0"; exit 0 ;;
        *) echo "start.sh: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
[[ $NODES =~ ^[0-9]+$ ]] && (( NODES >= 1 && NODES <= 200 )) \
    || { echo "start.sh: --nodes must be 1..200, not '$NODES'" >&2; exit 2; }
MULTI=0; (( NODES > 1 )) && MULTI=1

if (( MULTI )); then
    DIR=${CHORUS_SLURM_DIR:-/var/tmp/chorus-slurm-multi}
    CTLD_PORT=${CHORUS_SLURMCTLD_PORT:-6927}
    SLURMD_PORT=${CHORUS_SLURMD_PORT:-6928}
else
    DIR=${CHORUS_SLURM_DIR:-/var/tmp/chorus-slurm}
    CTLD_PORT=${CHORUS_SLURMCTLD_PORT:-6917}
    SLURMD_PORT=${CHORUS_SLURMD_PORT:-6918}
fi
WAIT=${CHORUS_SLURM_WAIT:-60}
HOST=$(hostname -s)
HERE=$(cd "$(dirname "$0")" && pwd -P)
log() { echo "[chorus-slurm] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

[[ $(id -u) -eq 0 ]] || die "must run as root (SlurmUser=root, SlurmdUser=root)"
for b in munged munge unmunge slurmctld slurmd sinfo scontrol; do
    command -v "$b" >/dev/null || die "missing binary: $b"
done

mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd -P)   # munged wants absolute paths
# munged checks every path component: no group/other write (unless sticky),
# and the socket directory must be executable by all.
chmod 0755 "$DIR"
mkdir -p "$DIR/munge" "$DIR/log" "$DIR/run" "$DIR/state" "$DIR/spool"
chmod 0755 "$DIR/munge" "$DIR/log" "$DIR/run"
chmod 0700 "$DIR/state" "$DIR/spool"

MUNGE_KEY=$DIR/munge/munge.key
MUNGE_SOCK=$DIR/munge/munge.socket
MUNGE_PID=$DIR/munge/munged.pid
MUNGE_SEED=$DIR/munge/munged.seed
MUNGE_LOG=$DIR/log/munged.log
CTLD_PID=$DIR/run/slurmctld.pid
CTLD_LOG=$DIR/log/slurmctld.log
export SLURM_CONF=$DIR/slurm.conf

# The nodes: names, addresses, slurmd pid and log files, spool directories.
NAMES=(); ADDRS=()
if (( MULTI )); then
    # shellcheck source=net.sh
    source "$HERE/net.sh"
    CTLD_ADDR=$NET_HEAD_ADDR
    for (( i = 1; i <= NODES; i++ )); do
        NAMES+=("$(net_node_name "$i")"); ADDRS+=("$(net_node_addr "$i")")
    done
    NODE_LIST="$NET_PREFIX-n[1-$NODES]"
    SLURMD_PID_PATTERN=$DIR/run/slurmd-%n.pid
    SLURMD_LOG_PATTERN=$DIR/log/slurmd-%n.log
    SPOOL_PATTERN=$DIR/spool/%n
else
    CTLD_ADDR=127.0.0.1
    NAMES=("$HOST"); ADDRS=(127.0.0.1)
    NODE_LIST=$HOST
    SLURMD_PID_PATTERN=$DIR/run/slurmd.pid
    SLURMD_LOG_PATTERN=$DIR/log/slurmd.log
    SPOOL_PATTERN=$DIR/spool/slurmd
fi
node_file() { local p=$1; echo "${p//%n/$2}"; }   # node_file PATTERN NAME

# alive NAME PIDFILE -> 0 if the pid in PIDFILE is running and is NAME
alive() {
    local name=$1 pf=$2 pid
    [[ -s $pf ]] || return 1
    pid=$(tr -dc '0-9' <"$pf")
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 1
    # a killed daemon may linger as a zombie until init reaps it: treat as dead
    [[ $(sed -E 's/.*\) (.).*/\1/' "/proc/$pid/stat" 2>/dev/null) != Z ]] || return 1
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == "$name" ]]
}

dump_logs() {
    local f n
    local files=("$MUNGE_LOG" "$CTLD_LOG")
    for n in "${NAMES[@]}"; do files+=("$(node_file "$SLURMD_LOG_PATTERN" "$n")"); done
    for f in "${files[@]}"; do
        [[ -f $f ]] || continue
        echo "----- tail -n 25 $f -----" >&2
        tail -n 25 "$f" >&2 || true
    done
}

fail() { log "ERROR: $*"; dump_logs; exit 1; }

# ---------------------------------------------------------------- network
if (( MULTI )); then
    command -v ip >/dev/null && command -v unshare >/dev/null && command -v nsenter >/dev/null \
        || die "multi-node mode needs ip (iproute2), unshare and nsenter (util-linux)"
    have=$(net_nodes)
    if (( have > NODES )); then
        die "$have node namespaces named $NET_PREFIX-n* exist, more than --nodes $NODES: run stop.sh first"
    fi
    log "network: bridge $NET_BRIDGE $NET_HEAD_ADDR/24, nodes ${NAMES[*]} at ${ADDRS[*]}"
    net_up "$NODES"
    # Each node sees its own host name; this file (bind-mounted over
    # /etc/hosts in the nodes' private mount namespaces) resolves them all.
    {
        echo "127.0.0.1 localhost"
        echo "$NET_HEAD_ADDR $HOST $NET_PREFIX-head"
        for (( i = 0; i < NODES; i++ )); do echo "${ADDRS[$i]} ${NAMES[$i]}"; done
    } >"$DIR/hosts.new"
    mv -f "$DIR/hosts.new" "$DIR/hosts"
    chmod 0644 "$DIR/hosts"
fi

# ---------------------------------------------------------------- munge
if [[ ! -s $MUNGE_KEY ]]; then
    log "creating munge key $MUNGE_KEY"
    rm -f "$MUNGE_KEY"
    if ! mungekey --create --keyfile="$MUNGE_KEY" --bits=1024 2>/dev/null; then
        dd if=/dev/urandom of="$MUNGE_KEY" bs=128 count=1 status=none
    fi
fi
chown root:root "$MUNGE_KEY"
chmod 0400 "$MUNGE_KEY"

if alive munged "$MUNGE_PID"; then
    log "munged already running (pid $(cat "$MUNGE_PID"))"
else
    rm -f "$MUNGE_PID" "$MUNGE_SOCK" "$MUNGE_SOCK.lock"
    log "starting munged"
    munged --key-file="$MUNGE_KEY" --socket="$MUNGE_SOCK" \
           --pid-file="$MUNGE_PID" --log-file="$MUNGE_LOG" \
           --seed-file="$MUNGE_SEED" </dev/null || fail "munged failed to start"
fi
munge -n -S "$MUNGE_SOCK" </dev/null | unmunge -S "$MUNGE_SOCK" >/dev/null \
    || fail "munge self-test failed on $MUNGE_SOCK"

# ---------------------------------------------------------------- slurm.conf
ncpu=${CHORUS_SLURM_CPUS:-$(nproc)}
[[ $ncpu =~ ^[0-9]+$ ]] && (( ncpu >= 1 && ncpu <= 4096 )) || die "CHORUS_SLURM_CPUS must be 1..4096, not '$ncpu'"
overrides=""
(( ncpu > $(nproc) )) && overrides="SlurmdParameters=config_overrides"
mem_mb=$(awk '/^MemTotal:/ {print int($2/1024)}' /proc/meminfo)
real_mem=$(( mem_mb * 90 / 100 / NODES ))   # under actual, so slurmd never drains
[[ $real_mem -ge 1 ]] || real_mem=1
# A lost node is noticed within SlurmdTimeout; on one host nothing is lost.
if (( MULTI )); then slurmd_timeout=10; kind="$NODES-node"; else slurmd_timeout=300; kind=single-node; fi

CONF_NEW=$DIR/slurm.conf.new
{
cat <<CONF
# Generated by slurm/dev-cluster/start.sh -- $kind chorus dev cluster.
ClusterName=chorus-dev
SlurmctldHost=${HOST}(${CTLD_ADDR})
SlurmctldPort=${CTLD_PORT}
SlurmdPort=${SLURMD_PORT}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=${MUNGE_SOCK}
PlugStackConfig=${DIR}/plugstack.conf

StateSaveLocation=${DIR}/state
SlurmdSpoolDir=${SPOOL_PATTERN}
SlurmctldPidFile=${CTLD_PID}
SlurmdPidFile=${SLURMD_PID_PATTERN}
SlurmctldLogFile=${CTLD_LOG}
SlurmdLogFile=${SLURMD_LOG_PATTERN}
SlurmctldDebug=info
SlurmdDebug=info

ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill

AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none

ReturnToService=2
MinJobAge=3600
KillWait=5
InactiveLimit=0
SlurmctldTimeout=120
SlurmdTimeout=${slurmd_timeout}
Waittime=0
${overrides}

CONF
for (( i = 0; i < NODES; i++ )); do
    echo "NodeName=${NAMES[$i]} NodeAddr=${ADDRS[$i]} CPUs=${ncpu} RealMemory=${real_mem} State=UNKNOWN"
done
echo "PartitionName=debug Nodes=${NODE_LIST} Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO"
} >"$CONF_NEW"
[[ -f $DIR/plugstack.conf ]] || : >"$DIR/plugstack.conf"   # no system SPANK plugins
if (( MULTI )); then
    # PMIx's per-step client directories: node-private (see start_slurmd).
    echo "PMIxCliTmpDirBase=$DIR/node-scratch" >"$DIR/mpi.conf"
fi

ctld_up=0; ctld_started=0; any_slurmd_up=0
alive slurmctld "$CTLD_PID" && ctld_up=1
for n in "${NAMES[@]}"; do
    alive slurmd "$(node_file "$SLURMD_PID_PATTERN" "$n")" && any_slurmd_up=1
done

if [[ -f $SLURM_CONF ]] && ! cmp -s "$CONF_NEW" "$SLURM_CONF" && (( ctld_up || any_slurmd_up )); then
    log "WARNING: generated slurm.conf differs from the running one; keeping the running one"
    log "         (run stop.sh then start.sh to apply it)"
    rm -f "$CONF_NEW"
else
    mv -f "$CONF_NEW" "$SLURM_CONF"
fi

# ---------------------------------------------------------------- daemons
if (( ctld_up )); then
    log "slurmctld already running (pid $(cat "$CTLD_PID"))"
else
    rm -f "$CTLD_PID"
    ctld_started=1
    log "starting slurmctld"
    slurmctld -f "$SLURM_CONF" </dev/null || fail "slurmctld failed to start"
fi

# start_slurmd I: start node I's slurmd unless it runs; records T0[NAME].
declare -A T0=()
start_slurmd() {
    local name=${NAMES[$1]} pf spool
    pf=$(node_file "$SLURMD_PID_PATTERN" "$name"); spool=$(node_file "$SPOOL_PATTERN" "$name")
    if alive slurmd "$pf"; then
        log "slurmd of $name already running (pid $(cat "$pf"))"
        return
    fi
    # slurmd remembers revoked job credentials across restarts; if slurmctld
    # lost its state (e.g. was SIGKILLed) it may reuse job ids, which slurmd
    # would then reject ("Job credential revoked").  Harmless to drop here.
    mkdir -p "$spool"; chmod 0700 "$spool"
    if (( MULTI )); then mkdir -p "$DIR/node-tmp/$name" "$DIR/node-scratch"; fi
    rm -f "$pf" "$spool/cred_state" "$spool/cred_state.old"
    log "starting slurmd of $name"
    T0[$name]=$(date +%s)
    if (( MULTI )); then
        # In the node's network namespace (nsenter, not `ip netns exec`, which
        # would remount /sys and hide the cgroup file system slurmd wants),
        # with its own host name (UTS namespace) and a private mount
        # namespace for its own /etc/hosts and its own $DIR/node-scratch:
        # PMIx keeps per-step directories there (mpi.conf), under names that
        # collide when two nodes share a directory. Every other file system,
        # /tmp included, is shared as a cluster's home and scratch are. The
        # jobs it runs inherit all of it.
        nsenter --net="/run/netns/$name" unshare --uts --mount --propagation private -- \
            sh -c 'mount --bind "$1" /etc/hosts && mount --bind "$4" "$5" && hostname "$2" &&
                   exec slurmd -f "$3" -N "$2"' \
            sh "$DIR/hosts" "$name" "$SLURM_CONF" "$DIR/node-tmp/$name" "$DIR/node-scratch" </dev/null \
            || fail "slurmd of $name failed to start"
    else
        slurmd -f "$SLURM_CONF" -N "$name" </dev/null || fail "slurmd of $name failed to start"
    fi
}
for (( i = 0; i < NODES; i++ )); do start_slurmd "$i"; done

# ---------------------------------------------------------------- wait for nodes
start=$SECONDS
declare -A last_resume=()
for name in "${NAMES[@]}"; do
    state=""
    while :; do
        for d in "munged:$MUNGE_PID" "slurmctld:$CTLD_PID" "slurmd:$(node_file "$SLURMD_PID_PATTERN" "$name")"; do
            # pid files may appear a moment after daemonizing
            if ! alive "${d%%:*}" "${d#*:}" && (( SECONDS - start > 5 )); then
                fail "${d%%:*} ($name) is not running"
            fi
        done
        state=$(sinfo -h -n "$name" -o %T 2>/dev/null </dev/null | head -n1 || true)
        if [[ -n ${T0[$name]:-} ]]; then
            # a restarted slurmctld reports the saved node state before the new
            # slurmd registered: wait until it has (SlurmdStartTime is updated)
            t=$(scontrol show node "$name" -o 2>/dev/null </dev/null \
                  | sed -nE 's/.*SlurmdStartTime=([^ ]+).*/\1/p' || true)
            t=$(date -d "$t" +%s 2>/dev/null || echo 0)
            (( t >= T0[$name] - 1 )) || state="registering:$state"
        fi
        case $state in
            idle|mixed|allocated|completing) break ;;
            *drain*|down|fail|failing)   # note: "down*" = not responding yet -> just wait
                if (( SECONDS - ${last_resume[$name]:--100} >= 5 )); then
                    log "node $name is '$state'; resuming"
                    scontrol update nodename="$name" state=resume </dev/null >&2 || true
                    last_resume[$name]=$SECONDS
                fi ;;
        esac
        (( SECONDS - start < WAIT )) || fail "node $name not up after ${WAIT}s (state='${state:-?}')"
        sleep 1
    done
    log "node $name is $state (after $(( SECONDS - start ))s)"
done

# After an unclean controller stop (SIGKILL, host crash) the recovered state
# may list jobs as RUNNING that have no processes left; interactive srun
# allocations would then hold the node forever (InactiveLimit=0).  Cancel
# running jobs that slurmd has no processes for (scontrol listpids asks the
# slurmd of this host, so only in single-node mode).
if (( ctld_started && ! MULTI )); then
    for j in $(squeue -h -t R -o %i 2>/dev/null </dev/null || true); do
        if ! scontrol listpids "$j" </dev/null >/dev/null 2>&1; then
            log "cancelling stale job $j (no processes on its nodes after controller restart)"
            scancel "$j" </dev/null || true
        fi
    done
fi

sinfo </dev/null
echo "export SLURM_CONF=$SLURM_CONF"
