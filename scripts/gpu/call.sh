#!/usr/bin/env bash
# One device-machine call (the `run` tool, carry [".whl"]): set-up, then any of the parts
# below, each capped so that the whole ends inside TOTAL seconds (default 580; a call may
# run 600). Output is unbuffered; every part's log also goes to $OUT.
#
#   KSEL="early or sure_pulses"  GPU tests (-m gpu) of KFILES matching that -k expression
#   SUITE=1                      the whole GPU suite (pytest -m gpu), SUITE_LIMIT seconds
#   RES="group ..."              bench_switches groups, RES_ROWS rows (ResNet shapes)
#   WIDE="group ..."             bench_switches groups, WIDE_ROWS rows (4096-wide shapes)
#   MORE="group ..."             bench_switches groups, MORE_ROWS rows
#   PROFILE="--resnet --devices sgd,chopped update.accumulate=batch"   profile_gpu arguments
#   BENCH=1                      make bench's table (python -m benchmarks)
#
# Example (the plan left by session 17, see benchmarks/RESULTS.md):
#   KSEL="early or sure_pulses" RES="early-updates s17-resnet" TOTAL=585 \
#       bash scripts/gpu/call.sh
set -uo pipefail
cd "$(dirname "$0")/../.."
START=$(date +%s)
TOTAL=${TOTAL:-580}
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
left() { echo $(( TOTAL - ($(date +%s) - START) )); }
cap() { local want=$1 rest; rest=$(( $(left) - 5 )); (( want < rest )) && echo "$want" || echo "$rest"; }

python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
export PYTHONPATH="/tmp/site:$PWD" PYTHONUNBUFFERED=1
export TRITON_CACHE_DIR=${TRITON_CACHE_DIR:-/tmp/triton} NUMBA_CACHE_DIR=/tmp/numba
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
python3 -c "import torch, triton; print('torch', torch.__version__, 'triton', triton.__version__)"
git log --oneline -1 2>/dev/null || true

KFILES=${KFILES:-"tests/test_parallel_tiles.py tests/test_kernel_counted_update.py \
tests/test_kernel_analog_mvm.py \
tests/test_kernel_pulsed_update.py tests/test_kernel_transfer.py tests/test_transfer.py"}

if [[ -n ${KSEL:-} ]]; then
    echo "== tests -k '$KSEL' ($(cap "${KSEL_LIMIT:-150}") s)"
    # shellcheck disable=SC2086
    timeout "$(cap "${KSEL_LIMIT:-150}")" python3 -m pytest -q -m gpu -p no:cacheprovider \
        -k "$KSEL" $KFILES 2>&1 | tee "$OUT/ksel.log" | tail -25
fi
if [[ -n ${SUITE:-} ]]; then
    echo "== whole GPU suite ($(cap "${SUITE_LIMIT:-300}") s)"
    timeout "$(cap "${SUITE_LIMIT:-300}")" python3 -m pytest -q -m gpu -p no:cacheprovider \
        tests 2>&1 | tee "$OUT/suite.log" | tail -25
fi
groups() {  # NAME ROWS GROUPS...
    local name=$1 rows=$2; shift 2
    (( $# )) || return 0
    echo "== $name: $* (rows $rows, $(cap 600) s)"
    XB_ROWS=$rows timeout "$(cap 600)" python3 -m benchmarks.bench_switches "$@" 2>&1 \
        | tee "$OUT/$name.log"
}
# shellcheck disable=SC2086
groups res "${RES_ROWS:-sgd+update.accumulate=batch,chopped+update.accumulate=batch}" ${RES:-}
# shellcheck disable=SC2086
groups wide "${WIDE_ROWS:-chopped+update.accumulate=batch,agad+update.accumulate=batch}" \
    ${WIDE:-}
# shellcheck disable=SC2086
groups more "${MORE_ROWS:-sgd+update.accumulate=batch}" ${MORE:-}
if [[ -n ${PROFILE:-} ]]; then
    echo "== profile_gpu $PROFILE ($(cap 300) s)"
    # shellcheck disable=SC2086
    timeout "$(cap 300)" python3 -m benchmarks.profile_gpu $PROFILE 2>&1 \
        | tee "$OUT/profile.log" | tail -60
fi
if [[ -n ${BENCH:-} ]]; then
    echo "== make bench ($(cap 600) s)"
    timeout "$(cap 600)" python3 -m benchmarks 2>&1 | tee "$OUT/bench.log"
fi
echo "== done in $(( $(date +%s) - START )) s"
