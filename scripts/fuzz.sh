#!/usr/bin/env bash
# A longer fuzzing run of the input parsers: structure-aware mutations of data/ (see
# tests/it/fuzz.rs). Usage: scripts/fuzz.sh [CASES]   (default 20000)
set -euo pipefail
cd "$(dirname "$0")/.."
FLEETFIT_FUZZ_CASES="${1:-20000}" cargo test --release --test it fuzz:: -- --nocapture
