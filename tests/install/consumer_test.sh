#!/usr/bin/env bash
# cmake --install of this build into a temporary prefix, then a separate C++ project
# (tests/install/consumer) configured with find_package(seqtorch), built and run against it;
# the installed programs run from there too, presets included.
#   consumer_test.sh BUILD_DIR TORCH_DIR [PREFIX_PATH]   (PREFIX_PATH ':'-separated)
set -euo pipefail
build=$1 torch_dir=$2 extra_prefix=${3:-}
extra_prefix=${extra_prefix//:/;}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" > "$tmp/install.log"
for f in include/seqtorch/nn/recurrent.h include/seqtorch/util/file_system.h \
         lib/cmake/seqtorch/seqtorchConfig.cmake share/seqtorch/models/textgen.cfg; do
  [ -e "$tmp/prefix/$f" ] || { echo "not installed: $f" >&2; exit 1; }
done
ls "$tmp"/prefix/lib*/libseqtorch.so > /dev/null
cmake -S "$here/consumer" -B "$tmp/build" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$tmp/prefix${extra_prefix:+;$extra_prefix}" -DTorch_DIR="$torch_dir" > "$tmp/configure.log" ||
  { cat "$tmp/configure.log"; exit 1; }
cmake --build "$tmp/build" -j 2 > "$tmp/build.log" 2>&1 || { tail -30 "$tmp/build.log"; exit 1; }
"$tmp/build/consumer"
if [ -x "$tmp/prefix/bin/seqtorch-textgen" ]; then
  "$tmp/prefix/bin/seqtorch-textgen" --help > /dev/null
  "$tmp/prefix/bin/seqtorch-forecast" train --config "$tmp/prefix/share/seqtorch/models/forecast.cfg" \
    --epochs 1 --out "$tmp/run" --quiet --device cpu > "$tmp/forecast.json"
  echo "installed seqtorch-forecast: $(tail -c 120 "$tmp/forecast.json")"
fi
echo "consumer_test: find_package(seqtorch) from an installed tree works"
