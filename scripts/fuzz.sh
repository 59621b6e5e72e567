#!/usr/bin/env bash
# Builds and runs the libFuzzer harnesses of fuzz/ (clang, AddressSanitizer,
# UndefinedBehaviorSanitizer) in a build directory of their own.
#
#   scripts/fuzz.sh [--seconds N] [--build-dir DIR] [--build-only|--no-build] [NAME ...]
#
#   NAME          harnesses to run (default: all): audio_decode job_yaml
#                 coordinator_yaml oip_json broker_frames sbatch_template
#   --seconds N   time per harness (default 30)
#   --build-dir   default build/fuzz
#
# Each harness first runs every input of fuzz/regressions/NAME/ once (inputs
# that once crashed it: they must pass now), then fuzzes for N seconds from the
# seed corpus fuzz/corpus/NAME/ (read only; new inputs go to a scratch
# directory in the build dir). It prints how many inputs it ran. A crash, a
# sanitizer report, a leak or an input slower than 10 s fails, and the input
# is kept in the build dir (the path is printed): copy it into
# fuzz/regressions/NAME/ with the fix.
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
seconds=30 build=build/fuzz mode=all
names=()
while (( $# )); do
  case $1 in
    --seconds) seconds=${2:?}; shift 2 ;;
    --build-dir) build=${2:?}; shift 2 ;;
    --build-only) mode=build; shift ;;
    --no-build) mode=run; shift ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    -*) echo "fuzz.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) names+=("$1"); shift ;;
  esac
done
[[ $seconds =~ ^[0-9]+$ ]] && (( seconds >= 1 )) || { echo "fuzz.sh: --seconds must be a positive integer" >&2; exit 2; }
all=(audio_decode job_yaml coordinator_yaml oip_json broker_frames sbatch_template)
(( ${#names[@]} )) || names=("${all[@]}")
for n in "${names[@]}"; do
  [[ " ${all[*]} " == *" $n "* ]] || { echo "fuzz.sh: no harness '$n' (have: ${all[*]})" >&2; exit 2; }
done

if [[ $mode != run ]]; then
  command -v clang++ >/dev/null || { echo "fuzz.sh: clang++ is missing (apt install clang libclang-rt-14-dev)" >&2; exit 1; }
  if [[ ! -f $build/CMakeCache.txt ]]; then
    cmake -S "$src" -B "$build" -G Ninja -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
      -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCHORUS_FUZZ=ON -DCHORUS_WITH_SLURM_TESTS=OFF >/dev/null
  fi
  cmake --build "$build" --target chorus_fuzzers -j "${CHORUS_BUILD_JOBS:-2}"
  [[ $mode == build ]] && exit 0
fi

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:symbolize=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
status=0
for n in "${names[@]}"; do
  bin=$build/fuzz/fuzz_$n
  [[ -x $bin ]] || { echo "fuzz.sh: $bin is not built (run without --no-build)" >&2; exit 1; }
  work=$build/fuzz-work/$n
  rm -rf "$work" && mkdir -p "$work/corpus" "$work/artifacts"
  regressions=()
  if [[ -d fuzz/regressions/$n ]]; then
    while IFS= read -r -d '' f; do regressions+=("$f"); done < <(find "fuzz/regressions/$n" -type f -print0 | sort -z)
  fi
  if (( ${#regressions[@]} )); then
    if ! "$bin" -timeout=10 -rss_limit_mb=2048 "${regressions[@]}" >"$work/regressions.log" 2>&1; then
      tail -40 "$work/regressions.log"
      echo "FAIL $n: an input of fuzz/regressions/$n fails again" >&2
      status=1
      continue
    fi
  fi
  if "$bin" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
       -artifact_prefix="$work/artifacts/" "$work/corpus" "fuzz/corpus/$n" >"$work/fuzz.log" 2>&1; then
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/fuzz.log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$work/fuzz.log" | tail -1 || true)
    echo "$n: ${runs:-?} inputs in ${seconds} s, ${cov:-cov: ?}, corpus $(ls "$work/corpus" | wc -l) new + $(ls "fuzz/corpus/$n" | wc -l) seeds, ${#regressions[@]} regression input(s) pass; no crash"
  else
    tail -60 "$work/fuzz.log"
    echo "FAIL $n: the input that failed is in $work/artifacts/: $(ls "$work/artifacts")" >&2
    status=1
  fi
done
exit $status
