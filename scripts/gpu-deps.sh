#!/usr/bin/env bash
# Fetches, as Debian 12 packages, the libraries Chorus needs that a typical
# CUDA + PyTorch machine image lacks (ZeroMQ, libsndfile, soxr, SQLite's
# headers, cpp-httplib, espeak-ng), into .gpu-deps/, for scripts/gpu-check.sh
# on a GPU machine that has no network. Run it where apt reaches Debian's
# archive (the development machine); .gpu-deps/ is ignored by git and is
# copied along with the working tree (about 10 MB).
#   scripts/gpu-deps.sh [DIR]     default DIR: .gpu-deps
# A GPU machine with network and apt needs none of this: gpu-check.sh then
# names the packages to install.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-.gpu-deps}
PACKAGES=(
  # ZeroMQ and its C++ binding
  cppzmq-dev libzmq3-dev libzmq5 libsodium23 libpgm-5.3-0 libnorm1
  # audio files and resampling
  libsndfile1-dev libsndfile1 libflac12 libogg0 libvorbis0a libvorbisenc2 libopus0 libmpg123-0 libmp3lame0
  libsoxr-dev libsoxr0
  # job store headers (the library itself is on every image)
  libsqlite3-dev
  # HTTP gateway
  libcpp-httplib-dev libcpp-httplib0.11 libbrotli-dev
  # speech synthesis for the synthetic datasets, and what loading it needs
  libespeak-ng-dev libespeak-ng1 espeak-ng-data libpcaudio0 libsonic0 libpulse0 libasyncns0 libx11-xcb1
  libdbus-1-3 libasound2 libasound2-data
)
mkdir -p "$DIR"
cd "$DIR"
if ! apt-get download "${PACKAGES[@]}" >/dev/null 2>&1; then
  apt-get update -qq
  apt-get download "${PACKAGES[@]}"
fi
echo "gpu-deps: $(ls ./*.deb | wc -l) packages, $(du -sh . | cut -f1) in $DIR"
