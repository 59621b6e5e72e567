#!/usr/bin/env bash
# Builds Chorus against the machine's PyTorch (its LibTorch with CUDA) and
# NCCL, runs the gpu-labelled tests and the GPU benchmarks, and prints the
# figures. For a fresh GPU machine with CUDA, PyTorch, CMake, ninja and a
# C++ compiler, and no network: libraries the image lacks come from the
# Debian packages in .gpu-deps/ (scripts/gpu-deps.sh, run beforehand where apt
# works), unpacked under /tmp, nothing installed system-wide.
#   scripts/gpu-check.sh [--no-bench] [--no-tests]
# Environment: BUILD_DIR (default build-gpu), JOBS (default: all cores),
# PYTHON (default python3: the one with PyTorch), DEPS_ROOT (default
# /tmp/chorus-gpu-deps), REPORT (default BUILD_DIR/gpu-report.txt),
# TEST_TIMEOUT (default 300 s per test), BENCH_TIMEOUT (default 180 s each).
# Exit status: 0 when everything built and every gpu test passed (benchmark
# goals are reported, not enforced), 1 otherwise, 2 when this machine cannot
# run the check (no GPU, no CUDA PyTorch, a missing library).
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD_DIR=${BUILD_DIR:-build-gpu}
JOBS=${JOBS:-$(nproc)}
PYTHON=${PYTHON:-python3}
DEPS_ROOT=${DEPS_ROOT:-/tmp/chorus-gpu-deps}
REPORT=${REPORT:-$BUILD_DIR/gpu-report.txt}
TEST_TIMEOUT=${TEST_TIMEOUT:-300}    # seconds per gpu test
BENCH_TIMEOUT=${BENCH_TIMEOUT:-180}  # seconds per benchmark
RUN_TESTS=1 RUN_BENCH=1
for a in "$@"; do
  case $a in
    --no-bench) RUN_BENCH=0 ;;
    --no-tests) RUN_TESTS=0 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "gpu-check: unknown argument $a (see --help)" >&2; exit 2 ;;
  esac
done
START=$(date +%s)
log() { echo "[gpu-check +$(( $(date +%s) - START ))s] $*"; }
die() { echo "gpu-check: $*" >&2; exit 2; }

# 1. What this machine is.
command -v nvidia-smi >/dev/null && nvidia-smi -L || die "nvidia-smi not found: no NVIDIA driver here"
TORCH_INFO=$("$PYTHON" - <<'PY'
import os, torch
assert torch.cuda.is_available(), "PyTorch sees no CUDA GPU"
print(torch.utils.cmake_prefix_path)
print(os.path.dirname(os.path.dirname(torch.__file__)))
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}, "
      f"NCCL {'.'.join(map(str, torch.cuda.nccl.version()))}, {torch.cuda.get_device_name(0)}")
PY
) || die "$PYTHON has no PyTorch with a usable CUDA GPU"
TORCH_CMAKE=$(sed -n 1p <<<"$TORCH_INFO")
SITE=$(sed -n 2p <<<"$TORCH_INFO")
log "$(sed -n 3p <<<"$TORCH_INFO")"
log "$(${CXX:-c++} --version | head -1); $(cmake --version | head -1); nvcc: $(nvcc --version 2>/dev/null | tail -1)"

# 2. Libraries. Each needed header, and the package that has it.
unpack_deps() {
  rm -rf "$DEPS_ROOT" && mkdir -p "$DEPS_ROOT"
  for deb in .gpu-deps/*.deb; do dpkg-deb -x "$deb" "$DEPS_ROOT" || die "cannot unpack $deb"; done
  local lib=$DEPS_ROOT/usr/lib/x86_64-linux-gnu
  # pkg-config files name /usr: point them here; private requirements are for static links only.
  for pc in "$lib"/pkgconfig/*.pc "$DEPS_ROOT"/usr/share/pkgconfig/*.pc; do
    [ -f "$pc" ] || continue
    sed -i -e "s|^prefix=/usr|prefix=$DEPS_ROOT/usr|" -e "s| -L/usr/lib| -L$DEPS_ROOT/usr/lib|g" \
        -e "s| -I/usr/include| -I$DEPS_ROOT/usr/include|g" -e '/^Requires.private:/d' "$pc"
  done
  # A development link whose library is not unpacked here points at the system's copy of that soname.
  for link in "$lib"/*.so; do
    [ -L "$link" ] && [ ! -e "$link" ] || continue
    local name soname
    name=$(basename "$link")
    soname=$(ldconfig -p | awk -v n="$name." 'index($1, n) == 1 {print $NF; exit}')
    [ -n "$soname" ] && ln -sf "$soname" "$link"
  done
  # Fallbacks: only the sonames this machine lacks, so its own newer copies stay in use.
  local fallback=$DEPS_ROOT/fallback added=0
  mkdir -p "$fallback/root" "$fallback/lib"
  for deb in .gpu-deps/fallback/*.deb; do
    [ -f "$deb" ] && { dpkg-deb -x "$deb" "$fallback/root" || die "cannot unpack $deb"; }
  done
  for so in "$fallback"/root/lib/x86_64-linux-gnu/lib*.so.* "$fallback"/root/usr/lib/x86_64-linux-gnu/lib*.so.*; do
    local name
    name=$(basename "$so")
    [[ $name =~ \.so\.[0-9]+$ ]] || continue
    ldconfig -p | awk -v n="$name" '$1 == n {found = 1} END {exit !found}' && continue
    ln -sf "$(readlink -f "$so")" "$fallback/lib/$name" && added=$((added + 1))
  done
  export PKG_CONFIG_PATH="$lib/pkgconfig:$DEPS_ROOT/usr/share/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
  export LD_LIBRARY_PATH="$lib:$fallback/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export ESPEAK_DATA_PATH="$lib"
  PREFIX_PATH="$PREFIX_PATH;$DEPS_ROOT/usr"
  log "unpacked $(ls .gpu-deps/*.deb | wc -l) Debian packages from .gpu-deps into $DEPS_ROOT, and $added fallback libraries this machine lacks"
}
PREFIX_PATH="$TORCH_CMAKE"
ls .gpu-deps/*.deb >/dev/null 2>&1 && unpack_deps
missing=()
check() {  # header package
  local found=""
  for dir in "$DEPS_ROOT/usr/include" /usr/include /usr/include/x86_64-linux-gnu /usr/lib/x86_64-linux-gnu/openmpi/include; do
    [ -e "$dir/$1" ] && found=1 && break
  done
  [ -n "$found" ] || missing+=("$2")
}
check zmq.h libzmq3-dev; check zmq.hpp cppzmq-dev; check sndfile.h libsndfile1-dev; check soxr.h libsoxr-dev
check sqlite3.h libsqlite3-dev; check httplib.h libcpp-httplib-dev; check espeak-ng/speak_lib.h libespeak-ng-dev
check yaml-cpp/yaml.h libyaml-cpp-dev; check spdlog/spdlog.h libspdlog-dev; check nlohmann/json.hpp nlohmann-json3-dev
check CLI/CLI.hpp libcli11-dev; check gtest/gtest.h libgtest-dev; check gmock/gmock.h libgmock-dev
check google/protobuf/message.h libprotobuf-dev; check mpi.h libopenmpi-dev; check openssl/sha.h libssl-dev
command -v protoc >/dev/null || missing+=(protobuf-compiler)
command -v mpiexec >/dev/null || missing+=(openmpi-bin)
command -v pkg-config >/dev/null || missing+=(pkg-config)
if ((${#missing[@]})); then
  die "missing libraries: install ${missing[*]} (apt-get install ...), or run scripts/gpu-deps.sh where apt works and bring .gpu-deps/ along"
fi

# 3. Configure and build what the check runs.
NCCL_HOME=${NCCL_HOME:-$SITE/nvidia/nccl}  # the NCCL PyTorch itself loads
export NCCL_HOME
log "configuring $BUILD_DIR (NCCL from $NCCL_HOME)"
mkdir -p "$BUILD_DIR"
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$PREFIX_PATH" \
      -DCHORUS_WITH_NCCL=ON -DCHORUS_WITH_SLURM_TESTS=OFF -DCMAKE_POLICY_VERSION_MINIMUM=3.5 \
      >"$BUILD_DIR/configure.log" 2>&1 || { tail -40 "$BUILD_DIR/configure.log"; exit 1; }
grep -E "Chorus: NCCL" "$BUILD_DIR/configure.log"
TARGETS=(chorus-worker chorus-coordinator cuda_test nccl_comm_test gpu_train_bench serving_bench)
log "building ${TARGETS[*]} with $JOBS jobs"
mkdir -p "$(dirname "$REPORT")"
: >"$REPORT"
status=0
# Keep going past a failed object: whatever did build is still run below.
if ! cmake --build "$BUILD_DIR" -j "$JOBS" --target "${TARGETS[@]}" -- -k 0 >"$BUILD_DIR/build.log" 2>&1; then
  status=1
  { echo "BUILD FAILED:"; grep -E -A8 "^FAILED:" "$BUILD_DIR/build.log" | head -150; tail -5 "$BUILD_DIR/build.log"; } |
    tee -a "$REPORT"
fi
log "built: $(cd "$BUILD_DIR" && ls bin/chorus-worker bin/chorus-coordinator tests/worker/cuda_test \
  tests/common/comm/nccl_comm_test bench/gpu_train_bench bench/serving_bench 2>/dev/null | xargs)"
ldd "$BUILD_DIR/bin/chorus-worker" 2>/dev/null | grep "not found" | tee -a "$REPORT"

# 4. The gpu tests (two at a time: they share the GPU, which has room for both).
if ((RUN_TESTS)); then
  log "gpu tests"
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
  ctest --test-dir "$BUILD_DIR" -L gpu -j 2 -V --timeout "$TEST_TIMEOUT" >"$BUILD_DIR/gpu-tests.log" 2>&1
  [ $? -eq 0 ] || status=1
  grep -E "^[0-9]+: \[ +(OK|FAILED|SKIPPED) +\]|^[0-9]+: \[ [a-z0-9]+ \]|Failure|Expected|Which is|tests passed|tests failed|\(Failed\)|Timeout|Passed +[0-9.]+ sec|Failed +[0-9.]+ sec" \
    "$BUILD_DIR/gpu-tests.log" | tee -a "$REPORT" | tail -80
fi

# 5. The benchmarks, side by side with their anchors.
if ((RUN_BENCH)); then
  log "training step against PyTorch eager"
  CHORUS_PYTHON=$PYTHON CHORUS_SOURCE_DIR=$ROOT timeout "$BENCH_TIMEOUT" "$BUILD_DIR/bench/gpu_train_bench" 2>&1 |
    tee -a "$REPORT"
  log "serving on the GPU against the raw batched forward"
  (cd "$BUILD_DIR" && timeout "$BENCH_TIMEOUT" bench/serving_bench --device cuda --sections 1,2 --max-batch 64 \
     --seconds 4 --rounds 3) 2>&1 |
    tee -a "$REPORT"
fi
log "done (report in $REPORT)"
exit $status
