#!/usr/bin/env bash
# aihwkit 1.2.0 CUDA beside xbrun on one GPU machine, in one call (issue 27, item 5).
# Run from the repo root with xbrun importable (PYTHONPATH) and the machine's torch Python as
# `python`. Writes small text files to $OUT/anchor/.
# Where aihwkit comes from, first that applies:
#   ANCHOR_TGZ    the cross-build of scripts/build-aihwkit-cuda.sh (tar.xz: aihwkit/, segv_trace.so)
#   /tmp/aihwkit-cuda/aihwkit   left by an earlier call on the same (warm) machine
#   AIHWKIT_SDIST aihwkit-1.2.0.tar.gz, built here by scripts/build-aihwkit-cuda-device.sh
#                 (16 cores: a few minutes; against this machine's libopenblas.so.0)
# ANCHOR_PARTS picks the parts (default all: smoke,mlp,large,resnet); ANCHOR_RESNET_ROWS the
# xbrun ResNet rows.
#   smoke  every aihwkit device the bench uses on CUDA, under faulthandler and a native
#          SIGSEGV backtrace (LD_PRELOAD segv_trace.so); one process, then one per device if
#          it died; which BLAS the process mapped
#   mlp    bench MLP 784-256-128-10, batch 32 and 256, every device: xbrun and aihwkit
#   large  784-4096-4096-10 batch 256, every device, accumulate=sample and =batch vs aihwkit
#   resnet model=resnet (depth 20) batch 128: xbrun rows vs aihwkit's convert_to_analog
set -u
O=${OUT:?}/anchor
mkdir -p "$O"
A=/tmp/aihwkit-cuda
PARTS=${ANCHOR_PARTS:-smoke,mlp,large,resnet}
DEV="sgd,ttv1,ttv2,chopped,agad,mixed_precision"
has() { [[ ",$PARTS," == *",$1,"* ]]; }
if [ -n "${ANCHOR_TGZ:-}" ]; then
  rm -rf "$A" && mkdir -p "$A" && tar xJf "$ANCHOR_TGZ" -C "$A"
elif [ ! -d "$A/aihwkit" ]; then
  [ -n "${PY_INCLUDE_TGZ:-}" ] || [ ! -f "$(dirname "${AIHWKIT_SDIST:?}")/python3.12-include.tar.xz" ] ||
    export PY_INCLUDE_TGZ=$(dirname "$AIHWKIT_SDIST")/python3.12-include.tar.xz
  timeout 540 bash scripts/build-aihwkit-cuda-device.sh "${AIHWKIT_SDIST:?}" "$A" > "$O/build.txt" 2>&1
  echo "rc=$?" >> "$O/build.txt"
fi
[ -f "$A/segv_trace.so" ] || gcc -O2 -shared -fPIC -o "$A/segv_trace.so" scripts/segv_trace.c -ldl
[ -d "$A/aihwkit" ] || { echo "no aihwkit build" >> "$O/env.txt"; exit 1; }
AP=$A
if ! python -c "import tqdm" 2>/dev/null; then  # aihwkit imports it (calibration progress bars)
  mkdir -p "$A/deps/tqdm" && AP=$A:$A/deps
  printf 'class tqdm:  # stand-in, not the package\n    def __init__(self, it=None, *a, **k):\n        self.it = it\n    def __iter__(self):\n        return iter(self.it)\n    def update(self, *a):\n        pass\n    def close(self):\n        pass\n' > "$A/deps/tqdm/__init__.py"
fi
export XBRUN_AIHWKIT_PYTHON=$(command -v python) XBRUN_AIHWKIT_PATH=$AP
{
  nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
  python -c "import sys, torch; print(sys.version.split()[0], torch.__version__, torch.version.cuda)"
  PYTHONPATH=$AP:${PYTHONPATH:-} python -c "import aihwkit; print('aihwkit', aihwkit.__version__)"
  ldd "$A"/aihwkit/simulator/rpu_base*.so | grep -E "blas|torch|cu|gomp|not found"
} > "$O/env.txt" 2>&1

if has smoke; then
  smoke() { PYTHONPATH=$AP:${PYTHONPATH:-} LD_PRELOAD=$A/segv_trace.so timeout 120 \
    python -X faulthandler benchmarks/aihwkit_epoch_bench.py --smoke --shape bench --devices "$1"; }
  { smoke "$DEV"; rc=$?; echo "all devices in one process: rc=$rc"
    if [ $rc -ne 0 ]; then
      for d in ${DEV//,/ }; do smoke "$d"; echo "$d alone: rc=$?"; done
    fi
    # the CPU BLAS calls a CUDA run makes (the LP64/ILP64 question; only where aihwkit links
    # libopenblas.so.0 dynamically, as the device build does): chopped and agad, two steps each
    gcc -O2 -shared -fPIC -o "$A/blas_abi_probe.so" scripts/blas_abi_probe.c -ldl &&
    for d in chopped agad; do echo "blas_abi_probe, $d on CUDA:"
      PYTHONPATH=$AP:${PYTHONPATH:-} LD_PRELOAD=$A/blas_abi_probe.so timeout 60 python -c "
import benchmarks.aihwkit_epoch_bench as b
print(b.smoke('bench', '$d', 32, 'cuda'))" 2>&1 | grep -E "blas_abi_probe|^\(|Error"
    done
    # which BLAS the process maps once transfer tiles exist on CUDA (static: none beside torch's)
    PYTHONPATH=$AP:${PYTHONPATH:-} python -c "
import benchmarks.aihwkit_epoch_bench as b
b.smoke('bench', 'chopped', 32, 'cuda')
print('mapped:', sorted({l.split()[-1] for l in open('/proc/self/maps') if 'blas' in l.lower()}))"
  } > "$O/smoke.txt" 2>&1
fi

if has mlp; then
  timeout 240 python -m benchmarks.bench_training --batches 32,256 --rows "$DEV" --large-rows "" \
    > "$O/mlp.txt" 2>&1; echo "rc=$?" >> "$O/mlp.txt"
fi

if has large; then
  rows=$DEV,${DEV//,/+update.accumulate=batch,}+update.accumulate=batch
  XBRUN_AIHWKIT_TIMEOUT=100 timeout 240 python -m benchmarks.bench_training --rows "" --large-rows "$rows" \
    > "$O/large.txt" 2>&1; echo "rc=$?" >> "$O/large.txt"
fi

if has resnet; then
  rows=${ANCHOR_RESNET_ROWS:-sgd,sgd+update.accumulate=batch,chopped+update.accumulate=batch,agad+update.accumulate=batch,mixed_precision+update.accumulate=batch,ttv1+update.accumulate=batch,ttv2+update.accumulate=batch}
  XBRUN_AIHWKIT_TIMEOUT=120 timeout 300 python -m benchmarks.bench_training --rows "" --large-rows "" --resnet-rows "$rows" \
    > "$O/resnet.txt" 2>&1; echo "rc=$?" >> "$O/resnet.txt"
fi
