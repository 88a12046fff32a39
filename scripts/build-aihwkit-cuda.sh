#!/usr/bin/env bash
# Cross-build IBM's aihwkit 1.2.0 CUDA simulator HERE for a GPU machine that cannot build it
# (no internet, little time): sm_90 only, against the GPU machine's Python 3.12 and torch
# 2.11.0+cu130 (headers and link stubs from the same wheel), CUDA 13.0 nvcc.
# For side-by-side speed comparisons only; xbrun never imports aihwkit.
#
# BLAS: OpenBLAS is linked STATICALLY, header and archive from the one Debian package
# (libopenblas-pthread-dev 0.3.21, 32-bit blasint), and its symbols are hidden
# (--exclude-libs,ALL). Nothing on the GPU machine's library path can then pair these
# headers with another libopenblas: an LP64 header with an ILP64 (64-bit blasint) library is
# what makes the transfer compounds crash (VectorRPUDevice::reduceToWeights calls cblas_sgemv,
# whose lda/incX/incY go on the stack as 32-bit ints and are read as 64-bit; see
# docs/aihwkit-cuda.md).
#
# Usage: scripts/build-aihwkit-cuda.sh [WORK] (default /work/anchor-build). Output:
# WORK/out/aihwkit-cuda-sm90-py312-torch2.11.tar.xz (about 20 MB) and the same in parts under
# 16 MiB, WORK/out/parts/*.tar.xz.part-aa, -ab (a device call carries and returns files of at
# most 16 MiB; scripts/anchor-gpu.sh joins .gpu/'s parts in name order), unpacked with
# `tar xJf ... -C DIR` it gives DIR/aihwkit (PYTHONPATH=DIR) and DIR/segv_trace.so (an
# LD_PRELOAD SIGSEGV backtracer); WORK/rpu_base.unstripped.so keeps the symbols that turn the
# backtrace's offsets into function names (addr2line -f -C -e ... OFFSET).
# A build that stopped resumes where it was (FRESH=1 starts over). About 100 minutes of one
# core (nice -n 19, JOBS=1 by default; 80 objects, 42 of them CUDA).
set -eu
HERE=$(dirname "$(readlink -f "$0")")
W=${1:-/work/anchor-build}
SDIST=${AIHWKIT_SDIST:-/work/aihwkit-src/aihwkit-1.2.0.tar.gz}
PY312=${PY312:-/root/.pyenv/versions/3.12.1/bin/python3.12}
CUDA=${CUDA_HOME:-/usr/local/cuda-13.0}
BLAS_INC=/usr/include/x86_64-linux-gnu/openblas-pthread
BLAS_LIB=/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblasp-r0.3.21.a
mkdir -p "$W/dl"
cd "$W"
# the GPU machine's torch, for headers and libraries to link against (not run here)
[ -x venv312/bin/python ] || {
  "$PY312" -m venv venv312
  python3 -m pip download -q --no-deps torch==2.11.0 --python-version 3.12 \
    --platform manylinux_2_28_x86_64 --only-binary :all: -d dl
  venv312/bin/pip install -q --no-deps dl/torch-2.11.0-cp312-cp312-manylinux_2_28_x86_64.whl
  # pybind11 as torch 2.11 bundles it
  venv312/bin/pip install -q pybind11==3.0.1 scikit-build cmake ninja setuptools wheel numpy
}
# cuBLAS / cuRAND headers and link names: any CUDA 13 pip wheels' nvidia/cu13 (the GPU
# machine's torch loads the same sonames, libcublas.so.13 and libcurand.so.10, from its own),
# e.g. `pip install --target DIR "cuda-toolkit[cublas,curand,cusolver,cusparse]==13.0.2"`
# (torch 2.11.0's own pin) and CU13=DIR/nvidia/cu13
CU13=${CU13:-/work/aihwkit-venv/lib/python3.11/site-packages/nvidia/cu13}
rm -rf cu13 && mkdir -p cu13/include cu13/lib
# cusparse/cusolver: torch's ATen/cuda/CUDAContextLight.h includes them (rpu_base_tiles_cuda.cpp)
ln -s "$CU13"/include/cublas*.h "$CU13"/include/curand*.h "$CU13"/include/cusparse*.h \
  "$CU13"/include/cusolver*.h cu13/include/
ln -s "$CU13/lib/libcublas.so.13" cu13/lib/libcublas.so
ln -s "$CU13/lib/libcublasLt.so.13" cu13/lib/libcublasLt.so
ln -s "$CU13/lib/libcurand.so.10" cu13/lib/libcurand.so
# aihwkit's post-build `stubgen` imports the module (needs a GPU machine's libs): skip it
mkdir -p shim && printf '#!/bin/sh\nexit 0\n' > shim/stubgen && chmod +x shim/stubgen
B=src/aihwkit-1.2.0/_skbuild/linux-x86_64-3.12/cmake-build
export VIRTUAL_ENV="$W/venv312" PATH="$W/shim:$W/venv312/bin:$CUDA/bin:$PATH"
if [ -f "$B/build.ninja" ] && [ "${FRESH:-0}" != 1 ]; then
  # resume a build that stopped: the same configuration, only the objects still missing
  ( cd "$B" && nice -n 19 ninja -j"${JOBS:-1}" ) 2>&1 | tee -a "$W/build.log" | grep -E "error|Linking|^\[" || true
else
  rm -rf src && mkdir src && tar xzf "$SDIST" -C src
  cd src/aihwkit-1.2.0
  export USE_CUDA=ON CUDACXX="$CUDA/bin/nvcc" CMAKE_BUILD_PARALLEL_LEVEL=${JOBS:-1}
  HIDE="-Wl,--exclude-libs,ALL -L$W/cu13/lib"
  nice -n 19 python setup.py build_ext --inplace -- \
    -DUSE_CUDA=ON -DRPU_CUDA_ARCHITECTURES=90 -DCMAKE_CUDA_ARCHITECTURES=90 \
    -DRPU_BLAS=OpenBLAS -DOpenBLAS_INCLUDE_DIR="$BLAS_INC" -DOpenBLAS_LIB="$BLAS_LIB" \
    -DTORCH_CXX_FLAGS=-D_GLIBCXX_USE_CXX11_ABI=1 -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_CUDA_FLAGS="-I$W/cu13/include" -DCMAKE_CXX_FLAGS="-I$W/cu13/include" \
    -DCMAKE_SHARED_LINKER_FLAGS="$HIDE" -DCMAKE_MODULE_LINKER_FLAGS="$HIDE" 2>&1 \
    | tee "$W/build.log" | grep -E "error|Error|Linking|\[ *[0-9]+%\]" || true
  cd "$W"
fi
so=$(ls "$B"/src/aihwkit/simulator/rpu_base*.so)
# the module with its symbols, kept here (pybind11's Release link strips it): the same link
# without the strip, checked by build id; the GPU machine's backtraces give offsets into the
# stripped copy that `addr2line -f -C -e WORK/rpu_base.unstripped.so 0xOFFSET` names
link=$(cd "$B" && ninja -t commands "src/aihwkit/simulator/$(basename "$so")" | tail -1 | sed 's/ && cd .*//')
( cd "$B" && nice -n 19 sh -c "${link/-o src\/aihwkit\/simulator\/$(basename "$so")/-o $W/rpu_base.unstripped.so}" )
id() { readelf -n "$1" | grep 'Build ID'; }
[ "$(id "$so")" = "$(id "$W/rpu_base.unstripped.so")" ] || echo "warning: unstripped module differs (build id)"
rm -rf "$W/pkg" && mkdir -p "$W/pkg"
cp -r src/aihwkit-1.2.0/src/aihwkit "$W/pkg/"
find "$W/pkg" -name __pycache__ -prune -exec rm -rf {} + ; rm -rf "$W/pkg/aihwkit/simulator/rpu_base_src"
rm -f "$W"/pkg/aihwkit/simulator/rpu_base*.so && cp "$so" "$W/pkg/aihwkit/simulator/"
strip --strip-unneeded "$W"/pkg/aihwkit/simulator/rpu_base*.so
# a SIGSEGV handler that prints the native backtrace (glibc >= 2.35 dropped libSegFault)
gcc -O2 -shared -fPIC -o "$W/segv_trace.so" "$HERE/segv_trace.c" -ldl
cp "$W/segv_trace.so" src/aihwkit-1.2.0/LICENSE.txt "$W/pkg/"
mkdir -p "$W/out"
XZ_OPT=-T1 tar cJf "$W/out/aihwkit-cuda-sm90-py312-torch2.11.tar.xz" -C "$W/pkg" .
ls -la "$W/out/aihwkit-cuda-sm90-py312-torch2.11.tar.xz"
rm -rf "$W/out/parts" && mkdir -p "$W/out/parts"
split -b 15M "$W/out/aihwkit-cuda-sm90-py312-torch2.11.tar.xz" \
  "$W/out/parts/aihwkit-cuda-sm90-py312-torch2.11.tar.xz.part-"
ls -la "$W/out/parts"
