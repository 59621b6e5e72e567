#!/usr/bin/env bash
# End-to-end tests of chorus-coordinator and the chorus CLI with real ranks.
#   coordinator_test.sh BIN_DIR DATA_DIR WORK_DIR MODE
# MODE: local | cancel | rank_kill | coordinator_kill | bad_input | roles | run_as | slurm
# Every process the test starts (coordinators, their jobs' ranks, Slurm jobs)
# is killed by pid (or scancelled by id) when it exits. Loopback only.
set -u
bin=$1 data=$2 work=$3 mode=$4
rm -rf "$work" && mkdir -p "$work"
state=$work/state
coords=()          # pids of coordinators we started
slurm_jobs=()
endpoint=""

fail() {
  echo "FAIL ($mode): $*"
  echo "--- coordinator log ---"; tail -30 "$work"/coordinator*.log 2>/dev/null
  for log in "$state"/jobs/*/job.log; do [ -f "$log" ] && { echo "--- $log ---"; tail -25 "$log"; }; done
  exit 1
}

# Processes whose environment names this test's coordinator endpoint: every rank it launched.
job_pids() {
  [ -n "$endpoint" ] || return 0
  grep -lsx --null-data "CHORUS_COORDINATOR=$endpoint" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3
}
run_pids() {  # ranks of one attempt: run_pids JOB ATTEMPT
  grep -lsx --null-data "CHORUS_RUN_ID=$1.$2" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3
}
# Slurm job ids of every attempt the current coordinator launched on Slurm.
slurm_handles() {
  for id in $(chorus list --output json 2>/dev/null | /usr/bin/python3 -c "import json,sys; [print(j['id']) for j in json.load(sys.stdin).get('jobs',[])]" 2>/dev/null); do
    chorus status "$id" --output json 2>/dev/null | /usr/bin/python3 -c "import json,sys; [print(a['handle']) for a in json.load(sys.stdin).get('attempt_history',[]) if a.get('launcher')=='slurm' and a.get('handle')]" 2>/dev/null
  done
}
cleanup() {
  [ "$mode" = slurm ] && slurm_jobs+=($(slurm_handles))
  for pid in "${coords[@]}"; do kill -9 "$pid" 2>/dev/null; done
  for id in "${slurm_jobs[@]}"; do scancel --signal=KILL --full "$id" 2>/dev/null; done
  for pid in $(job_pids); do kill -9 "$pid" 2>/dev/null; done
  if [ -n "${public:-}" ]; then
    for pid in $(pgrep -f -- "$public/chorus-worker"); do kill -9 "$pid" 2>/dev/null; done
    rm -rf "$public"
  fi
}
trap cleanup EXIT

chorus() { "$bin/chorus" --log-level warn --state-dir "$state" "$@"; }

# write_config [launcher-extra-yaml...]
write_config() {
  cat > "$work/coordinator.yaml" <<YAML
listen: ${LISTEN:-tcp://127.0.0.1:0}
state_dir: $state
worker: ${WORKER:-$bin/chorus-worker}
${RUN_AS_YAML:-}
max_restarts: 2
cancel_grace_s: 5
tick_ms: 100
heartbeat: {interval_ms: 500, timeout_s: 20, startup_timeout_s: 120}
serving: ${SERVING_YAML:-"{enabled: false}"}
launchers:
  local: {slots: 2, mpirun_args: [--oversubscribe], env: {OMPI_MCA_btl: "self,vader"}}
${SLURM_YAML:-}
YAML
}

start_coordinator() {
  rm -f "$state/endpoint"
  "$bin/chorus-coordinator" --config "$work/coordinator.yaml" ${endpoint:+--listen "$endpoint"} \
    >> "$work/coordinator.log" 2>&1 &
  coords+=($!)
  coord=$!
  for _ in $(seq 100); do [ -s "$state/endpoint" ] && break; sleep 0.1; done
  [ -s "$state/endpoint" ] || fail "the coordinator did not start"
  endpoint=$(head -1 "$state/endpoint")
}

# json_field, wait_state, step_of
source "$(dirname "$0")/job_helpers.sh"
wait_step() {  # wait_step JOB MIN_STEP SECONDS
  for _ in $(seq $(( $3 * 5 ))); do
    step=$(step_of "$1")
    [ "${step:-0}" -ge "$2" ] && return 0
    sleep 0.2
  done
  fail "job $1 did not reach step $2 in $3 s"
}
submit() {  # submit ARGS... -> prints the job id
  local out
  out=$(chorus submit "$work/job.yaml" "$@") || fail "submit $* failed: $out"
  echo "$out" | sed -n 's/^submitted job \([0-9]*\).*/\1/p'
}

cat > "$work/job.yaml" <<YAML
name: coord-$mode
dataset: {kind: speech_commands, root: $data, words: [yes, no, up], validation_percentage: 10, testing_percentage: 10}
model: {name: tc_resnet, width: 8}
augment: {noise_probability: 0}
training: {batch_size: 4, epochs: 100000, threads: 1, checkpoint_every_steps: 50, eval_every_steps: 100000000}
output: {dir: $work/unused}
YAML

case "$mode" in
local)
  write_config; start_coordinator
  out=$(timeout 180 "$bin/chorus" --state-dir "$state" submit "$work/job.yaml" --ranks 2 --max-steps 60 --watch)
  rc=$?
  echo "$out" | tail -5
  [ $rc -eq 0 ] || fail "submit --watch exited $rc: $out"
  id=$(echo "$out" | sed -n 's/^submitted job \([0-9]*\).*/\1/p')
  [ "$(json_field "$id" state)" = SUCCEEDED ] || fail "not SUCCEEDED"
  [ "$(json_field "$id" attempts)" = 1 ] || fail "more than one attempt"
  chorus status "$id" | grep -q "test .*accuracy" || fail "no test evaluation reported"
  chorus logs "$id" | grep -q "rank 0 of 2" || fail "the log does not show 2 ranks"
  chorus list | grep -q "SUCCEEDED" || fail "list does not show the job"
  # The job's files and those its ranks wrote are private too.
  for f in "$state/jobs/$id" "$state/jobs/$id/job.log" "$state/jobs/$id/job.yaml" "$state/jobs/$id/output/checkpoints"; do
    m=$(stat -c %a "$f")
    case "$m" in 600|700) ;; *) fail "$f has mode $m, readable by others" ;; esac
  done
  ;;
cancel)
  write_config; start_coordinator
  id=$(submit --ranks 2 --max-steps 1000000)
  wait_step "$id" 20 120
  [ -n "$(run_pids "$id" 1)" ] || fail "no ranks found for job $id"
  chorus cancel "$id" || fail "cancel failed"
  wait_state "$id" CANCELLED 30
  sleep 1
  left=$(run_pids "$id" 1)
  [ -z "$left" ] || fail "ranks still running after cancel: $left"
  [ "$(json_field "$id" attempts)" = 1 ] || fail "a cancelled job was restarted"
  chorus cancel "$id"; [ $? -eq 6 ] || fail "cancelling a finished job should exit 6"
  ;;
rank_kill)
  write_config; start_coordinator
  id=$(submit --ranks 2 --max-steps 2500)
  for _ in $(seq 600); do [ -n "$(json_field "$id" checkpoint)" ] && break; sleep 0.2; done
  [ -n "$(json_field "$id" checkpoint)" ] || fail "no checkpoint was reported"
  victim=""
  for pid in $(run_pids "$id" 1); do
    tr '\0' '\n' < "/proc/$pid/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=1" && victim=$pid
  done
  [ -n "$victim" ] || fail "could not find rank 1"
  kill -9 "$victim"
  echo "killed rank 1 (pid $victim) of job $id"
  wait_state "$id" SUCCEEDED 240
  [ "$(json_field "$id" attempts)" = 2 ] || fail "expected exactly 2 attempts, got $(json_field "$id" attempts)"
  chorus logs "$id" | grep -q "resumed from" || fail "attempt 2 did not resume from a checkpoint"
  chorus status "$id" | grep -E "#1 +FAILED" || fail "attempt 1 is not shown as FAILED"
  ;;
coordinator_kill)
  write_config; start_coordinator
  first=$(submit --ranks 2 --max-steps 6000)   # long enough to outlive the restart
  wait_step "$first" 20 120
  second=$(submit --ranks 2 --max-steps 40)   # waits: the 2 slots are taken
  [ "$(json_field "$second" state)" = PENDING ] || fail "second job should wait for slots"
  kill -9 "$coord"
  echo "killed the coordinator (pid $coord) while job $first runs"
  sleep 2
  [ -n "$(run_pids "$first" 1)" ] || fail "the job's ranks died with the coordinator"
  start_coordinator
  grep -q "re-attached to job $first attempt 1" "$work/coordinator.log" || fail "job $first was not re-attached"
  wait_state "$first" SUCCEEDED 240
  [ "$(json_field "$first" attempts)" = 1 ] || fail "the re-attached job was restarted"
  wait_state "$second" SUCCEEDED 120
  # Phase 2: ranks killed while the coordinator is down are found lost and retried.
  third=$(submit --ranks 2 --max-steps 2500)
  wait_step "$third" 20 120
  kill -9 "$coord"
  for pid in $(run_pids "$third" 1); do kill -9 "$pid"; done
  sleep 1
  start_coordinator
  wait_state "$third" SUCCEEDED 240
  [ "$(json_field "$third" attempts)" = 2 ] || fail "the lost attempt was not retried exactly once"
  [ "$(chorus list --output json | grep -c '"id"')" = 3 ] || fail "jobs were lost: $(chorus list)"
  ;;
bad_input)
  "$bin/chorus" --coordinator tcp://127.0.0.1:1 list > "$work/out" 2>&1
  [ $? -eq 3 ] || fail "no coordinator should exit 3"
  grep -q "no coordinator answered at tcp://127.0.0.1:1" "$work/out" || fail "unclear message: $(cat "$work/out")"
  write_config; start_coordinator
  [ "$(stat -c %a "$state/token")" = 600 ] || fail "token file mode is $(stat -c %a "$state/token")"
  # What the coordinator writes is its users' alone.
  [ "$(stat -c %a "$state")" = 700 ] || fail "state directory mode is $(stat -c %a "$state")"
  [ "$(stat -c %a "$state/jobs.db")" = 600 ] || fail "jobs.db mode is $(stat -c %a "$state/jobs.db")"
  printf 'name: bad\nmodel: {name: tc_resnet}\ntraining: {batch_size: "many"}\n' > "$work/bad.yaml"
  chorus submit "$work/bad.yaml" > "$work/out" 2>&1
  [ $? -eq 2 ] || fail "an invalid job file should exit 2"
  grep -q "bad.yaml:3:.*training.batch_size" "$work/out" || fail "no file:line:key in: $(cat "$work/out")"
  # A job file over 1 MiB, or with a key written twice, is refused by the CLI before anything is sent.
  { cat "$work/job.yaml"; head -c 2000000 /dev/zero | tr '\0' '#'; echo; } > "$work/huge.yaml"
  chorus submit "$work/huge.yaml" > "$work/out" 2>&1
  [ $? -eq 2 ] || fail "a 2 MB job file should exit 2: $(cat "$work/out")"
  grep -q "at most 1048576 (1 MiB). Nothing was queued" "$work/out" || fail "unclear: $(cat "$work/out")"
  { cat "$work/job.yaml"; echo "name: twice"; } > "$work/dup.yaml"
  chorus submit "$work/dup.yaml" > "$work/out" 2>&1
  [ $? -eq 2 ] || fail "a key written twice should exit 2: $(cat "$work/out")"
  grep -q "key 'name' appears twice" "$work/out" || fail "unclear: $(cat "$work/out")"
  chorus submit "$work/job.yaml" --name "$(head -c 200 /dev/zero | tr '\0' n)" > "$work/out" 2>&1
  [ $? -eq 2 ] || fail "a 200-byte name should exit 2"
  grep -q "the job name is 200 bytes; at most 128" "$work/out" || fail "unclear: $(cat "$work/out")"
  chorus submit "$work/job.yaml" --launcher slurm > "$work/out" 2>&1
  [ $? -eq 2 ] || fail "an unknown launcher should exit 2"
  grep -q "unknown launcher 'slurm'" "$work/out" || fail "unclear: $(cat "$work/out")"
  chorus submit "$work/job.yaml" --ranks 3 > "$work/out" 2>&1
  [ $? -eq 2 ] || fail "more ranks than slots should exit 2"
  [ "$(chorus list --output json | grep -c '"id"')" = 0 ] || fail "something was queued: $(chorus list)"
  # The same --request-id twice queues one job.
  a=$(chorus submit "$work/job.yaml" --max-steps 1 --request-id retry-1) || fail "submit with a request id failed"
  b=$(chorus submit "$work/job.yaml" --max-steps 1 --request-id retry-1) || fail "the retried submit failed"
  [ "$(echo "$a" | sed -n 's/^submitted job \([0-9]*\).*/\1/p')" = "$(echo "$b" | sed -n 's/^submitted job \([0-9]*\).*/\1/p')" ] ||
    fail "a retried submit queued another job: $a / $b"
  [ "$(chorus list --output json | grep -c '"id"')" = 1 ] || fail "expected one job: $(chorus list)"
  chorus status 999 > "$work/out" 2>&1
  [ $? -eq 5 ] || fail "an unknown job should exit 5"
  grep -q "no job with id 999" "$work/out" || fail "unclear: $(cat "$work/out")"
  CHORUS_TOKEN=wrong chorus list > "$work/out" 2>&1
  [ $? -eq 4 ] || fail "a wrong token should exit 4"
  grep -q "token" "$work/out" || fail "unclear: $(cat "$work/out")"
  # A second coordinator on the same state directory is refused.
  "$bin/chorus-coordinator" --config "$work/coordinator.yaml" > "$work/out" 2>&1 &
  second=$!; coords+=($second)
  for _ in $(seq 50); do kill -0 $second 2>/dev/null || break; sleep 0.1; done
  kill -0 $second 2>/dev/null && fail "a second coordinator started on the same state directory"
  grep -q "another coordinator" "$work/out" || fail "unclear: $(cat "$work/out")"
  ;;
roles)
  # Credentials with roles, from the CLI: each token does its own part only.
  write_config; start_coordinator
  alice=$(chorus token create --role submit --name alice 2> "$work/out") || fail "token create failed: $(cat "$work/out")"
  grep -q "shown only now" "$work/out" || fail "unclear: $(cat "$work/out")"
  bob=$(chorus token create --role submit --name bob) || fail "token create failed"
  reader=$(chorus token create --role infer --models kws --expires 1d --name app) || fail "token create failed"
  chorus token create --role wizard > "$work/out" 2>&1
  [ $? -eq 2 ] || fail "an unknown role should exit 2: $(cat "$work/out")"
  grep -q "unknown role 'wizard'" "$work/out" || fail "unclear: $(cat "$work/out")"
  id=$(CHORUS_TOKEN=$alice chorus submit "$work/job.yaml" --max-steps 1000000 | sed -n 's/^submitted job \([0-9]*\).*/\1/p')
  [ -n "$id" ] || fail "alice could not submit"
  CHORUS_TOKEN=$bob chorus cancel "$id" > "$work/out" 2>&1
  [ $? -eq 4 ] || fail "bob cancelled alice's job: $(cat "$work/out")"
  grep -q "may not cancel or retry this job" "$work/out" || fail "unclear: $(cat "$work/out")"
  [ "$(CHORUS_TOKEN=$bob chorus list --output json | grep -c '"id"')" = 0 ] || fail "bob sees alice's job"
  [ "$(CHORUS_TOKEN=$alice chorus list --output json | grep -c '"id"')" = 1 ] || fail "alice does not see her job"
  CHORUS_TOKEN=$reader chorus submit "$work/job.yaml" > "$work/out" 2>&1
  [ $? -eq 4 ] || fail "an infer token submitted: $(cat "$work/out")"
  CHORUS_TOKEN=$alice chorus token create --role admin > "$work/out" 2>&1
  [ $? -eq 4 ] || fail "a submit token made an admin token: $(cat "$work/out")"
  # The ranks report with a token for this attempt alone, and are heard.
  wait_step "$id" 50 120
  CHORUS_TOKEN=$alice chorus cancel "$id" > /dev/null || fail "alice could not cancel her own job"
  wait_state "$id" CANCELLED 60
  chorus token list > "$work/tokens"
  grep -q "submit .*alice" "$work/tokens" && grep -q "infer .* kws .*app" "$work/tokens" || fail "token list: $(cat "$work/tokens")"
  alice_id=$(echo "$alice" | cut -d_ -f2)
  chorus token revoke "$alice_id" > /dev/null || fail "revoke failed"
  CHORUS_TOKEN=$alice chorus list > "$work/out" 2>&1
  [ $? -eq 4 ] || fail "a revoked token was accepted"
  grep -q "revoked .*alice" <(chorus token list) || fail "not shown as revoked: $(chorus token list)"
  # Only hashes are stored; every control action and refusal is audited.
  grep -qa "$(echo "$alice" | cut -d_ -f3)" "$state"/jobs.db* && fail "a secret is in the job store"
  grep -qa "$(/usr/bin/python3 -c "import hashlib,sys; print(hashlib.sha256(sys.argv[1].encode()).hexdigest())" "$(echo "$alice" | cut -d_ -f3)")" \
    "$state"/jobs.db* || fail "the job store does not hold the secret's SHA-256"
  [ "$(stat -c %a "$state/audit.log")" = 600 ] || fail "audit.log mode is $(stat -c %a "$state/audit.log")"
  grep -q "\"action\":\"cancel\".*\"result\":\"PERMISSION_DENIED\".*\"who\":\"$(echo "$bob" | cut -d_ -f2)\"" "$state/audit.log" ||
    fail "bob's refused cancel is not in the audit log: $(cat "$state/audit.log")"
  grep -q "\"action\":\"token_revoke\".*\"result\":\"OK\".*\"who\":\"root\"" "$state/audit.log" || fail "the revoke is not audited"
  ;;
run_as)
  # A root coordinator with run_as: nobody. What nobody must reach (the worker
  # binary, the data, the state directory) lives in a 0755 directory of its
  # own, since the build may sit under a private home.
  public=$(mktemp -d /tmp/chorus-run-as.XXXXXX) && chmod 755 "$public" || fail "no temporary directory"
  cp "$bin/chorus-worker" "$public/" && cp -r "$data" "$public/data" && chmod -R a+rX "$public" || fail "copy failed"
  state=$public/state
  sed -i -e "s#root: $data#root: $public/data#" \
    -e "s#^output: .*#output: {dir: $public/unused, model_repository: $public/models, model_name: run-as}#" "$work/job.yaml"
  mkdir -p "$public/models" && chown nobody "$public/models"  # the account exports its model here
  nobody_uid=$(id -u nobody)
  WORKER=$public/chorus-worker RUN_AS_YAML="run_as: nobody" \
    SERVING_YAML='{client_listen: "tcp://127.0.0.1:0", worker_listen: "tcp://127.0.0.1:0", http: "127.0.0.1:0"}' \
    write_config
  start_coordinator
  grep -q "run as nobody" "$work/coordinator.log" || fail "the coordinator does not say who jobs run as"
  id=$(cd "$public" && submit --ranks 2 --max-steps 400)
  wait_step "$id" 5 120
  ranks=0
  for pid in $(run_pids "$id" 1); do
    uid=$(awk '/^Uid:/ {print $2}' "/proc/$pid/status" 2>/dev/null) || continue
    [ -z "$uid" ] && continue
    [ "$uid" = "$nobody_uid" ] || fail "process $pid ($(cat /proc/$pid/comm)) of job $id runs as uid $uid, not nobody"
    [ "$(cat /proc/$pid/comm 2>/dev/null)" = chorus-worker ] && ranks=$((ranks + 1))
  done
  [ "$ranks" = 2 ] || fail "found $ranks ranks of job $id, expected 2"
  wait_state "$id" SUCCEEDED 240
  chorus status "$id" | grep -q "test .*accuracy" || fail "no test evaluation reported"
  for f in "$state/jobs/$id" "$state/jobs/$id/output/checkpoints"; do
    [ "$(stat -c %U "$f")" = nobody ] || fail "$f belongs to $(stat -c %U "$f"), not the job's user"
  done
  [ "$(stat -c %U:%a "$state/jobs.db")" = root:600 ] || fail "jobs.db is $(stat -c %U:%a "$state/jobs.db")"
  [ "$(stat -c %a "$state")" = 711 ] || fail "the state directory has mode $(stat -c %a "$state"), not 711"
  runuser -u nobody -- cat "$state/jobs.db" >/dev/null 2>&1 && fail "nobody can read jobs.db"
  runuser -u nobody -- ls "$state" >/dev/null 2>&1 && fail "nobody can list the state directory"
  runuser -u nobody -- cat "$state/token" >/dev/null 2>&1 && fail "nobody can read the coordinator's token"
  # Its model served by a worker that runs as nobody too.
  chorus deploy "$id" --name kws --min 1 --max 1 > "$work/deploy.out" 2>&1 || fail "deploy failed: $(cat "$work/deploy.out")"
  wav=$(ls "$public"/data/yes/*.wav | head -1)
  for _ in $(seq 150); do chorus infer kws "$wav" > "$work/infer.out" 2>&1 && break; sleep 0.2; done
  chorus infer kws "$wav" > "$work/infer.out" 2>&1 || fail "inference failed: $(cat "$work/infer.out")"
  workers=$(pgrep -f -- "$public/chorus-worker serve")
  [ -n "$workers" ] || fail "no serving worker found"
  for pid in $workers; do
    uid=$(awk '/^Uid:/ {print $2}' "/proc/$pid/status")
    [ "$uid" = "$nobody_uid" ] || fail "serving worker $pid runs as uid $uid, not nobody"
  done
  echo "job $id: 2 ranks as nobody (uid $nobody_uid), SUCCEEDED; its model served by worker(s) $workers as nobody;" \
       "jobs.db, token and the state listing out of its reach"
  ;;
slurm)
  conf=${CHORUS_SLURM_DIR:-/var/tmp/chorus-slurm}/slurm.conf
  [ -f "$conf" ] || fail "no dev Slurm cluster ($conf); slurm/dev-cluster/start.sh starts one"
  export SLURM_CONF=$conf
  SLURM_YAML="  slurm: {slots: 2, partition: debug, template: $CHORUS_SOURCE_DIR/slurm/train.sbatch.in, slurm_conf: $conf, env: {OMPI_MCA_btl: \"self,vader\"}}"
  write_config; start_coordinator
  start=$(date +%s.%N)
  id=$(submit --launcher slurm --ranks 2 --max-steps 60)
  wait_state "$id" SUCCEEDED 240
  handle=$(chorus status "$id" | sed -n 's/.*(handle \([0-9]*\)).*/\1/p' | head -1)
  slurm_jobs+=("$handle")
  scontrol show job "$handle" -o | grep -q "JobState=COMPLETED" || fail "Slurm job $handle did not complete"
  chorus logs "$id" | grep -q "rank 0 of 2" || fail "the log does not show 2 ranks"
  # An sbatch failure becomes the job's failure reason.
  kill -9 "$coord"; endpoint=""
  state=$work/state2
  SLURM_YAML="  slurm: {slots: 2, partition: no-such-partition, template: $CHORUS_SOURCE_DIR/slurm/train.sbatch.in, slurm_conf: $conf}"
  write_config; start_coordinator
  id=$(submit --launcher slurm --ranks 1 --max-restarts 0)
  wait_state "$id" FAILED 60
  json_field "$id" reason | grep -q "sbatch" || fail "reason does not name sbatch: $(json_field "$id" reason)"
  json_field "$id" reason | grep -qi "partition" || fail "reason does not say why: $(json_field "$id" reason)"
  ;;
*) fail "unknown mode" ;;
esac
echo "PASS: coordinator $mode"
