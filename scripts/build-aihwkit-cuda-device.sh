#!/usr/bin/env bash
# Build aihwkit 1.2.0's CUDA simulator ON the GPU machine, from its sdist, against that
# machine's own torch, CUDA and OpenBLAS (libopenblas.so.0, which has no headers there).
# The fallback of scripts/build-aihwkit-cuda.sh (the cross-build), for sm_90 only.
#
# OpenBLAS headers: the machine has the library but no headers, so a pair is carried
# (third_party/openblas-lp64, LP64: blasint = int). Before building, the machine's library is
# asked for its configuration (openblas_get_config): the build stops if it is ILP64
# (USE64BITINT), which those headers would not match.
#
# Usage: scripts/build-aihwkit-cuda-device.sh SDIST OUTDIR (OUTDIR/aihwkit, importable with
# PYTHONPATH=OUTDIR). `python` must be the torch Python; PY_INCLUDE_TGZ: its headers (tar.xz of
# a python3.X/ include folder) where the machine lacks them. Prints the build's wall time.
set -eu
SDIST=$1 DEST=$2
HERE=$(dirname "$(readlink -f "$0")")
W=/tmp/aihwkit-device-build
began=$(date +%s)
rm -rf "$W" && mkdir -p "$W" "$DEST"
tar xzf "$SDIST" -C "$W"
BLAS=$(python - <<'EOF'
import ctypes, ctypes.util, sys
name = "libopenblas.so.0"
lib = ctypes.CDLL(name)
lib.openblas_get_config.restype = ctypes.c_char_p
config = lib.openblas_get_config().decode()
print(config, file=sys.stderr)
if "USE64BITINT" in config:
    sys.exit("the machine's OpenBLAS is ILP64 (64-bit blasint); the carried headers are LP64")
import os
for d in ("/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib"):
    if os.path.exists(os.path.join(d, name)):
        print(os.path.realpath(os.path.join(d, name)))
        break
EOF
)
echo "OpenBLAS: $BLAS"
# cuBLAS / cuRAND headers and link names: the toolkit's, else the torch venv's nvidia/cu13
mkdir -p "$W/cu/include" "$W/cu/lib"
NV=$(python -c "import nvidia, os; print(os.path.join(list(nvidia.__path__)[0], 'cu13'))" 2>/dev/null || true)
# (cusparse, cusolver: torch's ATen/cuda/CUDAContextLight.h includes them)
for h in cublas curand cusparse cusolver; do
  ls /usr/local/cuda/include/$h*.h >/dev/null 2>&1 || ln -sf "$NV"/include/$h*.h "$W/cu/include/"
done
for l in cublas:13 cublasLt:13 curand:10; do
  n=${l%:*} v=${l#*:}
  ls /usr/local/cuda/lib64/lib$n.so >/dev/null 2>&1 || ln -sf "$NV/lib/lib$n.so.$v" "$W/cu/lib/lib$n.so"
done
mkdir -p "$W/shim" && printf '#!/bin/sh\nexit 0\n' > "$W/shim/stubgen" && chmod +x "$W/shim/stubgen"
PY=$(command -v python)
# Python's headers: the machine's, else carried ones (PY_INCLUDE_TGZ: a python3.12/ include dir)
PYINC=$(python -c "import sysconfig; print(sysconfig.get_paths()['include'])")
if [ ! -f "$PYINC/Python.h" ] && [ -n "${PY_INCLUDE_TGZ:-}" ]; then
  tar xJf "$PY_INCLUDE_TGZ" -C "$W" && PYINC=$W/$(basename "$PYINC")
  echo "Python headers carried: $PYINC"
fi
cd "$W/aihwkit-1.2.0"
PATH="$W/shim:$(dirname "$PY"):/usr/local/cuda/bin:$PATH" cmake -S . -B build \
  -DUSE_CUDA=ON -DRPU_CUDA_ARCHITECTURES=90 -DCMAKE_CUDA_ARCHITECTURES=90 \
  -DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc -DCMAKE_BUILD_TYPE=Release \
  -DPython3_EXECUTABLE="$PY" -DPython_EXECUTABLE="$PY" -DPython3_INCLUDE_DIR="$PYINC" \
  -DRPU_BLAS=OpenBLAS -DOpenBLAS_INCLUDE_DIR="$HERE/third_party/openblas-lp64" -DOpenBLAS_LIB="$BLAS" \
  -DCMAKE_CUDA_FLAGS="-I$W/cu/include" -DCMAKE_CXX_FLAGS="-I$W/cu/include" \
  -DCMAKE_SHARED_LINKER_FLAGS="-L$W/cu/lib" -DCMAKE_MODULE_LINKER_FLAGS="-L$W/cu/lib" \
  > "$W/configure.log" 2>&1 || { tail -30 "$W/configure.log"; exit 1; }
PATH="$W/shim:$PATH" make -C build -j"$(nproc)" rpu_base > "$W/make.log" 2>&1 \
  || { grep -E "error" "$W/make.log" | head -20; tail -20 "$W/make.log"; exit 1; }
cp -r src/aihwkit "$DEST/"
cp build/src/aihwkit/simulator/rpu_base*.so "$DEST/aihwkit/simulator/"
echo "built in $(( $(date +%s) - began )) s: $(ls "$DEST"/aihwkit/simulator/rpu_base*.so)"
