#!/usr/bin/env bash
# Chorus across the nodes of the multi-node dev cluster (slurm/dev-cluster/
# start.sh --nodes 2: each node a network namespace with its own address,
# host name and slurmd). The coordinator runs on the head (the bridge address).
#   multinode_test.sh BIN_DIR DATA_DIR WORK_DIR SOURCE_DIR MODE
# MODE:
#   equal      a 2-rank job over 2 nodes (MPI over TCP between them) ends with
#              a checkpoint byte-identical to the same job's 2 ranks on 1 node
#   serve      a client on one node is answered by a worker on another, over
#              ZeroMQ and HTTP
#   node_loss  while a 2-node job trains and 2 workers serve under load, one
#              node vanishes (node.sh kill): Slurm marks it down, the job
#              resumes from its checkpoint on the node left and trains on, the
#              deployment is back to 2 workers, and no request failed
# Every process it starts is killed by pid, every Slurm job it made cancelled,
# a lost node revived. Traffic stays on the cluster's private addresses.
set -u
bin=$1 data=$2 work=$3 src=$4 mode=$5
rm -rf "$work" && mkdir -p "$work"
state=$work/state
coord="" load="" lost=""
dir=${CHORUS_SLURM_DIR:-/var/tmp/chorus-slurm-multi}
export SLURM_CONF=$dir/slurm.conf
prefix=${CHORUS_NET_PREFIX:-chorus}
head_addr=${CHORUS_NET_SUBNET:-198.18.0}.1
py() { /usr/bin/python3 -c "$1"; }
chorus() { "$bin/chorus" --log-level warn --state-dir "$state" "$@"; }
on_node() { local n=$1; shift; nsenter --net="/run/netns/$n" "$@"; }   # run a client on a node

fail() {
  echo "FAIL ($mode): $*"
  echo "--- coordinator log ---"; tail -30 "$work/coordinator.log" 2>/dev/null
  for log in "$state"/jobs/*/job.log "$state"/deployments/*/workers.log; do
    [ -f "$log" ] && { echo "--- $log ---"; tail -25 "$log"; }
  done
  sinfo 2>/dev/null; squeue 2>/dev/null
  exit 1
}
slurm_jobs() {  # every Slurm job of this test's coordinator: their logs are in its state directory
  scontrol show job -o 2>/dev/null | grep -F "StdOut=$state/" | sed -n 's/^JobId=\([0-9]*\) .*/\1/p'
}
cleanup() {
  [ -n "$load" ] && kill -9 "$load" 2>/dev/null
  [ -n "$coord" ] && kill -9 "$coord" 2>/dev/null
  for id in $(slurm_jobs); do scancel --signal=KILL --full "$id" 2>/dev/null; done
  # Ranks (in the nodes' namespaces) know the coordinator by its endpoint,
  # workers the broker by theirs: both name this test's coordinator alone.
  local ep worker_ep
  ep=$(head -1 "$state/endpoint" 2>/dev/null)
  worker_ep=$(/usr/bin/python3 -c "import json; print(json.load(open('$state/serving.json'))['worker'])" 2>/dev/null)
  for pid in $( {
      [ -n "$ep" ] && grep -lsx --null-data "CHORUS_COORDINATOR=$ep" /proc/[0-9]*/environ
      [ -n "$worker_ep" ] && grep -lsx --null-data -- "$worker_ep" /proc/[0-9]*/cmdline
    } 2>/dev/null | cut -d/ -f3 | sort -u); do
    kill -9 "$pid" 2>/dev/null
  done
  if [ -n "$lost" ]; then
    "$src/slurm/dev-cluster/node.sh" revive "$lost" >/dev/null 2>&1
    "$src/slurm/dev-cluster/start.sh" --nodes 2 >/dev/null 2>&1 </dev/null
  fi
}
trap cleanup EXIT

[ -f "$SLURM_CONF" ] || fail "no multi-node dev cluster ($SLURM_CONF): slurm/dev-cluster/start.sh --nodes 2 starts one"
nodes=$(sinfo -h -N -o %N | sort -u | tr '\n' ' ')
[ "$(echo $nodes | wc -w)" -ge 2 ] || fail "the cluster has fewer than 2 nodes: $nodes"

# The coordinator listens on the bridge, named by its interface (ZeroMQ
# resolves it); the broker and gateway by address.
cat > "$work/coordinator.yaml" <<YAML
listen: tcp://$prefix-br:0
state_dir: $state
worker: $bin/chorus-worker
tick_ms: 100
max_restarts: 3
cancel_grace_s: 5
heartbeat: {interval_ms: 500, timeout_s: 30, startup_timeout_s: 120}
default_launcher: slurm
launchers:
  local: {slots: 2, env: {OMPI_MCA_btl: "self,vader"}}
  slurm: {slots: 4, partition: debug, template: $src/slurm/train.sbatch.in, pool_template: $src/slurm/serve-pool.sbatch.in, slurm_conf: $SLURM_CONF}
serving: {client_listen: "tcp://$head_addr:0", worker_listen: "tcp://$head_addr:0", http: "$head_addr:0", allow_plain_http: true, timeout_ms: 60000, heartbeat_ms: 200, worker_liveness_ms: 1500, max_attempts: 3}
YAML
"$bin/chorus-coordinator" --config "$work/coordinator.yaml" >> "$work/coordinator.log" 2>&1 &
coord=$!
for _ in $(seq 100); do [ -s "$state/serving.json" ] && break; sleep 0.1; done
[ -s "$state/serving.json" ] || fail "the coordinator did not start"
endpoint=$(head -1 "$state/endpoint")
case "$endpoint" in "tcp://$head_addr:"*) ;; *) fail "the coordinator's endpoint is $endpoint, not on $head_addr" ;; esac
http=$(py "import json; print(json.load(open('$state/serving.json'))['http'])")
token=$(cat "$state/token")

# json_field, wait_state, step_of
source "$(dirname "$0")/job_helpers.sh"
handles_of() { chorus status "$1" --output json | py "import json,sys; [print(a['handle']) for a in json.load(sys.stdin).get('attempt_history',[]) if a.get('handle')]"; }
nodes_of() { [ -n "$1" ] || fail "nodes_of: no Slurm job id"; scontrol show job "$1" -o | sed -n 's/.* NodeList=\([^ ]*\).*/\1/p'; }   # Slurm's node list of a job
submit() { chorus submit "$work/job.yaml" "$@" | sed -n 's/^submitted job \([0-9]*\).*/\1/p'; }
ready_workers() { chorus workers --output json | py "import json,sys; [print(w['id'], w.get('handle','')) for w in json.load(sys.stdin).get('workers',[]) if w.get('state')=='READY']"; }
wait_workers() {  # wait_workers N SECONDS
  for _ in $(seq $(( $2 * 5 ))); do [ "$(ready_workers | wc -l)" = "$1" ] && return 0; sleep 0.2; done
  fail "expected $1 ready workers: $(chorus workers)"
}

cat > "$work/job.yaml" <<YAML
name: multinode-$mode
dataset: {kind: speech_commands, root: $data, words: [yes, no, up], validation_percentage: 10, testing_percentage: 10}
model: {name: tc_resnet, width: 8}
augment: {noise_probability: 0}
training: {batch_size: 4, epochs: 100000, threads: 1, checkpoint_every_steps: 20, eval_every_steps: 100000000}
output: {dir: $work/unused}
YAML

# A small model to serve, trained on one rank (the head's local launcher).
train_model() {
  cat > "$work/model.yaml" <<YAML
name: multinode-model
dataset: {kind: speech_commands, root: $data, words: [yes, no, up], validation_percentage: 10, testing_percentage: 10}
model: {name: tc_resnet, width: 8}
training: {batch_size: 8, max_steps: 30, threads: 1}
output: {dir: $work/unused, model_repository: $work/models, model_name: multinode-model}
YAML
  local out
  out=$(timeout 180 "$bin/chorus" --state-dir "$state" submit "$work/model.yaml" --launcher local --watch) ||
    fail "training the model failed: $out"
  model_job=$(echo "$out" | sed -n 's/^submitted job \([0-9]*\).*/\1/p')
}
wav=$(ls "$data"/yes/*.wav | head -1)

case "$mode" in
equal)
  one=$(submit --ranks 2 --nodes 1 --max-steps 40)
  [ -n "$one" ] || fail "submit --nodes 1 failed"
  wait_state "$one" SUCCEEDED 300
  two=$(submit --ranks 2 --nodes 2 --max-steps 40)
  [ -n "$two" ] || fail "submit --nodes 2 failed"
  wait_state "$two" SUCCEEDED 300
  h1=$(handles_of "$one" | tail -1) h2=$(handles_of "$two" | tail -1)
  n1=$(nodes_of "$h1") n2=$(nodes_of "$h2")
  echo "1 node: Slurm job $h1 on $n1; 2 nodes: Slurm job $h2 on $n2"
  case "$n1" in *,*|*\[*) fail "the 1-node job ran on $n1" ;; esac
  [ "$(scontrol show hostnames "$n2" | wc -l)" = 2 ] || fail "the 2-node job ran on $n2"
  chorus status "$two" | grep -q "2 nodes" || fail "status does not show 2 nodes: $(chorus status "$two")"
  a=$state/jobs/$one/output/checkpoints/ckpt-40.pt b=$state/jobs/$two/output/checkpoints/ckpt-40.pt
  [ -f "$a" ] && [ -f "$b" ] || fail "missing checkpoints: $(ls "$state"/jobs/*/output/checkpoints)"
  cmp "$a" "$b" || fail "2 ranks over 2 nodes did not end bit-identical to 2 ranks on 1 node"
  echo "checkpoints at step 40 are byte-identical ($(stat -c %s "$a") bytes)"
  # A single-host launcher refuses --nodes, naming why.
  out=$(chorus submit "$work/job.yaml" --launcher local --ranks 2 --nodes 2 2>&1) && fail "local accepted --nodes 2"
  echo "$out" | grep -q "runs on one host" || fail "unclear refusal: $out"
  ;;
serve)
  train_model
  chorus deploy "$model_job" --name kws --min 1 --max 1 --launcher slurm || fail "deploy failed"
  wait_workers 1 120
  read -r wid handle < <(ready_workers)
  [ -n "$handle" ] || fail "worker $wid has no Slurm job id: $(chorus workers --output json)"
  wnode=$(nodes_of "$handle")
  client=""
  for n in $nodes; do [ "$n" != "$wnode" ] && client=$n && break; done
  [ -n "$client" ] || fail "no node other than the worker's ($wnode)"
  echo "worker $wid runs on $wnode (Slurm job $handle); the client runs on $client"
  on_node "$client" hostname -I | grep -q "${head_addr%.1}" || fail "$client has no address in the cluster's subnet"
  # ZeroMQ: chorus infer in the client node's namespace.
  on_node "$client" "$bin/chorus" --log-level warn --state-dir "$state" infer kws "$wav" > "$work/infer.out" 2>&1 ||
    fail "infer from $client failed: $(cat "$work/infer.out")"
  cat "$work/infer.out"
  grep -q "$wid" "$work/infer.out" || fail "not answered by the worker on $wnode"
  # HTTP (OIP v2 with a WAV body) from the same node.
  code=$(on_node "$client" curl -s -o "$work/http.json" -w "%{http_code}" -H "Authorization: Bearer $token" \
         -H "Content-Type: audio/wav" --data-binary @"$wav" "$http/v2/models/kws/infer")
  [ "$code" = 200 ] || fail "HTTP infer from $client: $code $(cat "$work/http.json")"
  py "import json; d = json.load(open('$work/http.json')); assert d['outputs'], d" || fail "bad HTTP reply"
  # Beyond loopback the ZeroMQ traffic above was CURVE (curve: auto): a
  # client on another node that does not know the coordinator's key hears nothing.
  grep -q "CURVE: ZeroMQ traffic is encrypted" "$work"/coordinator*.log || fail "CURVE is not on beyond loopback"
  decoy=$(py "
import os
z85 = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%\$#'
raw, out = os.urandom(32), ''
for i in range(0, 32, 4):
    v, group = int.from_bytes(raw[i:i + 4], 'big'), ''
    for _ in range(5):
        group, v = z85[v % 85] + group, v // 85
    out += group
print(out)")  # a well-formed CURVE key that is not the coordinator's
  on_node "$client" env CHORUS_CURVE_SERVER_KEY="$decoy" timeout 60 "$bin/chorus" --log-level warn --state-dir "$state" \
    infer kws "$wav" > "$work/fooled.out" 2>&1
  rc=$?
  [ $rc = 3 ] || fail "a client trusting another key got exit $rc, not 3 (no answer): $(cat "$work/fooled.out")"
  chorus undeploy kws || fail "undeploy failed"
  ;;
node_loss)
  train_model
  chorus deploy "$model_job" --name kws --min 2 --max 2 --launcher slurm || fail "deploy failed"
  # It trains until cancelled: however fast this machine is, it is still
  # training when the node is lost.
  id=$(submit --ranks 2 --nodes 2 --min-ranks 1 --max-steps 1000000)
  [ -n "$id" ] || fail "submit failed"
  wait_workers 2 120
  for _ in $(seq 600); do [ "$(step_of "$id")" -ge 25 ] && break; sleep 0.2; done
  [ "$(step_of "$id")" -ge 25 ] || fail "the job did not reach step 25"
  h1=$(handles_of "$id" | tail -1)
  [ "$(scontrol show hostnames "$(nodes_of "$h1")" | wc -l)" = 2 ] || fail "the job does not span 2 nodes: $(nodes_of "$h1")"
  # The node to lose: one that runs a worker (the job runs on both).
  read -r wid whandle < <(ready_workers | tail -1)
  [ -n "$whandle" ] || fail "worker $wid has no Slurm job id"
  lost=$(nodes_of "$whandle")
  [ "$(json_field "$id" state)" = RUNNING ] || fail "job $id is $(json_field "$id" state), not RUNNING"
  echo "job $id runs on $(nodes_of "$h1"); losing $lost (worker $wid)"
  # Load from the head while the node vanishes: every request must be answered.
  "$bin/chorus" --log-level warn --state-dir "$state" bench kws --file "$wav" --concurrency 2 --duration 40s \
    > "$work/bench.out" 2>&1 &
  load=$!
  sleep 3
  t0=$(date +%s.%N)
  kill_step=$(step_of "$id")
  "$src/slurm/dev-cluster/node.sh" kill "$lost" || fail "node.sh kill failed"
  for _ in $(seq 150); do
    case "$(sinfo -h -n "$lost" -o %T)" in down*) break ;; esac
    sleep 0.2
  done
  case "$(sinfo -h -n "$lost" -o %T)" in down*) ;; *) fail "Slurm did not mark $lost down: $(sinfo -h -n "$lost")" ;; esac
  echo "Slurm marked $lost down after $(py "print(round($(date +%s.%N) - $t0, 1))") s"
  # The retry resumes from the checkpoint and trains past where the loss found it.
  # Until its ranks report, the job's progress is attempt 1's last: wait for
  # attempt 2's own "resumed from ... at step N" and 20 steps past N.
  attempts=1
  for _ in $(seq 600); do
    attempts=$(json_field "$id" attempts)
    [ "$attempts" -ge 2 ] && break
    sleep 0.5
  done
  [ "$attempts" -ge 2 ] || fail "the job was not retried (attempts $attempts)"
  resumed="" step=0
  for _ in $(seq 600); do
    resumed=$(chorus logs "$id" | sed -n '/==== chorus: job [0-9]* attempt 2,/,$ s/.*resumed from .* at step \([0-9]*\) .*/\1/p' | tail -1)
    step=$(step_of "$id")
    [ -n "$resumed" ] && [ "$(json_field "$id" state)" = RUNNING ] && [ "$step" -ge $(( resumed + 20 )) ] && break
    sleep 0.5
  done
  [ -n "$resumed" ] || fail "the retry did not resume from a checkpoint"
  # (the loss may land between a step's report and its checkpoint: one interval back)
  [ "$resumed" -ge $(( kill_step - 20 )) ] || fail "the retry resumed from step $resumed, long before the loss at step $kill_step"
  [ "$step" -ge $(( resumed + 20 )) ] || fail "the retry did not train 20 steps past step $resumed (at $step)"
  echo "lost at step $kill_step; attempt $attempts resumed at step $resumed and is at step $step"
  h2=$(handles_of "$id" | tail -1)
  [ "$h2" != "$h1" ] || fail "attempt $attempts has no Slurm job id of its own"
  echo "attempt $attempts ran on $(nodes_of "$h2")"
  scontrol show hostnames "$(nodes_of "$h2")" | grep -qx "$lost" && fail "the retry ran on the lost node"
  chorus cancel "$id" > /dev/null || fail "cancel failed"
  wait_state "$id" CANCELLED 60
  wait_workers 2 120
  while read -r w h; do
    [ "$(nodes_of "$h")" != "$lost" ] || fail "worker $w runs on the lost node"
  done < <(ready_workers)
  wait "$load"; rc=$?; load=""
  cat "$work/bench.out"
  [ $rc -eq 0 ] || fail "the load failed (exit $rc)"
  errors=$(awk '$1 ~ /^[0-9]+$/ && NF == 9 {e += $9} END {print e + 0}' "$work/bench.out")
  rows=$(awk '$1 ~ /^[0-9]+$/ && NF == 9 {n += 1} END {print n + 0}' "$work/bench.out")
  [ "$rows" = 1 ] || fail "no bench result"
  [ "$errors" = 0 ] || fail "$errors requests failed while $lost was lost"
  chorus undeploy kws || fail "undeploy failed"
  ;;
*) fail "unknown mode" ;;
esac
echo "PASS: multinode $mode"
