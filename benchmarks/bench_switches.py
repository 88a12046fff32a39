"""The CUDA paths that are off until a GPU times them, each against the path before it, side
by side in one process: whole training epochs at the shape each was built for, the switch
off then on, ratios to fp's epoch on the same shape.

    python -m benchmarks.bench_switches [PATH ...]   (default: all of PATHS)
    XB_ROWS=sgd+update.accumulate=batch python -m benchmarks.bench_switches ...   (those rows only)

Every path gives the same numbers as the one before it (the interpreted tests check it bit
for bit; ``pytest -m gpu`` checks it compiled), so a switch is a speed choice only: turn a
path on by default where this measures it faster (the exceptions, other normals and the
mixed-precision group's matmul, have no switch since 2026-12-08). Rows print as they are
measured, so a time limit still leaves the rows before it.
"""

from __future__ import annotations

import os
import sys
import time

from xbrun.kernels import (
    analog_mvm_cuda,
    counted_update_cuda,
    line_walk_cuda,
    pulsed_update_cuda,
    transfer_write_cuda,
)

from xbrun.nn import optimizer
from xbrun.tiles import indexed

from .bench_training import DATA, LARGE, RESNET, _spec, epoch_seconds

# name: (the module switches, the data, the model/batch overrides, the rows: DEVICE[+KEY=V])
PATHS = {
    # the update takes the forward pass's patch rows instead of gathering them again
    "keep-rows": (((indexed, "KEEP_ROWS"),), RESNET, [],
                  ("sgd+update.accumulate=batch", "chopped+update.accumulate=batch")),
    # a convolution's forward MVM's prologue with each 144/288-wide row in two power-of-two
    # parts (128 + 16, 256 + 32) read at once: no padding lanes, one read, the DAC's
    # rounding in two additions (~131 -> ~60 SASS a real element, sm_90); the same numbers
    "split-rows": (((analog_mvm_cuda, "SPLIT_ROWS"),), RESNET, [],
                   ("sgd+update.accumulate=batch", "chopped+update.accumulate=batch")),
    # a backward MVM's epilogue (no bound management) with its 144/288 outputs in the same
    # two parts: no padding lanes drawing normals (~161 -> ~100 SASS a real output)
    "split-outputs": (((analog_mvm_cuda, "SPLIT_OUTPUTS"),), RESNET, [],
                      ("sgd+update.accumulate=batch", "chopped+update.accumulate=batch")),
    # both
    "split-periphery": (((analog_mvm_cuda, "SPLIT_ROWS"), (analog_mvm_cuda, "SPLIT_OUTPUTS")),
                        RESNET, [], ("sgd+update.accumulate=batch",
                                     "chopped+update.accumulate=batch")),
    # the 8 x 8 layers' count program (288 inputs x 64 outputs) in 32-wide input blocks (the
    # 64-wide one spills 328 bytes on sm_90); the same counts
    "narrow-drawn": (((counted_update_cuda, "NARROW_DRAWN_BLOCKS"),), RESNET, [],
                     ("sgd+update.accumulate=batch", "chopped+update.accumulate=batch")),
    # the drawn counts' error side drawn by each program (no plane: one launch a count)
    "row-keys-drawn": (((counted_update_cuda, "ROW_KEYS_DRAWN_ERRORS"),), RESNET, [],
                       ("sgd+update.accumulate=batch", "chopped+update.accumulate=batch")),
    # each tile's update started where its backward queued it (on a side stream, beside the
    # backward of the layers before it) instead of after the whole backward pass
    "early-updates": (((optimizer, "EARLY_UPDATES"),), RESNET, [],
                      ("sgd+update.accumulate=batch", "chopped+update.accumulate=batch",
                       "ttv2+update.accumulate=batch", "agad+update.accumulate=batch",
                       "sgd", "chopped")),
    # session 17's ResNet paths together: early updates, the split prologue and epilogue
    "s17-resnet": (((optimizer, "EARLY_UPDATES"), (analog_mvm_cuda, "SPLIT_ROWS"),
                    (analog_mvm_cuda, "SPLIT_OUTPUTS")), RESNET, [],
                   ("sgd+update.accumulate=batch", "chopped+update.accumulate=batch",
                    "ttv1+update.accumulate=batch", "ttv2+update.accumulate=batch",
                    "agad+update.accumulate=batch")),
    # session 17's 784-4096-4096-10 paths together: early updates, the lean, certain, 16-row
    # transfer writes
    "s17-wide": (((optimizer, "EARLY_UPDATES"), (transfer_write_cuda, "HOT_ONLY_ROWS"),
                  (transfer_write_cuda, "INT8_STEPS"), (pulsed_update_cuda, "SURE_PULSES"),
                  (pulsed_update_cuda, "WIDE_QUAD_BLOCKS")), DATA, LARGE,
                 ("sgd+update.accumulate=batch", "ttv1+update.accumulate=batch",
                  "ttv2+update.accumulate=batch", "chopped+update.accumulate=batch",
                  "agad+update.accumulate=batch")),
    "early-updates-wide": (((optimizer, "EARLY_UPDATES"),), DATA, LARGE,
                           ("sgd+update.accumulate=batch", "chopped+update.accumulate=batch",
                            "agad+update.accumulate=batch")),
    # accumulate=sample: only the rows with a coincidence in a block walked
    "listed-rows": (((pulsed_update_cuda, "LISTED_ROWS"),), DATA, LARGE, ("sgd", "chopped")),
    # a transfer's one-hot write on columns (chopped, AGAD) in blocks of columns x rows
    "wide-lines": (((pulsed_update_cuda, "WIDE_LINES"),), DATA, LARGE,
                   ("chopped+update.accumulate=batch", "agad+update.accumulate=batch",
                    "chopped")),
    # the one-line transfer write stores a row's one-hot value alone (a broadcast column),
    # not 512 floats a row (chopped/AGAD: 46 MB a step of zeros; ttv1/ttv2: rows for scale)
    "hot-only-rows": (((transfer_write_cuda, "HOT_ONLY_ROWS"),), DATA, LARGE,
                      ("ttv1+update.accumulate=batch", "ttv2+update.accumulate=batch",
                       "chopped+update.accumulate=batch", "agad+update.accumulate=batch")),
    # a buffered transfer write's line side as int8 whole steps and a gain a row, made into
    # probabilities by the one-hot wide kernel (1 B an element written and read, not 4)
    "int8-steps": (((transfer_write_cuda, "INT8_STEPS"),), DATA, LARGE,
                   ("ttv2+update.accumulate=batch", "chopped+update.accumulate=batch",
                    "agad+update.accumulate=batch")),
    # both lean transfer writes
    "lean-transfers": (((transfer_write_cuda, "HOT_ONLY_ROWS"),
                        (transfer_write_cuda, "INT8_STEPS")), DATA, LARGE,
                       ("ttv1+update.accumulate=batch", "ttv2+update.accumulate=batch",
                        "chopped+update.accumulate=batch", "agad+update.accumulate=batch")),
    # the walk stores the broadcast column's one (no torch.ones launch: 90 -> 87 launches a
    # step at 784-4096-4096-10, one a layer's transfer; ESTIMATE ~2-6 us a step)
    "ones-in-walk": (((line_walk_cuda, "ONES_IN_WALK"),), DATA, LARGE,
                     ("ttv1+update.accumulate=batch", "ttv2+update.accumulate=batch",
                      "chopped+update.accumulate=batch", "agad+update.accumulate=batch")),
    # both lean transfer writes and the walk's one (branches widetransfer, transferfuse)
    "lean-transfers-ones": (((transfer_write_cuda, "HOT_ONLY_ROWS"),
                             (transfer_write_cuda, "INT8_STEPS"),
                             (line_walk_cuda, "ONES_IN_WALK")), DATA, LARGE,
                            ("ttv1+update.accumulate=batch", "ttv2+update.accumulate=batch",
                             "chopped+update.accumulate=batch",
                             "agad+update.accumulate=batch")),
    # the one-hot wide kernel in blocks of 16 rows (4 elements a thread: ~22 % fewer PTX
    # instructions an element, twice the registers)
    "wide-quad": (((pulsed_update_cuda, "WIDE_QUAD_BLOCKS"),), DATA, LARGE,
                  ("chopped+update.accumulate=batch", "agad+update.accumulate=batch")),
    # the three transfer paths of branch widetransfer together
    "lean-quad": (((transfer_write_cuda, "HOT_ONLY_ROWS"), (transfer_write_cuda, "INT8_STEPS"),
                   (pulsed_update_cuda, "WIDE_QUAD_BLOCKS")), DATA, LARGE,
                  ("ttv2+update.accumulate=batch", "chopped+update.accumulate=batch",
                   "agad+update.accumulate=batch")),
    # the one-hot column writes' certain bits (probabilities 0 or 1: chopped's and AGAD's
    # transfers) not drawn, blocks without a pulse left after their counts, and only the
    # pulsing cells' weights, planes and wear loaded and stored; the same numbers
    "sure-pulses": (((pulsed_update_cuda, "SURE_PULSES"),), DATA, LARGE,
                    ("chopped+update.accumulate=batch", "agad+update.accumulate=batch")),
    # in blocks of 16 rows (WIDE_QUAD_BLOCKS: without the draws 79 registers, ~235 SASS
    # instructions a cell against SURE_PULSES' ~330 at 8 rows and the wide kernel's ~444)
    "sure-quad": (((pulsed_update_cuda, "SURE_PULSES"), (pulsed_update_cuda, "WIDE_QUAD_BLOCKS")),
                  DATA, LARGE, ("chopped+update.accumulate=batch",
                                "agad+update.accumulate=batch")),
    # with the lean transfer writes (their int8 steps made into probabilities there)
    "lean-sure": (((transfer_write_cuda, "HOT_ONLY_ROWS"), (transfer_write_cuda, "INT8_STEPS"),
                   (pulsed_update_cuda, "SURE_PULSES")), DATA, LARGE,
                  ("chopped+update.accumulate=batch", "agad+update.accumulate=batch")),
    # all four transfer paths: lean writes, certain bits, 16-row blocks
    "lean-sure-quad": (((transfer_write_cuda, "HOT_ONLY_ROWS"),
                        (transfer_write_cuda, "INT8_STEPS"),
                        (pulsed_update_cuda, "SURE_PULSES"),
                        (pulsed_update_cuda, "WIDE_QUAD_BLOCKS")), DATA, LARGE,
                       ("chopped+update.accumulate=batch", "agad+update.accumulate=batch")),
    # one-hot line writes whose lines have no pulse return before loading them (mixed
    # precision's rows of chi without a whole step: 77-100 % of the hidden layers' rows a
    # step after the bench's first epoch, counted on the CPU; timed in `mp-batch` with
    # grouped.MP_GROUPED and MP_FUSED_WRITE, which have no switch since 2026-12-08)
    "idle-lines": (((pulsed_update_cuda, "SKIP_IDLE_LINES"),), DATA, LARGE,
                   ("mixed_precision+update.accumulate=batch", "mixed_precision")),
}


def main() -> None:
    names = sys.argv[1:] or list(PATHS)
    for name in names:
        if name not in PATHS:
            sys.exit(f"bench_switches: {name} is not a path; choose among {', '.join(PATHS)}")
    only = [row for row in os.environ.get("XB_ROWS", "").split(",") if row]
    fps = {}  # fp's epoch per shape
    offs = {}  # every switch off: one epoch per shape and row, shared by the groups
    for name in names:
        switches, data, shape, rows = PATHS[name]
        key = " ".join([*data, *shape])
        if key not in fps:
            fps[key], _ = epoch_seconds(["device=fp", *shape], repeats=3, data=data)
            print(f"{key}: fp {fps[key]:.4f} s/epoch", flush=True)
        defaults = [getattr(module, switch) for module, switch in switches]
        shared = not any(defaults)  # off is then every switch at its default
        for row in rows:
            if only and row not in only:
                continue
            _, overrides = _spec(row)
            for on in (False, True):
                if not on and shared and (key, row) in offs:
                    print(f"{name} {row} [off]: as above, {offs[key, row]:.2f}x fp", flush=True)
                    continue
                for module, switch in switches:
                    setattr(module, switch, on)
                began = time.perf_counter()
                t, how = epoch_seconds([*overrides, "cell=constant_step", *shape], repeats=2,
                                       data=data)
                print(f"{name} {row} [{'on' if on else 'off'}]: {t:.4f} s/epoch, "
                      f"{t / fps[key]:.2f}x fp, steps {how}, set-up + warm-up "
                      f"{time.perf_counter() - began - 2 * t:.1f} s", flush=True)
                if not on and shared:
                    offs[key, row] = t / fps[key]
        for (module, switch), default in zip(switches, defaults, strict=True):
            setattr(module, switch, default)


if __name__ == "__main__":
    main()
