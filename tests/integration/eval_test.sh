#!/usr/bin/env bash
# `chorus eval` end to end on real spoken digits (FSDD): a tiny classifier is
# trained for a few steps (fixed seed) on george and tested on yweweler; then
#   model  `chorus eval MODEL_DIR` on the same test split reproduces the
#          trainer's eval.json exactly (accuracy, confusion matrix, per-class
#          P/R/F1, one-vs-rest AUC and EER), on 1 rank and on 2 (mpirun); its
#          per-class ROC AUC agrees with numpy (mid-rank Mann-Whitney, as
#          sklearn's roc_auc_score, from the per-example scores it wrote) to
#          1e-6; PNG and SVG plots are real images; the trainer drew its own;
#          bad input (no model, bad --data, unknown keys) exits 2 naming it.
#   job    through a coordinator: `chorus eval JOB_ID` (the job's model on
#          the job's own data), `chorus status JOB --plot`, and an unknown job.
#   eval_test.sh BIN_DIR SOURCE_DIR WORK_DIR MODE
# Exits 77 (skipped) when FSDD is not present. Every process it starts is
# killed by pid at exit. Loopback only.
set -u
bin=$1 source=$2 work=$3 mode=$4
fsdd=${CHORUS_FSDD:-$source/../shared/data/fsdd}
[ -d "$fsdd/recordings" ] || fsdd=/work/shared/data/fsdd
if [ ! -d "$fsdd/recordings" ]; then echo "SKIP: no FSDD (set CHORUS_FSDD)"; exit 77; fi
fsdd=$(cd "$fsdd" && pwd)
rm -rf "$work" && mkdir -p "$work"
py=/usr/bin/python3
ref=$source/tests/common/tasks/roc_reference.py
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl=self,vader
pids=()
coord=""
state=$work/state
cleanup() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null; done
  if [ -n "$coord" ]; then
    local endpoint; endpoint=$(head -1 "$state/endpoint" 2>/dev/null)
    [ -n "$endpoint" ] && for pid in $(grep -lsx --null-data "CHORUS_COORDINATOR=$endpoint" /proc/[0-9]*/environ 2>/dev/null | cut -d/ -f3); do
      kill -9 "$pid" 2>/dev/null
    done
  fi
}
trap cleanup EXIT
fail() {
  echo "FAIL ($mode): $*"
  for f in "$work"/*.log; do [ -f "$f" ] && { echo "--- $f ---"; tail -25 "$f"; }; done
  exit 1
}
# run_bounded SECONDS LOG CMD...: runs CMD in the background (killed at exit), waits at most SECONDS; returns its code.
run_bounded() {
  local limit=$1 log=$2; shift 2
  "$@" > "$log" 2>&1 &
  local pid=$!
  pids+=("$pid")
  for _ in $(seq $(( limit * 10 ))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && fail "'$*' still runs after $limit s"
  wait "$pid"
}
is_png() { [ "$(head -c 8 "$1" | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] && [ "$(stat -c %s "$1")" -gt 2000 ]; }
is_svg() { head -c 400 "$1" | grep -q "<svg" && [ "$(stat -c %s "$1")" -gt 2000 ]; }

job=$work/job.yaml
cat > "$job" <<YAML
name: eval-tiny
dataset: {kind: fsdd, root: $fsdd, train_speakers: [george], test_speakers: [yweweler]}
features: {kind: log_mel, sample_rate: 8000, window_ms: 25, hop_ms: 10, n_mels: 32, f_max: 4000, normalize: mean}
augment: {noise_probability: 0}
model: {name: tc_resnet, width: 8, dropout: 0.1}
optimizer: {kind: adam, lr: 0.01}
training: {batch_size: 32, max_steps: 30, seed: 3, threads: 2}
output: {dir: $work/run, model_repository: $work/models}
YAML

# compare TRAINER_EVAL_JSON EVAL_JSON SCORES_CSV RANKS: the figures must match exactly, AUC numpy to 1e-6.
compare() {
  "$py" - "$1" "$2" "$3" "$4" "$ref" <<'PY' || fail "eval differs from the trainer (above)"
import json, subprocess, sys
trainer, ev, scores, ranks, ref = sys.argv[1:6]
t = json.load(open(trainer))["test"]
e = json.load(open(ev))
assert e["ranks"] == int(ranks), e["ranks"]
m = e["test"]
assert m["accuracy"] == t["accuracy"], (m["accuracy"], t["accuracy"])
assert m["confusion"] == t["confusion"], "confusion matrices differ"
assert m["classes"] == t["classes"], "per-class precision / recall / F1 differ"
assert m["count"] == t["count"] == 500, m["count"]
assert abs(m["loss"] - t["loss"]) <= 1e-6 * max(1.0, abs(t["loss"])), (m["loss"], t["loss"])
for a, b in zip(m["one_vs_rest"], t["one_vs_rest"]):
    assert a["label"] == b["label"]
    assert abs(a["roc_auc"] - b["roc_auc"]) <= 1e-6 and abs(a["eer"] - b["eer"]) <= 1e-6, (a, b)
numpy = json.loads(subprocess.check_output(["/usr/bin/python3", ref, "ovr", scores]))
for c, (mine, theirs) in enumerate(zip(m["one_vs_rest"], numpy["auc"])):
    assert abs(mine["roc_auc"] - theirs) <= 1e-6, ("class", c, mine["roc_auc"], theirs)
assert abs(m["macro_roc_auc"] - numpy["macro"]) <= 1e-6, (m["macro_roc_auc"], numpy["macro"])
assert len(e["curves"]) == 10 and e["curves"][0]["fpr"][0] == 0 and e["curves"][0]["tpr"][-1] == 1
print(f"ranks {ranks}: accuracy {m['accuracy']} = trainer's, confusion equal, macro AUC {m['macro_roc_auc']:.9f} "
      f"(numpy {numpy['macro']:.9f})")
PY
}

run_bounded 180 "$work/train.log" "$bin/chorus-worker" train "$job" --no-resume || fail "training failed"
model=$work/models/eval-tiny/1
[ -f "$model/model.json" ] || fail "no exported model"
for f in training test_confusion test_roc test_det; do
  is_png "$work/run/plots/$f.png" || fail "the trainer drew no $f.png"
done

if [ "$mode" = model ]; then
  run_bounded 120 "$work/eval1.log" "$bin/chorus" eval "$model" --data "$job" --out "$work/eval1" ||
    fail "chorus eval failed"
  grep -q "test accuracy: " "$work/eval1.log" || fail "no table printed"
  grep -q "one-vs-rest ROC" "$work/eval1.log" || fail "no ROC table printed"
  compare "$work/run/eval.json" "$work/eval1/eval.json" "$work/eval1/scores.csv" 1
  for f in test_confusion test_roc test_det; do is_png "$work/eval1/$f.png" || fail "$f.png is not a PNG image"; done

  run_bounded 120 "$work/eval2.log" "$bin/chorus" eval "$model" --data "$job" --ranks 2 --format svg \
    --out "$work/eval2/figures.json" || fail "chorus eval --ranks 2 failed"
  compare "$work/run/eval.json" "$work/eval2/figures.json" "$work/eval2/figures.scores.csv" 2
  for f in test_confusion test_roc test_det; do is_svg "$work/eval2/$f.svg" || fail "$f.svg is not an SVG image"; done

  # Without --data: the job file model.json names; an inline mapping works too.
  run_bounded 60 "$work/eval3.log" "$bin/chorus" eval "$model" --no-plots --out "$work/eval3.json" ||
    fail "chorus eval without --data failed"
  run_bounded 60 "$work/eval4.log" "$bin/chorus" eval "$model" --no-plots --out "$work/eval4.json" \
    --data "{kind: fsdd, root: $fsdd, train_speakers: [george], test_speakers: [yweweler]}" ||
    fail "chorus eval with an inline dataset failed"
  "$py" -c "import json,sys; a,b,c=(json.load(open(f))['test']['confusion'] for f in sys.argv[1:]); assert a==b==c" \
    "$work/eval1/eval.json" "$work/eval3.json" "$work/eval4.json" || fail "the default and inline --data differ"

  # Bad input: exit code 2 and a message naming what is wrong.
  expect_usage() {  # expect_usage TEXT ARGS...
    local text=$1; shift
    "$bin/chorus" eval "$@" > "$work/bad.out" 2>&1; local rc=$?
    [ "$rc" -eq 2 ] || fail "chorus eval $* exited $rc, not 2: $(cat "$work/bad.out")"
    grep -qF -- "$text" "$work/bad.out" || fail "chorus eval $*: the error does not name '$text': $(cat "$work/bad.out")"
  }
  expect_usage "$work/nope" "$work/nope" --data "$job"
  expect_usage "/no/such.yaml" "$model" --data /no/such.yaml
  expect_usage "trian_speakers" "$model" --data "{kind: fsdd, root: $fsdd, trian_speakers: [george]}"
  expect_usage "train_speakers" "$model" --data "{kind: fsdd, root: $fsdd, test_speakers: [yweweler]}"
  expect_usage "cannot be evaluated on a dataset of kind segments" "$model" --data "{kind: segments, root: $fsdd}"
  expect_usage "--split" "$model" --data "$job" --split holdout
  mkdir -p "$work/empty"
  expect_usage "not an exported model" "$work/empty" --data "$job"
  echo "PASS (model): chorus eval reproduces the trainer's test figures on 1 and 2 ranks; AUC = numpy to 1e-6"
  exit 0
fi

# ---- job: through a coordinator ----
mkdir -p "$state"
cat > "$work/coordinator.yaml" <<YAML
listen: tcp://127.0.0.1:0
state_dir: $state
worker: $bin/chorus-worker
tick_ms: 100
heartbeat: {interval_ms: 500, timeout_s: 20, startup_timeout_s: 120}
serving: {enabled: false}
dashboard: {enabled: false}
launchers:
  local: {slots: 1, mpirun_args: [--oversubscribe], env: {OMPI_MCA_btl: "self,vader"}}
YAML
"$bin/chorus-coordinator" --config "$work/coordinator.yaml" > "$work/coordinator.log" 2>&1 &
coord=$!
pids+=("$coord")
for _ in $(seq 100); do [ -s "$state/endpoint" ] && break; sleep 0.1; done
[ -s "$state/endpoint" ] || fail "the coordinator did not start"
chorus() { "$bin/chorus" --log-level warn --state-dir "$state" "$@"; }
sed -i "s#output: .*#output: {model_repository: $work/job-models}#" "$job"  # the coordinator sets output.dir
id=$(chorus submit "$job" --log-every-steps 5 | sed -n 's/^submitted job \([0-9]*\).*/\1/p')
[ -n "$id" ] || fail "submit failed"
run_bounded 180 "$work/watch.log" "$bin/chorus" --state-dir "$state" watch "$id" || fail "job $id did not succeed"
run_bounded 120 "$work/eval-job.log" "$bin/chorus" --state-dir "$state" eval "$id" --out "$work/eval-job" ||
  fail "chorus eval $id failed"
run_dir=$(chorus status "$id" --output json | "$py" -c "import json,sys; print(json.load(sys.stdin)['run_dir'])")
compare "$run_dir/output/eval.json" "$work/eval-job/eval.json" "$work/eval-job/scores.csv" 1
is_png "$work/eval-job/test_roc.png" || fail "no ROC plot for job $id"

chorus status "$id" --plot --plot-dir "$work/status-plots" > "$work/status.log" 2>&1 || fail "chorus status --plot failed"
is_png "$work/status-plots/training.png" || fail "chorus status --plot drew no training.png"
is_png "$work/status-plots/test_confusion.png" || fail "chorus status --plot drew no test_confusion.png"
grep -q "wrote .*training.png" "$work/status.log" || fail "chorus status --plot did not say what it wrote"
chorus status "$id" --plot --plot-dir "$work/status-svg" --plot-format svg > /dev/null 2>&1 || fail "--plot-format svg"
is_svg "$work/status-svg/training.svg" || fail "chorus status --plot-format svg drew no SVG"

chorus eval 987654 > "$work/bad.out" 2>&1; rc=$?
[ "$rc" -eq 2 ] || fail "chorus eval of an unknown job exited $rc, not 2: $(cat "$work/bad.out")"
grep -q "987654" "$work/bad.out" || fail "the error does not name the job: $(cat "$work/bad.out")"
"$bin/chorus" --coordinator tcp://127.0.0.1:1 eval 1 > "$work/bad.out" 2>&1; rc=$?
[ "$rc" -eq 1 ] || fail "chorus eval without a coordinator exited $rc, not 1"
grep -q "no coordinator answered" "$work/bad.out" || fail "no clear error without a coordinator: $(cat "$work/bad.out")"
echo "PASS (job): chorus eval $id = the job's own test figures; status --plot drew its curves; unknown job exits 2"
