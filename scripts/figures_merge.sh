#!/usr/bin/env bash
# Draw figures from the runs of several `scripts/figures_full.sh` calls (each with RUNS_OUT=1,
# e.g. SLICE=0/2 and SLICE=1/2 of one FULL sweep, on two device calls), into OUT.
#
#   scripts/figures_merge.sh OUT SHARE_DIR...
#
# Each SHARE_DIR is one call's OUT: SHARE_DIR/<figure>/runs.tgz holds that call's runs
# without their checkpoints. The runs of every share are unpacked side by side into
# WORK/<figure>/runs (default WORK /tmp/xbrun-figures-merged; a part's folder name is its
# sweep point, so shares never collide), then `xbrun figure <figure> --redraw` draws each
# figure from all of them into OUT/<figure>/ (plot, results.csv, published.csv, report.md),
# and OUT/timings.txt gathers the shares' timings.
set -eu
OUT=${1:?usage: scripts/figures_merge.sh OUT SHARE_DIR...}
shift
[ $# -gt 0 ] || { echo "usage: scripts/figures_merge.sh OUT SHARE_DIR..." >&2; exit 2; }
XBRUN=${XBRUN:-xbrun}
WORK=${WORK:-/tmp/xbrun-figures-merged}
if [ -n "$(ls -A "$WORK" 2>/dev/null)" ]; then
    echo "WORK=$WORK holds earlier runs: remove it or choose another WORK" >&2; exit 2
fi
mkdir -p "$OUT" "$WORK"
: > "$OUT/timings.txt"
for share in "$@"; do
    [ -d "$share" ] || { echo "$share is not a folder" >&2; exit 2; }
    { echo "== $share"; cat "$share/timings.txt" 2>/dev/null || true; } >> "$OUT/timings.txt"
    for archive in "$share"/*/runs.tgz; do
        [ -e "$archive" ] || continue
        name=$(basename "$(dirname "$archive")")
        mkdir -p "$WORK/$name"
        tar -xzf "$archive" -C "$WORK/$name"
    done
done
for dir in "$WORK"/*/; do
    name=$(basename "$dir")
    $XBRUN figure "$name" --redraw --out "$dir" > "$dir/draw.log" 2>&1 || {
        echo "$name: drawing failed, see $dir/draw.log" >&2; exit 1; }
    mkdir -p "$OUT/$name"
    cp "$dir"/*.png "$dir"/*.svg "$dir"/results.csv "$dir"/published.csv "$dir"/report.md \
        "$OUT/$name/" 2>/dev/null || true
    echo "$name: $(find "$dir/runs" -name summary.json | wc -l) runs drawn"
done
