#!/usr/bin/env bash
# libFuzzer on every parser of user files (fuzz/*_fuzz.cpp): CSV, UTF-8 text and vocabularies,
# parallel TSV, COCO/Karpathy JSON, INI configuration, checkpoint headers. Builds with Clang 14
# (-fsanitize=fuzzer-no-link,address,undefined for the whole library), then runs each target for
# SECONDS (default 600) from its seed corpus in fuzz/corpus/<target>, two at a time. New inputs go
# to BUILD/corpus/<target>; a crash leaves BUILD/crash-* and fails the run (make it a test).
#   scripts/fuzz.sh [SECONDS] [TARGET...]     (build folder: $SEQTORCH_FUZZ_BUILD or build-fuzz)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
shift $(( $# > 0 ? 1 : 0 ))
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(csv text tsv coco config checkpoint)
build=${SEQTORCH_FUZZ_BUILD:-build-fuzz}
root=$(pwd)
command -v clang++-14 > /dev/null || { echo "fuzz.sh: needs clang++-14 (apt-get install clang-14)" >&2; exit 1; }
CXX=clang++-14 cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSEQTORCH_FUZZ=ON \
  -DSEQTORCH_SANITIZE=address,undefined -DSEQTORCH_BUILD_TESTS=OFF > /dev/null
cmake --build "$build" -j "$(nproc)" --target "${targets[@]/%/_fuzz}"
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
status=0
run() {
  local t=$1
  mkdir -p "$build/corpus/$t"
  # -rss_limit_mb: LibTorch's own footprint is ~1 GB with ASan.
  (cd "$build" && "./bin/${t}_fuzz" -max_total_time="$seconds" -rss_limit_mb=4096 -max_len=65536 \
     -timeout=20 -print_final_stats=1 "corpus/$t" "$root/fuzz/corpus/$t" > "fuzz-$t.log" 2>&1)
}
pids=()
for t in "${targets[@]}"; do
  run "$t" & pids+=("$!:$t")
  if [ ${#pids[@]} -ge 2 ]; then
    p=${pids[0]}; wait "${p%%:*}" || { echo "fuzz.sh: ${p#*:}: a finding, see $build/fuzz-${p#*:}.log" >&2; status=1; }
    pids=("${pids[@]:1}")
  fi
done
for p in "${pids[@]}"; do
  wait "${p%%:*}" || { echo "fuzz.sh: ${p#*:}: a finding, see $build/fuzz-${p#*:}.log" >&2; status=1; }
done
for t in "${targets[@]}"; do
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$build/fuzz-$t.log" | grep -o '[0-9]*$' || echo "?")
  cov=$(grep -o 'cov: [0-9]*' "$build/fuzz-$t.log" | tail -1 || true)
  echo "$t: $runs inputs in $seconds s, $cov, corpus $(ls "$build/corpus/$t" | wc -l) files"
done
exit "$status"
