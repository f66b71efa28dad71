#!/usr/bin/env bash
# Installs what is missing, builds (scripts/setup.sh), then runs the main job. Until the task
# apps exist that is the core demonstration: the seed note's Elman RNN and an LSTM learn a
# memory task while the held-out loss falls.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
build_dir=${SEQTORCH_BUILD_DIR:-build}
"$build_dir/bin/seqtorch-core-demo"
