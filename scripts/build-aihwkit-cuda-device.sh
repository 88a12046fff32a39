#!/usr/bin/env bash
# Build aihwkit 1.2.0's CUDA simulator ON the GPU machine, from its sdist, against that
# machine's own torch, CUDA and OpenBLAS (libopenblas.so.0, which has no headers there).
# The fallback of scripts/build-aihwkit-cuda.sh (the cross-build, ~100 min of one core here),
# for sm_90 only: 80 build steps (42 CUDA objects) spread over the machine's cores.
#
# OpenBLAS headers: the machine has the library but no headers, so a pair is carried
# (third_party/openblas-lp64, LP64: blasint = int). Before building, the machine's library is
# asked for its configuration (openblas_get_config): the build stops if it is ILP64
# (USE64BITINT), which those headers would not match.
# cuBLAS, cuRAND, cuSPARSE, cuSOLVER headers and link names: the toolkit's where it has them,
# else the torch venv's CUDA 13 wheels (nvidia/cu13; torch's ATen/cuda/CUDAContextLight.h,
# included by the CUDA tile bindings, needs the last two).
# pybind11: a carried wheel (PYBIND11_WHL, or pybind11-*.whl beside SDIST; 3.0.1 is the
# version torch 2.11 bundles), else the torch Python's own pybind11 package.
#
# Usage: scripts/build-aihwkit-cuda-device.sh SDIST OUTDIR (OUTDIR/aihwkit, importable with
# PYTHONPATH=OUTDIR). `python` must be the torch Python (PYTHON= to name another).
#   JOBS            parallel compiles (default: nproc)
#   CONFIGURE_ONLY=1  stop after cmake's configure step (a check on a machine without a GPU)
#   FRESH=1         start over; otherwise a build stopped part-way (a timeout, on a machine
#                   still warm) resumes in W with only the objects still missing
#   W               work folder (default /tmp/aihwkit-device-build)
#   OPENBLAS_LIB    the OpenBLAS library to link (default: libopenblas.so.0 where ctypes finds it)
#   CUDA_HOME       the toolkit (default: nvcc's on PATH, else /usr/local/cuda)
#   PY_INCLUDE_TGZ  Python's headers (tar.xz of a python3.X/ include folder) if the machine
#                   lacks them (default: python3.X-include.tar.xz beside SDIST)
# Prints each stage's elapsed seconds; `make.log`/`configure.log` stay in W.
set -eu
SDIST=$(readlink -f "$1")
mkdir -p "$2" && DEST=$(readlink -f "$2")
HERE=$(dirname "$(readlink -f "$0")")
W=${W:-/tmp/aihwkit-device-build}
PYTHON=${PYTHON:-$(command -v python || command -v python3)}
PY=$(command -v "$PYTHON")
began=$(date +%s)
say() { echo "[$(( $(date +%s) - began )) s] $*"; }
# the torch venv's bin (cmake, ninja from pip) before the rest
PATH="$W/shim:$(dirname "$PY"):$PATH"
SRC=$W/aihwkit-1.2.0
stamp="$(sha256sum "$SDIST" | cut -c1-64)"
say "sdist $(basename "$SDIST") sha256 $stamp"
if [ "${FRESH:-0}" = 1 ] || [ "$(cat "$W/.sdist" 2>/dev/null)" != "$stamp" ]; then
  rm -rf "$W" && mkdir -p "$W"
  tar xzf "$SDIST" -C "$W"
  echo "$stamp" > "$W/.sdist"
fi
mkdir -p "$W/shim"
# aihwkit's post-build `stubgen` imports the module: not needed here
printf '#!/bin/sh\nexit 0\n' > "$W/shim/stubgen" && chmod +x "$W/shim/stubgen"

BLAS=$(OPENBLAS_LIB=${OPENBLAS_LIB:-} "$PY" - <<'EOF'
import ctypes, os, sys
name = os.environ.get("OPENBLAS_LIB") or "libopenblas.so.0"
lib = ctypes.CDLL(name)
lib.openblas_get_config.restype = ctypes.c_char_p
config = lib.openblas_get_config().decode()
print("OpenBLAS config:", config, file=sys.stderr)
if "USE64BITINT" in config:
    sys.exit("the machine's OpenBLAS is ILP64 (64-bit blasint); the carried headers are LP64")
if os.path.isabs(name):
    print(os.path.realpath(name))
    sys.exit()
for d in ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib"):
    if os.path.exists(os.path.join(d, name)):
        print(os.path.realpath(os.path.join(d, name)))
        break
else:
    sys.exit(f"{name} loads but is in none of the usual folders: set OPENBLAS_LIB")
EOF
)
say "OpenBLAS: $BLAS"

# the toolkit: CUDA_HOME, /usr/local/cuda, or the folder above nvcc on PATH (a wrapper script
# such as `exec /usr/local/cuda-13.0/bin/nvcc` is no toolkit: it needs include/cuda_runtime.h)
NVCC=$(command -v nvcc || true)
CUDA=
for c in ${CUDA_HOME:-} /usr/local/cuda ${NVCC:+$(dirname "$(dirname "$(readlink -f "$NVCC")")")}; do
  [ -x "$c/bin/nvcc" ] && [ -f "$c/include/cuda_runtime.h" ] && CUDA=$c && break
done
[ -n "$CUDA" ] || { echo "no CUDA toolkit (bin/nvcc, include/cuda_runtime.h): set CUDA_HOME"; exit 1; }
say "CUDA: $CUDA ($("$CUDA/bin/nvcc" --version | tail -1))"
# cuBLAS / cuRAND / cuSPARSE / cuSOLVER headers and link names: the toolkit's, else the torch
# venv's nvidia/cu13
mkdir -p "$W/cu/include" "$W/cu/lib"
NV=$("$PY" -c "import nvidia, os; print(os.path.join(list(nvidia.__path__)[0], 'cu13'))" 2>/dev/null || true)
for h in cublas curand cusparse cusolver; do
  ls "$CUDA"/include/"$h"*.h >/dev/null 2>&1 && continue
  ls "$NV"/include/"$h"*.h >/dev/null 2>&1 || { echo "no $h headers in $CUDA/include or ${NV:-nvidia/cu13}"; exit 1; }
  ln -sf "$NV"/include/"$h"*.h "$W/cu/include/"
done
for l in cublas:13 cublasLt:13 curand:10; do
  n=${l%:*} v=${l#*:}
  ls "$CUDA/lib64/lib$n.so" >/dev/null 2>&1 && continue
  [ -e "$NV/lib/lib$n.so.$v" ] || { echo "no lib$n.so in $CUDA/lib64 or lib$n.so.$v in $NV/lib"; exit 1; }
  ln -sf "$NV/lib/lib$n.so.$v" "$W/cu/lib/lib$n.so"
done

# pybind11 (aihwkit's CMake asks `import pybind11` for its CMake folder)
whl=${PYBIND11_WHL:-$(ls "$(dirname "$SDIST")"/pybind11-*.whl 2>/dev/null | head -1)}
if [ -n "$whl" ]; then
  rm -rf "$W/pyb" && mkdir -p "$W/pyb" && "$PY" -m zipfile -e "$whl" "$W/pyb"
  export PYTHONPATH=$W/pyb${PYTHONPATH:+:$PYTHONPATH}
fi
"$PY" -c "import pybind11" 2>/dev/null || { echo "no pybind11: carry its wheel (PYBIND11_WHL)"; exit 1; }
TORCH=$("$PY" -c "import os, torch; print(os.path.dirname(torch.__file__))")
say "pybind11 $("$PY" -c "import pybind11; print(pybind11.__version__, pybind11.__file__)")," \
  "torch bundles $(sed -n 's/^#define PYBIND11_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\).*/\2/p' \
  "$TORCH/include/pybind11/detail/common.h" | paste -sd.)"

# Python's headers: the machine's, else carried ones
PYINC=$("$PY" -c "import sysconfig; print(sysconfig.get_paths()['include'])")
PY_INCLUDE_TGZ=${PY_INCLUDE_TGZ:-$(ls "$(dirname "$SDIST")/$(basename "$PYINC")-include.tar.xz" 2>/dev/null || true)}
if [ ! -f "$PYINC/Python.h" ] && [ -n "$PY_INCLUDE_TGZ" ]; then
  tar xJf "$PY_INCLUDE_TGZ" -C "$W" && PYINC=$W/$(basename "$PYINC")
  say "Python headers carried: $PYINC"
fi
[ -f "$PYINC/Python.h" ] || { echo "no Python.h in $PYINC (PY_INCLUDE_TGZ)"; exit 1; }

cd "$SRC"
GEN="Unix Makefiles"
command -v ninja >/dev/null && GEN=Ninja
if [ ! -f build/CMakeCache.txt ]; then
  cmake -S . -B build -G "$GEN" \
    -DUSE_CUDA=ON -DRPU_CUDA_ARCHITECTURES=90 -DCMAKE_CUDA_ARCHITECTURES=90 \
    -DCMAKE_CUDA_COMPILER="$CUDA/bin/nvcc" -DCUDAToolkit_ROOT="$CUDA" -DCMAKE_BUILD_TYPE=Release \
    -DPython3_EXECUTABLE="$PY" -DPython_EXECUTABLE="$PY" -DPython3_INCLUDE_DIR="$PYINC" \
    -DRPU_BLAS=OpenBLAS -DOpenBLAS_INCLUDE_DIR="$HERE/third_party/openblas-lp64" -DOpenBLAS_LIB="$BLAS" \
    -DCMAKE_CUDA_FLAGS="-I$W/cu/include" -DCMAKE_CXX_FLAGS="-I$W/cu/include" \
    -DCMAKE_SHARED_LINKER_FLAGS="-L$W/cu/lib" -DCMAKE_MODULE_LINKER_FLAGS="-L$W/cu/lib" \
    > "$W/configure.log" 2>&1 || { rm -f build/CMakeCache.txt; tail -30 "$W/configure.log"; exit 1; }
  grep -E "Using C\+\+|_GLIBCXX_USE_CXX11_ABI|Found OpenBLAS|CUDA compiler identification" "$W/configure.log" || true
  say "configured ($GEN)"
else
  say "resuming the build in $SRC/build"
fi
[ "${CONFIGURE_ONLY:-0}" = 1 ] && { say "configure only: stop"; exit 0; }
JOBS=${JOBS:-$(nproc)}
cmake --build build --target rpu_base -j "$JOBS" >> "$W/make.log" 2>&1 \
  || { grep -E "error" "$W/make.log" | head -20; tail -20 "$W/make.log"; exit 1; }
say "built with $JOBS jobs"
rm -rf "$DEST/aihwkit"
cp -r src/aihwkit "$DEST/"
find "$DEST/aihwkit" -name rpu_base_src -prune -exec rm -rf {} +
cp build/src/aihwkit/simulator/rpu_base*.so "$DEST/aihwkit/simulator/"
say "done: $(ls "$DEST"/aihwkit/simulator/rpu_base*.so)"
