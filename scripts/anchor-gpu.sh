#!/usr/bin/env bash
# aihwkit 1.2.0 CUDA on one GPU machine, in one call of at most ANCHOR_BUDGET seconds (default
# 480; issue 27, item 5). Run from the repo root with the machine's torch Python as `python` (else `python3`).
# docs/aihwkit-cuda.md gives the two-call recipe (build, then measure).
# ANCHOR_PARTS (default smoke,rows) picks the parts, in this order:
#   build   aihwkit from AIHWKIT_SDIST (default .gpu/aihwkit-1.2.0.tar.gz) with
#           scripts/build-aihwkit-cuda-device.sh into ANCHOR_DIR (default /tmp/aihwkit-cuda),
#           capped at ANCHOR_BUILD_CAP s (default 530; a build stopped there resumes in the
#           next call while the machine is warm); then packed into $OUT/anchor/ as
#           aihwkit-cuda-device.tar.xz.part-aa, -ab, ... (under 16 MiB each, so they come back:
#           copied into .gpu/ and carried, they stand in for a build on a fresh machine)
#   smoke   every device the bench uses, a few CUDA steps each, under faulthandler and a
#           native SIGSEGV backtrace (LD_PRELOAD segv_trace.so): one process, then each
#           device that did not pass alone; the last JSON line: versions and mapped BLAS
#   rows    aihwkit's seconds per epoch (benchmarks/aihwkit_rows.py): ANCHOR_ROWS groups
#           (default missing,rest: the rows the 2026-12-07 call left out first, then the rest),
#           each group in its own process capped at ANCHOR_ROW_CAP s (default 120), rows
#           appended to aihwkit.jsonl as they come; devices that failed the smoke are left out
# Writes to $OUT/anchor/ (at most 8 files come back from a call: so few files):
#   log.txt        what this call did, with elapsed seconds; the build's output; env (GPU,
#                  versions, the extension's libraries)
#   smoke.txt      the smoke test's rows; the last line names the devices that passed
#   errors.txt     stderr of the smoke, the rows runner and every anchor process
#   aihwkit.jsonl  one JSON line per (shape, device, batch) and one per group ("part", "rc";
#                  124: capped). `XBRUN_AIHWKIT_RESULTS=$OUT/anchor/aihwkit.jsonl python -m
#                  benchmarks.bench_training` later in the same call puts them beside xbrun's.
#                  Its table (each device's ratio to aihwkit's own fp epoch) goes to stdout.
#   xbrun-bench.txt  ANCHOR_XBRUN=1's bench_training output
#   aihwkit-cuda-device.tar.xz.part-*  the build part's packed build (2 files expected)
# Where aihwkit comes from, first that applies:
#   ANCHOR_TGZ     a tar.xz of aihwkit/ (+ segv_trace.so): the cross-build of
#                  scripts/build-aihwkit-cuda.sh, or this script's packed build
#   .gpu/ or carry/ here or in a parent folder (up to three levels): aihwkit-cuda-*.tar.xz, or
#                  its parts aihwkit-cuda-*.tar.xz.part-* (joined in name order)
#   ANCHOR_DIR/aihwkit  built or unpacked by an earlier call on the same (warm) machine
# ANCHOR_XBRUN=1 then runs xbrun's bench_training rows (ANCHOR_XBRUN_ARGS; default the missing
# rows' shapes and devices: the bench MLP's six, 4096-wide sgd/chopped, ResNet sgd, ttv1 and
# mixed_precision) reading aihwkit.jsonl, in the last ANCHOR_XBRUN_CAP s (default 150) of the budget.
# ANCHOR_WHERE=cpu runs it all against a CPU build (how it is checked without a GPU);
# ANCHOR_BENCH, ANCHOR_BUILD_SCRIPT and ANCHOR_SEARCH (folders searched for .gpu/ and carry/)
# name stand-ins (tests/test_aihwkit_rows.py).
set -u
T0=$(date +%s)
BUDGET=${ANCHOR_BUDGET:-480}
O=${OUT:?}/anchor
mkdir -p "$O"
A=${ANCHOR_DIR:-/tmp/aihwkit-cuda}
WHERE=${ANCHOR_WHERE:-cuda}
PARTS=${ANCHOR_PARTS:-smoke,rows}
DEV="sgd,ttv1,ttv2,chopped,agad,mixed_precision"
PY=$(command -v python || command -v python3)  # the torch Python
export PYTHON=$PY  # for the build script
XCAP=${ANCHOR_XBRUN_CAP:-150}  # seconds kept for xbrun's rows (ANCHOR_XBRUN=1)
has() { [[ ",$PARTS," == *",$1,"* ]]; }
# seconds a part may take: at most $1, and leave $2 for the parts after it
cap() { local l=$(( BUDGET - ($(date +%s) - T0) - ${2:-0} )); (( l < $1 )) && echo $(( l > 1 ? l : 1 )) || echo "$1"; }
log() { echo "[$(( $(date +%s) - T0 )) s] $*" | tee -a "$O/log.txt"; }

# a packed build carried in (ANCHOR_TGZ, .gpu/, carry/) stands in for the build part
tgz=${ANCHOR_TGZ:-}
if [ -z "$tgz" ]; then
  for d in ${ANCHOR_SEARCH:-. .. ../.. ../../..}; do
    f=$(ls "$d"/.gpu/aihwkit-cuda-*.tar.xz "$d"/carry/aihwkit-cuda-*.tar.xz 2>/dev/null | head -1)
    [ -z "$f" ] && f=$(ls "$d"/.gpu/aihwkit-cuda-*.tar.xz.part-* 2>/dev/null | head -1)
    [ -n "$f" ] && tgz=$(readlink -f "$f") && break
  done
fi
if [ -n "$tgz" ]; then
  case $tgz in *.part-*) files=$(ls "${tgz%.part-*}".part-* | sort) ;; *) files=$tgz ;; esac
  from="$(for f in $files; do echo "$f $(stat -c %s "$f")"; done)"
  if [ "$(cat "$A/.from" 2>/dev/null)" != "$from" ]; then
    # shellcheck disable=SC2086
    rm -rf "$A" && mkdir -p "$A" && cat $files | tar xJf - -C "$A" && echo "$from" > "$A/.from"
  fi
elif has build; then
  sdist=${AIHWKIT_SDIST:-.gpu/aihwkit-1.2.0.tar.gz}
  sha=$(sha256sum "$sdist" | cut -c1-64)
  if [ "$(cat "$A/.built" 2>/dev/null)" = "$sha" ]; then
    log "build: done by an earlier call on this machine"
  else
    timeout "$(cap "${ANCHOR_BUILD_CAP:-530}" 20)" bash "${ANCHOR_BUILD_SCRIPT:-scripts/build-aihwkit-cuda-device.sh}" \
      "$sdist" "$A" > "$O/build.txt.tmp" 2>&1
    rc=$?; { echo "== build"; cat "$O/build.txt.tmp"; } >> "$O/log.txt"
    log "build rc=$rc ($(tail -1 "$O/build.txt.tmp"))"; rm -f "$O/build.txt.tmp"
    if [ "$rc" = 0 ]; then
      gcc -O2 -shared -fPIC -o "$A/segv_trace.so" scripts/segv_trace.c -ldl
      rm -f "$A/.from" "$A/smoke.txt" && echo "$sha" > "$A/.built"
      # the build, back to the session in parts under the 16 MiB a file of $OUT may have
      tar cf - -C "$A" aihwkit segv_trace.so | xz -T0 -6 | split -b 15M - "$O/aihwkit-cuda-device.tar.xz.part-"
      log "packed: $(ls "$O"/aihwkit-cuda-device.tar.xz.part-* | wc -l) parts, $(cat "$O"/aihwkit-cuda-device.tar.xz.part-* | wc -c) bytes"
    fi
  fi
fi
log "aihwkit from ${tgz:-$A}"
[ -d "$A/aihwkit" ] || { echo "no aihwkit build (build part, ANCHOR_TGZ, .gpu/ or carry/)" | tee -a "$O/log.txt"; exit 1; }
[ -f "$A/segv_trace.so" ] || gcc -O2 -shared -fPIC -o "$A/segv_trace.so" scripts/segv_trace.c -ldl
AP=$A
# torch's folder, and whether tqdm is there (only aihwkit's calibration imports it)
# (torch/version.py read, not torch imported: seconds saved)
read -r TORCH TQDM VERSIONS < <("$PY" -c "
import importlib.util, os, sys
torch = os.path.dirname(importlib.util.find_spec('torch').origin)
v = {}
exec(open(os.path.join(torch, 'version.py')).read(), v)
print(torch, int(importlib.util.find_spec('tqdm') is not None),
      'python', sys.version.split()[0], 'torch', v['__version__'], 'cuda', v['cuda'])")
if [ "${TQDM:-0}" != 1 ]; then
  mkdir -p "$A/deps/tqdm" && AP=$A:$A/deps
  printf 'class tqdm:  # stand-in, not the package\n    def __init__(self, it=None, *a, **k):\n        self.it = it\n    def __iter__(self):\n        return iter(self.it)\n    def update(self, *a):\n        pass\n    def close(self):\n        pass\n' > "$A/deps/tqdm/__init__.py"
fi
APY="env PYTHONPATH=$AP:${PYTHONPATH:-} $PY"
BENCH=${ANCHOR_BENCH:-benchmarks/aihwkit_epoch_bench.py}  # another anchor script: tests
{
  nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
  echo "$VERSIONS"
  gcc --version | head -1; nproc
  so=$(ls "$A"/aihwkit/simulator/rpu_base*.so)
  ls -la "$so"
  LD_LIBRARY_PATH=$TORCH/lib:$TORCH/../nvidia/cu13/lib ldd "$so"
} >> "$O/log.txt" 2>&1
log "env done"

ok=$DEV
if has smoke && grep -q "^passed: " "$A/smoke.txt" 2>/dev/null; then
  # the same build's smoke, run by an earlier call on this (warm) machine
  cp "$A/smoke.txt" "$O/smoke.txt"
  ok=$(sed -n 's/^passed: //p' "$A/smoke.txt" | tail -1)
  log "smoke: from an earlier call (passed: $ok)"
elif has smoke && (( BUDGET - ($(date +%s) - T0) < 45 )); then
  log "smoke: too little time left (the next call runs it)"
elif has smoke; then
  smoke() { LD_PRELOAD=$A/segv_trace.so timeout "$2" $APY -X faulthandler $BENCH --smoke --where "$WHERE" --shape bench --devices "$1"; }
  echo "== smoke, one process" >> "$O/errors.txt"
  { smoke "$DEV" "$(cap 40 60)"; echo "all devices in one process: rc=$?"; } > "$O/smoke.txt" 2>> "$O/errors.txt"
  log "smoke, one process"
  passed=$("$PY" -c "
import json, sys
ok = [r['smoke'] for r in map(json.loads, (l for l in open(sys.argv[1]) if l.startswith('{'))) if r.get('ok')]
print(','.join(ok))" "$O/smoke.txt")
  for d in ${DEV//,/ }; do
    [[ ",$passed," == *",$d,"* ]] && continue
    echo "== smoke $d alone" >> "$O/errors.txt"
    { smoke "$d" "$(cap 15 60)"; echo "$d alone: rc=$?"; } >> "$O/smoke.txt" 2>> "$O/errors.txt"
    log "smoke $d alone"
  done
  ok=$("$PY" -c "
import json, sys
ok = {r['smoke'] for r in map(json.loads, (l for l in open(sys.argv[1]) if l.startswith('{'))) if r.get('ok')}
print(','.join(d for d in sys.argv[2].split(',') if d in ok))" "$O/smoke.txt" "$DEV")
  echo "passed: ${ok:-none}" >> "$O/smoke.txt"
  [ -n "$ok" ] && cp "$O/smoke.txt" "$A/smoke.txt"
fi
[ -n "$ok" ] || ok=none

R=$O/aihwkit.jsonl
if has rows; then
  # the anchor's own Python with the build on its path; the runner itself imports neither
  PYTHONPATH=$AP:${PYTHONPATH:-} "$PY" benchmarks/aihwkit_rows.py --out "$R" \
    --rows "${ANCHOR_ROWS:-missing,rest}" --only "$ok" --where "$WHERE" --bench "$BENCH" \
    --budget "$(cap 100000 $(( ${ANCHOR_XBRUN:-0} == 1 ? XCAP : 5 )))" \
    --cap "${ANCHOR_ROW_CAP:-120}" --repeats "${ANCHOR_REPEATS:-1}" --errors "$O/errors.txt" --print-table \
    2>> "$O/errors.txt"
  log "rows rc=$?"
fi

if [ "${ANCHOR_XBRUN:-0}" = 1 ]; then
  # xbrun's rows of the same shapes and devices, aihwkit's beside them (read from $R);
  # unbuffered, so a run stopped at its cap keeps the rows it printed
  # shellcheck disable=SC2086
  PYTHONUNBUFFERED=1 XBRUN_AIHWKIT_RESULTS=$R timeout "$(cap "$XCAP" 0)" "$PY" -m benchmarks.bench_training \
    ${ANCHOR_XBRUN_ARGS:---large-rows=sgd,chopped --resnet-rows=sgd,ttv1,mixed_precision} \
    > "$O/xbrun-bench.txt" 2>&1
  echo "rc=$?" >> "$O/xbrun-bench.txt"
  log "xbrun rows"
fi
exit 0
