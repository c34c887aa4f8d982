#!/usr/bin/env bash
# Capture real nvidia-smi output (idle, then busy under a PyTorch load) as fixtures.
# Usage: OUT=/some/dir bash data/captures/capture.sh
# Writes loose files into /tmp/fleetfit-cap/ and bundles them into $OUT/captures.tar
# (the device tool returns at most 8 files, so the bundle is what travels).
set -u
: "${OUT:?OUT must be set}"
D="${TMPDIR:-/tmp}/fleetfit-cap"; rm -rf "$D"
mkdir -p "$D"
LOG="$OUT/capture.log"
exec > >(tee -a "$LOG") 2>&1

Q='index,name,memory.total,memory.used,utilization.gpu,memory.reserved'
QR='name,memory.used,index,utilization.gpu,memory.total'

snap() { # $1 = prefix ("" or "busy-")
  local p="$1"
  echo "== snapshot prefix='${p}' at $(date -u +%FT%TZ)"
  nvidia-smi --query-gpu=$Q --format=csv                 > "$D/${p}nvidia-smi-query.csv"          || echo "FAIL ${p}query rc=$?"
  nvidia-smi --query-gpu=$Q --format=csv,noheader,nounits > "$D/${p}nvidia-smi-query-noheader.csv" || echo "FAIL ${p}noheader rc=$?"
  nvidia-smi --query-gpu=$QR --format=csv,nounits         > "$D/${p}nvidia-smi-query-reordered.csv" || echo "FAIL ${p}reordered rc=$?"
  nvidia-smi -q -x                                        > "$D/${p}nvidia-smi-q.xml"              || echo "FAIL ${p}xml rc=$?"
  nvidia-smi                                              > "$D/${p}nvidia-smi.txt"                || echo "FAIL ${p}plain rc=$?"
  nvidia-smi --query-gpu=index,uuid --format=csv          > "$D/${p}nvidia-smi-query-uuid.csv"     || echo "FAIL ${p}uuid rc=$?"
}

# ---- environment
{
  echo "### date -u"; date -u
  echo "### nvidia-smi --version"; nvidia-smi --version 2>&1 || nvidia-smi 2>&1 | grep -i driver
  echo "### hostname"; hostname
  echo "### uname -a"; uname -a
  echo "### python3 --version"; python3 --version 2>&1
  echo "### torch"; python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "devices", torch.cuda.device_count(), torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no cuda")' 2>&1
  echo "### nvidia-smi --query-gpu=mig.mode.current --format=csv"; nvidia-smi --query-gpu=mig.mode.current --format=csv 2>&1
} > "$D/environment.txt"
cat "$D/environment.txt"

# ---- idle
snap ""
nvidia-smi -L > "$D/nvidia-smi-L.txt" || echo "FAIL -L rc=$?"
cat "$D/nvidia-smi-query.csv"

# ---- busy: PyTorch holds ~60 GiB on GPU 0 and runs a matmul loop
READY="$OUT/torch.ready"
PYTHONUNBUFFERED=1 python3 - "$READY" > "$OUT/torch.log" 2>&1 <<'PY' &
import sys, time, torch
ready = sys.argv[1]
dev = torch.device('cuda:0')
hold = torch.empty(60 * 1024**3, dtype=torch.uint8, device=dev)
hold.fill_(1)  # touch it
a = torch.randn(8192, 8192, dtype=torch.float16, device=dev)
b = torch.randn(8192, 8192, dtype=torch.float16, device=dev)
c = a @ b
torch.cuda.synchronize()
print("allocated GiB", torch.cuda.memory_allocated(dev) / 1024**3, "reserved GiB", torch.cuda.memory_reserved(dev) / 1024**3, flush=True)
free, total = torch.cuda.mem_get_info(dev)
print("mem_get_info free MiB", free // 1024**2, "total MiB", total // 1024**2, "total bytes", total, flush=True)
open(ready, 'w').write('ok\n')
t0 = time.time(); n = 0
while time.time() - t0 < 60:
    for _ in range(20):
        c = a @ b
    torch.cuda.synchronize(); n += 20
print("matmuls", n, flush=True)
PY
PYPID=$!
echo "python pid $PYPID"

ok=0
for i in $(seq 1 60); do
  used=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i 0 2>/dev/null | tr -d ' ')
  echo "poll $i: memory.used=${used:-?} ready=$([ -f "$READY" ] && echo y || echo n)"
  if [ -f "$READY" ] && [ "${used:-0}" -gt 60000 ] 2>/dev/null; then ok=1; break; fi
  kill -0 $PYPID 2>/dev/null || { echo "python exited early"; break; }
  sleep 1
done
echo "busy ok=$ok"
sleep 3   # let utilization sampling catch the matmul loop
snap "busy-"
nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv > "$D/busy-nvidia-smi-query-compute-apps.csv" 2>&1 || echo "FAIL compute-apps rc=$?"
nvidia-smi --query-compute-apps=pid,gpu_uuid,used_memory --format=csv > "$D/busy-nvidia-smi-query-compute-apps-uuid.csv" 2>&1 || echo "FAIL compute-apps-uuid rc=$?"
ps -o pid,args -p "$PYPID" > "$D/busy-ps.txt" 2>&1 || echo "FAIL ps rc=$?"
cat "$D/busy-nvidia-smi-query.csv" "$D/busy-nvidia-smi-query-compute-apps.csv"

kill $PYPID 2>/dev/null; wait $PYPID 2>/dev/null
echo "--- torch.log"; cat "$OUT/torch.log"
rm -f "$READY"

ls -l "$D"
tar -C "$D" -cf "$OUT/captures.tar" .
echo done
