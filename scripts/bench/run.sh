#!/usr/bin/env bash
# The benchmark of issue 6, in one command: builds (scripts/setup.sh), then runs every workload
# with seqtorch and with PyTorch-Python, interleaved, at 1 thread and at all cores.
#   scripts/bench/run.sh [SECONDS_PER_RUN] [WORKLOAD...]
set -euo pipefail
cd "$(dirname "$0")/../.."
scripts/setup.sh > /dev/null
exec /usr/bin/python3 scripts/bench/run.py "${SEQTORCH_BUILD_DIR:-build}/bin/seqtorch-bench" "$@"
