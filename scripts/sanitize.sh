#!/usr/bin/env bash
# The library, apps and tests built with AddressSanitizer and UndefinedBehaviorSanitizer (GCC, as
# the main build), then the whole ctest suite run under them; any report fails the run.
#   scripts/sanitize.sh [BUILD_DIR [CTEST_ARGS...]]      (default: build-sanitize)
# About 12 minutes to build on 2 cores, plus the suite (see the README's reliability section).
# Not part of CI (.ci/run stays under its time budget); run it before a release.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-sanitize}
shift $(( $# > 0 ? 1 : 0 ))
start=$(date +%s)
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSEQTORCH_SANITIZE=address,undefined > /dev/null
cmake --build "$build" -j "$(nproc)"
built=$(date +%s)
# Leak checking off: LibTorch keeps its registries and thread pools until exit by design, and
# LeakSanitizer reports them. Everything else (overflows, use after free, undefined behaviour)
# stops the test that hits it.
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:detect_stack_use_after_return=0
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
# install.consumer is left out: it builds another project, without the sanitizers, against the
# installed (instrumented) library, and such a program cannot load ASan's runtime late.
ctest --test-dir "$build" --output-on-failure -j "$(nproc)" --timeout 1500 -E '^install[.]consumer$' "$@" 2>&1 |
  tee "$build/ctest-sanitize.log"
status=${PIPESTATUS[0]}
echo "sanitize.sh: build $((built - start)) s, suite $(( $(date +%s) - built )) s"
exit "$status"
