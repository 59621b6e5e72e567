#!/usr/bin/env bash
# A rank that stalls (SIGSTOP) or dies (SIGKILL) in the middle of 2-rank
# training must make the job fail with a clear error within the collective
# timeout, not hang. Every process this test starts is killed by pid at exit.
#   ddp_fault_test.sh MPIEXEC WORKER DATA_DIR WORK_DIR stall|die
set -u
mpiexec=$1 worker=$2 data=$3 work=$4 mode=$5
rm -rf "$work" && mkdir -p "$work"
job=$work/job.yaml
log=$work/log
cat > "$job" <<YAML
name: fault-$mode
dataset: {kind: speech_commands, root: $data, words: [yes, no, up], validation_percentage: 0, testing_percentage: 20}
model: {name: tc_resnet, width: 8}
augment: {noise_probability: 0}
training: {batch_size: 2, epochs: 100000, threads: 1, collective_timeout_s: 5, checkpoint_every_steps: 100000000}
output: {dir: $work/run}
YAML

"$mpiexec" -n 2 "$worker" train "$job" > "$log" 2>&1 &
launcher=$!
rank_pids() { pgrep -f -- "$worker train $job" | grep -vx "$launcher"; }
cleanup() {
  for pid in $(rank_pids) $launcher; do kill -CONT "$pid" 2>/dev/null; kill -9 "$pid" 2>/dev/null; done
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; echo "--- log ---"; tail -30 "$log"; exit 1; }

# Wait (at most 60 s) until both ranks are training.
for _ in $(seq 600); do grep -q "step 20/" "$log" && break; sleep 0.1; done
grep -q "step 20/" "$log" || fail "training did not start"

victim=""
for pid in $(rank_pids); do
  if tr '\0' '\n' < "/proc/$pid/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=1"; then victim=$pid; fi
done
[ -n "$victim" ] || fail "could not find rank 1"
if [ "$mode" = stall ]; then kill -STOP "$victim"; else kill -9 "$victim"; fi
start=$(date +%s)

# The job must end by itself, well within timeout + abort time.
for _ in $(seq 600); do kill -0 "$launcher" 2>/dev/null || break; sleep 0.1; done
kill -0 "$launcher" 2>/dev/null && fail "the job still runs 60 s after rank 1 was ${mode/die/killed}"
wait "$launcher"; rc=$?
elapsed=$(( $(date +%s) - start ))
[ "$rc" -ne 0 ] || fail "the job exited 0 after losing a rank"
if [ "$mode" = stall ]; then
  grep -q "rank 0 of 2" "$log" || fail "the error does not name the rank"
  grep -q "did not finish in time" "$log" || fail "no timeout error"
  grep -qE "'step [0-9]+" "$log" || fail "the error does not name the step"
  [ "$elapsed" -ge 4 ] || fail "gave up after ${elapsed} s, before the 5 s timeout"
fi
sleep 1
[ -z "$(rank_pids)" ] || fail "ranks are still running: $(rank_pids)"
echo "PASS: $mode detected in ${elapsed} s (exit code $rc)"
grep -E "aborting|did not finish" "$log" | head -2
