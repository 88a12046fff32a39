#!/usr/bin/env bash
# Every `xbrun figure` (or a named set) on one CUDA GPU machine (16 CPU cores), within a time
# budget, into OUT.
#
#   scripts/figures_full.sh OUT [MNIST_ROOT] [BUDGET_S]
#   FIGURES="wu2024-mnist wu2025-mnist" scripts/figures_full.sh OUT ...  # only these figures
#   PLAN_ONLY=1 FIGURES=... scripts/figures_full.sh OUT                  # print the parts, run nothing
#   FULL=1 FIGURES=... scripts/figures_full.sh OUT ...   # the MNIST figures' sweeps uncut
#   SLICE=0/2 FULL=1 ...   # every 2nd part from the 1st (one call's share; SLICE=1/2 the rest)
#   GPU_MPS=0 ...          # no MPS daemon: the GPU processes take the driver's time slices.
#                          # By default (GPU_MPS=1) they share the GPU through a private MPS
#                          # daemon, so kernels of different processes run at once (skipped
#                          # with a line when nvidia-cuda-mps-control is absent; not started
#                          # when the call has no GPU part or GPU=cpu; stopped at the end).
#                          # One H100, 2026-12-07: 11,000-16,000 steps a second of the whole
#                          # GPU with 12-16 processes, against 2,700-3,100 on 2026-12-06
#                          # without it (not one commit: docs/figures/2026-12-07/README.md)
#   GPU_JOBS=N ...         # GPU processes at once (default: 16 with MPS, 6 without; below)
#   RUNS_OUT=1 ...         # also pack the runs (no checkpoints) into OUT/<figure>/runs.tgz,
#                          # so the shares of several calls can be drawn together (`--redraw`)
#
# The runs go to WORK (default /tmp/xbrun-figures: checkpoints and per-step logs are large);
# OUT receives each figure's plot (PNG, SVG), results.csv, published.csv and report.md in
# OUT/<figure>/, and OUT/timings.txt (whether MPS ran, the GPU processes at once, every
# part's exit status and seconds).
#
# MNIST_ROOT (default data/mnist) holds the full MNIST in torchvision's layout
# (MNIST/raw/*-ubyte; *.gz files there are unpacked first). BUDGET_S (default 400) bounds
# the sweeps; whatever finished by then is drawn (`xbrun figure NAME --redraw`), and each
# report names the overrides its sweep ran with. The MNIST figures train on the GPU
# (GPU_JOBS processes at once), the small regression and device figures on the CPU
# (CPU_JOBS processes), each figure's sweep cut into parts: one `xbrun train -m` each, into
# WORK/NAME/runs/<part>. Where the configured sweep does not fit the budget (estimated from
# its steps: docs/figures/README.md), the part list below runs the largest faithful subset
# (fewer seeds or grid points, never other settings; the Wu MNIST figures: fewer epochs),
# and the report's "Run" line says which. All eleven figures do not fit one 420 s call
# (2026-12-06: five parts timed out); FIGURES names the ones to run (all of each one's
# parts), e.g. the four MNIST figures that did not finish then, in a call of their own.
set -u
OUT=${1:?usage: scripts/figures_full.sh OUT [MNIST_ROOT] [BUDGET_S]}
MNIST=${2:-data/mnist}
BUDGET=${3:-400}
XBRUN=${XBRUN:-xbrun}
GPU_MPS=${GPU_MPS:-1}
CPU_JOBS=${CPU_JOBS:-9}
GPU=${GPU:-cuda}  # GPU=cpu: a smoke test of this script on a machine without one
WORK=${WORK:-/tmp/xbrun-figures}
CONF=$(cd "$(dirname "$0")/../conf/experiment" && pwd)
ALL="legallo2023-training rasch2024-offsets rasch2024-traces wu2025-tt-asymmetry wu2024-sgd-lr
tt-family-asymmetry gokmen2020-tiki-taka gokmen2021-ttv2-states wu2024-mnist wu2025-mnist"
FIGURES=$(echo ${FIGURES:-$ALL})  # the figures to run, blank-separated (default: all)
for name in $FIGURES; do
    [[ " $(echo $ALL) " == *" $name "* ]] || {
        echo "FIGURES: $name is not a figure; choose among: $(echo $ALL)" >&2; exit 2; }
done
selected() { [[ " $FIGURES " == *" $1 "* ]]; }
# epochs of the Wu MNIST runs (of the scripts' 80 and 30): 3 fit beside the other three
# MNIST figures in 420 s (docs/figures/README.md); a Tiki-Taka epoch is ~20 s of one part
WU_EPOCHS=${WU_EPOCHS:-3}

# the overrides each figure's runs (and its report) carry beyond its configured sweep
declare -A BUDGETED=(
    [tt-family-asymmetry]="seed=0 cell.up_down=0.0,0.2,0.5"
    [gokmen2020-tiki-taka]="seed=0"
    [gokmen2021-ttv2-states]="seed=0 cell.dw_min=0.1,0.02,0.002"
    [wu2024-mnist]="epochs=$WU_EPOCHS"
    [wu2025-mnist]="epochs=$WU_EPOCHS"
)
# FULL=1: every MNIST figure's configured sweep as configured (no cut), one run a part
[ -n "${FULL:-}" ] && BUDGETED=()
M="dataset.root=$MNIST"
MNIST_FIGURES="legallo2023-training tt-family-asymmetry gokmen2020-tiki-taka
gokmen2021-ttv2-states wu2024-mnist wu2025-mnist"
# FULL=1's parts: one run (one point of the configured sweep) a part, the longest first, by
# steps x the per-step cost of its series (the 2026-12-06 six-process times, fp = 1)
full_gpu_parts() {
    python3 - "$CONF" "$GPU" "$M" $MNIST_FIGURES <<'PY'
import itertools, sys
import yaml
conf, acc, data, *names = sys.argv[1:]
cost = {"fp": 1, "sgd": 1.9, "analog_sgd": 1.9, "sgd_symmetric": 1.9, "sgd_asymmetric": 1.9,
        "mixed_precision": 2.5, "ttv2": 3.1, "chopped": 3.8, "ttv1": 4, "tiki_taka": 4,
        "agad": 4.9}
parts = []
for name in names:
    config = yaml.safe_load(open(f"{conf}/{name}.yaml"))
    params = config["hydra"]["sweeper"]["params"]
    keys = list(params)
    for combo in itertools.product(*(str(params[k]).split(",") for k in keys)):
        point = dict(zip(keys, combo))
        series = point[f"+experiment/{name}"]
        steps = config["epochs"] * 60000 / config["batch_size"]
        label = "_".join(v.replace("/", "-") for v in combo)
        words = " ".join(f"{k}={v}" for k, v in point.items())
        parts.append((steps * cost.get(series, 4), f"{name} {acc} {label} {words} {data}"))
for _, line in sorted(parts, key=lambda part: -part[0]):
    print(line)
PY
}
# the Wu figures' parts of one series, one a tau (each tau a config of the figure's -tau group)
wu_tau_parts() {  # LABEL SERIES
    local wu tau
    for wu in wu2024-mnist wu2025-mnist; do
        for tau in $(ls "$CONF/$wu-tau" | sed 's/.yaml$//'); do
            echo "$wu $GPU ${1}_$tau +experiment/$wu=$2 +experiment/$wu-tau=$tau ${BUDGETED[$wu]} $M"
        done
    done
}
# one part a line: FIGURE ACCELERATOR PART OVERRIDES...; longest first (estimated at the
# 2026-12-06 times of six processes on one H100: docs/figures/README.md). One part a series
# for tt-family, one run a part for gokmen2020 and the Wu figures: a part killed at the
# deadline costs little, and the parts spread over the GPU processes
gpu_parts() {
    local tt="${BUDGETED[tt-family-asymmetry]} $M" g20="${BUDGETED[gokmen2020-tiki-taka]} $M"
    local g21="${BUDGETED[gokmen2021-ttv2-states]} $M" wu
    echo "legallo2023-training $GPU ttv2 +experiment/legallo2023-training=ttv2 $M"
    echo "legallo2023-training $GPU sgd +experiment/legallo2023-training=sgd $M"
    echo "tt-family-asymmetry $GPU agad +experiment/tt-family-asymmetry=agad $tt"
    echo "gokmen2020-tiki-taka $GPU tt +experiment/gokmen2020-tiki-taka=tiki_taka $g20"
    echo "legallo2023-training $GPU mp +experiment/legallo2023-training=mixed_precision $M"
    echo "gokmen2021-ttv2-states $GPU tt +experiment/gokmen2021-ttv2-states=tiki_taka $g21"
    echo "gokmen2021-ttv2-states $GPU ttv2 +experiment/gokmen2021-ttv2-states=ttv2 $g21"
    echo "tt-family-asymmetry $GPU ttv1 +experiment/tt-family-asymmetry=ttv1 $tt"
    echo "tt-family-asymmetry $GPU chopped +experiment/tt-family-asymmetry=chopped $tt"
    echo "tt-family-asymmetry $GPU ttv2 +experiment/tt-family-asymmetry=ttv2 $tt"
    echo "gokmen2021-ttv2-states $GPU sgd +experiment/gokmen2021-ttv2-states=sgd,fp $g21"
    wu_tau_parts tt tiki_taka
    echo "gokmen2020-tiki-taka $GPU sgd_asymmetric +experiment/gokmen2020-tiki-taka=sgd_asymmetric $g20"
    echo "gokmen2020-tiki-taka $GPU sgd_symmetric +experiment/gokmen2020-tiki-taka=sgd_symmetric $g20"
    echo "tt-family-asymmetry $GPU sgd +experiment/tt-family-asymmetry=sgd $tt"
    echo "tt-family-asymmetry $GPU fp +experiment/tt-family-asymmetry=fp $tt"
    echo "gokmen2020-tiki-taka $GPU fp +experiment/gokmen2020-tiki-taka=fp $g20"
    wu_tau_parts sgd analog_sgd
    for wu in wu2024-mnist wu2025-mnist; do  # the digital reference does not depend on tau
        echo "$wu $GPU fp +experiment/$wu=fp +experiment/$wu-tau=tau060 ${BUDGETED[$wu]} $M"
    done
}
cpu_parts() {
    for seed in 1 2 3; do for algo in agad chopped_ttv2 ttv2 sgd; do
        echo "rasch2024-offsets cpu $algo$seed +experiment/rasch2024-offsets=$algo cell.construction_seed=$seed"
    done; done
    for series in analog_sgd digital_sgd; do for lr in 0.4,0.2 0.1,0.06; do
        echo "wu2024-sgd-lr cpu $series${lr%%,*} +experiment/wu2024-sgd-lr=$series lr=$lr"
    done; done
    for series in tiki_taka analog_sgd; do for up in 0.0,0.1 0.2,0.3; do
        echo "wu2025-tt-asymmetry cpu $series${up%%,*} +experiment/wu2025-tt-asymmetry=$series cell.up_down=$up"
    done; done
}
only_selected() { while read -r name rest; do selected "$name" && echo "$name $rest"; done; }
[ -n "${FULL:-}" ] && gpu_parts() { full_gpu_parts; }
# SLICE=I/N: the parts numbered I, I+N, I+2N, ... (from 0, longest first) of each list
slice_parts() { awk -v s="${SLICE:-0/1}" 'BEGIN { split(s, f, "/") } (NR - 1) % f[2] == f[1]'; }
if [ -n "${PLAN_ONLY:-}" ]; then  # what a call would run, nothing run or written
    gpu_parts | only_selected | slice_parts; cpu_parts | only_selected | slice_parts
    selected rasch2024-traces && echo "rasch2024-traces cpu (xbrun figure, the whole sweep)"
    exit 0
fi

if [ -n "$(ls -A "$WORK" 2>/dev/null)" ]; then
    echo "WORK=$WORK holds earlier runs: remove it or choose another WORK" >&2; exit 2
fi
mkdir -p "$OUT" "$WORK"
for gz in "$MNIST"/MNIST/raw/*.gz; do
    [ -e "$gz" ] && [ ! -e "${gz%.gz}" ] && gunzip -k "$gz"
done
gpu_parts | only_selected | slice_parts > "$WORK/gpu_parts.txt"
cpu_parts | only_selected | slice_parts > "$WORK/cpu_parts.txt"
: > "$OUT/timings.txt"
say() { echo "$*" | tee -a "$OUT/timings.txt"; }  # a line of the call's set-up, kept with it
mps=""
if [ "$GPU_MPS" != 0 ] && [ "$GPU" != cpu ] && [ -s "$WORK/gpu_parts.txt" ]; then
    if command -v nvidia-cuda-mps-control >/dev/null; then
        export CUDA_MPS_PIPE_DIRECTORY=$WORK/mps/pipe CUDA_MPS_LOG_DIRECTORY=$WORK/mps/log
        mkdir -p "$CUDA_MPS_PIPE_DIRECTORY" "$CUDA_MPS_LOG_DIRECTORY"
        if nvidia-cuda-mps-control -d; then
            trap 'echo quit | nvidia-cuda-mps-control' EXIT
            mps=1
            say "GPU_MPS: the processes share the GPU through MPS ($CUDA_MPS_PIPE_DIRECTORY)"
        else
            say "GPU_MPS: the MPS daemon did not start; the processes take time slices"
            unset CUDA_MPS_PIPE_DIRECTORY CUDA_MPS_LOG_DIRECTORY
        fi
    else
        say "GPU_MPS: nvidia-cuda-mps-control is not on PATH; the processes take time slices"
    fi
fi
# GPU processes at once. Without MPS 6: the driver gives each process time slices of the
# GPU, so more processes only wait longer (2026-12-06: six kept the GPU busy). With MPS 16,
# as measured on one H100 of the 16-core device machine (2026-12-07: 108 + 9 runs in 221 s,
# every run exit 0): one process a core, as each needs its host side (Python, launches,
# waits) while its kernels run beside the others'. When the call also runs CPU parts,
# those take CPU_JOBS of the 16 cores, and the GPU processes get the rest (at least 6; not
# measured)
if [ -z "${GPU_JOBS:-}" ]; then
    GPU_JOBS=6
    if [ -n "$mps" ]; then
        GPU_JOBS=16
        if [ -s "$WORK/cpu_parts.txt" ] || selected rasch2024-traces; then
            GPU_JOBS=$(( 16 - CPU_JOBS > 6 ? 16 - CPU_JOBS : 6 ))
        fi
    fi
fi
[ -s "$WORK/gpu_parts.txt" ] && say "GPU_JOBS: $GPU_JOBS GPU processes at once"
DEADLINE=$(( $(date +%s) + BUDGET ))
export XBRUN WORK DEADLINE

run_part() {  # FIGURE ACCELERATOR PART OVERRIDES...: one sweep part, stopped at the deadline
    local name=$1 acc=$2 part=$3; shift 3
    local left=$(( DEADLINE - $(date +%s) ))
    [ "$left" -gt 5 ] || { echo "skipped $name/$part: no time left"; return 0; }
    mkdir -p "$WORK/$name/runs"
    local began=$(date +%s)
    timeout -s INT -k 30 "$left" $XBRUN train -m "experiment=$name" "accelerator=$acc" "$@" \
        "hydra.sweep.dir=$WORK/$name/runs/$part" > "$WORK/$name/runs/$part.log" 2>&1
    echo "$name/$part ($acc): exit $? after $(( $(date +%s) - began )) s"
}
export -f run_part

began=$(date +%s)
{
xargs -r -P "$GPU_JOBS" -L 1 bash -c 'run_part "$@"' _ < "$WORK/gpu_parts.txt" &
xargs -r -P "$CPU_JOBS" -L 1 bash -c 'run_part "$@"' _ < "$WORK/cpu_parts.txt" &
if selected rasch2024-traces; then
    mkdir -p "$WORK/rasch2024-traces"
    timeout -s INT -k 30 "$BUDGET" $XBRUN figure rasch2024-traces accelerator=cpu \
        --out "$WORK/rasch2024-traces" > "$WORK/rasch2024-traces/draw.log" 2>&1 &
fi
wait
echo "sweeps: $(( $(date +%s) - began )) s"

# draw every selected figure from the runs that finished (the traces figure drew itself)
for name in $FIGURES; do
    [ "$name" = rasch2024-traces ] && continue
    echo "$name ${BUDGETED[$name]:-}" | sed 's/ *$//'  # (xargs -L joins a line ending in blank)
done | xargs -r -P 8 -L 1 bash -c 'name=$1; shift; mkdir -p "$WORK/$name"; $XBRUN figure "$name" \
    --redraw --out "$WORK/$name" "$@" > "$WORK/$name/draw.log" 2>&1; echo "$name: drawn, exit $?"' _
echo "total: $(( $(date +%s) - began )) s"
} 2>&1 | tee -a "$OUT/timings.txt"
for dir in "$WORK"/*/; do
    name=$(basename "$dir")
    [ "$name" = mps ] && continue  # the MPS daemon's pipe and log, not a figure
    mkdir -p "$OUT/$name"
    cp "$dir"/*.png "$dir"/*.svg "$dir"/results.csv "$dir"/published.csv "$dir"/report.md \
        "$dir"/draw.log "$OUT/$name/" 2>/dev/null
    for log in "$dir"/runs/*.log; do  # the end of each part's log (failures show there)
        [ -e "$log" ] && { echo "== $(basename "$log")"; tail -n 15 "$log"; }
    done > "$OUT/$name/parts.log"
    if [ -n "${RUNS_OUT:-}" ] && [ -d "$dir/runs" ]; then  # the runs, less their bulk
        (cd "$dir" && find runs -type f ! -name checkpoint.pt ! -name counts.npz \
            ! -name curves.png ! -name '*.log' -print0 | tar --null -T - -czf "$OUT/$name/runs.tgz")
    fi
done
echo "reports: $OUT/*/report.md"
