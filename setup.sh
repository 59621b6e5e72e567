#!/usr/bin/env bash
# Installs everything Chorus needs from Debian 12 packages, then builds it.
# Idempotent and quick when everything is already there.
#   ./setup.sh            install missing packages, configure and build (Release)
#   ./setup.sh --no-build only install packages
# Environment: BUILD_DIR (default build), JOBS (default: number of cores).
set -euo pipefail
cd "$(dirname "$0")"

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git
  libtorch-dev libopenblas-dev
  libopenmpi-dev openmpi-bin
  libzmq3-dev cppzmq-dev libprotobuf-dev protobuf-compiler
  libyaml-cpp-dev libgtest-dev libgmock-dev googletest
  libsndfile1-dev libsoxr-dev libsqlite3-dev libssl-dev openssl curl
  libespeak-ng-dev espeak-ng-data
  libcli11-dev libspdlog-dev nlohmann-json3-dev libcpp-httplib-dev
  python3-torch python3-torchaudio python3-numpy
  slurm-wlm munge libpmix-dev iproute2 util-linux
  clang libclang-rt-14-dev
  libboost1.81-dev libmicrohttpd-dev libsimdjson-dev
  gnuplot-nox chromium hey
  libpqxx-dev postgresql
)
# Node.js runs the voice-activity benchmark's anchor (Silero VAD on
# onnxruntime-node, bench/vad_anchor); a machine that already has node and npm
# keeps them.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then PACKAGES+=(nodejs npm); fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${#missing[@]} Debian packages: ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "setup: run as root or install sudo" >&2; exit 1; }
    SUDO=sudo
  fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "setup: all ${#PACKAGES[@]} Debian packages are installed"
fi

[ "${1:-}" = "--no-build" ] && exit 0

BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}
if [ ! -f "$BUILD_DIR/build.ninja" ]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release
fi
echo "setup: building in $BUILD_DIR with $JOBS jobs (the first build takes several minutes)"
cmake --build "$BUILD_DIR" -j "$JOBS"
# The benchmark anchors from the npm registry, at the versions in package-lock.json.
# --ignore-scripts: onnxruntime-node's install script only fetches GPU
# providers, from outside the registry.
if [ ! -d bench/vad_anchor/node_modules/onnxruntime-node ]; then
  echo "setup: installing the VAD benchmark's anchor (Silero VAD, onnxruntime-node) with npm"
  (cd bench/vad_anchor && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error) ||
    echo "setup: npm could not install bench/vad_anchor; vad_bench will run without Silero" >&2
fi
# The dashboard's front end (uPlot, bundled by esbuild) and its browser test's
# driver (playwright-core, which runs Debian's chromium), from the npm registry
# at the versions in dashboard/package-lock.json.
if [ ! -x dashboard/node_modules/.bin/esbuild ] || [ ! -d dashboard/node_modules/playwright-core ] ||
   [ dashboard/package-lock.json -nt dashboard/node_modules/.package-lock.json ]; then
  echo "setup: installing the dashboard's packages (uPlot, esbuild, playwright-core) with npm"
  (cd dashboard && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
fi
node dashboard/build.mjs "$BUILD_DIR/dashboard"
echo "setup: done. Binaries are in $BUILD_DIR/bin: chorus, chorus-worker"
