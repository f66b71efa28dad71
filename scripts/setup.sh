#!/usr/bin/env bash
# Installs what is missing (Debian 12, as root), then configures and builds Release into build/.
# Idempotent: a second run installs nothing and rebuilds only what changed.
#   SEQTORCH_BUILD_DIR   build folder (default: build)
#   SEQTORCH_CMAKE_ARGS  extra CMake arguments, e.g. -DCMAKE_PREFIX_PATH=/opt/libtorch
#   SEQTORCH_JOBS        parallel compile jobs (default: number of cores, at most 2 per 8 GiB)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(cmake g++ make libtorch-dev libgloo-dev libopenblas0-openmp
          libboost-program-options-dev libfmt-dev libgtest-dev nlohmann-json3-dev libstb-dev zlib1g-dev python3-torch python3-matplotlib bible-kjv)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: missing packages: ${missing[*]}; run as root or install them with apt-get" >&2
    exit 1
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

build_dir=${SEQTORCH_BUILD_DIR:-build}
jobs=${SEQTORCH_JOBS:-$(nproc)}
# shellcheck disable=SC2086
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release ${SEQTORCH_CMAKE_ARGS:-}
cmake --build "$build_dir" -j "$jobs"
