#!/usr/bin/env bash
# Sharded sweeps on a real Slurm: starts a single-node cluster (Debian's slurm-wlm and munge, as
# root, configured in a scratch folder), submits a drill of the demo fleet as the job array
# `fleetfit sweep-job --target slurm` writes, merges the parts and compares the result with the
# unsharded drill, byte for byte (a drill's JSON holds no timings). CI runs it after the tests;
# FLEETFIT (default target/debug/fleetfit) is the binary the tasks run.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "slurm-test: run as root: it starts munged, slurmctld and slurmd" >&2
  exit 1
fi
if ! command -v slurmctld > /dev/null || ! command -v munged > /dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge > /dev/null
fi
fleetfit=$(realpath "${FLEETFIT:-target/debug/fleetfit}")
work=$(mktemp -d /tmp/fleetfit-slurm.XXXXXX)
chmod 755 "$work"
host=$(hostname -s)
export SLURM_CONF="$work/slurm.conf"
cat > "$SLURM_CONF" << CONF
ClusterName=fleetfit
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
NodeName=$host CPUs=$(nproc) State=UNKNOWN
PartitionName=main Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
mkdir -p "$work/state" "$work/spool" /run/munge
started=()
cleanup() {
  for pid in "${started[@]}"; do kill "$pid" 2> /dev/null || true; done
  pkill -f "slurmd.*$work" 2> /dev/null || true
}
trap cleanup EXIT
if ! pgrep -x munged > /dev/null; then
  [ -s /etc/munge/munge.key ] || /usr/sbin/mungekey --create > /dev/null
  chown munge: /etc/munge/munge.key /run/munge
  runuser -u munge -- /usr/sbin/munged
fi
slurmctld -D -f "$SLURM_CONF" > "$work/slurmctld.out" 2>&1 &
started+=($!)
slurmd -D -f "$SLURM_CONF" > "$work/slurmd.out" 2>&1 &
started+=($!)
for _ in $(seq 60); do
  sinfo -h -o %t 2> /dev/null | grep -q idle && break
  sleep 1
done
sinfo -h -o %t | grep -q idle || { cat "$work"/*.log "$work"/*.out >&2; echo "slurm-test: the node never came up" >&2; exit 1; }

demo=(--fleet "$PWD/data/demo/fleet.yaml" --deployments "$PWD/data/demo/deployments.yaml" --fail label=rack --time-limit 10)
"$fleetfit" sweep-job --target slurm --shards 4 --cpus 1 --program "$fleetfit" --parts "$work/parts" \
  --out "$work/drill.sbatch" -- drill "${demo[@]}"
sbatch --wait --chdir="$work" "$work/drill.sbatch" > /dev/null
"$fleetfit" merge "$work"/parts/part-*.json --format json > "$work/merged.json"
"$fleetfit" drill "${demo[@]}" --format json > "$work/unsharded.json"
if ! cmp "$work/merged.json" "$work/unsharded.json"; then
  diff "$work/merged.json" "$work/unsharded.json" | head -20 >&2
  echo "slurm-test: the merged parts differ from the unsharded drill" >&2
  exit 1
fi
parts=$(find "$work/parts" -name 'part-*.json' | wc -l)
echo "slurm-test: a drill as a 4-task Slurm job array ($parts parts) merged to the unsharded result"
