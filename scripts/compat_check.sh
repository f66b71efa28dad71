#!/usr/bin/env bash
# seqtorch against LibTorch 2.x on a CPU-only machine: builds the project warning-free
# (-DSEQTORCH_WERROR=ON) against Debian 13's libtorch-dev 2.6 inside a Debian 13 (trixie) root
# made with debootstrap, then runs the whole test suite there (apps and Python export checks
# included, with Debian 13's python3-torch 2.6). Needs root and Debian's package servers.
# Measured on a 2-core machine: the root 25 s, its packages 30 s (1.9 GB), build 5-6 min, suite
# 5 min. The root is kept and reused; a second run rebuilds only what changed.
#   SEQTORCH_COMPAT_ROOT    the root folder (default: build-compat/root in the repository)
#   SEQTORCH_COMPAT_MIRROR  the Debian mirror (default: http://deb.debian.org/debian)
#   SEQTORCH_JOBS           parallel compile jobs (default: the number of cores)
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
root=${SEQTORCH_COMPAT_ROOT:-$repo/build-compat/root}
mirror=${SEQTORCH_COMPAT_MIRROR:-http://deb.debian.org/debian}
jobs=${SEQTORCH_JOBS:-$(nproc)}
packages=(cmake g++ make libtorch-dev libgloo-dev libopenblas0-openmp libboost-program-options-dev
          libfmt-dev libgtest-dev nlohmann-json3-dev libstb-dev zlib1g-dev python3-torch python3-matplotlib bible-kjv binutils)

if [ "$(id -u)" -ne 0 ]; then
  echo "compat_check: needs root (debootstrap, mount, chroot)" >&2
  exit 1
fi
if ! command -v debootstrap > /dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap > /dev/null
fi

mounted=()
cleanup() {
  local i
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[i]}" 2> /dev/null || true; done
}
trap cleanup EXIT
mount_in_root() {  # mount_in_root TARGET MOUNT-ARGS...
  local target=$root$1
  shift
  mkdir -p "$target"
  mountpoint -q "$target" || { mount "$@" "$target" && mounted+=("$target"); }
}

start=$(date +%s)
if [ ! -f "$root/.seqtorch-packages" ] || [ "$(cat "$root/.seqtorch-packages")" != "${packages[*]}" ]; then
  if [ ! -x "$root/usr/bin/apt-get" ]; then
    echo "compat_check: making a Debian 13 root in $root"
    rm -rf "$root"
    mkdir -p "$root"
    debootstrap --variant=minbase trixie "$root" "$mirror" > "$root.debootstrap.log" 2>&1 ||
      { tail -20 "$root.debootstrap.log" >&2; exit 1; }
  fi
  cp /etc/resolv.conf "$root/etc/resolv.conf" 2> /dev/null || true
  mount_in_root /proc -t proc proc
  echo "compat_check: installing the build packages in the root"
  chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
    sh -c "apt-get update -qq && apt-get install -y -qq --no-install-recommends ${packages[*]}" \
    > "$root.apt.log" 2>&1 || { tail -20 "$root.apt.log" >&2; exit 1; }
  echo "${packages[*]}" > "$root/.seqtorch-packages"
fi
# Torch reads the CPU description from /proc and /sys; the tests need /dev/null and /dev/shm.
mount_in_root /proc -t proc proc
mount_in_root /sys -t sysfs sysfs
mount_in_root /dev --bind /dev
mount_in_root /src --bind "$repo"
echo "compat_check: root ready after $(($(date +%s) - start)) s; building and testing"

chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TMPDIR=/tmp \
  bash -c "set -euo pipefail
    echo \"LibTorch \$(dpkg-query -W -f='\${Version}' libtorch-dev), \$(g++ --version | head -1)\"
    cmake -S /src -B /build -DCMAKE_BUILD_TYPE=Release -DSEQTORCH_WERROR=ON > /build.configure.log 2>&1 ||
      { cat /build.configure.log; exit 1; }
    cmake --build /build -j $jobs -- -k > /build.log 2>&1 ||
      { grep -E -A12 'error|Error' /build.log | head -100; exit 1; }
    ctest --test-dir /build --output-on-failure -j \$(nproc)"
echo "compat_check: LibTorch 2.6 build and suite passed in $(($(date +%s) - start)) s"
