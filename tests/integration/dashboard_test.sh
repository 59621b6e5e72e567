#!/usr/bin/env bash
# The web dashboard end to end: a real coordinator with a deployment under
# load and a training job running, its JSON API checked with curl, then the
# dashboard driven in Debian's chromium by playwright-core
# (dashboard/test/browser_test.mjs), which saves screenshots; finally a
# coordinator with serving off answers the dashboard on a listener of its own.
#   dashboard_test.sh BIN_DIR DATA_DIR WORK_DIR SOURCE_DIR SCREENSHOT_DIR
# Every process it starts is killed by pid at exit. Loopback only.
set -u
bin=$1 data=$2 work=$3 src=$4 shots=$5
rm -rf "$work" && mkdir -p "$work"
state=$work/state
coord="" load="" worker_endpoint=""
fail() {
  echo "FAIL (dashboard): $*"
  echo "--- coordinator log ---"; tail -30 "$work/coordinator.log" 2>/dev/null
  exit 1
}
cleanup() {
  [ -n "$load" ] && kill -9 "$load" 2>/dev/null
  [ -n "$coord" ] && kill -9 "$coord" 2>/dev/null
  if [ -n "$worker_endpoint" ]; then
    for pid in $(pgrep -f -- "--broker $worker_endpoint"); do kill -9 "$pid" 2>/dev/null; done
  fi
  # The training job's ranks: their process group, the local launcher's handle.
  [ -n "${group:-}" ] && kill -9 -- "-$group" 2>/dev/null
}
trap cleanup EXIT
chorus() { "$bin/chorus" --log-level warn --state-dir "$state" "$@"; }
py() { /usr/bin/python3 -c "$1"; }
[ -f "$bin/../dashboard/index.html" ] || fail "the dashboard's front end is not built in $bin/../dashboard (run ./setup.sh)"
[ -d "$src/dashboard/node_modules/playwright-core" ] || fail "playwright-core is not installed in $src/dashboard (run ./setup.sh)"
command -v chromium > /dev/null || fail "chromium is not installed (run ./setup.sh)"

cat > "$work/coordinator.yaml" <<YAML
listen: tcp://127.0.0.1:0
state_dir: $state
worker: $bin/chorus-worker
tick_ms: 100
launchers:
  local: {slots: 2, env: {OMPI_MCA_btl: "self,vader"}}
serving: {client_listen: "tcp://127.0.0.1:0", worker_listen: "tcp://127.0.0.1:0", http: "127.0.0.1:0", heartbeat_ms: 100, worker_liveness_ms: 1000}
dashboard: {sample_ms: 500}
YAML
"$bin/chorus-coordinator" --config "$work/coordinator.yaml" >> "$work/coordinator.log" 2>&1 &
coord=$!
for _ in $(seq 100); do [ -s "$state/dashboard" ] && [ -s "$state/serving.json" ] && break; sleep 0.1; done
[ -s "$state/dashboard" ] || fail "the coordinator did not write its dashboard address"
url=$(cat "$state/dashboard")
http=$(py "import json; print(json.load(open('$state/serving.json'))['http'])")
worker_endpoint=$(py "import json; print(json.load(open('$state/serving.json'))['worker'])")
token=$(cat "$state/token")
[ "$url" = "$http/dashboard/" ] || fail "the dashboard is at $url, not on the gateway's listener $http"

# The API: the token, bad queries and unknown jobs answered with reasons.
api() { curl -s -o "$work/api.json" -w "%{http_code}" -H "Authorization: Bearer $token" "$http$1"; }
[ "$(curl -s -o /dev/null -w "%{http_code}" "$http/api/v1/jobs")" = 401 ] || fail "the API answered without a token"
[ "$(api /api/v1/jobs)" = 200 ] || fail "GET /api/v1/jobs: $(cat "$work/api.json")"
[ "$(api '/api/v1/jobs?limit=0')" = 400 ] && grep -q "'limit'" "$work/api.json" || fail "limit=0 was not a 400 naming limit"
[ "$(api /api/v1/jobs/999)" = 404 ] || fail "an unknown job was not a 404: $(cat "$work/api.json")"
[ "$(curl -s -o "$work/index.html" -w "%{http_code}" "$url")" = 200 ] && grep -q 'app.js' "$work/index.html" ||
  fail "GET $url did not serve the front end"
[ "$(curl -s -o /dev/null -w "%{http_code}" "$http/")" = 302 ] || fail "GET / did not redirect to the dashboard"

# Model A: trained quickly and deployed; then put under load.
cat > "$work/job-a.yaml" <<YAML
name: dash-a
dataset: {kind: speech_commands, root: $data, words: [yes, no, up], validation_percentage: 10, testing_percentage: 10}
model: {name: tc_resnet, width: 8}
training: {batch_size: 8, epochs: 1, threads: 1}
output: {dir: $work/run-a, model_repository: $work/models, model_name: dash-a}
YAML
out=$(timeout 120 "$bin/chorus" --state-dir "$state" submit "$work/job-a.yaml" --watch) || fail "training A failed: $out"
job_a=$(echo "$out" | sed -n 's/^submitted job \([0-9]*\).*/\1/p')
chorus deploy "$job_a" --name kws --min 1 --max 1 > /dev/null || fail "deploy failed"
for _ in $(seq 300); do
  [ "$(curl -s -o /dev/null -w "%{http_code}" -H "Authorization: Bearer $token" "$http/v2/models/kws/ready")" = 200 ] && break
  sleep 0.1
done
wav=$(ls "$data"/yes/*.wav | head -1)
( while :; do
    curl -s -o /dev/null -H "Authorization: Bearer $token" -H "Content-Type: audio/wav" --data-binary @"$wav" \
      "$http/v2/models/kws/infer"
    sleep 0.02
  done ) &
load=$!

# Job B trains while the browser watches: long enough, with progress every 2 steps.
cat > "$work/job-b.yaml" <<YAML
name: dash-b
dataset: {kind: speech_commands, root: $data, words: [yes, no, up], validation_percentage: 10, testing_percentage: 10}
model: {name: tc_resnet, width: 8}
training: {batch_size: 4, epochs: 1000, threads: 1}
output: {dir: $work/run-b, model_repository: $work/models, model_name: dash-b}
YAML
out=$(chorus submit "$work/job-b.yaml" --log-every-steps 2) || fail "submitting B failed: $out"
job_b=$(echo "$out" | sed -n 's/^submitted job \([0-9]*\).*/\1/p')
for _ in $(seq 600); do
  [ "$(api "/api/v1/jobs/$job_b/history")" = 200 ] && py "import json; exit(0 if json.load(open('$work/api.json'))['progress'] else 1)" && break
  sleep 0.1
done
py "import json; exit(0 if json.load(open('$work/api.json'))['progress'] else 1)" || fail "job $job_b reported no progress"
[ "$(api "/api/v1/jobs/$job_b")" = 200 ] || fail "GET /api/v1/jobs/$job_b: $(cat "$work/api.json")"
group=$(py "import json; print(json.load(open('$work/api.json'))['attempt_history'][-1]['handle'])")
[ "$(api "/api/v1/jobs/$job_b/log?tail=4096")" = 200 ] || fail "the log tail: $(cat "$work/api.json")"

echo "browser: $url, job $job_b training, model kws under load"
(cd "$src/dashboard" && timeout 200 node test/browser_test.mjs "$url" "$token" "$job_b" kws "$shots") ||
  fail "the browser test failed (screenshots in $shots)"
chorus cancel "$job_b" > /dev/null || fail "cancelling $job_b failed"
kill -9 "$load" 2>/dev/null; load=""

# Serving off: the dashboard on a listener of its own, over the same state.
kill -INT "$coord"; wait "$coord" 2>/dev/null; coord=""
cat > "$work/alone.yaml" <<YAML
listen: tcp://127.0.0.1:0
state_dir: $state
worker: $bin/chorus-worker
serving: {enabled: false}
dashboard: {listen: "127.0.0.1:0"}
YAML
rm -f "$state/dashboard"
"$bin/chorus-coordinator" --config "$work/alone.yaml" >> "$work/coordinator.log" 2>&1 &
coord=$!
for _ in $(seq 100); do [ -s "$state/dashboard" ] && break; sleep 0.1; done
[ -s "$state/dashboard" ] || fail "the coordinator without serving did not start its dashboard"
own=$(cat "$state/dashboard")
base=${own%/dashboard/}
[ "$(curl -s -o "$work/api.json" -w "%{http_code}" -H "Authorization: Bearer $token" "$base/api/v1/jobs")" = 200 ] &&
  py "import json; ids = [j['id'] for j in json.load(open('$work/api.json'))['jobs']]; exit(0 if '$job_b' in ids and '$job_a' in ids else 1)" ||
  fail "the dashboard's own listener did not list jobs $job_a and $job_b: $(cat "$work/api.json")"
[ "$(curl -s -o /dev/null -w "%{http_code}" "$own")" = 200 ] || fail "its own listener did not serve the front end"
[ "$(curl -s -o "$work/api.json" -w "%{http_code}" -H "Authorization: Bearer $token" "$base/api/v1/serving/history")" = 200 ] &&
  grep -q '"models":{}' "$work/api.json" || fail "serving history without serving: $(cat "$work/api.json")"
echo "PASS (dashboard): screenshots in $shots"
