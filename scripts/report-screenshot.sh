#!/usr/bin/env bash
# Regenerates docs/report.png, the README's picture of the demo fleet's report: plans the demo,
# writes its report with a what-if sweep beside it, and screenshots it in headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fleetfit=(cargo run --release --quiet --)
demo=(--fleet data/demo/fleet.yaml --deployments data/demo/deployments.yaml)
"${fleetfit[@]}" plan "${demo[@]}" --out "$work/plan.json" > /dev/null
"${fleetfit[@]}" whatif "${demo[@]}" --scenarios data/demo/scenarios.yaml --format json > "$work/whatif.json"
"${fleetfit[@]}" report "${demo[@]}" --plan "$work/plan.json" --whatif "$work/whatif.json" --out "$work/report.html"
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$work/profile" --window-size=1400,1100 \
  --screenshot="$work/report.png" "file://$work/report.html" 2> /dev/null
cp "$work/report.png" docs/report.png
echo "wrote docs/report.png"
