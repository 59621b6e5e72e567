#!/usr/bin/env bash
# A standby coordinator takes over when the active one is killed (kill -9)
# while clients infer and a job trains. Real processes and a real PostgreSQL
# server that the test starts in a temporary directory:
#   failover_test.sh BIN_DIR DATA_DIR WORK_DIR SOURCE_DIR
# Two coordinators (A, B) share the PostgreSQL job store and one state
# directory, each on its own ports with the other as its peer, CURVE on every
# ZeroMQ socket as across hosts (both derive the same keys). A is active
# (it holds the lease), B stands by. Under load from `chorus bench` (ZeroMQ,
# whose client library fails over by itself) and an HTTP client that falls
# back to the other gateway, and with a training job running, A is killed.
# Checked: no request failed, B answers the CLI within FAILOVER_LIMIT_S
# (default 2 s), the job was re-attached (not restarted) and succeeds, and the
# deployment keeps exactly its one worker (adopted, not doubled). Prints the
# measured figures. Every process it starts is killed by pid at exit.
set -u
bin=$1 data=$2 work=$3 src=$4
limit=${FAILOVER_LIMIT_S:-2}
rm -rf "$work" && mkdir -p "$work"
state=$work/state
pgdir=$(mktemp -d /tmp/chorus-failover-pg.XXXXXX)
pids=()  # coordinators and clients
fail() {
  echo "FAIL (failover): $*"
  for log in "$work"/coordinator-*.log; do echo "--- $log ---"; tail -25 "$log"; done
  tail -20 "$state"/deployments/*/workers.log 2>/dev/null
  exit 1
}
py() { /usr/bin/python3 -c "$1"; }
worker_pids() { pgrep -f -- "--broker $worker_endpoints" 2>/dev/null; }
run_pids() {  # the ranks of one attempt: run_pids JOB ATTEMPT
  grep -lsx --null-data "CHORUS_RUN_ID=$1.$2" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3
}
cleanup() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null; done
  [ -n "${worker_endpoints:-}" ] && for pid in $(worker_pids); do kill -9 "$pid" 2>/dev/null; done
  [ -n "${long:-}" ] && for pid in $(run_pids "$long" 1) $(run_pids "$long" 2); do kill -9 "$pid" 2>/dev/null; done
  "$src/tests/integration/postgres_fixture.sh" down "$pgdir" 0
}
trap cleanup EXIT
chorus() { "$bin/chorus" --log-level warn --state-dir "$state" "$@"; }

# Ports: PostgreSQL's, then per coordinator its job, client, worker and HTTP ports.
read -r pgport a_job a_client a_worker a_http b_job b_client b_worker b_http < <(py "
import socket
s = [socket.socket() for _ in range(9)]
for x in s: x.bind(('127.0.0.1', 0))
print(*[x.getsockname()[1] for x in s])")
"$src/tests/integration/postgres_fixture.sh" up "$pgdir" "$pgport" || fail "cannot start PostgreSQL"
uri="postgresql:///chorus?host=$pgdir&port=$pgport&user=postgres"

config() {  # config NAME OWN_JOB OWN_CLIENT OWN_WORKER OWN_HTTP PEER_JOB PEER_CLIENT PEER_WORKER PEER_HTTP
  cat > "$work/coordinator-$1.yaml" <<YAML
listen: tcp://127.0.0.1:$2
state_dir: $state
job_store: "$uri"
curve: on                         # as two hosts would: CURVE on every ZeroMQ socket
peer: {listen: "tcp://127.0.0.1:$6", client_listen: "tcp://127.0.0.1:$7", worker_listen: "tcp://127.0.0.1:$8",
       http: "http://127.0.0.1:$9"}
worker: $bin/chorus-worker
tick_ms: 100
heartbeat: {interval_ms: 500, timeout_s: 20, startup_timeout_s: 120}
launchers:
  local: {slots: 2, mpirun_args: [--oversubscribe], env: {OMPI_MCA_btl: "self,vader"}}
serving: {client_listen: "tcp://127.0.0.1:$3", worker_listen: "tcp://127.0.0.1:$4", http: "127.0.0.1:$5",
          timeout_ms: 10000, heartbeat_ms: 100, worker_liveness_ms: 1000, model_repository: $work/models}
YAML
}
config a "$a_job" "$a_client" "$a_worker" "$a_http" "$b_job" "$b_client" "$b_worker" "$b_http"
config b "$b_job" "$b_client" "$b_worker" "$b_http" "$a_job" "$a_client" "$a_worker" "$a_http"
start() {  # start NAME: prints its pid
  "$bin/chorus-coordinator" --config "$work/coordinator-$1.yaml" >> "$work/coordinator-$1.log" 2>&1 &
  echo $!
}

# A first: it holds the lease and binds; B then stands by.
a=$(start a); pids+=("$a")
for _ in $(seq 100); do [ -s "$state/serving.json" ] && break; sleep 0.1; done
[ -s "$state/serving.json" ] || fail "coordinator A did not start"
b=$(start b); pids+=("$b")
for _ in $(seq 100); do grep -q "standby: another coordinator is active" "$work/coordinator-b.log" && break; sleep 0.1; done
grep -q "standby" "$work/coordinator-b.log" || fail "coordinator B does not stand by"
[ "$(cat "$state/endpoint")" = "tcp://127.0.0.1:$a_job,tcp://127.0.0.1:$b_job" ] ||
  [ "$(cat "$state/endpoint")" = "tcp://127.0.0.1:$b_job,tcp://127.0.0.1:$a_job" ] ||
  fail "the endpoint file should name both coordinators: $(cat "$state/endpoint")"
worker_endpoints=$(py "import json; print(json.load(open('$state/serving.json'))['worker'])")
token=$(cat "$state/token")

# A model to serve, trained through the coordinator; deployed with exactly one worker.
cat > "$work/small.yaml" <<YAML
name: failover-model
dataset: {kind: speech_commands, root: $data, words: [yes, no, up], validation_percentage: 10, testing_percentage: 10}
model: {name: tc_resnet, width: 8}
training: {batch_size: 8, epochs: 2, threads: 1}
output: {dir: $work/unused, model_repository: $work/models, model_name: failover-model}
YAML
out=$(timeout 120 "$bin/chorus" --state-dir "$state" submit "$work/small.yaml" --watch) || fail "training failed: $out"
model_job=$(echo "$out" | sed -n 's/^submitted job \([0-9]*\).*/\1/p')
chorus deploy "$model_job" --name kws --min 1 --max 1 > /dev/null || fail "deploy failed"
for _ in $(seq 300); do [ "$(worker_pids | wc -l)" = 1 ] && chorus workers | grep -q READY && break; sleep 0.1; done
chorus workers | grep -q READY || fail "no ready worker: $(chorus workers)"

# A job that trains through the failover (1 rank: the host has 2 cores).
source "$(dirname "$0")/job_helpers.sh"
sed -e 's/name: failover-model/name: failover-long/' -e 's/epochs: 2/epochs: 100000/' \
    -e 's/, model_repository: .*}/}/' "$work/small.yaml" > "$work/long.yaml"
out=$(chorus submit "$work/long.yaml" --ranks 1 --max-steps 1200) || fail "submit failed: $out"
long=$(echo "$out" | sed -n 's/^submitted job \([0-9]*\).*/\1/p')
for _ in $(seq 600); do [ "$(step_of "$long")" -ge 20 ] 2>/dev/null && break; sleep 0.2; done
[ "$(step_of "$long")" -ge 20 ] || fail "job $long did not start training"

# Load: ZeroMQ (chorus bench, 2 clients) and HTTP (a client that retries a
# refused or broken connection on the other gateway, within its deadline).
wav=$(ls "$data"/yes/*.wav | head -1)
chorus bench kws --concurrency 2 --duration 12s --file "$wav" > "$work/bench.out" 2>&1 &
bench=$!; pids+=("$bench")
cat > "$work/http_client.py" <<'PY'
import sys, time, urllib.request
urls, token, wav, seconds = sys.argv[1].split(","), sys.argv[2], open(sys.argv[3], "rb").read(), float(sys.argv[4])
ok = failed = retried = 0
longest = 0.0  # the longest a request took to be answered, retries included
end = time.time() + seconds
current = 0
while time.time() < end:
    start = time.time()
    deadline = start + 5
    while True:
        request = urllib.request.Request(urls[current] + "/v2/models/kws/infer", data=wav, method="POST",
                                         headers={"Content-Type": "audio/wav", "Authorization": "Bearer " + token})
        try:
            with urllib.request.urlopen(request, timeout=max(0.1, deadline - time.time())) as r:
                ok += r.status == 200
                failed += r.status != 200
            longest = max(longest, time.time() - start)
            break
        except urllib.error.HTTPError as e:
            failed += 1
            print("HTTP", e.code, e.read()[:200], flush=True)
            break
        except OSError:  # refused, reset: that gateway is gone; the other one
            current = (current + 1) % len(urls)
            retried += 1
            if time.time() > deadline:
                failed += 1
                break
            time.sleep(0.05)
print(f"http ok {ok} failed {failed} retried {retried} longest {longest:.3f}")
PY
/usr/bin/python3 "$work/http_client.py" "http://127.0.0.1:$a_http,http://127.0.0.1:$b_http" "$token" "$wav" 12 \
  > "$work/http.out" 2>&1 &
http_client=$!; pids+=("$http_client")
sleep 4

step_before=$(step_of "$long")
kill -9 "$a"
killed=$(date +%s.%N)
echo "killed the active coordinator A (pid $a) at step $step_before of job $long, under load"
# Failover: until the CLI (given both endpoints in STATE_DIR/endpoint) is answered.
answered=""
for _ in $(seq 200); do
  if chorus list > /dev/null 2>&1; then answered=$(date +%s.%N); break; fi
done
[ -n "$answered" ] || fail "no coordinator answered after the kill"
failover=$(py "print(f'{$answered - $killed:.2f}')")
grep -q "taking over as the active coordinator" "$work/coordinator-b.log" || fail "B did not take over"
echo "failover: the CLI was answered by B $failover s after A was killed"
step_at_failover=$(step_of "$long")

wait "$bench" || fail "bench failed: $(cat "$work/bench.out")"
wait "$http_client" || fail "the HTTP client failed: $(cat "$work/http.out")"
cat "$work/bench.out" "$work/http.out"
bench_errors=$(awk '$1 ~ /^[0-9]+$/ && NF == 9 {e += $9} END {print e + 0}' "$work/bench.out")
bench_rows=$(awk '$1 ~ /^[0-9]+$/ && NF == 9 {n += 1} END {print n + 0}' "$work/bench.out")
[ "$bench_rows" = 1 ] || fail "no bench result"
bench_gap=$(sed -n 's/.*longest gap between answers: \([0-9.]*\) ms/\1/p' "$work/bench.out")
http_failed=$(sed -n 's/^http ok [0-9]* failed \([0-9]*\).*/\1/p' "$work/http.out")
http_ok=$(sed -n 's/^http ok \([0-9]*\).*/\1/p' "$work/http.out")
http_longest=$(sed -n 's/.* longest \([0-9.]*\)$/\1/p' "$work/http.out")

# The deployment keeps exactly its one worker: adopted by B, not doubled.
grep -q "adopted worker" "$work/coordinator-b.log" || fail "B did not adopt the running worker"
for _ in $(seq 30); do
  [ "$(worker_pids | wc -l)" = 1 ] || fail "the deployment of 1 runs $(worker_pids | wc -l) workers"
  sleep 0.1
done
chorus workers | grep -q READY || fail "the adopted worker is not ready: $(chorus workers)"

# The job goes on: re-attached by B, its rank reporting to B (the step moves
# on in B's answers), not restarted, and it finishes.
grep -q "re-attached to job $long attempt 1" "$work/coordinator-b.log" || fail "job $long was not re-attached"
for _ in $(seq 150); do
  step=$(step_of "$long"); [ "${step:-0}" -gt "$step_at_failover" ] && break; sleep 0.2
done
[ "${step:-0}" -gt "$step_at_failover" ] || fail "the job's progress did not reach B (step $step since $step_at_failover)"
wait_state "$long" SUCCEEDED 300
[ "$(json_field "$long" attempts)" = 1 ] || fail "the job was restarted instead of continuing"

# A restarted A does not fight B: it stands by in its turn.
a=$(start a); pids+=("$a")
for _ in $(seq 100); do grep -q "standby: another" "$work/coordinator-a.log" && break; sleep 0.1; done  # A's first life was active
[ "$(grep -c "standby: another coordinator is active" "$work/coordinator-a.log")" = 1 ] || fail "a restarted A does not stand by"
chorus list > /dev/null || fail "B stopped answering once A came back"

echo "figures: failover ${failover} s (goal <= $limit s); failed requests: ZeroMQ $bench_errors (longest gap" \
     "between answers $bench_gap ms), HTTP $http_failed" \
     "(of $http_ok HTTP answered, the longest in $http_longest s); job $long continued from step $step_before to SUCCEEDED in 1 attempt; workers 1 of 1"
[ "$bench_errors" = 0 ] || fail "$bench_errors ZeroMQ requests failed"
[ "$http_failed" = 0 ] || fail "$http_failed HTTP requests failed"
py "import sys; sys.exit(0 if $failover <= $limit else 1)" || fail "failover took ${failover} s (goal <= $limit s)"
echo "PASS (failover)"
