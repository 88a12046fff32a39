#!/usr/bin/env bash
# aihwkit 1.2.0 CUDA on one GPU machine, in one call of at most ANCHOR_BUDGET seconds (default
# 150; issue 27, item 5). Run from the repo root with the machine's torch Python as `python`.
# Writes small text files to $OUT/anchor/:
#   env.txt        GPU, versions, the extension's libraries (ldd)
#   smoke.txt      every device the bench uses, a few CUDA steps each, under faulthandler and a
#                  native SIGSEGV backtrace (LD_PRELOAD segv_trace.so): one process, then each
#                  device that did not pass alone; the last JSON line: versions and mapped BLAS
#   aihwkit.jsonl  aihwkit's seconds per epoch (one epoch after a warm-up epoch; ANCHOR_REPEATS
#                  for the median of more), one JSON line per (shape, device, batch):
#                  bench MLP 784-256-128-10 at batch 256 and 32, 784-4096-4096-10 at 256 and the
#                  ResNet of bench_training at 128, every device that passed the smoke test.
#                  `XBRUN_AIHWKIT_RESULTS=$OUT/anchor/aihwkit.jsonl python -m benchmarks.bench_training`
#                  (or `make bench`) later in the same call puts them beside xbrun's rows.
#   aihwkit.txt    the same as a table, with each device's ratio to aihwkit's own fp epoch
#   *.err          stderr of each part
# Where aihwkit comes from, first that applies:
#   ANCHOR_TGZ     the cross-build of scripts/build-aihwkit-cuda.sh (tar.xz: aihwkit/, segv_trace.so)
#   carry/aihwkit-cuda-*.tar.xz here or in a parent folder (up to three levels)
#   /tmp/aihwkit-cuda/aihwkit   left by an earlier call on the same (warm) machine
#   AIHWKIT_SDIST  aihwkit-1.2.0.tar.gz, built here by scripts/build-aihwkit-cuda-device.sh
#                  (minutes on 16 cores: over the budget; a call of its own)
# 150 s do not hold every row on an H100: building 784-4096-4096-10 with a compound takes
# seconds per device (88 tiles of two devices each); a second call into the same OUT with
# ANCHOR_PARTS=large,resnet (the devices that passed the first call's smoke; rows appended, a
# later row of a key wins) fills in what the first left out.
# ANCHOR_PARTS (default smoke,bench,large,resnet) picks the parts; ANCHOR_XBRUN=1 adds xbrun's
# bench_training rows (bench MLP, both batches) reading aihwkit.jsonl, budget permitting.
set -u
T0=$(date +%s)
BUDGET=${ANCHOR_BUDGET:-150}
O=${OUT:?}/anchor
mkdir -p "$O"
A=${ANCHOR_DIR:-/tmp/aihwkit-cuda}
WHERE=${ANCHOR_WHERE:-cuda}  # cpu: a dry run of this script against a CPU build
PARTS=${ANCHOR_PARTS:-smoke,bench,large,resnet}
DEV="sgd,ttv1,ttv2,chopped,agad,mixed_precision"
has() { [[ ",$PARTS," == *",$1,"* ]]; }
# seconds a part may take: at most $1, and leave $2 for the parts after it
cap() { local l=$(( BUDGET - ($(date +%s) - T0) - ${2:-0} )); (( l < $1 )) && echo $(( l > 1 ? l : 1 )) || echo "$1"; }
log() { echo "[$(( $(date +%s) - T0 )) s] $*" >> "$O/timeline.txt"; }

tgz=${ANCHOR_TGZ:-}
if [ -z "$tgz" ]; then
  for d in . .. ../.. ../../..; do
    f=$(ls "$d"/carry/aihwkit-cuda-*.tar.xz 2>/dev/null | head -1)
    [ -n "$f" ] && tgz=$(readlink -f "$f") && break
  done
fi
if [ -n "$tgz" ]; then
  if [ "$(cat "$A/.from" 2>/dev/null)" != "$tgz $(stat -c %s "$tgz")" ]; then
    rm -rf "$A" && mkdir -p "$A" && tar xJf "$tgz" -C "$A" && echo "$tgz $(stat -c %s "$tgz")" > "$A/.from"
  fi
elif [ ! -d "$A/aihwkit" ] && [ -n "${AIHWKIT_SDIST:-}" ]; then
  [ -n "${PY_INCLUDE_TGZ:-}" ] || [ ! -f "$(dirname "$AIHWKIT_SDIST")/python3.12-include.tar.xz" ] ||
    export PY_INCLUDE_TGZ=$(dirname "$AIHWKIT_SDIST")/python3.12-include.tar.xz
  timeout 540 bash scripts/build-aihwkit-cuda-device.sh "$AIHWKIT_SDIST" "$A" > "$O/build.txt" 2>&1
  echo "rc=$?" >> "$O/build.txt"
fi
log "aihwkit from ${tgz:-${AIHWKIT_SDIST:-$A}}"
[ -d "$A/aihwkit" ] || { echo "no aihwkit build (ANCHOR_TGZ, carry/aihwkit-cuda-*.tar.xz or AIHWKIT_SDIST)" | tee -a "$O/env.txt"; exit 1; }
[ -f "$A/segv_trace.so" ] || gcc -O2 -shared -fPIC -o "$A/segv_trace.so" scripts/segv_trace.c -ldl
AP=$A
# torch's folder, and whether tqdm is there (only aihwkit's calibration imports it)
read -r TORCH TQDM VERSIONS < <(python -c "
import importlib.util, os, sys, torch
print(os.path.dirname(torch.__file__), int(importlib.util.find_spec('tqdm') is not None),
      'python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda)")
if [ "${TQDM:-0}" != 1 ]; then
  mkdir -p "$A/deps/tqdm" && AP=$A:$A/deps
  printf 'class tqdm:  # stand-in, not the package\n    def __init__(self, it=None, *a, **k):\n        self.it = it\n    def __iter__(self):\n        return iter(self.it)\n    def update(self, *a):\n        pass\n    def close(self):\n        pass\n' > "$A/deps/tqdm/__init__.py"
fi
APY="env PYTHONPATH=$AP:${PYTHONPATH:-} python"
BENCH=benchmarks/aihwkit_epoch_bench.py
{
  nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
  echo "$VERSIONS"
  gcc --version | head -1; nproc
  so=$(ls "$A"/aihwkit/simulator/rpu_base*.so)
  ls -la "$so"
  LD_LIBRARY_PATH=$TORCH/lib:$TORCH/../nvidia/cu13/lib ldd "$so"
} > "$O/env.txt" 2>&1
log "env done"

ok=$DEV
if has smoke; then
  smoke() { LD_PRELOAD=$A/segv_trace.so timeout "$2" $APY -X faulthandler $BENCH --smoke --where "$WHERE" --shape bench --devices "$1"; }
  { smoke "$DEV" "$(cap 30 115)"; echo "all devices in one process: rc=$?"; } > "$O/smoke.txt" 2> "$O/smoke.err"
  log "smoke, one process"
  passed=$(python -c "
import json, sys
ok = [r['smoke'] for r in map(json.loads, (l for l in open(sys.argv[1]) if l.startswith('{'))) if r.get('ok')]
print(','.join(ok))" "$O/smoke.txt")
  for d in ${DEV//,/ }; do
    [[ ",$passed," == *",$d,"* ]] && continue
    { smoke "$d" "$(cap 15 110)"; echo "$d alone: rc=$?"; } >> "$O/smoke.txt" 2> "$O/smoke-$d.err"
    log "smoke $d alone"
  done
  ok=$(python -c "
import json, sys
ok = {r['smoke'] for r in map(json.loads, (l for l in open(sys.argv[1]) if l.startswith('{'))) if r.get('ok')}
print(','.join(d for d in sys.argv[2].split(',') if d in ok))" "$O/smoke.txt" "$DEV")
  echo "passed: ${ok:-none}" >> "$O/smoke.txt"
elif [ -f "$O/smoke.txt" ]; then  # a later call into the same OUT: the devices that passed then
  ok=$(sed -n 's/^passed: //p' "$O/smoke.txt" | tail -1); [ "$ok" = none ] && ok=
fi

R=$O/aihwkit.jsonl
touch "$R"
# the passing devices, most wanted first: a part that runs out of time keeps the rows before
order=$(python -c "
import sys
ok = set(sys.argv[1].split(','))
print(','.join(d for d in 'sgd,chopped,ttv2,agad,mixed_precision,ttv1'.split(',') if d in ok))" "$ok")
measure() {  # shape batches seconds: one timed epoch after a warm-up epoch per row
  [ -n "$order" ] || return 0
  timeout "$3" $APY $BENCH --where "$WHERE" --shape "$1" --batches "$2" --devices "$order" \
    --repeats "${ANCHOR_REPEATS:-1}" >> "$R" 2> "$O/$1.err"
  echo "{\"part\": \"$1\", \"rc\": $?}" >> "$R"
  log "$1"
}
has bench && measure bench 256,32 "$(cap 40 75)"
has large && measure large 256 "$(cap 45 30)"
has resnet && measure resnet 128 "$(cap 40 0)"
python - "$R" > "$O/aihwkit.txt" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
print(f"{'shape':8} {'batch':>5} {'device':16} {'s/epoch':>9} {'x aihwkit fp':>12}")
for r in rows:
    if "seconds" in r:
        print(f"{r['shape']:8} {r['batch']:>5} {r['device']:16} {r['seconds']:>9.4f} {r['ratio']:>11.2f}x")
    elif "error" in r:
        print(f"{r['shape']:8} {r['batch']:>5} {r['device']:16} error: {r['error'][:80]}")
    elif "part" in r and r["rc"]:
        print(f"{r['part']}: rc {r['rc']} (124: out of time; rows after the last one missing)")
EOF
log "table"

if [ "${ANCHOR_XBRUN:-0}" = 1 ]; then
  XBRUN_AIHWKIT_RESULTS=$R timeout "$(cap 120 0)" python -m benchmarks.bench_training \
    --batches 32,256 --rows "$DEV" --large-rows "" > "$O/xbrun-bench.txt" 2>&1
  echo "rc=$?" >> "$O/xbrun-bench.txt"
  log "xbrun bench rows"
fi
exit 0
