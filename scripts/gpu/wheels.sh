#!/usr/bin/env bash
# The wheels a device-machine call carries (`carry: [".whl"]`): what xbrun needs that the
# device image (Python 3.12, torch, Triton, rich, scikit-learn; the earlier GPU calls found
# pytest and numba there too) lacks:
# hydra and omegaconf (~3 MB: the call's tree is capped at 64 MiB). Run here, in the
# repository root, with PyPI in reach; `.whl/` is ignored by git.
set -euo pipefail
cd "$(dirname "$0")/../.."
rm -rf .whl && mkdir -p .whl
PLAT=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64
      --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64)
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp "${PLAT[@]}" -d .whl \
    hydra-core==1.3.2 omegaconf==2.3.0
# antlr4's runtime 4.9.3 (the one omegaconf 2.3 accepts) is published as a source archive only
python3 -m pip wheel -q --no-deps -w .whl antlr4-python3-runtime==4.9.3
ls .whl
