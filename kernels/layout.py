"""The numbers the kernels and the physics agree on: cell kinds, the rows of the per-element
parameter stack, the tile-wide scalars, the floors the kernels share and the analog MVM's
kinds of noise and bound management.

One module, so that the twins, the numba and Triton kernels and ``xbrun.physics`` read the
layout from one place instead of from a twin (``pulsed_update_ref.py`` says what each row
and kind means). The Triton and numba kernels spell the rows and kinds as literals (0..7,
0..3); the assertions at the end keep this layout equal to them.
"""

from __future__ import annotations

CELL_CONSTANT = 0
CELL_LINEAR = 1
CELL_EXP = 2
CELL_POW = 3
CELL_TABLE = 4

CELL_NAMES = {CELL_CONSTANT: "constant", CELL_LINEAR: "linear", CELL_EXP: "exp",
              CELL_POW: "pow", CELL_TABLE: "table"}

(ROW_SCALE_UP, ROW_SCALE_DOWN, ROW_W_MAX, ROW_W_MIN, ROW_SLOPE_UP, ROW_SLOPE_DOWN,
 ROW_GAMMA_UP, ROW_GAMMA_DOWN) = range(8)
ROWS = 8  # rows of the full stack; a cell keeps the leading ones it reads

# number of leading rows of cell_params each cell kind reads
ROWS_REQUIRED = {CELL_CONSTANT: 4, CELL_LINEAR: 6, CELL_EXP: 4, CELL_POW: 8, CELL_TABLE: 4}
MAX_KNOTS = 64  # the largest knot table (CELL_TABLE's tile-wide (2, K) factors) a kernel takes

EXP_SCALARS = ("A_up", "A_down", "gamma_up", "gamma_down", "a", "b", "dw_min_std_add",
               "dw_min_std_slope")

CLOSED_FORM = (CELL_CONSTANT, CELL_LINEAR)  # the counted update's kinds without a pulse loop
# A pulse with ``c <= 0`` overshoots its fixed point (a soft bound near 0 makes the slope
# steep): the counted update floors ``c`` here, the same power of two in every kernel (exact
# in float32), so that such elements' rates - and the mixed runs' weights - agree between
# float64 and float32.
C_FLOOR = 2.0**-20

# the analog MVM's kinds (``analog_mvm_ref``): noise management, bound management, read noise
NM_NONE, NM_ABS_MAX, NM_MAX, NM_CONSTANT, NM_ABS_MAX_NP_SUM = range(5)
BM_NONE, BM_ITERATIVE, BM_WORST_CASE = range(3)
W_NOISE_NONE, W_NOISE_ADDITIVE, W_NOISE_PCM = range(3)


def check_cell(cell_kind: int, cell_params, cell_scalars: tuple = (),
               cell_table=None) -> tuple[float, ...]:
    """Validate the cell arguments; return the scalars padded to ``len(EXP_SCALARS)``."""
    if cell_kind not in ROWS_REQUIRED:
        raise ValueError(f"unknown cell kind {cell_kind}")
    need = ROWS_REQUIRED[cell_kind]
    if cell_params.dim() < 2 or cell_params.shape[0] < need:  # (P, out, in) or gathered (P, n)
        raise ValueError(f"cell kind {CELL_NAMES[cell_kind]} needs cell_params of shape "
                         f"({need}+, out, in), got {tuple(cell_params.shape)}")
    scalars = tuple(float(s) for s in cell_scalars)
    if cell_kind == CELL_EXP and len(scalars) < 6:
        raise ValueError(f"cell kind exp needs cell_scalars {EXP_SCALARS} (the last two "
                         f"optional), got {len(scalars)} values")
    if len(scalars) > len(EXP_SCALARS):
        raise ValueError(f"at most {len(EXP_SCALARS)} cell_scalars, got {len(scalars)}")
    if cell_kind == CELL_TABLE and (
            cell_table is None or cell_table.dim() != 2 or cell_table.shape[0] != 2
            or not 2 <= cell_table.shape[1] <= MAX_KNOTS):
        raise ValueError(f"cell kind table needs a cell_table of shape (2, K), 2 <= K <= "
                         f"{MAX_KNOTS}, got "
                         f"{None if cell_table is None else tuple(cell_table.shape)}")
    return scalars + (0.0,) * (len(EXP_SCALARS) - len(scalars))


# the compiled kernels read these rows, kinds and the floor by number
assert (ROW_SCALE_UP, ROW_SCALE_DOWN, ROW_W_MAX, ROW_W_MIN, ROW_SLOPE_UP, ROW_SLOPE_DOWN,
        ROW_GAMMA_UP, ROW_GAMMA_DOWN) == tuple(range(ROWS))
assert (CELL_CONSTANT, CELL_LINEAR, CELL_EXP, CELL_POW, CELL_TABLE) == (0, 1, 2, 3, 4)
assert C_FLOOR == 9.5367431640625e-07  # the literal in counted_update_cuda._rate
assert (NM_NONE, NM_ABS_MAX, NM_MAX, NM_CONSTANT, NM_ABS_MAX_NP_SUM) == (0, 1, 2, 3, 4)
assert (BM_NONE, W_NOISE_ADDITIVE, W_NOISE_PCM) == (0, 1, 2)

__all__ = ["BM_ITERATIVE", "BM_NONE", "BM_WORST_CASE", "CELL_CONSTANT", "CELL_EXP", "CELL_LINEAR",
           "CELL_NAMES", "CELL_POW", "CELL_TABLE", "CLOSED_FORM", "C_FLOOR", "EXP_SCALARS",
           "MAX_KNOTS", "NM_ABS_MAX", "NM_ABS_MAX_NP_SUM", "NM_CONSTANT", "NM_MAX", "NM_NONE",
           "ROWS", "ROWS_REQUIRED", "ROW_GAMMA_DOWN", "ROW_GAMMA_UP", "ROW_SCALE_DOWN",
           "ROW_SCALE_UP", "ROW_SLOPE_DOWN", "ROW_SLOPE_UP", "ROW_W_MAX", "ROW_W_MIN",
           "W_NOISE_ADDITIVE", "W_NOISE_NONE", "W_NOISE_PCM", "check_cell"]
