#!/usr/bin/env bash
# Runs the whole test suite: sets up and builds first (quick when up to date),
# then every ctest test except those labelled gpu.
#   scripts/test.sh [extra ctest arguments, e.g. -L unit or -R Sampler]
set -euo pipefail
cd "$(dirname "$0")/.."
./setup.sh
BUILD_DIR=${BUILD_DIR:-build}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
ctest --test-dir "$BUILD_DIR" --output-on-failure -LE gpu -j 2 "$@"
