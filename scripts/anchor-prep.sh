#!/usr/bin/env bash
# Fill .gpu/ (git-ignored; named in the device call's `carry`) with what building aihwkit 1.2.0's
# CUDA simulator on the GPU machine needs and that machine cannot fetch (no internet there):
#   aihwkit-1.2.0.tar.gz           the sdist, checked against its sha256
#   pybind11-3.0.1-py3-none-any.whl  the pybind11 torch 2.11 bundles (its CMake files)
#   python3.12-include.tar.xz      Python 3.12's headers, a fallback where the machine has none
#                                  (only made where a Python 3.12 is here)
# About 15 s and 1.2 MB. Run from the repo root, here (not on the GPU machine).
# `--no-binary aihwkit`, not `:all:`: the latter also builds pip's build-time needs of the
# sdist (scikit-build, pybind11, cmake) from source, which fails.
set -eu
SHA=288b00aed52a99f578a2e7ac46fdbf2a9f07e4780c4307eae5827558f1bf2cba
D=${1:-.gpu}
mkdir -p "$D"
[ -f "$D/aihwkit-1.2.0.tar.gz" ] ||
  python3 -m pip download -q --no-deps --no-binary aihwkit aihwkit==1.2.0 -d "$D"
echo "$SHA  $D/aihwkit-1.2.0.tar.gz" | sha256sum -c -
[ -f "$D/pybind11-3.0.1-py3-none-any.whl" ] ||
  python3 -m pip download -q --no-deps --only-binary=:all: pybind11==3.0.1 -d "$D"
py312=
for p in python3.12 /root/.pyenv/versions/3.12*/bin/python3.12; do
  "$p" -c pass 2>/dev/null && py312=$p && break
done
if [ ! -f "$D/python3.12-include.tar.xz" ] && [ -n "$py312" ]; then
  inc=$("$py312" -c "import sysconfig; print(sysconfig.get_paths()['include'])")
  [ -f "$inc/Python.h" ] && tar cJf "$D/python3.12-include.tar.xz" -C "$(dirname "$inc")" "$(basename "$inc")"
fi
ls -la "$D"
