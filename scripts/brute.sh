#!/usr/bin/env bash
# The long run of the brute-force property: N random tiny fleets (default 20000), every rule of
# the rules in play, each solved by HiGHS and compared with exhaustion.
set -euo pipefail
cd "$(dirname "$0")/.."
FLEETFIT_BRUTE_CASES="${1:-20000}" cargo test --test it random_tiny_instances_match_exhaustion -- --nocapture
