#!/usr/bin/env bash
# End-to-end tests of serving with real processes: the coordinator's broker,
# HTTP gateway and autoscaler, `chorus-worker serve` workers, the chorus CLI.
#   serving_test.sh BIN_DIR DATA_DIR WORK_DIR MODE
# MODE: deploy | kill_worker | autoscale | slurm | vad | stream | speaker | rolling | tls | curve | soak
# Every process it starts is killed by pid at exit. Loopback only.
set -u
bin=$1 data=$2 work=$3 mode=$4
rm -rf "$work" && mkdir -p "$work"
state=$work/state
coord=""
fail() {
  echo "FAIL ($mode): $*"
  echo "--- coordinator log ---"; tail -30 "$work/coordinator.log" 2>/dev/null
  tail -20 "$state"/deployments/*/workers.log 2>/dev/null
  exit 1
}
worker_pids() { pgrep -f -- "--broker $worker_endpoint" 2>/dev/null; }
cleanup() {
  [ -n "$coord" ] && kill -9 "$coord" 2>/dev/null
  [ -n "${worker_endpoint:-}" ] && for pid in $(worker_pids); do kill -9 "$pid" 2>/dev/null; done
  [ -n "${load:-}" ] && kill -9 "$load" 2>/dev/null
  [ -n "${impostor:-}" ] && kill -9 "$impostor" 2>/dev/null
  [ -n "${by_hand:-}" ] && kill -9 "$by_hand" 2>/dev/null
  [ -n "${streamer:-}" ] && kill -9 "$streamer" 2>/dev/null
  [ -n "${handle:-}" ] && scancel --signal=KILL --full "$handle" 2>/dev/null
}
trap cleanup EXIT
chorus() { "$bin/chorus" --log-level warn --state-dir "$state" "$@"; }
py() { /usr/bin/python3 -c "$1"; }

slurm_yaml=""
if [ "$mode" = slurm ]; then
  conf=${CHORUS_SLURM_DIR:-/var/tmp/chorus-slurm}/slurm.conf
  [ -f "$conf" ] || fail "no dev Slurm cluster ($conf)"
  export SLURM_CONF=$conf
  slurm_yaml="  slurm: {slots: 2, template: $CHORUS_SOURCE_DIR/slurm/train.sbatch.in, slurm_conf: $conf}"
fi
client_port=0 worker_port=0
if [ "$mode" = rolling ]; then  # a restarted coordinator must listen where its workers look
  read -r client_port worker_port < <(py "
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(('127.0.0.1', 0))
print(*[x.getsockname()[1] for x in s])")
fi
http_listen=127.0.0.1:0 tls_yaml="" queue_yaml=""
[ "$mode" = soak ] && queue_yaml=", max_queue: 16"  # a small queue: overload is refused, not queued
[ "$mode" = stream ] && queue_yaml=", max_sessions: 2, session_idle_s: 2"  # bounds and expiry within the test
[ "$mode" = vad ] && queue_yaml=", graphs: [{name: speech, pipeline: [vad, kws]}, {name: kws-pair, ensemble: [kws, kws2]}]"
[ "$mode" = speaker ] && queue_yaml=", graphs: [{name: who, pipeline: [vad, spk]}]"
if [ "$mode" = tls ]; then  # HTTPS on every interface, with a certificate made here
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
    -keyout "$work/key.pem" -out "$work/cert.pem" 2> "$work/openssl.out" || fail "openssl: $(cat "$work/openssl.out")"
  http_listen=0.0.0.0:0 tls_yaml=", tls: {cert: $work/cert.pem, key: $work/key.pem}"
fi
curve_yaml=""
[ "$mode" = curve ] && curve_yaml="curve: on"  # as a coordinator listening beyond loopback would (auto)
cat > "$work/coordinator.yaml" <<YAML
listen: tcp://127.0.0.1:0
$curve_yaml
state_dir: $state
worker: $bin/chorus-worker
tick_ms: 100
launchers:
  local: {slots: 2, env: {OMPI_MCA_btl: "self,vader"}}
$slurm_yaml
serving: {client_listen: "tcp://127.0.0.1:$client_port", worker_listen: "tcp://127.0.0.1:$worker_port", http: "$http_listen", timeout_ms: 5000, heartbeat_ms: 100, worker_liveness_ms: 1000, model_repository: $work/models$tls_yaml$queue_yaml}
YAML
start_coordinator() {
  rm -f "$state/serving.json"
  "$bin/chorus-coordinator" --config "$work/coordinator.yaml" >> "$work/coordinator.log" 2>&1 &
  coord=$!
  for _ in $(seq 100); do [ -s "$state/serving.json" ] && break; sleep 0.1; done
  [ -s "$state/serving.json" ] || fail "the coordinator did not start"
  worker_endpoint=$(py "import json; print(json.load(open('$state/serving.json'))['worker'])")
  http=$(py "import json; print(json.load(open('$state/serving.json'))['http'])")
  token=$(cat "$state/token")
}
start_coordinator

# A small model, trained through the coordinator and deployed by job id.
cat > "$work/job.yaml" <<YAML
name: serve-test
dataset: {kind: speech_commands, root: $data, words: [yes, no, up], validation_percentage: 10, testing_percentage: 10}
model: {name: tc_resnet, width: 8}
training: {batch_size: 8, epochs: 2, threads: 1}
output: {dir: $work/unused, model_repository: $work/models, model_name: serve-test}
YAML
out=$(timeout 120 "$bin/chorus" --state-dir "$state" submit "$work/job.yaml" --watch) || fail "training failed: $out"
job=$(echo "$out" | sed -n 's/^submitted job \([0-9]*\).*/\1/p')
wav=$(ls "$data"/yes/*.wav | head -1)

workers_json() { chorus workers --output json; }
count_workers() {  # ready, not draining
  workers_json | py "import json,sys; print(sum(1 for w in json.load(sys.stdin).get('workers',[]) if w.get('state')=='READY'))"
}
wait_workers() {  # wait_workers N SECONDS
  for _ in $(seq $(( $2 * 10 ))); do [ "$(count_workers)" = "$1" ] && return 0; sleep 0.1; done
  fail "expected $1 ready workers, have $(count_workers): $(chorus workers)"
}
# bench_errors FILE: the errors column summed over the bench's rows.
bench_errors() { awk '$1 ~ /^[0-9]+$/ && NF == 9 {e += $9} END {print e + 0}' "$1"; }
bench_count() { awk '$1 ~ /^[0-9]+$/ && NF == 9 {n += 1} END {print n + 0}' "$1"; }
# finish_load WHEN: waits for the background `chorus bench` ($load) and checks
# that it gave one result with no failed request.
finish_load() {
  wait $load || fail "bench failed: $(cat "$work/bench.out")"
  load=""
  cat "$work/bench.out"
  [ "$(bench_count "$work/bench.out")" = 1 ] || fail "no bench result"
  [ "$(bench_errors "$work/bench.out")" = 0 ] || fail "requests failed $1"
}

# train_vad: a small voice-activity (detect) model trained through the
# coordinator on vad-synth recordings; sets $vad_job.
train_vad() {
  "$bin/chorus" --log-level warn dataset vad-synth --out "$work/vad-data" --recordings 24 --voices 3 \
    --min-seconds 2 --max-seconds 3 > /dev/null 2>&1 || fail "vad-synth failed"
  cat > "$work/vad.yaml" <<YAML
name: vad-test
task: detect
dataset: {kind: segments, root: $work/vad-data, validation_percentage: 20, testing_percentage: 20, crop_seconds: 2}
augment: {enabled: false}
model: {name: vad_crnn, width: 8, hidden: 8}
training: {batch_size: 4, max_steps: 12, threads: 1}
output: {dir: $work/unused-vad, model_repository: $work/models, model_name: vad-test}
YAML
  out=$(timeout 120 "$bin/chorus" --state-dir "$state" submit "$work/vad.yaml" --watch) || fail "vad training failed: $out"
  echo "$out" | grep -q "test roc_auc" || fail "no test ROC-AUC reported: $out"
  vad_job=$(echo "$out" | sed -n 's/^submitted job \([0-9]*\).*/\1/p')
}

case "$mode" in
soak)
  # The HTTP path offered twice what it can serve, for CHORUS_SOAK_SECONDS
  # (default 60): every request is answered (200) or refused (429) within its
  # deadline (timeout_ms 5000), nothing else, and memory stays bounded.
  seconds=${CHORUS_SOAK_SECONDS:-60}
  chorus deploy "$job" --name kws --min 1 --max 1 > /dev/null || fail "deploy failed"
  wait_workers 1 30
  wpid=$(worker_pids | head -1)
  load_args=(-m POST -T audio/wav -D "$wav" -H "Authorization: Bearer $token" "$http/v2/models/kws/infer")
  hey -z 5s -c 64 "${load_args[@]}" > "$work/saturation.out" 2>&1 || fail "hey failed: $(cat "$work/saturation.out")"
  saturation=$(py "import re; t=open('$work/saturation.out').read(); print(float(re.search(r'Requests/sec:\s+([0-9.]+)', t).group(1)))")
  clients=96
  per_client=$(py "import math; print(max(1, math.ceil(2 * $saturation / $clients)))")
  echo "saturation $saturation req/s; offering $(( per_client * clients )) req/s for $seconds s"
  ( while :; do echo "$(date +%s) $(ps -o rss= -p "$coord" | tr -d ' ') $(ps -o rss= -p "$wpid" | tr -d ' ')"; sleep 1; done ) \
    > "$work/rss.txt" &
  sampler=$!
  hey -z "${seconds}s" -c $clients -q "$per_client" -t 30 "${load_args[@]}" > "$work/soak.out" 2>&1
  rc=$?
  kill "$sampler" 2>/dev/null
  cat "$work/soak.out" | sed -n '/Summary/,/Latency distribution/p;/Status code distribution/,$p'
  [ $rc -eq 0 ] || fail "hey failed (exit $rc)"
  py "
import re, sys
t = open('$work/soak.out').read()
codes = {int(c): int(n) for c, n in re.findall(r'\[(\d+)\]\s+(\d+) responses', t)}
slowest = float(re.search(r'Slowest:\s+([0-9.]+)', t).group(1))
errors = t.split('Error distribution:')[1].strip() if 'Error distribution:' in t else ''
rss = [tuple(map(int, l.split()[1:])) for l in open('$work/rss.txt') if len(l.split()) == 3]
half = len(rss) // 2
first = [max(r[i] for r in rss[:half]) for i in (0, 1)]
second = [max(r[i] for r in rss[half:]) for i in (0, 1)]
rate = float(re.search(r'Requests/sec:\s+([0-9.]+)', t).group(1))
print(f'answers {codes} ({rate:.0f}/s, {rate / $saturation:.2f}x saturation), slowest {slowest:.3f} s; peak RSS coordinator {first[0]//1024}->{second[0]//1024} MiB, worker {first[1]//1024}->{second[1]//1024} MiB (first half -> second half)')
bad = []
if set(codes) - {200, 429}: bad.append(f'codes other than 200 and 429: {codes}')
if codes.get(200, 0) == 0 or codes.get(429, 0) == 0: bad.append(f'not both answered and refused (not overloaded?): {codes}')
if errors: bad.append('requests failed: ' + errors[:400])
if slowest > 5.5: bad.append(f'a request took {slowest} s, past its 5 s deadline')
for name, a, b in (('coordinator', first[0], second[0]), ('worker', first[1], second[1])):
    if b > a * 1.15 + 16384: bad.append(f'{name} memory grew from {a} to {b} KiB')
if bad: print('FAIL: ' + '; '.join(bad)); sys.exit(1)
" || fail "the soak did not hold"
  ;;
curve)
  # Every ZeroMQ socket speaks CURVE: the job above trained and reported
  # through it (ranks with their attempt's keys), the CLI reads curve.pub.
  key=$(cat "$state/curve.pub") || fail "no curve.pub"
  grep -qF "CURVE: ZeroMQ traffic is encrypted; the coordinator's public key is $key" "$work/coordinator.log" ||
    fail "the coordinator does not say CURVE is on"
  chorus deploy "$job" --name kws --min 1 --max 1 > /dev/null || fail "deploy failed"
  wait_workers 1 30
  wpid=$(worker_pids | head -1)
  tr '\0' '\n' < "/proc/$wpid/environ" | grep -q "^CHORUS_CURVE_SECRET_KEY=" || fail "the worker was given no CURVE key"
  chorus infer kws "$wav" > "$work/infer.out" 2>&1 || fail "inference over CURVE failed: $(cat "$work/infer.out")"
  code=$(curl -s -o "$work/http.json" -w "%{http_code}" -H "Authorization: Bearer $token" -H "Content-Type: audio/wav" \
    --data-binary @"$wav" "$http/v2/models/kws/infer")
  [ "$code" = 200 ] || fail "HTTP inference through the CURVE broker gave $code: $(cat "$work/http.json")"
  # A client that trusts another key (a man in the middle's) hears nothing.
  other=$(tr '\0' '\n' < "/proc/$wpid/environ" | sed -n 's/^CHORUS_CURVE_PUBLIC_KEY=//p')  # a valid key, not the server's
  [ -n "$other" ] && [ "$other" != "$key" ] || fail "no worker public key to pose with"
  CHORUS_CURVE_SERVER_KEY=$other timeout 60 "$bin/chorus" --log-level warn --state-dir "$state" list > "$work/fooled.out" 2>&1
  rc=$?
  [ $rc = 3 ] || fail "a client trusting another key got exit $rc, not 3 (no coordinator answered): $(cat "$work/fooled.out")"
  # The worker token without the worker's key: refused at the handshake, never registered.
  worker_token=$(tr '\0' '\n' < "/proc/$wpid/environ" | sed -n 's/^CHORUS_TOKEN=//p')
  model_dir=$(tr '\0' '\n' < "/proc/$wpid/cmdline" | sed -n 's/^kws=//p')
  CHORUS_TOKEN=$worker_token CHORUS_CURVE_SERVER_KEY=$key "$bin/chorus-worker" serve --broker "$worker_endpoint" \
    --model "kws=$model_dir" > "$work/impostor.log" 2>&1 &
  impostor=$!
  for _ in $(seq 50); do grep -q "CURVE: refused key" "$work/coordinator.log" && break; sleep 0.2; done
  grep -q "CURVE: refused key .* on chorus-workers" "$work/coordinator.log" || fail "the impostor's key was not refused"
  sleep 1
  [ "$(count_workers)" = 1 ] || fail "an impostor registered: $(chorus workers)"
  echo "CURVE: job trained and reported, worker served, CLI and HTTP answered; other key: exit 3; impostor refused"
  ;;
tls)
  case "$http" in https://127.0.0.1:*) ;; *) fail "serving.json's http is $http, not HTTPS" ;; esac
  [ "$(curl -s -o /dev/null -w "%{http_code}" --cacert "$work/cert.pem" "$http/v2/health/live")" = 200 ] ||
    fail "no HTTPS answer at $http"
  [ "$(curl -s -o /dev/null -w "%{http_code}" --max-time 3 "${http/https:/http:}/v2/health/live")" = 200 ] &&
    fail "plain HTTP was answered on the TLS port"
  curl -s -o /dev/null --max-time 3 "$http/v2/health/live" && fail "a client that does not trust the certificate was answered"
  chorus deploy "$job" --name kws --min 1 --max 1 > /dev/null || fail "deploy failed"
  wait_workers 1 30
  app=$(chorus token create --role infer --models kws) && other=$(chorus token create --role infer --models vad) ||
    fail "token create failed"
  infer() { curl -s -o "$work/tls.json" -w "%{http_code}" --cacert "$work/cert.pem" -H "Authorization: Bearer $1" \
    -H "Content-Type: audio/wav" --data-binary @"$wav" "$http/v2/models/kws/infer"; }
  [ "$(infer "$app")" = 200 ] || fail "inference over HTTPS failed: $(cat "$work/tls.json")"
  [ "$(infer "$other")" = 403 ] || fail "a token for another model was not refused: $(cat "$work/tls.json")"
  grep -q "may not infer on model 'kws'" "$work/tls.json" || fail "unclear: $(cat "$work/tls.json")"
  # Plain HTTP that would leave loopback: the coordinator does not start, and says why.
  printf 'listen: tcp://127.0.0.1:0\nstate_dir: %s\nserving: {http: "0.0.0.0:0"}\n' "$work/plain-state" > "$work/plain.yaml"
  timeout 10 "$bin/chorus-coordinator" --config "$work/plain.yaml" > "$work/plain.out" 2>&1
  rc=$?
  [ $rc -ne 0 ] && [ $rc -ne 124 ] || fail "a coordinator with plain HTTP on 0.0.0.0 started (exit $rc)"
  grep -q "0.0.0.0 is not a loopback address: give serving.tls" "$work/plain.out" || fail "unclear: $(cat "$work/plain.out")"
  ;;
deploy)
  # Names that would escape the state directory or a URL segment are refused, naming the rule.
  for bad in .. a=b "x y" .hidden; do
    chorus deploy "$job" --name "$bad" > "$work/bad-name.out" 2>&1 && fail "deployed under the name '$bad'"
    grep -q "deployment name has 1 to 64 characters" "$work/bad-name.out" || fail "'$bad': $(cat "$work/bad-name.out")"
  done
  chorus deploy "$job" --name kws --min 2 --max 2 || fail "deploy failed"
  wait_workers 2 30
  chorus infer kws "$wav" > "$work/infer.out" || fail "infer failed: $(cat "$work/infer.out")"
  top=$(awk '{print $2}' "$work/infer.out")
  [ -n "$top" ] || fail "no label printed"
  body=$(curl -s -H "Authorization: Bearer $token" -H "Content-Type: audio/wav" --data-binary @"$wav" "$http/v2/models/kws/infer")
  [ "$(echo "$body" | py "import json,sys; print(json.load(sys.stdin)['outputs'][0]['data'][0])")" = "$top" ] ||
    fail "HTTP and ZeroMQ disagree: $body vs $(cat "$work/infer.out")"
  code=$(curl -s -o /dev/null -w "%{http_code}" -H "Authorization: Bearer $token" -d '{"inputs": 3}' "$http/v2/models/kws/infer")
  [ "$code" = 400 ] || fail "bad JSON gave $code"
  code=$(curl -s -o /dev/null -w "%{http_code}" -H "Content-Type: audio/wav" --data-binary @"$wav" "$http/v2/models/kws/infer")
  [ "$code" = 401 ] || fail "no token gave $code"
  code=$(curl -s -o /dev/null -w "%{http_code}" "$http/v2/health/live")
  [ "$code" = 200 ] || fail "live gave $code"
  curl -s "$http/metrics" | grep -q 'chorus_workers{model="kws"} 2' || fail "metrics lack 2 workers"
  chorus models | grep -q "^kws " || fail "models does not list kws"

  # The model repository extension, as a Triton client uses it, with an
  # operator's own admin credential (the audit log names it, not root).
  ops=$(chorus token create --role admin --name ops) || fail "token create failed"
  auth=(-H "Authorization: Bearer $ops")
  repo() { curl -s -o "$work/repo.json" -w "%{http_code}" "${auth[@]}" -X POST "$@"; }
  # A POST with neither Content-Length nor a chunked body has an empty body
  # (RFC 9112 6.3), as `curl -X POST` sends it.
  [ "$(repo "$http/v2/repository/index")" = 200 ] || fail "a POST without Content-Length: $(cat "$work/repo.json")"
  [ "$(repo -d '' "$http/v2/repository/index")" = 200 ] || fail "index: $(cat "$work/repo.json")"
  py "import json; i=json.load(open('$work/repo.json')); assert {'name':'serve-test','version':'1','state':'UNAVAILABLE','reason':'not loaded'} in i and any(e['name']=='kws' and e['state']=='READY' for e in i), i" ||
    fail "index before load: $(cat "$work/repo.json")"
  code=$(repo -d '{"parameters":{"min_workers":1,"max_workers":1}}' "$http/v2/repository/models/serve-test/load")
  [ "$code" = 200 ] || fail "load gave $code: $(cat "$work/repo.json")"
  grep '"action":"deploy"' "$state/audit.log" | grep '"target":"deployment serve-test' | grep -q "\"who\":\"${ops:7:12}\"" ||
    fail "the repository load is not audited as the caller's (${ops:7:12}): $(tail -3 "$state/audit.log")"
  for _ in $(seq 300); do
    [ "$(curl -s -o /dev/null -w "%{http_code}" "${auth[@]}" "$http/v2/models/serve-test/ready")" = 200 ] && break; sleep 0.1
  done
  code=$(curl -s -o "$work/repo-infer.json" -w "%{http_code}" "${auth[@]}" -H "Content-Type: audio/wav" --data-binary @"$wav" "$http/v2/models/serve-test/versions/1/infer")
  [ "$code" = 200 ] || fail "infer on the loaded model gave $code: $(cat "$work/repo-infer.json")"
  [ "$(repo -d '{"ready": true}' "$http/v2/repository/index")" = 200 ] || fail "ready index failed"
  py "import json; i=json.load(open('$work/repo.json')); assert sorted(e['name'] for e in i) == ['kws', 'serve-test'], i" ||
    fail "ready index: $(cat "$work/repo.json")"
  [ "$(repo -d '' "$http/v2/repository/models/nope/load")" = 404 ] || fail "loading an unknown model: $(cat "$work/repo.json")"
  [ "$(curl -s -o /dev/null -w "%{http_code}" -X POST -d '' "$http/v2/repository/models/serve-test/unload")" = 401 ] ||
    fail "unload without a token was not a 401"
  [ "$(repo -d '' "$http/v2/repository/models/serve-test/unload")" = 200 ] || fail "unload: $(cat "$work/repo.json")"
  for _ in $(seq 200); do
    [ "$(curl -s -o /dev/null -w "%{http_code}" "${auth[@]}" "$http/v2/models/serve-test/ready")" = 404 ] && break; sleep 0.1
  done
  [ "$(curl -s -o /dev/null -w "%{http_code}" "${auth[@]}" "$http/v2/models/serve-test/ready")" = 404 ] ||
    fail "serve-test still served after unload"
  # A worker started by hand with two models unloads one of them in place:
  # the same process serves the other as before.
  wpid=$(worker_pids | head -1)
  worker_token=$(tr '\0' '\n' < "/proc/$wpid/environ" | sed -n 's/^CHORUS_TOKEN=//p')
  model_dir=$(tr '\0' '\n' < "/proc/$wpid/cmdline" | sed -n 's/^kws=//p')
  CHORUS_TOKEN=$worker_token "$bin/chorus-worker" serve --broker "$worker_endpoint" --id by-hand \
    --model "first=$model_dir" --model "second=$model_dir" > "$work/by-hand.log" 2>&1 &
  by_hand=$!
  ready() { curl -s -o /dev/null -w "%{http_code}" "${auth[@]}" "$http/v2/models/$1/ready"; }
  for _ in $(seq 300); do [ "$(ready second)" = 200 ] && break; sleep 0.1; done
  [ "$(ready first)" = 200 ] && [ "$(ready second)" = 200 ] || fail "the worker started by hand serves nothing"
  [ "$(repo -d '' "$http/v2/repository/models/second/unload")" = 200 ] || fail "unload in place: $(cat "$work/repo.json")"
  for _ in $(seq 100); do [ "$(ready second)" = 404 ] && break; sleep 0.1; done
  [ "$(ready second)" = 404 ] || fail "second is still served after its in-place unload"
  grep -q "unloaded second" "$work/by-hand.log" || fail "the worker did not unload in place: $(tail -5 "$work/by-hand.log")"
  kill -0 "$by_hand" 2>/dev/null || fail "the worker started by hand ended with its model"
  code=$(curl -s -o "$work/first.json" -w "%{http_code}" "${auth[@]}" -H "Content-Type: audio/wav" --data-binary @"$wav" "$http/v2/models/first/infer")
  [ "$code" = 200 ] || fail "the model left on the worker gave $code: $(cat "$work/first.json")"
  [ "$(repo -d '' "$http/v2/repository/models/second/unload")" = 404 ] || fail "unloading it twice: $(cat "$work/repo.json")"
  kill "$by_hand"
  ;;
kill_worker)
  chorus deploy "$job" --name kws --min 2 --max 2 --max-delay-us 500 || fail "deploy failed"
  wait_workers 2 30
  chorus bench kws --concurrency 8 --duration 6s --file "$wav" > "$work/bench.out" 2>&1 &
  load=$!
  sleep 2
  victim=$(workers_json | py "import json,sys; print(json.load(sys.stdin)['workers'][0]['pid'])")
  kill -9 "$victim" || fail "could not kill worker $victim"
  echo "killed worker pid $victim under load"
  for _ in $(seq 200); do kill -0 $load 2>/dev/null || break; sleep 0.1; done
  kill -0 $load 2>/dev/null && fail "the load generator hangs"
  finish_load "when a worker died"
  grep -qE "worker .* (silent for .*|exited); dropped" "$work/coordinator.log" || fail "the broker did not notice the dead worker"
  wait_workers 2 30  # the autoscaler replaces it (min 2)
  ;;
autoscale)
  chorus deploy "$job" --name kws --min 1 --max 2 --target 2 --scale-up-delay 0.3 --scale-down-delay 2 || fail "deploy"
  wait_workers 1 30
  chorus bench kws --concurrency 8 --duration 6s --file "$wav" > "$work/bench.out" 2>&1 &
  load=$!
  peak=0
  for _ in $(seq 60); do n=$(count_workers); [ "$n" -gt "$peak" ] && peak=$n; sleep 0.1; done
  wait $load || fail "bench failed"
  load=""
  cat "$work/bench.out"
  [ "$peak" = 2 ] || fail "did not scale up under load (peak $peak workers)"
  [ "$(bench_errors "$work/bench.out")" = 0 ] || fail "requests failed while scaling"
  wait_workers 1 20  # idle: drained back to the minimum
  grep -q "draining worker" "$work/coordinator.log" || fail "no drain logged"
  # Scale to zero, then a request starts a worker again (cold start).
  chorus scale kws --min 0 --max 2 || fail "scale failed"
  wait_workers 0 20
  chorus infer kws "$wav" --timeout-ms 20000 > "$work/infer.out" || fail "cold start failed: $(cat "$work/infer.out")"
  grep -q "queue" "$work/infer.out" || fail "no answer: $(cat "$work/infer.out")"
  ;;
rolling)
  # A rolling update under load: version 2 of the same model replaces version 1.
  chorus deploy "$job" --name kws --min 1 --max 1 || fail "deploy failed"
  wait_workers 1 30
  v1=$(ls -d "$work"/models/serve-test/1)
  v2=$work/models/serve-test/2
  cp -r "$v1" "$v2"
  py "import json; p='$v2/model.json'; j=json.load(open(p)); j['version']=2; json.dump(j, open(p,'w'))"
  # Only the folder changes: the running worker loads version 2 in place (no process starts or stops).
  before=$(worker_pids)
  chorus bench kws --concurrency 4 --duration 8s --file "$wav" > "$work/bench.out" 2>&1 &
  load=$!
  sleep 2
  chorus deploy "$v2" --name kws --min 1 --max 1 || fail "rolling deploy failed"
  finish_load "during the rolling update in place"
  grep -q "rolling update of kws" "$work/coordinator.log" || fail "no rolling update logged"
  grep -q "serves $v2 (loaded in place" "$work/coordinator.log" || fail "version 2 was not loaded in place"
  [ "$(worker_pids)" = "$before" ] || fail "the in-place update changed the worker processes: $before -> $(worker_pids)"
  wait_workers 1 20
  chorus infer kws "$wav" > "$work/infer.out" || fail "infer failed: $(cat "$work/infer.out")"
  grep -q "version 2," "$work/infer.out" || fail "not answered by version 2: $(cat "$work/infer.out")"
  # Back to version 1 with other batching: new worker processes, the old one drained once they are ready.
  chorus bench kws --concurrency 4 --duration 8s --file "$wav" > "$work/bench.out" 2>&1 &
  load=$!
  sleep 2
  chorus deploy "$v1" --name kws --min 1 --max 1 --max-batch 4 || fail "rolling deploy with new batching failed"
  finish_load "during the rolling update by new workers"
  grep -q "replaced by 1 ready worker" "$work/coordinator.log" || fail "the old worker was not drained"
  wait_workers 1 20
  for _ in $(seq 100); do [ "$(worker_pids | wc -l)" = 1 ] && break; sleep 0.1; done
  [ "$(worker_pids)" != "$before" ] || fail "new batching needs a new worker process"
  chorus infer kws "$wav" > "$work/infer.out" || fail "infer failed: $(cat "$work/infer.out")"
  grep -q "version 1," "$work/infer.out" || fail "not answered by version 1: $(cat "$work/infer.out")"

  # A restarted coordinator adopts the worker that still runs instead of starting another.
  pid=$(worker_pids)
  [ "$(echo "$pid" | wc -w)" = 1 ] || fail "expected one worker process, have: $pid"
  kill -9 "$coord"; wait "$coord" 2>/dev/null
  start_coordinator
  wait_workers 1 30
  grep -q "adopted worker" "$work/coordinator.log" || fail "no worker adopted"
  sleep 2
  [ "$(worker_pids)" = "$pid" ] || fail "workers after the restart: $(worker_pids) (expected only $pid)"
  chorus infer kws "$wav" > "$work/infer.out" || fail "infer after restart failed: $(cat "$work/infer.out")"

  # A stopped worker (SIGSTOP) is killed and replaced.
  kill -STOP "$pid"
  for _ in $(seq 150); do [ -n "$(worker_pids | grep -vx "$pid")" ] && break; sleep 0.1; done
  wait_workers 1 30
  grep -q "no longer answers the broker" "$work/coordinator.log" || fail "the stopped worker was not noticed"
  kill -0 "$pid" 2>/dev/null && fail "the stopped worker $pid still exists"
  chorus infer kws "$wav" > /dev/null || fail "infer after replacing the stopped worker failed"

  # Workers that die at start are restarted after growing delays, not in a tight loop.
  bad=$work/models/bad/1
  mkdir -p "$bad" && cp "$v1/model.json" "$bad/" && echo "not a model" > "$bad/model.pt"
  chorus deploy "$bad" --name bad --min 1 --max 1 || fail "deploy of the bad model failed"
  for _ in $(seq 200); do grep -q "3 worker(s) of bad in a row" "$work/coordinator.log" && break; sleep 0.1; done
  grep -q "3 worker(s) of bad in a row ended before they were ready; next start in 2.0 s" "$work/coordinator.log" ||
    fail "no backoff: $(grep "of bad" "$work/coordinator.log" | tail -5)"
  chorus undeploy bad > /dev/null || fail "undeploy bad failed"
  ;;
slurm)
  chorus deploy "$job" --name kws --min 1 --max 1 --launcher slurm || fail "deploy failed"
  wait_workers 1 60
  chorus workers
  chorus infer kws "$wav" > "$work/infer.out" || fail "infer failed: $(cat "$work/infer.out")"
  cat "$work/infer.out"
  grep -q "deploy-kws" "$work/infer.out" || fail "not answered by the Slurm worker"
  handle=$(squeue -h -t RUNNING -o "%i %j" | awk '$2 ~ /^chorus-serve-kws-/ {print $1}' | head -1)
  [ -n "$handle" ] || fail "no Slurm job runs the worker: $(squeue)"
  # The dashboard's cluster view: the Slurm launcher's slots and sinfo's nodes.
  code=$(curl -s -o "$work/cluster.json" -w "%{http_code}" -H "Authorization: Bearer $token" "$http/api/v1/cluster")
  [ "$code" = 200 ] || fail "GET /api/v1/cluster: $code $(cat "$work/cluster.json")"
  py "
import json
c = json.load(open('$work/cluster.json'))
assert any(l['name'] == 'slurm' and l['slots'] == 2 for l in c['launchers']), c
nodes = c['slurm_nodes']
assert nodes and all(n['partition'] and n['cpus'] > 0 for n in nodes), c
print('cluster:', len(nodes), 'Slurm node(s):', ', '.join(n['name'] + ' (' + n['partition'] + ', ' + n['state'] + ')' for n in nodes))
" || fail "the cluster view lacks the Slurm launcher or its nodes: $(cat "$work/cluster.json")"
  chorus undeploy kws || fail "undeploy failed"
  for _ in $(seq 100); do [ -z "$(squeue -h -j "$handle" 2>/dev/null)" ] && break; sleep 0.2; done
  [ -z "$(squeue -h -j "$handle" 2>/dev/null)" ] || { scancel "$handle"; fail "the drained worker's Slurm job still runs"; }
  ;;
vad)
  # A voice-activity model: made, trained and deployed like any other.
  train_vad
  chorus deploy "$vad_job" --name vad --min 1 --max 1 || fail "deploy failed"
  chorus deploy "$job" --name kws --min 1 --max 1 || fail "deploy kws failed"
  wait_workers 2 30
  rec=$(ls "$work"/vad-data/recordings/*.wav | head -1)
  chorus vad vad "$rec" > "$work/vad.out" || fail "chorus vad failed: $(cat "$work/vad.out")"
  grep -q "speech segment(s)" "$work/vad.out" || fail "no segments printed: $(cat "$work/vad.out")"
  chorus vad vad "$rec" "$wav" --output json --threshold 0.3 > "$work/vad.json" || fail "chorus vad --output json failed"
  py "import json; d = json.load(open('$work/vad.json')); assert len(d) == 2 and all('segments' in f for f in d), d" ||
    fail "bad JSON: $(cat "$work/vad.json")"
  body=$(curl -s -H "Authorization: Bearer $token" -H "Content-Type: audio/wav" --data-binary @"$rec" "$http/v2/models/vad/infer")
  echo "$body" | py "import json,sys; o = {t['name']: t for t in json.load(sys.stdin)['outputs']}; \
assert o['segments']['shape'][1] == 2 and len(o['speech_probability']['data']) > 100, o.keys()" ||
    fail "HTTP reply lacks speech_probability/segments: ${body:0:300}"
  meta=$(curl -s -H "Authorization: Bearer $token" "$http/v2/models/vad")
  echo "$meta" | py "import json,sys; m = json.load(sys.stdin); \
assert [o['name'] for o in m['outputs']] == ['speech_probability', 'segments'] and m['parameters']['task'] == 'detect', m" ||
    fail "metadata does not declare the detector's outputs: $meta"
  code=$(curl -s -o /dev/null -w "%{http_code}" -H "Authorization: Bearer $token" \
         -d '{"inputs":[{"name":"audio","datatype":"FP32","shape":[100],"data":['"$(seq -s, 100 | sed 's/[0-9]*/0.1/g')"']}]}' \
         "$http/v2/models/vad/infer")
  [ "$code" = 400 ] || fail "audio shorter than one frame gave $code"
  # A keyword spotter is not a detector: chorus vad says so, naming both.
  chorus vad kws "$wav" > "$work/wrong.out" 2>&1 && fail "chorus vad accepted a classify model"
  grep -q "not a voice-activity (detect) model" "$work/wrong.out" || fail "unclear refusal: $(cat "$work/wrong.out")"
  # Graphs from the config: vad -> kws (a label per speech segment) and an
  # ensemble of two deployments of the keyword spotter (its mean: the same scores).
  chorus deploy "$job" --name kws2 --min 1 --max 1 > /dev/null || fail "deploy kws2 failed"
  wait_workers 3 30
  for _ in $(seq 50); do
    [ "$(curl -s -o /dev/null -w "%{http_code}" -H "Authorization: Bearer $token" "$http/v2/models/speech/ready")" = 200 ] && break
    sleep 0.1
  done
  curl -s -H "Authorization: Bearer $token" -H "Content-Type: audio/wav" --data-binary @"$rec" \
    "$http/v2/models/speech/infer" > "$work/pipeline.json"
  py "import json; o = {t['name']: t for t in json.load(open('$work/pipeline.json'))['outputs']}; \
n = o['segments']['shape'][0]; assert n >= 1 and o['labels']['shape'][0] == n and len(o['scores']['data']) >= n, o; \
print('pipeline vad -> kws:', n, 'segment(s):', list(zip(o['labels']['data'], o['scores']['data'])))" ||
    fail "the pipeline's answer lacks a label per segment: $(head -c 400 "$work/pipeline.json")"
  meta=$(curl -s -H "Authorization: Bearer $token" "$http/v2/models/speech")
  echo "$meta" | py "import json,sys; m = json.load(sys.stdin); \
assert m['parameters']['graph'] == 'pipeline' and m['parameters']['steps'] == ['vad', 'kws'], m; \
assert [i['name'] for i in m['inputs']] == ['audio', 'features'] and m['outputs'][0]['name'] == 'segments', m" ||
    fail "the pipeline's metadata: $meta"
  chorus infer speech "$rec" > "$work/pipeline.out" || fail "chorus infer on the pipeline failed: $(cat "$work/pipeline.out")"
  grep -q "segments \[" "$work/pipeline.out" || fail "chorus infer printed no segments: $(cat "$work/pipeline.out")"
  # Both its steps stream, so the pipeline streams: each chunk goes to both
  # steps' sessions; its answer is the detector's events and the keywords
  # whose window heard speech. Against each step streamed alone.
  echo "$meta" | py "import json,sys; assert json.load(sys.stdin)['parameters']['streams'] is True" ||
    fail "the pipeline's metadata does not say it streams: $meta"
  chorus stream speech "$rec" --param kws.threshold=0.2 --param kws.refractory_ms=300 --output json \
    > "$work/graph-stream.json" || fail "streaming the pipeline failed: $(cat "$work/graph-stream.json")"
  chorus stream vad "$rec" --output json > "$work/vad-stream.json" || fail "streaming vad failed"
  chorus stream kws "$rec" --param threshold=0.2 --param refractory_ms=300 --output json \
    > "$work/kws-stream.json" || fail "streaming kws failed: $(cat "$work/kws-stream.json")"
  py "
import json
g, v, k = (json.load(open('$work/%s-stream.json' % n)) for n in ('graph', 'vad', 'kws'))
ev = lambda d: [(round(e['seconds'], 4), e['event']) for e in d['events']]
assert ev(g) == ev(v), (ev(g), ev(v))
spans, start = [], None
for t, e in ev(v):
    if e == 'start': start = t
    else: spans.append((start, t)); start = None
if start is not None: spans.append((start, float('inf')))
heard = lambda t: any(s <= t + 1e-4 and e >= t - 1.0 - 1e-4 for s, e in spans)  # the kws clip is 1 s
kw = lambda d: [(w['keyword'], round(w['seconds'], 3)) for w in d['keywords']]
want = [w for w in kw(k) if heard(w[1])]
assert kw(g) == want, (kw(g), want, kw(k), spans)
assert kw(k), 'the spotter alone found no keyword: the test says nothing'
print('streaming pipeline vad -> kws: %d events, %d of %d keywords heard in speech' % (len(ev(g)), len(kw(g)), len(kw(k))))
" || fail "the streaming pipeline differs from its steps streamed alone"
  long_id=$(printf 'x%.0s' $(seq 250))  # with "speech/" its steps' id would pass the 256 limit
  code=$(curl -s -o "$work/long.json" -w "%{http_code}" -H "Authorization: Bearer $token" \
    -d '{"parameters":{"sequence_id":"'"$long_id"'","sequence_start":true},"inputs":[{"name":"audio","datatype":"FP32","shape":[4],"data":[0,0,0,0]}]}' \
    "$http/v2/models/speech/infer")
  [ "$code" = 400 ] && grep -q "for graph 'speech'" "$work/long.json" || fail "a too long graph sequence_id: $code $(cat "$work/long.json")"
  for m in kws kws-pair; do
    curl -s -H "Authorization: Bearer $token" -H "Content-Type: audio/wav" --data-binary @"$wav" \
      "$http/v2/models/$m/infer" > "$work/$m.json"
  done
  py "
import json
one, pair = json.load(open('$work/kws.json')), json.load(open('$work/kws-pair.json'))
o = {t['name']: t['data'] for t in one['outputs']}
p = {t['name']: t['data'] for t in pair['outputs']}
assert pair['model_name'] == 'kws-pair' and p['labels'][0] == o['labels'][0], (one, pair)
assert abs(p['scores'][0] - o['scores'][0]) < 1e-4, (one, pair)
print('ensemble of kws and kws2:', p['labels'][0], p['scores'][0])
" || fail "the ensemble differs from its (identical) members: $(cat "$work/kws-pair.json") vs $(cat "$work/kws.json")"
  ;;
stream)
  # Streaming sessions: a file played as a live stream over ZeroMQ (chorus
  # stream), once undisturbed and once with a worker killed (kill -9) in the
  # middle: the same events, no chunk lost. Then over HTTP with Triton's
  # sequence parameters, the bound on open sessions, expiry, and /metrics.
  train_vad
  chorus deploy "$vad_job" --name vad --min 2 --max 2 > /dev/null || fail "deploy failed"
  wait_workers 2 30
  rec=$work/vad-data/recordings/rec_00001.wav
  chorus stream vad "$rec" --output json > "$work/clean.json" || fail "chorus stream failed: $(cat "$work/clean.json")"
  chorus stream vad "$rec" --chunk-ms 32 > "$work/stream.txt" || fail "chorus stream (table) failed"
  grep -q "chunk latency p50" "$work/stream.txt" || fail "no summary: $(cat "$work/stream.txt")"
  chorus stream vad "$rec" --real-time --output json > "$work/killed.json" &
  streamer=$!
  sleep 1
  # Stopped first, so it holds a chunk when it dies (the next chunks alternate
  # between the two workers); then killed. Its pid as the broker knows it.
  victim=$(workers_json | py "import json,sys; print(json.load(sys.stdin)['workers'][0]['pid'])")
  kill -STOP "$victim" || fail "no worker to stop"
  sleep 0.3
  kill -9 "$victim" || fail "no worker to kill"
  wait $streamer || fail "the stream failed when its worker was killed: $(cat "$work/killed.json")"
  streamer=""
  py "
import json
clean, killed = json.load(open('$work/clean.json')), json.load(open('$work/killed.json'))
strip = lambda d: [(round(e['seconds'], 4), e['event']) for e in d['events']]
assert clean['chunks'] == killed['chunks'] and clean['frames'] == killed['frames'], (clean, killed)
assert strip(clean) == strip(killed), (strip(clean), strip(killed))
assert len(clean['speech_probability']) == clean['frames'] and all(
    abs(a - b) < 1e-5 for a, b in zip(clean['speech_probability'], killed['speech_probability'])), 'probabilities differ'
assert killed['retried_chunks'] >= 1, killed
print('stream: %d chunks, %d events; killed a worker mid-way: same events, %d chunk(s) sent again, longest chunk %.0f ms'
      % (killed['chunks'], len(killed['events']), killed['retried_chunks'], killed['latency_ms']['max']))
" || fail "the killed run differs from the clean one"
  # HTTP: Triton's sequence parameters on /infer.
  chunk() {  # chunk ID PARAMETERS -> HTTP code; the body in $work/chunk.json
    local samples
    samples=$(py "import math; print(','.join('%.4f' % (0.3 * math.sin(i / 5.0)) for i in range(512)))")
    curl -s -o "$work/chunk.json" -w "%{http_code}" -H "Authorization: Bearer $token" \
      -d '{"parameters":{"sequence_id":'"$1$2"'},"inputs":[{"name":"audio","datatype":"FP32","shape":[512],"data":['"$samples"']}]}' \
      "$http/v2/models/vad/infer"
  }
  [ "$(chunk '"h1"' ',"sequence_start":true')" = 200 ] || fail "start chunk: $(cat "$work/chunk.json")"
  py "import json; o = {t['name']: t for t in json.load(open('$work/chunk.json'))['outputs']}; \
assert o['events']['shape'][1] == 2 and len(o['speech_probability']['data']) == 1, o" ||
    fail "a chunk's reply lacks events or its one frame: $(cat "$work/chunk.json")"
  [ "$(chunk '"h1"' '')" = 200 ] || fail "second chunk: $(cat "$work/chunk.json")"
  [ "$(chunk '"h1"' ',"sequence_end":true')" = 200 ] || fail "end chunk: $(cat "$work/chunk.json")"
  [ "$(chunk '"h1"' '')" = 404 ] || fail "a chunk after the end was not refused: $(cat "$work/chunk.json")"
  grep -q "sequence_start" "$work/chunk.json" || fail "unclear refusal: $(cat "$work/chunk.json")"
  [ "$(chunk '[1]' ',"sequence_start":true')" = 400 ] || fail "a bad sequence_id was not refused"
  # Two sessions open (the bound): a third is refused with 429 until idle ones expire.
  [ "$(chunk 7 ',"sequence_start":true')" = 200 ] || fail "session 7: $(cat "$work/chunk.json")"
  [ "$(chunk 8 ',"sequence_start":true')" = 200 ] || fail "session 8: $(cat "$work/chunk.json")"
  [ "$(chunk 9 ',"sequence_start":true')" = 429 ] || fail "a third session was not refused: $(cat "$work/chunk.json")"
  grep -q "streaming sessions are open" "$work/chunk.json" || fail "unclear refusal: $(cat "$work/chunk.json")"
  curl -s "$http/metrics" > "$work/metrics.txt"
  grep -q '^chorus_stream_sessions{model="vad"} 2' "$work/metrics.txt" || fail "metrics lack 2 open sessions"
  sleep 2.5  # session_idle_s: 2
  [ "$(chunk 7 '')" = 404 ] || fail "an expired session still took a chunk"
  [ "$(chunk 9 ',"sequence_start":true')" = 200 ] || fail "no room after expiry: $(cat "$work/chunk.json")"
  curl -s "$http/metrics" > "$work/metrics.txt"
  grep -q '^chorus_stream_sessions_total{model="vad",outcome="expired"} 2' "$work/metrics.txt" ||
    fail "metrics lack 2 expired sessions: $(grep chorus_stream "$work/metrics.txt")"
  grep -q '^chorus_stream_chunk_seconds_count{model="vad"} [1-9]' "$work/metrics.txt" || fail "no chunk latency in /metrics"
  # A keyword spotter streams over a sliding window: a file of three words
  # with silence between gives the same keywords in 32 ms chunks as in
  # 250 ms ones, each reported once, at a time inside the file.
  chorus deploy "$job" --name kws --min 1 --max 1 > /dev/null || fail "deploy kws failed"
  wait_workers 3 30
  py "
import glob, wave
out = wave.open('$work/words.wav', 'wb')
for i, word in enumerate(['yes', 'no', 'up']):
    w = wave.open(sorted(glob.glob('$data/' + word + '/*.wav'))[0])
    if i == 0: out.setparams(w.getparams())
    out.writeframes(bytes(w.getsampwidth() * w.getframerate() // 2) + w.readframes(w.getnframes()))
out.close()"
  for ms in 32 250; do
    chorus stream kws "$work/words.wav" --chunk-ms $ms --param threshold=0.2 --param refractory_ms=500 --output json \
      > "$work/kws$ms.json" || fail "chorus stream kws failed: $(cat "$work/kws$ms.json")"
  done
  py "
import json, wave
a, b = json.load(open('$work/kws32.json')), json.load(open('$work/kws250.json'))
w = wave.open('$work/words.wav'); seconds = w.getnframes() / w.getframerate()
words = lambda d: [(k['keyword'], round(k['seconds'], 3)) for k in d['keywords']]
assert words(a) == words(b), (words(a), words(b))
assert a['keywords'], 'no keyword spotted at threshold 0.2'
assert all(k['keyword'] in ('yes', 'no', 'up') and 0 < k['seconds'] <= seconds for k in a['keywords']), a['keywords']
t = [k['seconds'] for k in a['keywords']]
assert all(y - x >= 0.5 - 1e-3 for x, y in zip(t, t[1:])), t
print('keyword stream: %s' % words(a))
" || fail "the keyword stream differs between chunkings or is wrong"
  chorus stream kws "$work/words.wav" --param hop_ms=50 > "$work/wrong.out" 2>&1 && fail "a model's own setting was accepted"
  grep -q "hop_ms" "$work/wrong.out" || fail "unclear refusal: $(cat "$work/wrong.out")"
  ;;
speaker)
  # Speaker recognition: an embed model trained through the coordinator on
  # 6 synthetic voices, deployed, and a registry used from the CLI and curl.
  "$bin/chorus" --log-level warn dataset speaker-synth --out "$work/spk" --voices 6 --utterances 8 \
    --words yes no up > /dev/null 2>&1 || fail "speaker-synth failed"
  "$bin/chorus" --log-level warn dataset speaker-synth --out "$work/spk-test" --voices 3 --utterances 6 \
    --words yes no up --seed 2 > /dev/null 2>&1 || fail "speaker-synth (test voices) failed"
  cat > "$work/spk.yaml" <<YAML
name: spk-test
task: embed
dataset: {kind: speakers, root: $work/spk/train, test_root: $work/spk-test/train, validation_percentage: 0}
features: {sample_rate: 8000, f_max: 4000}
model: {name: ecapa_lite, width: 16, embedding_dim: 16}
embed: {enrol_utterances: 2}
training: {batch_size: 8, max_steps: 30, threads: 1}
output: {dir: $work/unused-spk, model_repository: $work/models, model_name: spk-test}
YAML
  out=$(timeout 120 "$bin/chorus" --state-dir "$state" submit "$work/spk.yaml" --watch) || fail "embed training failed: $out"
  echo "$out" | grep -q "EER" || fail "no EER reported: $out"
  spk_job=$(echo "$out" | sed -n 's/^submitted job \([0-9]*\).*/\1/p')
  chorus deploy "$spk_job" --name spk --min 1 --max 1 || fail "deploy failed"
  chorus deploy "$job" --name kws --min 1 --max 1 || fail "deploy kws failed"
  train_vad
  chorus deploy "$vad_job" --name vad --min 1 --max 1 > /dev/null || fail "deploy vad failed"
  wait_workers 3 30
  voices=($(ls -d "$work"/spk-test/train/v*))
  a=($(ls "${voices[0]}"/*/*.wav)) b=($(ls "${voices[1]}"/*/*.wav))
  auth="Authorization: Bearer $token"
  curl -s "$http/v2" | py "import json,sys; assert 'chorus_speakers' in json.load(sys.stdin)['extensions']" ||
    fail "GET /v2 does not name the speaker extension"
  curl -s -H "$auth" "$http/v2/models/spk" | py "import json,sys; m = json.load(sys.stdin); \
assert m['outputs'] == [{'name': 'embedding', 'datatype': 'FP32', 'shape': [16]}] and m['parameters']['task'] == 'embed', m" ||
    fail "metadata does not declare the embedding"

  # The pipeline vad -> spk: an embedding for each speech segment of a recording.
  for _ in $(seq 50); do
    [ "$(curl -s -o /dev/null -w "%{http_code}" -H "$auth" "$http/v2/models/who/ready")" = 200 ] && break
    sleep 0.1
  done
  curl -s -H "$auth" -H "Content-Type: audio/wav" --data-binary @"$work/vad-data/recordings/rec_00001.wav" \
    "$http/v2/models/who/infer" > "$work/who.json"
  py "import json; o = {t['name']: t for t in json.load(open('$work/who.json'))['outputs']}; \
n = o['segments']['shape'][0]; assert n >= 1 and o['embedding']['shape'] == [n, 16], o; \
print('pipeline vad -> spk:', n, 'segment(s), an embedding of 16 each')" ||
    fail "the pipeline's answer lacks an embedding per segment: $(head -c 400 "$work/who.json")"

  # CLI: enrol two people, list, verify, identify.
  chorus speaker enrol spk alice "${a[0]}" "${a[1]}" "${a[2]}" > "$work/enrol.out" || fail "enrol: $(cat "$work/enrol.out")"
  grep -q "enrolled alice in spk from 3 utterance" "$work/enrol.out" || fail "enrol said: $(cat "$work/enrol.out")"
  chorus speaker enrol spk carol "${b[0]}" > /dev/null || fail "enrol carol failed"
  chorus speaker list spk > "$work/list.out" || fail "list failed"
  grep -q "^alice  *3" "$work/list.out" && grep -q "^carol  *1" "$work/list.out" || fail "list: $(cat "$work/list.out")"
  # carol's own enrolment utterance: cosine 1, accepted whatever the threshold.
  chorus speaker verify spk carol "${b[0]}" > "$work/verify.out" || fail "verify rejected the enrolment utterance: $(cat "$work/verify.out")"
  grep -q "carol: ACCEPTED (score 1.000" "$work/verify.out" || fail "verify said: $(cat "$work/verify.out")"
  chorus speaker identify spk "${b[0]}" --output json > "$work/identify.json" || fail "identify failed"
  py "import json; d = json.load(open('$work/identify.json')); c = d['candidates']; \
assert d['speaker'] == 'carol' and c[0]['speaker'] == 'carol' and len(c) == 2, d" || fail "identify: $(cat "$work/identify.json")"
  chorus speaker verify spk alice "${a[3]}" > "$work/verify2.out"
  [ $? -le 1 ] && grep -Eq "alice: (ACCEPTED|REJECTED) \(score" "$work/verify2.out" || fail "verify: $(cat "$work/verify2.out")"

  # curl: enrol from several parts, verify with a WAV body, identify.
  code=$(curl -s -o "$work/c.json" -w "%{http_code}" -H "$auth" -X PUT -F "audio=@${b[1]}" -F "audio=@${b[2]}" \
         "$http/v2/models/spk/speakers/bob")
  [ "$code" = 200 ] || fail "curl enrol gave $code: $(cat "$work/c.json")"
  curl -s -H "$auth" -H "Content-Type: audio/wav" --data-binary @"${b[1]}" "$http/v2/models/spk/speakers/bob/verify" |
    py "import json,sys; d = json.load(sys.stdin); assert d['score'] > 0.5 and 'accepted' in d, d" || fail "curl verify"
  curl -s -H "$auth" -H "Content-Type: audio/wav" --data-binary @"${b[1]}" "$http/v2/models/spk/identify?top_k=3" |
    py "import json,sys; d = json.load(sys.stdin); assert len(d['candidates']) == 3, d" || fail "curl identify"

  # Bad input: clear errors, nothing written.
  py "import wave; w = wave.open('$work/silence.wav', 'wb'); w.setnchannels(1); w.setsampwidth(2); w.setframerate(8000); \
w.writeframes(bytes(16000)); w.close()"
  py "import wave, math, struct; w = wave.open('$work/short.wav', 'wb'); w.setnchannels(1); w.setsampwidth(2); \
w.setframerate(8000); w.writeframes(b''.join(struct.pack('<h', int(8000 * math.sin(i))) for i in range(400))); w.close()"
  chorus speaker enrol spk dave "${a[0]}" "$work/silence.wav" > "$work/bad.out" 2>&1 && fail "enrolled silence"
  grep -q "utterance 2.*silent" "$work/bad.out" || fail "silence: $(cat "$work/bad.out")"
  chorus speaker enrol spk dave "$work/short.wav" > "$work/bad.out" 2>&1 && fail "enrolled 50 ms"
  grep -q "at least 100 ms" "$work/bad.out" || fail "too short: $(cat "$work/bad.out")"
  chorus speaker list spk | grep -q dave && fail "a failed enrolment left dave in the registry"
  chorus speaker verify spk nobody "${a[0]}" > "$work/bad.out" 2>&1 && fail "verified an unknown name"
  grep -q "no speaker 'nobody'" "$work/bad.out" || fail "unknown name: $(cat "$work/bad.out")"
  chorus speaker identify kws "${a[0]}" > "$work/bad.out" 2>&1 && fail "identified with a keyword spotter"
  grep -q "classify model" "$work/bad.out" || fail "not-embed: $(cat "$work/bad.out")"
  chorus stream spk "${a[0]}" > "$work/bad.out" 2>&1 && fail "streamed to a speaker model"
  grep -q "does not stream" "$work/bad.out" || fail "unclear refusal: $(cat "$work/bad.out")"
  code=$(curl -s -o /dev/null -w "%{http_code}" -X PUT -F "audio=@${a[0]}" "$http/v2/models/spk/speakers/eve")
  [ "$code" = 401 ] || fail "enrolment without a token gave $code"

  # The registry survives a coordinator restart.
  old_workers=$(worker_pids)
  kill -TERM "$coord"; wait "$coord" 2>/dev/null
  for pid in $old_workers; do kill -9 "$pid" 2>/dev/null; done  # the new broker listens elsewhere
  start_coordinator
  wait_workers 3 60
  chorus speaker list spk > "$work/list2.out" || fail "list after restart failed"
  for n in alice bob carol; do grep -q "^$n " "$work/list2.out" || fail "$n lost in the restart: $(cat "$work/list2.out")"; done
  chorus speaker verify spk carol "${b[0]}" > /dev/null || fail "carol not accepted after the restart"
  chorus speaker delete spk alice > /dev/null || fail "delete failed"
  chorus speaker list spk | grep -q "^alice " && fail "alice still listed after delete"
  chorus speaker verify spk alice "${a[0]}" > /dev/null 2>&1 && fail "verified a deleted speaker"
  ! grep -q "embedding\": *\[" "$work/coordinator.log" "$state"/deployments/*/workers.log 2>/dev/null ||
    fail "an embedding appeared in a log"
  ;;
*) fail "unknown mode" ;;
esac
echo "PASS: serving $mode"
