#!/bin/sh
# fleetfit nightly: read the cluster, re-plan with few moves, write the change set.
#
# Reads the nodes and pods of the cluster kubectl points at, and writes into $FLEETFIT_WORK:
# fleet.yaml, current.json, fleet-now.yaml, plan.json and changes/ (apply.sh and its manifests).
# Nothing is applied: a person, or a later job, runs changes/apply.sh.
#
#   FLEETFIT_DEPLOYMENTS  the deployments file (default /etc/fleetfit/deployments.yaml)
#   FLEETFIT_WORK         the output folder (default /var/lib/fleetfit/nightly)
#   FLEETFIT_TIME_LIMIT   seconds for the re-plan (default 300)
#   FLEETFIT_SKIP_KUBECTL set to 1 when nodes.json and pods.json are already in the folder
set -eu
deployments="${FLEETFIT_DEPLOYMENTS:-/etc/fleetfit/deployments.yaml}"
work="${FLEETFIT_WORK:-/var/lib/fleetfit/nightly}"
mkdir -p "$work"
if [ "${FLEETFIT_SKIP_KUBECTL:-0}" != 1 ]; then
    kubectl get nodes -o json > "$work/nodes.json.tmp"
    kubectl get pods --all-namespaces -o json > "$work/pods.json.tmp"
    mv "$work/nodes.json.tmp" "$work/nodes.json"
    mv "$work/pods.json.tmp" "$work/pods.json"
fi
rm -rf "$work/changes"
fleetfit fleet import "$work/nodes.json" > "$work/fleet.yaml.tmp"
mv "$work/fleet.yaml.tmp" "$work/fleet.yaml"
fleetfit current import --fleet "$work/fleet.yaml" --deployments "$deployments" \
    --pods "$work/pods.json" --out "$work/current.json" --fleet-out "$work/fleet-now.yaml"
fleetfit replan --fleet "$work/fleet-now.yaml" --deployments "$deployments" \
    --current "$work/current.json" --out "$work/plan.json" --time-limit "${FLEETFIT_TIME_LIMIT:-300}"
fleetfit emit --target k8s --fleet "$work/fleet-now.yaml" --deployments "$deployments" \
    --plan "$work/plan.json" --current "$work/current.json" --out "$work/changes"
