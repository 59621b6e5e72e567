#!/usr/bin/env bash
# Compile-checks the CUDA build where there is no GPU and Debian's LibTorch
# (CPU-only, 1.13) is all that is installed: configures Chorus against the
# headers and CMake files of a PyTorch CUDA wheel's LibTorch, with empty
# stand-ins for its shared libraries, this machine's CUDA toolkit and NCCL
# (CHORUS_WITH_NCCL=ON), and compiles every object file: the NCCL
# communicator, the CUDA paths of the trainer and the served model, the gpu
# tests and benchmarks. Linking needs the real libraries: that, and running,
# is scripts/gpu-check.sh's job on a GPU machine.
#   scripts/cuda-compile-check.sh [HEADERS.tar.xz]
# HEADERS.tar.xz holds torch/include and torch/share/cmake of a CUDA wheel;
# make one on a GPU machine with
#   tar cJf libtorch-headers.tar.xz -C "$(python3 -c 'import os, torch; print(os.path.dirname(os.path.dirname(torch.__file__)))')" torch/include torch/share/cmake
# Default: ../shared/toolchains/libtorch-2.11.0-cu130-headers.tar.xz.
# Environment: BUILD_DIR (default build-cuda-check), JOBS (default: all cores).
# Takes about 25 minutes on two cores. Exit status 0 when every object compiled.
set -uo pipefail
cd "$(dirname "$0")/.."
TARBALL=${1:-../shared/toolchains/libtorch-2.11.0-cu130-headers.tar.xz}
BUILD_DIR=${BUILD_DIR:-build-cuda-check}
JOBS=${JOBS:-$(nproc)}
[ -f "$TARBALL" ] || { echo "cuda-compile-check: no LibTorch headers at $TARBALL (see --help)" >&2; exit 2; }
command -v nvcc >/dev/null || { echo "cuda-compile-check: no CUDA toolkit (nvcc) on the PATH" >&2; exit 2; }
LIBTORCH=$BUILD_DIR/libtorch
if [ ! -d "$LIBTORCH/torch/include" ]; then
  mkdir -p "$LIBTORCH" && tar xJf "$TARBALL" -C "$LIBTORCH" || exit 2
fi
# Every library LibTorch's CMake files import, as an empty shared object.
mkdir -p "$LIBTORCH/torch/lib"
for lib in $(grep -oh '_IMPORT_PREFIX}/lib/[^"]*' "$LIBTORCH"/torch/share/cmake/Caffe2/Caffe2Targets-*.cmake | sed 's|.*/lib/||' | sort -u) \
           libshm.so libtorch_global_deps.so libcaffe2_nvrtc.so libtorch_cuda_linalg.so libtorch_python.so; do
  [ -f "$LIBTORCH/torch/lib/$lib" ] || cc -shared -o "$LIBTORCH/torch/lib/$lib" -x c /dev/null
done
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCHORUS_WITH_NCCL=ON -DCHORUS_WITH_SLURM_TESTS=OFF \
      -DCMAKE_PREFIX_PATH="$(pwd)/$LIBTORCH/torch/share/cmake" >"$BUILD_DIR/configure.log" 2>&1 ||
  { tail -30 "$BUILD_DIR/configure.log"; exit 1; }
grep "Chorus:" "$BUILD_DIR/configure.log"
objects=$(ninja -C "$BUILD_DIR" -t targets all | grep -o '^[^:]*\.o' | grep -v cmake_pch | sort -u)
echo "cuda-compile-check: compiling $(wc -w <<<"$objects") object files against $(basename "$TARBALL")"
ninja -C "$BUILD_DIR" -k 0 -j "$JOBS" $objects >"$BUILD_DIR/compile.log" 2>&1
failed=$(grep -c '^FAILED:' "$BUILD_DIR/compile.log")
if [ "$failed" -ne 0 ]; then
  grep -A6 '^FAILED:' "$BUILD_DIR/compile.log" | head -80
  echo "cuda-compile-check: $failed object file(s) did not compile (log: $BUILD_DIR/compile.log)"
  exit 1
fi
echo "cuda-compile-check: every object file compiled against the CUDA LibTorch"
