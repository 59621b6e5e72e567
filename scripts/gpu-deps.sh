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
# Libraries those need that most images have. gpu-check.sh uses one of these
# only when the machine lacks its soname, so a newer system copy is kept.
FALLBACK=(
  libbsd0 libmd0 libgssapi-krb5-2 libkrb5-3 libk5crypto3 libkrb5support0 libkeyutils1 libcom-err2
  libx11-6 libxcb1 libxau6 libxdmcp6 libsystemd0 libcap2 libgcrypt20 libgpg-error0 liblz4-1 libzstd1 liblzma5
  libgomp1
)
fetch() {  # dir packages...
  mkdir -p "$1" && (cd "$1" && shift && {
    apt-get download "$@" >/dev/null 2>&1 || { apt-get update -qq && apt-get download "$@"; }
  })
}
fetch "$DIR" "${PACKAGES[@]}"
fetch "$DIR/fallback" "${FALLBACK[@]}"
echo "gpu-deps: $(ls "$DIR"/*.deb | wc -l) packages and $(ls "$DIR"/fallback/*.deb | wc -l) fallbacks, $(du -sh "$DIR" | cut -f1) in $DIR"
