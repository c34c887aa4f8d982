#!/usr/bin/env bash
# Capture what `fleetfit current import` reads on bare metal while processes that look like LLM
# serving engines hold real GPU memory.
#
# Usage: bash scripts/capture-running.sh OUTDIR
#
# Starts, from a temporary folder, stand-in engines that allocate real device memory through the
# CUDA driver API (python3 + ctypes on libcuda.so.1; no PyTorch, no vLLM, no SGLang needed):
#   vllm serve meta-llama/Llama-3.1-8B ... --tensor-parallel-size 2   (holds nothing itself; one
#       child per TP rank, argv[0] `VLLM::Worker_TP<rank>`, ~20 GiB each, rank i on GPU i)
#   python3 -m sglang.launch_server --model-path Qwen/Qwen3-0.6B ...   (~6 GiB on GPU 0)
#   python3 train.py --epochs 3                                        (~4 GiB on GPU 1)
# With a single GPU every allocation lands on GPU 0 (device index modulo the GPU count).
# Once nvidia-smi shows the allocations (60 s at most) it writes into OUTDIR:
#   gpus.csv, apps.csv, ps.txt, ps-pid-args.txt, environment.txt
# and on exit stops every process it started.
# FAKE_GPU_DRY=1 skips the CUDA calls (to try the process tree on a machine without a GPU).
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 OUTDIR" >&2
  exit 2
fi
OUT_DIR=$1
mkdir -p "$OUT_DIR"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/fleetfit-running.XXXXXX")
STARTED=()

cleanup() {
  local pid kids=()
  for pid in "${STARTED[@]}"; do
    # the vLLM stand-in's workers first (they also die with their parent: PR_SET_PDEATHSIG)
    mapfile -t kids < <(ps -o pid= --ppid "$pid" 2>/dev/null | tr -d ' ' || true)
    if [ ${#kids[@]} -gt 0 ]; then
      kill "${kids[@]}" 2>/dev/null || true
    fi
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${STARTED[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$WORK/bin" "$WORK/sglang" "$WORK/ready"
export FAKE_READY_DIR="$WORK/ready"

# ---- the shared helper: hold GIB of device memory on GPU (index modulo the GPU count), forever
cat >"$WORK/fakegpu.py" <<'PY'
import ctypes, os, sys, time

def _die_with_parent():
    try:
        ctypes.CDLL(None).prctl(1, 15)  # PR_SET_PDEATHSIG, SIGTERM
    except Exception:
        pass

def hold(gpu, gib, tag):
    _die_with_parent()
    size = int(gib * (1 << 30))
    ordinal = gpu
    if os.environ.get("FAKE_GPU_DRY") != "1":
        cuda = ctypes.CDLL("libcuda.so.1")

        def ck(r, what):
            if r != 0:
                s = ctypes.c_char_p()
                cuda.cuGetErrorString(r, ctypes.byref(s))
                raise SystemExit(f"{tag}: {what} failed: CUresult {r} {s.value}")

        cuda.cuDeviceGet.argtypes = [ctypes.POINTER(ctypes.c_int), ctypes.c_int]
        cuda.cuMemAlloc_v2.argtypes = [ctypes.POINTER(ctypes.c_uint64), ctypes.c_size_t]
        cuda.cuMemsetD8_v2.argtypes = [ctypes.c_uint64, ctypes.c_ubyte, ctypes.c_size_t]
        ck(cuda.cuInit(0), "cuInit")
        n = ctypes.c_int()
        ck(cuda.cuDeviceGetCount(ctypes.byref(n)), "cuDeviceGetCount")
        ordinal = gpu % n.value
        dev = ctypes.c_int()
        ck(cuda.cuDeviceGet(ctypes.byref(dev), ordinal), "cuDeviceGet")
        ctx = ctypes.c_void_p()
        r = -1
        if hasattr(cuda, "cuCtxCreate_v2"):
            cuda.cuCtxCreate_v2.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_uint, ctypes.c_int]
            r = cuda.cuCtxCreate_v2(ctypes.byref(ctx), 0, dev)
        if r != 0:  # fall back to the primary context
            print(f"{tag}: cuCtxCreate_v2 gave {r}; using the primary context", flush=True)
            ck(cuda.cuDevicePrimaryCtxRetain(ctypes.byref(ctx), dev), "cuDevicePrimaryCtxRetain")
            ck(cuda.cuCtxSetCurrent(ctx), "cuCtxSetCurrent")
        ptr = ctypes.c_uint64()
        ck(cuda.cuMemAlloc_v2(ctypes.byref(ptr), size), "cuMemAlloc_v2")
        ck(cuda.cuMemsetD8_v2(ptr.value, 1, size), "cuMemsetD8_v2")
        ck(cuda.cuCtxSynchronize(), "cuCtxSynchronize")
    with open(os.path.join(os.environ["FAKE_READY_DIR"], tag), "w") as f:
        f.write(f"pid={os.getpid()} gpu={ordinal} bytes={size}\n")
    print(f"{tag}: pid {os.getpid()} holds {gib} GiB on GPU {ordinal}", flush=True)
    while True:
        time.sleep(3600)
PY

# ---- vllm: the API process holds nothing; one worker per rank, argv[0] VLLM::Worker_TP<rank>
cat >"$WORK/bin/vllm" <<'PY'
#!/usr/bin/env python3
import argparse, os, signal, subprocess, sys, time

ap = argparse.ArgumentParser(prog="vllm")
ap.add_argument("cmd")
ap.add_argument("model")
ap.add_argument("--served-model-name")
ap.add_argument("--port", type=int, default=8000)
ap.add_argument("--tensor-parallel-size", type=int, default=1)
ap.add_argument("--pipeline-parallel-size", type=int, default=1)
ap.add_argument("--gpu-memory-utilization", type=float, default=0.9)
ap.add_argument("--max-model-len", type=int)
a = ap.parse_args()
here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
workers = []

def stop(*_):
    for p in workers:
        p.terminate()
    for p in workers:
        p.wait()
    sys.exit(0)

signal.signal(signal.SIGTERM, stop)
for rank in range(a.tensor_parallel_size * a.pipeline_parallel_size):
    code = (f"import sys; sys.path.insert(0, {here!r}); import fakegpu; "
            f"fakegpu.hold({rank}, 20, 'vllm-tp{rank}')\n")
    # argv is only the title (as setproctitle leaves it in real vLLM); the code comes on stdin
    p = subprocess.Popen([f"VLLM::Worker_TP{rank}"], executable=sys.executable,
                         stdin=subprocess.PIPE)
    p.stdin.write(code.encode())
    p.stdin.close()
    workers.append(p)
print(f"vllm: pid {os.getpid()} serving {a.model} as {a.served_model_name}, workers "
      + " ".join(str(p.pid) for p in workers), flush=True)
while True:
    time.sleep(3600)
PY
chmod +x "$WORK/bin/vllm"

# ---- sglang: one process that holds its own memory
touch "$WORK/sglang/__init__.py"
cat >"$WORK/sglang/launch_server.py" <<'PY'
import argparse, fakegpu
ap = argparse.ArgumentParser()
ap.add_argument("--model-path")
ap.add_argument("--served-model-name")
ap.add_argument("--tp-size", type=int, default=1)
ap.add_argument("--mem-fraction-static", type=float)
ap.add_argument("--port", type=int)
ap.parse_args()
fakegpu.hold(0, 6, "sglang")
PY

# ---- a foreign process on GPU 1
cat >"$WORK/train.py" <<'PY'
import argparse, fakegpu
ap = argparse.ArgumentParser()
ap.add_argument("--epochs", type=int)
ap.parse_args()
fakegpu.hold(1, 4, "train")
PY

NGPU=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU ' || true)
echo "GPUs seen by nvidia-smi -L: $NGPU"

# Tensor parallel 2 where there are two GPUs, else 1 (a TP 2 on one GPU is not a replica).
TP=1
if [ "$NGPU" -ge 2 ]; then TP=2; fi
export PATH="$WORK/bin:$PATH"
(cd "$WORK" && exec vllm serve meta-llama/Llama-3.1-8B --served-model-name assistant-8b --port 8000 \
  --tensor-parallel-size "$TP" --pipeline-parallel-size 1 --gpu-memory-utilization 0.45 \
  --max-model-len 8192) >"$WORK/vllm.log" 2>&1 &
VLLM_PID=$!
STARTED+=("$VLLM_PID")
(cd "$WORK" && exec python3 -m sglang.launch_server --model-path Qwen/Qwen3-0.6B \
  --served-model-name embed-small --tp-size 1 --mem-fraction-static 0.1 --port 30000) \
  >"$WORK/sglang.log" 2>&1 &
SGLANG_PID=$!
STARTED+=("$SGLANG_PID")
(cd "$WORK" && exec python3 train.py --epochs 3) >"$WORK/train.log" 2>&1 &
TRAIN_PID=$!
STARTED+=("$TRAIN_PID")

# ---- wait: every stand-in reports its allocation done (one per vLLM rank, SGLang, train.py), and
# nvidia-smi lists as many compute apps (once all are ready, give nvidia-smi 10 s more at most
# to list them; 60 s in all)
want=$((TP + 2)) ready=0 apps=0 t_ready=""
for i in $(seq 1 60); do
  ready=$(find "$WORK/ready" -type f | wc -l)
  apps=$(nvidia-smi --query-compute-apps=pid --format=csv,noheader 2>/dev/null | grep -c '[0-9]' || true)
  used=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader 2>/dev/null | tr '\n' ' ' || true)
  echo "poll $i: ready=$ready/$want compute-apps=$apps memory.used=[ $used]"
  if [ "$ready" -ge "$want" ]; then
    [ -n "$t_ready" ] || t_ready=$i
    if [ "$apps" -ge "$want" ] || [ $((i - t_ready)) -ge 10 ]; then break; fi
  fi
  dead=0
  for pid in "${STARTED[@]}"; do kill -0 "$pid" 2>/dev/null || dead=1; done
  if [ "$dead" -eq 1 ]; then echo "a stand-in exited early"; break; fi
  sleep 1
done
sleep 2 # let nvidia-smi's per-process accounting settle

# ---- the capture
nvidia-smi --query-gpu=index,uuid,name,memory.total,memory.reserved,memory.used --format=csv \
  >"$OUT_DIR/gpus.csv" 2>&1 || echo "gpus.csv: nvidia-smi failed rc=$?"
nvidia-smi --query-compute-apps=pid,gpu_uuid,used_memory --format=csv \
  >"$OUT_DIR/apps.csv" 2>&1 || echo "apps.csv: nvidia-smi failed rc=$?"
ps -eo pid,ppid,args >"$OUT_DIR/ps.txt"
ps -eo pid,args >"$OUT_DIR/ps-pid-args.txt"

# ---- environment.txt: versions, what was started, and whether nvidia-smi's PIDs are ps's PIDs
{
  echo "### date -u"; date -u
  echo "### hostname"; hostname
  echo "### uname -r"; uname -r
  echo "### nvidia-smi --query-gpu=driver_version --format=csv,noheader"
  nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>&1 || true
  echo "### nvidia-smi --version"; nvidia-smi --version 2>&1 || true
  echo "### python3"; command -v python3; python3 --version 2>&1
  echo "### GPUs (nvidia-smi -L): $NGPU"
  if [ "$NGPU" -lt 2 ]; then
    echo "single GPU: every stand-in (both vLLM ranks, sglang, train.py) allocated on GPU 0"
  fi
  echo "### started by capture-running.sh (pid: what)"
  echo "$VLLM_PID: vllm serve (stand-in API process, no GPU memory)"
  ps -o pid=,args= --ppid "$VLLM_PID" 2>/dev/null | sed 's/^ *//; s/$/ (stand-in vLLM worker, child of the vllm process)/' || true
  echo "$SGLANG_PID: python3 -m sglang.launch_server (stand-in)"
  echo "$TRAIN_PID: python3 train.py (foreign process)"
  echo "### stand-ins' own reports (ready files)"
  for f in "$WORK"/ready/*; do [ -e "$f" ] && echo "$(basename "$f"): $(cat "$f")"; done
  echo "### waited: polls=$i ready=$ready/$want compute-apps=$apps"
  echo "### do the PIDs in apps.csv appear in ps.txt?"
  match=0 miss=0
  while IFS=, read -r pid _; do
    pid=$(echo "$pid" | tr -d ' ')
    case "$pid" in '' | *[!0-9]*) continue ;; esac
    line=$(awk -v p="$pid" '$1 == p' "$OUT_DIR/ps.txt")
    if [ -n "$line" ]; then
      match=$((match + 1)); echo "found   $pid -> $line"
    else
      miss=$((miss + 1)); echo "MISSING $pid"
    fi
  done <"$OUT_DIR/apps.csv"
  echo "result: $match found, $miss missing, of the $apps rows nvidia-smi listed"
  if [ "$miss" -gt 0 ] || [ "$match" -eq 0 ]; then
    echo "### investigation (PIDs did not match or apps.csv is empty)"
    echo "id -u: $(id -u)"
    echo "pid namespace: $(readlink /proc/self/ns/pid 2>&1)"
    echo "pid 1: $(tr '\0' ' ' </proc/1/cmdline 2>&1)"
    grep -H NSpid "/proc/$SGLANG_PID/status" 2>&1 || true
    [ -e /.dockerenv ] && echo "/.dockerenv exists"
    echo "/proc/1/cgroup:"; cat /proc/1/cgroup 2>&1 || true
    if [ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1; then
      echo "sudo nvidia-smi --query-compute-apps=pid,gpu_uuid,used_memory --format=csv:"
      sudo -n nvidia-smi --query-compute-apps=pid,gpu_uuid,used_memory --format=csv 2>&1 || true
    else
      echo "already root (or no sudo): no sudo retry"
    fi
  fi
  echo "### nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv"
  nvidia-smi --query-compute-apps=pid,process_name,used_memory --format=csv 2>&1 || true
  echo "### nvidia-smi (plain, full)"
  nvidia-smi 2>&1 || true
  echo "### stand-in logs"
  for f in vllm sglang train; do echo "--- $f.log"; cat "$WORK/$f.log"; done
} >"$OUT_DIR/environment.txt"

cat "$OUT_DIR/gpus.csv" "$OUT_DIR/apps.csv"
grep -E 'vllm|VLLM|sglang|train\.py' "$OUT_DIR/ps.txt" || true
sed -n '/### do the PIDs/,/^result:/p' "$OUT_DIR/environment.txt"
