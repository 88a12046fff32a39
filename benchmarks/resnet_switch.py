"""Issue 27's ResNet epochs with the narrow-row kernels off (the kernels before) and on,
side by side in one process (CUDA): the row-block MVM periphery and line probabilities,
the image-block im2col / col2im, the narrow planes, the counts drawn where they are
counted (``SWITCHES``).

    python -m benchmarks.resnet_switch [ROW ...]   (rows as bench_training's: DEVICE[+KEY=V])

Prints fp's epoch, then per row the epoch with the switches off and on and the ratios to fp,
row by row (a time limit still leaves the rows before it).
"""

from __future__ import annotations

import sys
import time

from xbrun.kernels import analog_mvm_cuda, counted_update_cuda, im2col_cuda, pulsed_update_cuda

from .bench_training import RESNET, _spec, epoch_seconds

SWITCHES = ((analog_mvm_cuda, "ROW_BLOCKS"), (im2col_cuda, "IMAGE_BLOCKS"),
            (pulsed_update_cuda, "ROW_BLOCKS"), (counted_update_cuda, "NARROW_PLANES"),
            (counted_update_cuda, "DRAWN_COUNTS"))
ROWS = ("sgd+update.accumulate=batch", "chopped", "sgd", "chopped+update.accumulate=batch")


def main() -> None:
    rows = sys.argv[1:] or ROWS
    fp, _ = epoch_seconds(["device=fp"], repeats=3, data=RESNET)
    print(f"resnet ({' '.join(RESNET)}): fp {fp:.4f} s/epoch", flush=True)
    for row in rows:
        _, overrides = _spec(row)
        for on in (False, True):
            for module, name in SWITCHES:
                setattr(module, name, on)
            began = time.perf_counter()
            t, how = epoch_seconds([*overrides, "cell=constant_step"], repeats=2, data=RESNET)
            print(f"resnet {row} [{'new' if on else 'old'}]: {t:.4f} s/epoch, {t / fp:.2f}x fp, "
                  f"steps {how}, set-up + warm-up {time.perf_counter() - began - 2 * t:.1f} s",
                  flush=True)


if __name__ == "__main__":
    main()
