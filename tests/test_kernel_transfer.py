"""The transfer-family Triton kernels against their torch twins.

``chopped_weight`` (the chopper-corrected ``gamma * A + C``) and ``transfer_buffer`` (read ->
de-chop -> buffer -> whole steps). On the CPU they run under Triton's interpreter at small
shapes; the ``gpu`` tests run the compiled kernels on CUDA at layer sizes. Both are
deterministic, so kernel and twin must agree exactly (up to float rounding on the GPU).
"""

import functools
import importlib.util
import sys
from pathlib import Path

import pytest
import torch
from pulse_cases import loose_buffer, loose_write, make_cell, start_weight
from triton_modules import checked_sure_pulses, triton_function
from xbrun.kernels import chopped_weight_torch

from xbrun import kernels

transfer_buffer_torch = loose_buffer(kernels.transfer_buffer_torch)
transfer_write_torch = loose_write(kernels.transfer_write_torch)


def _signs(n, gen, device):
    return (torch.randint(0, 2, (n,), generator=gen) * 2 - 1).float().to(device)


def _pass_state(n_out, n_lines, gen, means):
    """A transfer write's random state: the buffer H, the chopper signs and, with ``means``,
    AGAD's running and past means and its switched lines (drawn in that order)."""
    state = {"buffer": 0.02 * torch.randn(n_out, n_lines, generator=gen),
             "out_sign": _signs(n_out, gen, "cpu"), "in_sign": _signs(n_lines, gen, "cpu")}
    if means:
        state |= {"running_mean": 0.05 * torch.randn(n_out, n_lines, generator=gen),
                  "past_mean": 0.05 * torch.randn(n_out, n_lines, generator=gen),
                  "switched": torch.rand(n_lines, generator=gen) < 0.5}
    return state


def _check_chopped_weight(launch, shape, device, gammas):
    gen = torch.Generator().manual_seed(shape[0] * 31 + shape[1])
    fast = torch.randn(shape, generator=gen).to(device)
    slow = torch.randn(shape, generator=gen).to(device)
    rows, cols = _signs(shape[0], gen, device), _signs(shape[1], gen, device)
    got = launch(fast, slow, rows, cols, *gammas)
    want = chopped_weight_torch(fast, slow, rows, cols, *gammas)
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)
    # a transposed view (rows transfer reads A.T) gives the same as its copy
    got_t = launch(fast.T, slow.T, cols, rows, *gammas)
    torch.testing.assert_close(got_t, want.T, rtol=1e-6, atol=1e-6)


def _check_transfer_buffer(launch, n_out, n_in, count, device, block=128, **options):
    gen = torch.Generator().manual_seed(n_out + 7 * n_in + count)
    buffer = (2 * torch.randn(n_out, n_in, generator=gen)).to(device)
    reads = (3 * torch.randn(count, n_out, generator=gen)).to(device)
    index = (torch.randperm(n_in, generator=gen)[:count]).to(device)
    out_sign, in_sign = _signs(n_out, gen, device), _signs(n_in, gen, device)
    args = dict(scale=0.7, threshold=0.5, max_steps=3, momentum=0.2, **options)
    buf_k, buf_t = buffer.clone(), buffer.clone()
    steps_k = launch(buf_k, reads, index, out_sign, in_sign, block=block, **args)
    steps_t = transfer_buffer_torch(buf_t, reads, index, out_sign, in_sign, **args)
    assert torch.equal(steps_k, steps_t)
    if device == "cpu":  # the interpreter computes in float32 as torch does: bit for bit
        assert torch.equal(buf_k, buf_t)
    else:
        torch.testing.assert_close(buf_k, buf_t, rtol=1e-6, atol=1e-6)
    assert (steps_t != 0).any() and (steps_t == 0).any()  # both branches exercised
    untouched = torch.ones(n_in, dtype=torch.bool, device=device)
    untouched[index] = False
    assert torch.equal(buf_k[:, untouched], buffer[:, untouched])


BUFFER_OPTIONS = [
    {"forget_buffer": True},
    {"forget_buffer": False},
    {"forget_buffer": False, "buffer_cap": 1.5},
    {"forget_buffer": True, "no_buffer": True},
]


def buffer_settings(seed, count):
    """``count`` random settings of the buffer step, every option drawn: momenta and caps
    for which ``1 - momentum`` and ``buffer_cap * threshold`` round otherwise in float32
    than once from double (as the twin's torch operations take them) come up often."""
    gen = torch.Generator().manual_seed(seed)
    for _ in range(count):
        u = torch.rand(7, generator=gen, dtype=torch.float64).tolist()
        forget = u[0] < 0.3
        yield dict(scale=[1.0, 0.5, 0.3, 0.1 + 2 * u[1]][int(4 * u[2])],
                   threshold=[0.1, 0.3, 1 / 3, 0.01 + u[3]][int(4 * u[4])],
                   max_steps=1 + int(3 * u[5]), momentum=u[6],
                   forget_buffer=forget, no_buffer=forget and u[1] < 0.3,
                   buffer_cap=0.0 if forget or u[3] < 0.3 else 1 + 2 * u[5])


def _same_bits(a, b):
    """``torch.equal`` with NaN equal to NaN (``assert_close`` costs a millisecond a call)."""
    nan = a.isnan()
    return torch.equal(nan, b.isnan()) and torch.equal(a.masked_fill(nan, 0), b.masked_fill(nan, 0))


def check_buffer_at_thresholds(launch, settings, transfers=8, n_out=12, n_in=5, seed=0):
    """The buffer step bit for bit, transfer after transfer, at its thresholds: reads on a
    grid of a quarter threshold (as ADC-quantized reads are) land omega on whole thresholds
    often, where one last bit of H (which carries it to the next transfer) flips a step.
    An infinite read steps ``max_steps`` of its sign, a NaN stays NaN, as in the twin."""
    gen = torch.Generator().manual_seed(seed)
    crossed = 0
    for args in settings:
        quarter = args["threshold"] / 4 / args["scale"]
        buf_k = quarter * torch.randint(-6, 7, (n_out, n_in), generator=gen).float()
        off_grid = torch.rand(n_in, generator=gen) < 0.5  # and some columns just off it
        buf_k += 1e-3 * torch.randn(n_out, n_in, generator=gen) * off_grid
        buf_t = buf_k.clone()
        out_sign, in_sign = _signs(n_out, gen, "cpu"), _signs(n_in, gen, "cpu")
        for transfer in range(transfers):
            count = int(torch.randint(1, n_in + 1, (1,), generator=gen))
            index = torch.randperm(n_in, generator=gen)[:count]
            reads = quarter * torch.randint(-6, 7, (count, n_out), generator=gen).float()
            if transfer == transfers - 1:
                reads[0, :2] = torch.tensor([float("inf"), float("nan")])
            steps_k = launch(buf_k, reads, index, out_sign, in_sign, **args)
            steps_t = transfer_buffer_torch(buf_t, reads, index, out_sign, in_sign, **args)
            assert _same_bits(steps_k, steps_t) and _same_bits(buf_k, buf_t), (args, transfer)
            crossed += int((steps_t != 0).sum())
    assert crossed > 0


@pytest.mark.parametrize("shape", [(1, 1), (5, 7), (33, 70)])
def test_chopped_weight_interpreted_matches_twin(shape):
    launch = triton_function("chopped_weight_cuda", "chopped_weight_triton", interpret=True)
    _check_chopped_weight(launch, shape, "cpu", (0.1, 1.0))
    _check_chopped_weight(launch, shape, "cpu", (-0.3, 2.0))


@pytest.mark.parametrize("options", BUFFER_OPTIONS)
def test_transfer_buffer_interpreted_matches_twin(options):
    launch = loose_buffer(triton_function("transfer_buffer_cuda", "transfer_buffer_triton",
                                          interpret=True))
    _check_transfer_buffer(launch, 9, 6, 4, "cpu", **options)
    _check_transfer_buffer(launch, 130, 5, 2, "cpu", block=64, **options)


def test_twin_reference_semantics():
    """The buffer twin on a hand-computed case (threshold 1, momentum 0)."""
    buffer = torch.tensor([[0.5, 0.0], [-0.2, 0.0]])
    steps = transfer_buffer_torch(buffer, torch.tensor([[2.0, 1.0]]), torch.tensor([0]),
                                  torch.tensor([1.0, -1.0]), torch.tensor([-1.0, 1.0]),
                                  scale=1.0, threshold=1.0, max_steps=1, momentum=0.0,
                                  forget_buffer=False)
    # omega = [0.5 - 2, -0.2 + 1] = [-1.5, 0.8]: one step down, remainder -0.5; 0.8 kept
    torch.testing.assert_close(steps, torch.tensor([[-1.0, 0.0]]))
    torch.testing.assert_close(buffer, torch.tensor([[-0.5, 0.0], [0.8, 0.0]]))


@pytest.mark.gpu
@pytest.mark.parametrize("shape", [(256, 784), (10, 128), (512, 512)])
def test_chopped_weight_compiled_matches_twin(shape):
    launch = triton_function("chopped_weight_cuda", "chopped_weight_triton", interpret=False)
    _check_chopped_weight(launch, shape, "cuda", (0.1, 1.0))
    torch.testing.assert_close(
        kernels.reduce_to_weight(*[t.cuda() for t in (torch.ones(3, 4), torch.zeros(3, 4),
                                                      -torch.ones(3), torch.ones(4))], 0.5, 1.0),
        torch.full((3, 4), -0.5, device="cuda"))


@pytest.mark.gpu
@pytest.mark.parametrize("options", BUFFER_OPTIONS)
def test_transfer_buffer_compiled_matches_twin(options):
    launch = loose_buffer(triton_function("transfer_buffer_cuda", "transfer_buffer_triton",
                                          interpret=False))
    _check_transfer_buffer(launch, 256, 784, 8, "cuda", **options)
    _check_transfer_buffer(launch, 10, 128, 128, "cuda", **options)


# ------------------------------------------------------------------ transfer_write ------
TRAIN_OPTIONS = [  # (update_bl_management, update_management, long_train, um_grad_scale)
    (True, True, False, 1.0),
    (False, True, False, 0.5),
    (False, False, False, 1.0),
    (False, False, True, 1.0),
]


def _check_transfer_write(launch, n_out, n_lines, start, count, columns, trains, buffered,
                          device, block_w=1024, device_start=False, **buffer_options):
    """``device_start``: the first line as a 0-dim tensor (as on CUDA), lines wrapping."""
    ubm, um, long_train, ugs = trains
    gen = torch.Generator().manual_seed(n_out + 3 * n_lines + start)
    lines = [(start + b) % n_lines for b in range(count)]
    if device_start:
        start = torch.tensor(start, device=device)
    reads = (0.05 * torch.randn(count, n_out, generator=gen)).to(device)
    reads[0, :2] = 0.0  # a zero value, and (below) a line with nothing to write
    if count > 1:
        reads[-1] = 0.0
    options = dict(columns=columns, lr=0.03 if long_train else 0.2, granularity=0.004,
                   desired_bl=5, long_train=long_train, update_management=um,
                   update_bl_management=ubm, um_grad_scale=ugs)
    twin_buffer = None
    if buffered:
        buffer = (0.02 * torch.randn(n_out, n_lines, generator=gen)).to(device)
        out_sign, in_sign = _signs(n_out, gen, device), _signs(n_lines, gen, device)
        twin_buffer = buffer.clone()
        args = dict(scale=1.0, threshold=0.01, max_steps=3, momentum=0.2, **buffer_options)
        got = launch(reads, start, n_lines, buffer=buffer, out_sign=out_sign,
                     in_sign=in_sign, block_w=block_w, **args, **options)
        want = transfer_write_torch(reads, start, n_lines, buffer=twin_buffer,
                                    out_sign=out_sign, in_sign=in_sign, **args, **options)
        torch.testing.assert_close(buffer, twin_buffer, rtol=1e-6, atol=1e-7)
    else:
        got = launch(reads, start, n_lines, block_w=block_w, **options)
        want = transfer_write_torch(reads, start, n_lines, **options)
    for a, b in zip(got, want, strict=True):
        assert a.shape == b.shape and a.dtype == b.dtype
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)
    bl = want[2]
    assert (bl > 0).any() and (buffered or count == 1 or bl[-1] == 0)
    one_hot = want[0] if columns else want[1]
    written = one_hot.ne(0).any(0).nonzero().flatten().tolist()
    assert written == sorted(lines)  # the lines from start, wrapped
    return want


@pytest.mark.parametrize("trains", TRAIN_OPTIONS)
@pytest.mark.parametrize("columns", [True, False], ids=["columns", "rows"])
def test_transfer_write_interpreted_matches_twin(columns, trains):
    launch = loose_write(triton_function("transfer_write_cuda", "transfer_write_triton",
                                         interpret=True))
    _check_transfer_write(launch, 7, 9, 2, 4, columns, trains, False, "cpu")
    _check_transfer_write(launch, 7, 9, 7, 4, columns, trains, False, "cpu",
                          device_start=True)
    for options in BUFFER_OPTIONS:
        _check_transfer_write(launch, 20, 6, 3, 3, columns, trains, True, "cpu", block_w=4,
                              **options)
        _check_transfer_write(launch, 20, 6, 4, 5, columns, trains, True, "cpu", block_w=4,
                              device_start=True, **options)


@pytest.mark.parametrize("trains", TRAIN_OPTIONS)
def test_transfer_write_twin_is_the_physics_of_a_one_hot_write(trains):
    """The twin's trains are ``physics.pulses.pulse_trains`` of the one-hot rank-1 updates."""
    from xbrun.physics.pulses import UpdateParameters, pulse_trains

    ubm, um, long_train, ugs = trains
    params = UpdateParameters(desired_bl=5, fixed_bl=not long_train, update_management=um,
                              update_bl_management=ubm, um_grad_scale=ugs)
    gen = torch.Generator().manual_seed(1)
    reads = 0.05 * torch.randn(4, 7, generator=gen)
    lr, g = (0.03 if long_train else 0.2), 0.004
    for columns in (True, False):
        x, d, bl = transfer_write_torch(reads, 3, 9, columns=columns, lr=lr, granularity=g,
                                        desired_bl=5, long_train=long_train,
                                        update_management=um, update_bl_management=ubm,
                                        um_grad_scale=ugs)
        one_hot = torch.zeros(4, 9)
        one_hot[torch.arange(4), torch.arange(3, 7)] = 1.0
        rows = (one_hot, -reads) if columns else (-reads, one_hot)
        want = pulse_trains(*rows, lr, g, params)
        torch.testing.assert_close(x, want.x_prob)
        torch.testing.assert_close(d, want.d_prob)
        assert torch.equal(bl, want.bl)


@pytest.mark.gpu
@pytest.mark.parametrize("trains", TRAIN_OPTIONS)
def test_transfer_write_compiled_matches_twin(trains):
    launch = loose_write(triton_function("transfer_write_cuda", "transfer_write_triton",
                                         interpret=False))
    for columns in (True, False):
        _check_transfer_write(launch, 256, 784, 700, 84, columns, trains, False, "cuda")
        _check_transfer_write(launch, 256, 784, 760, 84, columns, trains, False, "cuda",
                              device_start=True)
        for options in BUFFER_OPTIONS:
            _check_transfer_write(launch, 512, 128, 0, 32, columns, trains, True, "cuda",
                                  **options)
            _check_transfer_write(launch, 512, 128, 120, 32, columns, trains, True, "cuda",
                                  device_start=True, **options)


# ------------------------------------------ the chopped devices' bookkeeping, folded ------
CHOPPERS = {  # ChopperParams, with AGAD's means
    "random": (kernels.ChopperParams(flip_prob=0.5), False),
    "period": (kernels.ChopperParams(period=2), False),
    "agad": (kernels.ChopperParams(flip_prob=0.3, period=3, momentum=0.4, ready_after=4), True),
}


def _check_chopper_write(launch, n_out, n_lines, start, count, columns, case, device,
                         device_start=False, passes=5):
    """The write with the chopper bookkeeping folded in: trains, buffer, choppers, means,
    switches and slots all as the twin's."""
    chopper, means = CHOPPERS[case]
    gen = torch.Generator().manual_seed(n_out + 5 * n_lines + start)
    if device_start:
        start, passes = (torch.tensor(v, device=device) for v in (start, passes))
    reads = (0.05 * torch.randn(count, n_out, generator=gen)).to(device)
    state = _pass_state(n_out, n_lines, gen, means)
    draws = torch.rand(count, generator=gen).to(device) if chopper.flip_prob > 0 else None
    options = dict(columns=columns, lr=0.2, granularity=0.004, desired_bl=5,
                   long_train=False, update_management=True, update_bl_management=True,
                   um_grad_scale=1.0, scale=1.0, threshold=0.01, max_steps=3, momentum=0.2,
                   chopper=chopper, flip_draws=draws, passes=passes)
    results = []
    for run in (launch, transfer_write_torch):
        mine = {k: v.clone().to(device) for k, v in state.items()}
        slots = torch.zeros(1, dtype=torch.int64, device=device)
        mine["calls"] = torch.tensor(7, device=device)
        trains = run(reads, start, n_lines, train_slots=slots, **mine, **options)
        results.append((trains, mine, slots))
    (got, got_state, got_slots), (want, want_state, want_slots) = results
    assert int(got_state["calls"]) == int(want_state["calls"]) == 8
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)
    for name in state:
        torch.testing.assert_close(got_state[name], want_state[name], rtol=1e-6, atol=1e-7)
    assert torch.equal(got_slots, want_slots) and int(want_slots) == int(want[2].sum())
    if device_start:  # the lines span two passes: both kinds of line
        flipped = want_state["in_sign"].cpu() != state["in_sign"]
        assert flipped.any() and (flipped.sum() < count)
        if means:
            assert (want[2] == 0).any() and (want[2] > 0).any()  # not ready, and ready


@pytest.mark.parametrize("case", list(CHOPPERS))
def test_transfer_write_with_choppers_interpreted_matches_twin(case):
    launch = loose_write(triton_function("transfer_write_cuda", "transfer_write_triton",
                                         interpret=True))
    _check_chopper_write(launch, 12, 6, 2, 4, True, case, "cpu")
    _check_chopper_write(launch, 12, 6, 4, 5, False, case, "cpu", device_start=True,
                         passes=4)


def _seeded_flips(launch, seed, device, lines=40, flip_prob=0.3):
    """The write's choppers after one write of every line, their switches drawn from
    ``seed`` in the kernel; the rest of the bookkeeping as the twin's given those draws."""
    gen = torch.Generator().manual_seed(5)
    reads = (0.05 * torch.randn(lines, 4, generator=gen)).to(device)
    state = _pass_state(4, lines, gen, False)
    options = dict(columns=True, lr=0.2, granularity=0.004, desired_bl=5, long_train=False,
                   update_management=True, update_bl_management=True, um_grad_scale=1.0,
                   scale=1.0, threshold=0.01, max_steps=3, momentum=0.2,
                   chopper=kernels.ChopperParams(flip_prob=flip_prob), passes=3)
    results = []
    for run, draw in ((launch, {"flip_seed": torch.tensor([seed], device=device)}),
                      (transfer_write_torch, None)):
        mine = {k: v.clone().to(device) for k, v in state.items()}
        if draw is None:  # the twin, given the uniforms that switch exactly those lines
            flipped = results[0][1]["in_sign"] != state["in_sign"].to(device)
            draw = {"flip_draws": torch.where(flipped, 0.0, 1.0)}
        results.append((run(reads, 0, lines, **mine, **draw, **options), mine))
    (got, got_state), (want, want_state) = results
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)
    for name in state:
        torch.testing.assert_close(got_state[name], want_state[name], rtol=1e-6, atol=1e-7)
    return got_state["in_sign"] != state["in_sign"].to(device)


def test_transfer_write_draws_the_chopper_switches_from_the_read_seed():
    """On CUDA a chopped write draws its lines' switches in the kernel from the run's read
    seed (no launch for the draws): reproducible by seed, new with a new seed, at the rate
    ``flip_prob`` - and the twin draws from a generator seeded by it."""
    launch = loose_write(triton_function("transfer_write_cuda", "transfer_write_triton",
                                         interpret=True))
    first = _seeded_flips(launch, 12345, "cpu")
    assert torch.equal(first, _seeded_flips(launch, 12345, "cpu"))
    other = _seeded_flips(launch, 2**40 + 7, "cpu")
    assert not torch.equal(first, other)
    rate = torch.stack((first, other)).float().mean()
    assert 0.1 < rate < 0.5  # 80 lines at 0.3: about 8 standard deviations wide
    seeded = _seeded_flips(loose_write(kernels.transfer_write_torch), 12345, "cpu")
    assert 0 < seeded.sum() < 40


@pytest.mark.gpu
def test_transfer_write_draws_the_chopper_switches_compiled():
    launch = loose_write(triton_function("transfer_write_cuda", "transfer_write_triton",
                                         interpret=False))
    flips = torch.stack([_seeded_flips(launch, s, "cuda", lines=512) for s in (1, 2, 3)])
    assert torch.equal(flips[0], _seeded_flips(launch, 1, "cuda", lines=512))
    assert 0.25 < flips.float().mean() < 0.35


@pytest.mark.gpu
@pytest.mark.parametrize("case", list(CHOPPERS))
def test_transfer_write_with_choppers_compiled_matches_twin(case):
    launch = loose_write(triton_function("transfer_write_cuda", "transfer_write_triton",
                                         interpret=False))
    for columns in (True, False):
        _check_chopper_write(launch, 256, 128, 100, 64, columns, case, "cuda",
                             device_start=True, passes=4)


def _transfer_lines_pair(columns, buffered):
    """A transfer's write of constant steps by ``transfer_lines_triton`` (two launches:
    the write kernel zeroes the pulse count the one-hot lines' kernel adds to, drawing its
    words itself) and by the write kernel then the block kernel on the same seed."""
    lines = triton_function("transfer_write_cuda", "transfer_lines_triton", True)
    write = triton_function("transfer_write_cuda", "transfer_write_triton", True)
    update = triton_function("pulsed_update_cuda", "pulsed_update_triton", True)
    gen = torch.Generator().manual_seed(6)
    cp = make_cell(kernels.CELL_CONSTANT, 6, 10, gen)
    w0 = start_weight(cp, gen)
    n_len, width = (6, 10) if columns else (10, 6)
    reads = 0.3 * torch.randn(4, n_len, generator=gen)
    start = torch.tensor(8 if columns else 4)  # the lines wrap past the last
    state = _pass_state(n_len, width, gen, False) if buffered else {}
    p = kernels.TransferWriteParams(columns, 0.5, 0.06, 9, False, True, True, 1.0,
                                    kernels.BufferParams(1.0, 0.01, 3, 0.2, True, 0.0, False)
                                    if buffered else kernels.BufferParams())
    cell = kernels.CellParams(kernels.CELL_CONSTANT, 0.3, True, (), None)
    out = []
    for fused in (True, False):
        w, calls = w0.clone(), torch.tensor(3)
        cells = torch.zeros(6, 10, dtype=torch.int32)
        mine = {k: v.clone() for k, v in state.items()}
        seed = kernels.seeds.KeyedSeed(calls, 11)
        if fused:  # added to a running count (a transfer's: A's pulses, say 5)
            count = torch.tensor(5)
            pulses = lines(w, cp, reads, start, p, cell, seed=seed, max_bl=9, calls=calls,
                           cell_pulses=cells, add_to=count, **mine)
            assert pulses is count
            pulses = pulses - 5
        else:
            x, d, bl = write(reads, start, width, p, calls=calls, **mine)
            pulses = update(w, cp, x, d, bl, kernels.UpdateParams(cell, 9, True), seed=seed,
                            cell_pulses=cells)
        out.append((w, int(pulses), cells, int(calls)))
    return w0, out


@pytest.mark.parametrize("columns", [True, False], ids=["columns", "rows"])
@pytest.mark.parametrize("buffered", [False, True], ids=["ttv1", "buffered"])
def test_transfer_lines_constant_steps_in_two_launches_give_the_block_kernels_numbers(
        columns, buffered):
    w0, ((w, pulses, cells, calls), (w_b, pulses_b, cells_b, calls_b)) = \
        _transfer_lines_pair(columns, buffered)
    assert torch.equal(w, w_b) and torch.equal(cells, cells_b) and calls == calls_b == 4
    assert pulses == pulses_b == int(cells.sum()) > 0 and (w != w0).any()


# ------------------------------------------------------------------- line_walk -------
def _check_line_walk(launch, line, passes, count, n_lines, dtype, device, seed_offset=None,
                     reads=4):
    results = []
    for run in (launch, kernels.line_walk_torch):
        state = (torch.tensor(line, device=device), torch.tensor(passes, device=device))
        ledger = torch.tensor([3, reads], device=device)
        snapshot, onehot = run(*state, count, n_lines, dtype, ledger[1:], seed_offset)
        results.append((snapshot, onehot, state))
        assert ledger.tolist() == [3, reads + (count if dtype is not None else 0)]
    (snap, onehot, state), (snap_t, onehot_t, state_t) = results
    # each run's pass (runs of n_lines), then with a seed offset each run's read seed,
    # keyed by the reads before it
    runs = range(0, count, n_lines)
    seeds = [] if seed_offset is None else [
        kernels.seeds.read_seed(reads + r, seed_offset) for r in runs]
    assert torch.equal(snap, snap_t)
    assert snap.tolist() == [line, *(passes + r for r in range(len(runs))), *seeds]
    assert [int(s) for s in state] == [int(s) for s in state_t] == [
        (line + count) % n_lines, passes + (line + count) // n_lines]
    if dtype is None:
        assert onehot is None and onehot_t is None
    else:
        assert onehot.dtype == dtype and torch.equal(onehot, onehot_t)
        assert onehot.argmax(1).tolist() == [(line + b) % n_lines for b in range(count)]


def test_line_walk_interpreted_matches_twin():
    """The one-hot reads filled over row blocks after the walk; one run's entries stored
    one a loop trip, several runs' a block at a time."""
    launch = triton_function("line_walk_cuda", "line_walk_triton", interpret=True)
    _check_line_walk(launch, 3, 2, 4, 6, torch.float32, "cpu")
    _check_line_walk(launch, 5, 0, 13, 6, torch.float32, "cpu")  # past two ends
    _check_line_walk(launch, 1, 7, 3, 5, None, "cpu")
    _check_line_walk(launch, 5, 0, 13, 6, torch.float32, "cpu", 123_456_789)  # three runs
    _check_line_walk(launch, 2, 1, 1, 3, torch.float32, "cpu", 2**31 - 5, reads=2**40 + 3)
    _check_line_walk(launch, 250, 1, 300, 260, torch.float32, "cpu")  # blocks of rows, lines


def test_line_walk_with_block_runs_matches_twin(monkeypatch):
    """The runs' passes and read seeds stored a block of runs at a time (``RUN_BLOCK``; 4
    here): one run, three, 14 (four blocks, the last cut short), with and without seeds, a
    one tile's and a group's walk."""
    launch = triton_function("line_walk_cuda", "line_walk_triton", interpret=True)
    module = sys.modules[launch.__module__]
    monkeypatch.setattr(module, "RUN_BLOCK", 4)
    _check_line_walk(launch, 3, 2, 4, 6, torch.float32, "cpu")
    _check_line_walk(launch, 5, 0, 13, 6, torch.float32, "cpu", 123_456_789)  # three runs
    _check_line_walk(launch, 1, 7, 40, 3, torch.float32, "cpu")  # 14 runs
    _check_line_walk(launch, 2, 1, 40, 3, torch.float32, "cpu", 2**31 - 5, reads=2**40 + 3)
    grouped = triton_function("line_walk_cuda", "line_walk_grouped_triton", interpret=True)
    for seeded in (False, True):
        _check_grouped_walk(grouped, "cpu", seeded)


def test_line_walk_hands_line_only_reads_a_broadcast_column_of_ones():
    """With ``line_only``: the one-hot reads are ones broadcast over the
    rows and lines (no fill), equal to the twin's rows at each row's line element; the
    snapshot, advance and read counters as the twin's; without ``line_only`` the rows are
    filled. One tile and a group."""
    launch = triton_function("line_walk_cuda", "line_walk_triton", interpret=True)
    for only in (True, False):
        results = []
        for run in (functools.partial(launch, line_only=only), kernels.line_walk_torch):
            line, passes, ledger = torch.tensor(5), torch.tensor(2), torch.tensor([3, 4])
            snap, onehot = run(line, passes, 13, 6, torch.float32, ledger[1:], 2**31 - 5)
            results.append((snap, onehot, [int(line), int(passes)], ledger.tolist()))
        (snap, onehot, state, ledger), (snap_t, onehot_t, state_t, ledger_t) = results
        assert torch.equal(snap, snap_t) and state == state_t and ledger == ledger_t
        lines = [(5 + b) % 6 for b in range(13)]
        assert torch.equal(onehot[range(13), lines], onehot_t[range(13), lines])
        assert (onehot.stride() == (0, 0)) == only and torch.equal(onehot, onehot_t) != only
    grouped = triton_function("line_walk_cuda", "line_walk_grouped_triton", interpret=True)
    _, onehot = grouped(torch.tensor([3, 0]), torch.tensor([2, 0]), 4, 6, torch.float32,
                        torch.zeros(2, dtype=torch.int64), torch.arange(2), line_only=True)
    assert onehot.shape == (4, 12) and onehot.stride() == (0, 0) and bool((onehot == 1).all())


def _walks_with_ones(launch, grouped, monkeypatch, device, count, n_lines, tiles):
    """A line-only walk of one tile and of a group of ``tiles``, ``ONES_IN_WALK`` off then
    on, each with every ``torch.empty`` it makes poisoned first (NaN, int -7): the on walk's
    one element must be stored by the walk itself. Returns the (off, on) results."""
    module = sys.modules[launch.__module__]
    real_empty = torch.empty

    def poisoned(*args, **kwargs):
        t = real_empty(*args, **kwargs)
        return t.fill_(float("nan") if t.is_floating_point() else -7)

    results = []
    for on in (False, True):
        monkeypatch.setattr(module, "ONES_IN_WALK", on)
        monkeypatch.setattr(torch, "empty", poisoned)
        try:
            line, passes = torch.tensor(5, device=device), torch.tensor(2, device=device)
            reads = torch.tensor([3, 4], device=device)
            one = launch(line, passes, count, n_lines, torch.float32, reads[1:], 2**31 - 5,
                         line_only=True)
            lines = (torch.arange(tiles, device=device) * 7) % n_lines
            passed = torch.arange(tiles, device=device) + 1
            counters = torch.arange(tiles, device=device) * 1000
            group = grouped(lines, passed, count, n_lines, torch.float32, counters,
                            torch.arange(tiles, device=device) + 11, line_only=True)
        finally:
            monkeypatch.setattr(torch, "empty", real_empty)
        results.append((one, (line, passes, reads), group, (lines, passed, counters)))
    return results


def _assert_same_walks(results, count, n_lines, tiles):
    (one, state, group, gstate), (one_on, state_on, group_on, gstate_on) = results
    for (snap, onehot), (snap_on, onehot_on), width in ((one, one_on, n_lines),
                                                        (group, group_on, tiles * n_lines)):
        assert torch.equal(snap, snap_on)
        assert onehot_on.shape == onehot.shape == (count, width)
        assert onehot_on.stride() == onehot.stride() == (0, 0)
        assert torch.equal(onehot_on, onehot) and bool((onehot_on == 1).all())
    for a, b in zip((*state, *gstate), (*state_on, *gstate_on), strict=True):
        assert torch.equal(a, b)


def test_line_walk_stores_the_broadcast_one_itself(monkeypatch):
    """``ONES_IN_WALK``: the line-only walk's broadcast column of ones
    has its one element stored by the walk's program 0, not by a ``torch.ones`` launch: the
    same one-hot reads, snapshots, advances and read counters as off, bit for bit, for a
    tile and a group of three (its allocation poisoned: fails if the walk does not store)."""
    launch = triton_function("line_walk_cuda", "line_walk_triton", interpret=True)
    grouped = triton_function("line_walk_cuda", "line_walk_grouped_triton", interpret=True)
    results = _walks_with_ones(launch, grouped, monkeypatch, "cpu", 13, 6, 3)
    _assert_same_walks(results, 13, 6, 3)


@pytest.mark.gpu
def test_line_walk_ones_in_walk_compiled(monkeypatch):
    """The same compiled at the 784-4096-4096-10 MLP's transfer: 512 x 512 tiles, 256 reads
    a tile, a group of 8 (a 4096-wide layer's row of tiles)."""
    launch = triton_function("line_walk_cuda", "line_walk_triton", interpret=False)
    grouped = triton_function("line_walk_cuda", "line_walk_grouped_triton", interpret=False)
    results = _walks_with_ones(launch, grouped, monkeypatch, "cuda", 256, 512, 8)
    _assert_same_walks(results, 256, 512, 8)


@pytest.mark.gpu
def test_line_walk_with_block_runs_compiled():
    """The same compiled, at the module's block: conv 3->16's walk (131,072 reads of 27
    lines, 4,855 runs and a part) with seeds, and 2,048 runs without."""
    launch = triton_function("line_walk_cuda", "line_walk_triton", interpret=False)
    _check_line_walk(launch, 5, 3, 131072, 27, torch.float32, "cuda", 2**31 - 5,
                     reads=2**40 + 3)
    _check_line_walk(launch, 5, 3, 32768, 16, None, "cuda")


def _check_grouped_walk(launch, device, seeded):
    """Three schedules at different lines walk in one launch as each walks alone: their
    snapshots (with each tile's read seeds from its own offset), advances and read
    counters, each tile's one-hot rows in its own columns."""
    line = torch.tensor([3, 0, 5], device=device)
    passes = torch.tensor([2, 0, 7], device=device)
    ledger = torch.tensor([[0, 4], [0, 9], [0, 2**40]], device=device)
    offsets = torch.tensor([11, 2**31 - 5, 7], device=device) if seeded else None
    snapshot, onehot = launch(line, passes, 4, 6, torch.float32, ledger[:, 1], offsets)
    assert line.tolist() == [1, 4, 3] and passes.tolist() == [3, 0, 8]
    assert ledger[:, 1].tolist() == [8, 13, 2**40 + 4] and ledger[:, 0].tolist() == [0] * 3
    assert all(snapshot[:, j].is_contiguous() for j in range(snapshot.shape[1]))
    for g, (start, before, read) in enumerate(((3, 2, 4), (0, 0, 9), (5, 7, 2**40))):
        alone = torch.tensor(start), torch.tensor(before)
        snap, one = kernels.line_walk_torch(*alone, 4, 6, torch.float32, torch.tensor([read]),
                                            None if offsets is None else int(offsets[g]))
        assert snapshot[g].tolist() == snap.tolist()
        assert torch.equal(onehot[:, 6 * g:6 * g + 6].cpu(), one)


def test_grouped_line_walk_interpreted_matches_twin():
    for seeded in (False, True):
        _check_grouped_walk(triton_function("line_walk_cuda", "line_walk_grouped_triton",
                                            interpret=True), "cpu", seeded)
        _check_grouped_walk(kernels.line_walk_grouped_torch, "cpu", seeded)


def test_read_seeds_need_the_reads_counted():
    for run in (triton_function("line_walk_cuda", "line_walk_triton", interpret=True),
                kernels.line_walk_torch):
        with pytest.raises(ValueError, match="reads counted"):
            run(torch.tensor(0), torch.tensor(0), 3, 5, torch.float32, None, 7)


@pytest.mark.gpu
def test_line_walk_compiled_matches_twin():
    launch = triton_function("line_walk_cuda", "line_walk_triton", interpret=False)
    _check_line_walk(launch, 700, 3, 256, 784, torch.float32, "cuda")
    _check_line_walk(launch, 100, 9, 256, 128, torch.float32, "cuda")
    _check_line_walk(launch, 5, 0, 32, 10, None, "cuda")
    _check_line_walk(launch, 100, 9, 256, 128, torch.float32, "cuda", 2**31 - 5,
                     reads=2**40 + 3)
    grouped = triton_function("line_walk_cuda", "line_walk_grouped_triton", interpret=False)
    _check_grouped_walk(grouped, "cuda", False)
    _check_grouped_walk(grouped, "cuda", True)


# ------------------------------------------ several passes in one call (chopped steps) ------
def _check_write_passes(launch, case, device, n_out=5, n_lines=4, count=11, start=2):
    chopper, means = CHOPPERS[case] if case else (None, False)
    gen = torch.Generator().manual_seed(3)
    reads = 0.05 * torch.randn(count, n_out, generator=gen)
    state = _pass_state(n_out, n_lines, gen, means)
    options = dict(columns=True, lr=0.2, granularity=0.004, desired_bl=5, long_train=False,
                   update_management=True, update_bl_management=True, um_grad_scale=1.0,
                   scale=1.0, threshold=0.01, max_steps=3, momentum=0.2)
    if chopper is not None:
        options |= dict(chopper=chopper, passes=torch.tensor(3, device=device),
                        flip_draws=torch.rand(count, generator=gen).to(device)
                        if chopper.flip_prob > 0 else None)
    results = []
    for run in (launch, transfer_write_torch):
        mine = {k: v.clone().to(device) for k, v in state.items()}
        mine |= {"train_slots": torch.zeros(1, dtype=torch.int64, device=device),
                 "calls": torch.tensor(7, device=device)}
        results.append((run(reads.to(device), torch.tensor(start, device=device), n_lines,
                            **mine, **options), mine))
    (got, got_state), (want, want_state) = results
    for a, b in zip(got, want, strict=True):
        assert a.shape == b.shape
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)
    for name in got_state:
        torch.testing.assert_close(got_state[name], want_state[name], rtol=1e-6, atol=1e-7)
    assert int(got_state["calls"]) == 7 + -(-count // n_lines)  # one call per pass
    assert want[0].argmax(1).tolist() == [(start + b) % n_lines for b in range(count)]
    return state, want_state


@pytest.mark.parametrize("case", [None, *CHOPPERS])
def test_transfer_write_of_several_passes_interpreted_matches_twin(case):
    """More reads than lines (a chopped step's transfers in one call): one program per line
    walks its passes in order; the twin makes the single-pass calls in turn. 11 reads of 4
    lines from line 2: passes 3 (lines 2, 3), 4, 5 and 6 (line 2)."""
    launch = loose_write(triton_function("transfer_write_cuda", "transfer_write_triton",
                                         interpret=True))
    state, want_state = _check_write_passes(launch, case, "cpu")
    if case == "period":  # odd passes end a period: lines 2, 3 switch in 3 and 5, 0, 1 in 5
        assert (want_state["in_sign"] != state["in_sign"]).tolist() == [True, True, False, False]


@pytest.mark.parametrize("case", [None, *CHOPPERS])
def test_split_write_of_several_passes_matches_twin(case, monkeypatch):
    """The split write from one pass a line against the twin's single-pass calls, with no
    chopper too (a buffered write whose switches launch nothing)."""
    launch = triton_function("transfer_write_cuda", "transfer_write_triton", interpret=True)
    monkeypatch.setitem(launch.__globals__, "SPLIT_WRITE_MIN_PASSES", 1)
    _check_write_passes(loose_write(launch), case, "cpu")


@pytest.mark.gpu
@pytest.mark.parametrize("case", [None, *CHOPPERS])
def test_transfer_write_of_several_passes_compiled_matches_twin(case):
    launch = loose_write(triton_function("transfer_write_cuda", "transfer_write_triton",
                                         interpret=False))
    _check_write_passes(launch, case, "cuda", n_out=64, n_lines=27, count=27 * 40 + 5,
                        start=20)


def _write_passes(columns, case, passes_at_once, device="cpu", shape=(4, 3), extra=1):
    """A chopped transfer's constant-step writes of two passes over C's lines and
    ``extra`` lines more: one ``transfer_lines_triton`` call, or the single-pass calls it
    stands for (the walk's runs: each with its own pass, read seed and call of the
    counter); interpreted on the CPU, compiled on CUDA."""
    write = triton_function("transfer_write_cuda", "transfer_lines_triton", device == "cpu")
    chopper, means = CHOPPERS[case]
    gen = torch.Generator().manual_seed(8)
    cp = make_cell(kernels.CELL_CONSTANT, *shape, gen)
    weight = start_weight(cp, gen)
    n_len, width = shape if columns else shape[::-1]
    count = 2 * width + extra
    reads = 0.3 * torch.randn(count, n_len, generator=gen)
    state = _pass_state(n_len, width, gen, means)
    p = kernels.TransferWriteParams(columns, 0.05, 0.06, 5, False, True, True, 1.0,
                                    kernels.BufferParams(1.0, 0.01, 3, 0.2, True, 0.0, False))
    cell = kernels.CellParams(kernels.CELL_CONSTANT, 0.3, True, (), None)
    start, passes = torch.tensor(width - 2), torch.tensor(4)
    read_seeds = torch.tensor([2**40 + 5 + 977 * r for r in range(-(-count // width))])
    calls = torch.tensor(3)
    cells = torch.zeros(*shape, dtype=torch.int32)
    slots = torch.zeros(1, dtype=torch.int64)
    total = torch.tensor(5)
    cp, weight, reads, start, passes, read_seeds, calls, cells, slots, total = (
        t.to(device) for t in (cp, weight, reads, start, passes, read_seeds, calls, cells,
                               slots, total))
    state = {k: v.to(device) for k, v in state.items()}
    calls_of = [(slice(0, count), 0)] if passes_at_once else [
        (slice(b, b + width), r) for r, b in enumerate(range(0, count, width))]
    for rows, r in calls_of:
        seeds = read_seeds if passes_at_once else read_seeds[r:r + 1]
        write(weight, cp, reads[rows], start, p, cell, max_bl=5, calls=calls,
              seed=kernels.seeds.KeyedSeed(calls, 11), cell_pulses=cells, train_slots=slots,
              add_to=total, chopper=chopper, passes=passes + r, flip_seed=seeds, **state)
    return weight, cells, int(total), int(calls), int(slots), state


def _check_passes_at_once(columns, case, device="cpu", shape=(4, 3), extra=1):
    at_once = _write_passes(columns, case, True, device, shape, extra)
    in_turn = _write_passes(columns, case, False, device, shape, extra)
    for a, b in zip(at_once[:2], in_turn[:2], strict=True):
        assert torch.equal(a, b)
    width = shape[1] if columns else shape[0]
    runs = -(-(2 * width + extra) // width)  # a call of the counter per pass
    assert at_once[2:5] == in_turn[2:5] and at_once[3] == 3 + runs and at_once[2] > 5
    for name, value in at_once[5].items():
        assert torch.equal(value, in_turn[5][name]), name


@pytest.mark.parametrize(("columns", "case"), [(True, "agad"), (False, "random")],
                         ids=["columns-agad", "rows-random"])
def test_transfer_lines_of_several_passes_equal_the_single_pass_calls(columns, case):
    """A step's chopped transfers in one write (constant steps: two launches) give the very
    numbers of the runs of one pass it replaces: the buffer, the choppers, AGAD's means, the
    switches drawn from each pass's read seed, and the pulses drawn under each pass's
    seed of the call counter."""
    _check_passes_at_once(columns, case, extra=-1)


@pytest.mark.gpu
@pytest.mark.parametrize("case", list(CHOPPERS))
@pytest.mark.parametrize("columns", [True, False], ids=["columns", "rows"])
def test_transfer_lines_of_several_passes_compiled_equal_the_single_pass_calls(columns,
                                                                               case):
    _check_passes_at_once(columns, case, "cuda", shape=(16, 144), extra=101)


def _check_split_lines(columns, case, device="cpu", shape=(4, 3), extra=2):
    """A chopped step's constant-step writes (one ``transfer_lines_triton`` call) with
    the one-line kernel, then the split write from one pass a line (``SPLIT_WRITE_MIN_PASSES``;
    its one-hot rows a broadcast column: ``hot_only``): C, its wear, the pulses, calls, slots
    and every state the same."""
    module = triton_function("transfer_write_cuda", "transfer_lines_triton",
                             device == "cpu").__globals__
    saved = module["SPLIT_WRITE_MIN_PASSES"]
    runs = []
    try:
        for on in (False, True):
            module["SPLIT_WRITE_MIN_PASSES"] = 1 if on else 1 << 30
            runs.append(_write_passes(columns, case, True, device, shape, extra))
    finally:
        module["SPLIT_WRITE_MIN_PASSES"] = saved
    (*off, off_state), (*on, on_state) = runs
    assert torch.equal(off[0], on[0]) and torch.equal(off[1], on[1]) and off[2:] == on[2:]
    assert off[2] > 5 and off[4] > 0
    for name, value in off_state.items():
        assert torch.equal(value, on_state[name]), name


@pytest.mark.parametrize(("columns", "case"), [(True, "random"), (False, "agad"),
                                               (True, "period")])
def test_transfer_lines_of_split_write_equal_the_one_line_kernel(columns, case):
    _check_split_lines(columns, case)


@pytest.mark.gpu
@pytest.mark.parametrize("case", list(CHOPPERS))
@pytest.mark.parametrize("columns", [True, False], ids=["columns", "rows"])
def test_transfer_lines_of_split_write_compiled(columns, case):
    _check_split_lines(columns, case, "cuda", shape=(16, 144), extra=101)


# AGAD's means' update in PTX (sm_90, as compile_kernels.py compiles it; the parameters 1, 2:
# keep, mean_weight): the one-line kernel's form, then the split scan's trips before the fix
_MEANS_PTX = """
	ld.param.b32 	%r41, [_transfer_write_kernel_param_1];
	ld.param.b32 	%r42, [_transfer_write_kernel_param_2];
	mul.f32 	%r65, %r42, %r211;
	fma.rn.f32 	%r213, %r213, %r41, %r65;
"""
_OTHER_PRODUCT_FUSED = """
	mul.f32 	%r206, %r41, %r201;
	fma.rn.f32 	%r207, %r42, %r535, %r206;
"""


def test_compiled_means_update_form_is_checked():
    """``compile_kernels.py`` fails a kernel whose AGAD means' update ``running * keep +
    reads * mean_weight`` compiled to another form than ``reads * mean_weight`` rounded and
    ``running * keep`` fused into the add (``transfer_write_cuda._running_mean``): fp
    contraction fused one product or the other kernel by kernel, and the split scan's trips
    fused the other one from a trip's second pass on, so the split write and the one-line
    kernel gave H and the means apart in the last bit on an H100 (2026-12-07,
    ``test_transfer_lines_of_split_write_compiled[*-agad]``). The interpreter never fuses;
    compile_kernels (no GPU) compiles every walk and checks its PTX (``--walks``: those
    alone, 0 failed; 2 failed, the scans in trips, with the update written as the sum)."""
    spec = importlib.util.spec_from_file_location(
        "ptx_forms", Path(__file__).resolve().parents[1] / "scripts" / "ptx_forms.py")
    forms = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(forms)
    signature = {"r_ptr": "*fp32", "keep": "fp32", "mean_weight": "fp32", "MEANS": "constexpr"}
    assert forms.means_form(signature, {"MEANS": True}, _MEANS_PTX) is None
    assert forms.means_form(signature, {"MEANS": False}, _OTHER_PRODUCT_FUSED) is None
    for wrong in (_MEANS_PTX + _OTHER_PRODUCT_FUSED,  # keep rounded, mean_weight fused
                  _MEANS_PTX.replace("%r213, %r41, %r65", "%r65, %r213, %r41"),  # keep added
                  _MEANS_PTX.replace("_param_2]", "_param_7]")):  # mean_weight not loaded
        assert forms.means_form(signature, {"MEANS": True}, wrong)


# ------------------------------------------ a grid's writes in one call (grouped tiles) ------
def _write_group(columns, case, grouped, device="cpu", shape=(4, 3), tiles=3,
                 kind=kernels.CELL_CONSTANT, count=None, lr=0.5, p=None):
    """The constant-step transfer writes of a grid's ``tiles`` tiles, one run of lines
    each (tile 0's wrapping past the last line, AGAD's from a pass not ready), each
    tile with its own state, counters and keyed seed: one ``transfer_lines_grouped_triton``
    call, or each tile's ``transfer_lines_triton``; interpreted on the CPU, compiled on
    CUDA."""
    interpret = device == "cpu"
    chopper, means = CHOPPERS[case] if case else (None, False)
    gen = torch.Generator().manual_seed(9)
    cps = [make_cell(kind, *shape, gen) for _ in range(tiles)]
    weights = torch.stack([start_weight(cp, gen) for cp in cps])
    n_len, width = shape if columns else shape[::-1]
    reads = 0.3 * torch.randn(tiles, count or width, n_len, generator=gen)
    states = [_pass_state(n_len, width, gen, means) for _ in range(tiles)]
    state = {k: torch.stack([s[k] for s in states]) for k in states[0]} if case else {}
    if case:
        state |= {"chopper": chopper, "passes": torch.tensor([4, 6, 0][:tiles]),
                  "flip_seed": torch.tensor([[2**40 + 5 + 977 * g] for g in range(tiles)])}
    p = p or kernels.TransferWriteParams(columns, lr, 0.06, 5, False, True, True, 1.0,
                                         kernels.BufferParams(1.0, 0.01, 3, 0.2, True, 0.0,
                                                              False)
                                         if case else kernels.BufferParams())
    cell = kernels.CellParams(kind, 0.3, True, (), None)
    tensors = {"cp": torch.stack(cps), "weights": weights, "reads": reads,
               "start": torch.tensor([width - 2, 0, 1][:tiles]),
               "calls": torch.tensor([3, 8, 1][:tiles]),
               "offsets": torch.tensor([11, 12345, 2**30 + 7][:tiles]),
               "cells": torch.zeros(tiles, *shape, dtype=torch.int32),
               "slots": torch.zeros(tiles, dtype=torch.int64),
               "total": torch.tensor([5, 6, 7][:tiles]), **state}
    t = {k: v.to(device, copy=True) if isinstance(v, torch.Tensor) else v
         for k, v in tensors.items()}
    mine = {k: t[k] for k in state}
    if grouped:
        write = triton_function("transfer_write_cuda", "transfer_lines_grouped_triton",
                                interpret)
        out = write(t["weights"], t["cp"], t["reads"], t["start"], p, cell,
                    key=kernels.seeds.KeyedSeed(t["calls"], t["offsets"]), max_bl=5,
                    cell_pulses=t["cells"], train_slots=t["slots"], add_to=t["total"],
                    calls=t["calls"], **mine)
        assert out is t["total"]
    else:
        write = triton_function("transfer_write_cuda", "transfer_lines_triton", interpret)
        for g in range(tiles):
            seed = kernels.seeds.KeyedSeed(t["calls"][g], int(tensors["offsets"][g]))
            write(t["weights"][g], t["cp"][g], t["reads"][g], t["start"][g], p, cell,
                  seed=seed, max_bl=5, calls=t["calls"][g], cell_pulses=t["cells"][g],
                  train_slots=t["slots"][g:g + 1], add_to=t["total"][g],
                  **{k: v if k == "chopper" else v[g] for k, v in mine.items()})
    return tensors, t


def _check_group_write(columns, case, device="cpu", shape=(4, 3), kind=kernels.CELL_CONSTANT):
    before, grouped = _write_group(columns, case, True, device, shape, kind=kind)
    _, tiled = _write_group(columns, case, False, device, shape, kind=kind)
    for name, value in grouped.items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(value, tiled[name]), name
    # every tile pulsed, but AGAD's last before its first reference (pass 0)
    ready = torch.tensor([True, True, case != "agad"])
    assert torch.equal(grouped["total"].cpu() > before["total"], ready)
    assert torch.equal((grouped["weights"].cpu() != before["weights"]).any(2).any(1), ready)
    assert (grouped["calls"].cpu() == before["calls"] + 1).all()
    if case:
        assert not torch.equal(grouped["buffer"].cpu(), before["buffer"])


@pytest.mark.parametrize(("columns", "case", "kind"), [
    (True, None, kernels.CELL_CONSTANT), (False, "random", kernels.CELL_CONSTANT),
    (True, "agad", kernels.CELL_CONSTANT), (False, "agad", kernels.CELL_LINEAR)],
    ids=["columns-ttv1", "rows-random", "columns-agad", "rows-agad-linear"])
def test_a_grids_transfer_writes_in_one_call_equal_each_tiles(columns, case, kind):
    """A grid's writes in the launches of one tile (the tiles on a grid axis; constant
    steps: the one-hot lines' kernel, other cells the block kernel) give each tile's
    numbers of its own call, bit for bit: C, its pulse counters, the buffer, choppers and
    means, the trains' slots and the call counters."""
    _check_group_write(columns, case, kind=kind)


@pytest.mark.gpu
@pytest.mark.parametrize("kind", [kernels.CELL_CONSTANT, kernels.CELL_LINEAR],
                         ids=["constant", "linear"])
@pytest.mark.parametrize("case", [None, *CHOPPERS])
@pytest.mark.parametrize("columns", [True, False], ids=["columns", "rows"])
def test_a_grids_transfer_writes_in_one_call_compiled_equal_each_tiles(columns, case, kind):
    _check_group_write(columns, case, "cuda", shape=(40, 300), kind=kind)


def _check_lean_write(switch, columns, case, device="cpu", shape=(4, 3), count=None):
    """``switch`` (``HOT_ONLY_ROWS`` or ``INT8_STEPS``) off, then on: a grid's constant-step
    transfer writes (one ``transfer_lines_grouped_triton`` call) leave C, its pulse
    counters, the buffer, choppers, means, slots, calls and counts the same bit for bit;
    and the trains of the one-line write kernel are the same: ``HOT_ONLY_ROWS``, the
    one-hot rows (whole, one value not zero a row) as a broadcast column of those values;
    ``INT8_STEPS``, the line probabilities as int8 values and a gain a row
    (``LineSteps``) whose twin (``materialize``) makes the same probabilities."""
    module = triton_function("transfer_write_cuda", "transfer_write_triton",
                             device == "cpu").__globals__
    saved = module[switch]
    runs, trains = [], []
    try:
        for on in (False, True):
            module[switch] = on
            runs.append(_write_group(columns, case, True, device, shape, count=count,
                                     lr=0.05)[1])
            gen = torch.Generator().manual_seed(5)
            n_len, width = shape if columns else shape[::-1]
            n = count or width
            reads = (0.3 * torch.randn(n, n_len, generator=gen)).to(device)
            state = {k: v.to(device) for k, v in _pass_state(n_len, width, gen, False).items()}
            p = kernels.TransferWriteParams(columns, 0.05, 0.06, 5, False, True, True, 1.0,
                                            kernels.BufferParams(0.6, 0.01, 3, 0.2, True, 0.0,
                                                                 False))
            got = module["transfer_write_triton"](
                reads, torch.tensor(width - 2, device=device), width, p, hot_only=True,
                int8_steps=True, buffer=state["buffer"], out_sign=state["out_sign"],
                in_sign=state["in_sign"])
            trains.append((got, state))
    finally:
        module[switch] = saved
    off, on = runs
    for name, value in off.items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(value, on[name]), name
    assert (off["total"].cpu() > torch.tensor([5, 6, 7])).any()
    ((x0, d0, bl0), s0), ((x1, d1, bl1), s1) = trains
    one0, line0, one1, line1 = (x0, d0, x1, d1) if columns else (d0, x0, d1, x1)
    assert torch.equal(bl0, bl1) and torch.equal(s0["buffer"], s1["buffer"])
    if switch == "HOT_ONLY_ROWS":
        assert one0.stride(-1) != 0 and one1.stride(-1) == 0  # the path was taken
        assert torch.equal(line0, line1)
        assert ((one0 != 0).sum(-1) <= 1).all() and torch.equal(one0.sum(-1), one1[:, 0])
        assert (one1[:, 0] > 0).any()
    else:
        assert torch.equal(one0, one1)
        assert isinstance(line1, kernels.pulsed_update_ref.LineSteps)  # the path was taken
        assert line1.values.dtype == torch.int8 and (line1.values != 0).any()
        assert torch.equal(line1.materialize(), line0)
        assert ((line0.abs() > 0) & (line0.abs() < 1)).any()  # probabilities, not all clipped


@pytest.mark.parametrize(("columns", "case"), [(True, "agad"), (False, "random"),
                                               (True, None)],
                         ids=["columns-agad", "rows-random", "columns-ttv1"])
def test_hot_only_rows_write_the_same(columns, case):
    _check_lean_write("HOT_ONLY_ROWS", columns, case)


@pytest.mark.parametrize("case", ["agad", "random"])
def test_int8_steps_write_the_same(case):
    _check_lean_write("INT8_STEPS", True, case)


@pytest.mark.gpu
@pytest.mark.parametrize("switch", ["HOT_ONLY_ROWS", "INT8_STEPS"])
@pytest.mark.parametrize("case", [None, *CHOPPERS])
def test_lean_transfer_write_compiled(case, switch):
    """The 784-4096-4096-10 MLP's transfers: 512 x 512 tiles of the 4096-wide grid, 256
    reads a tile (half its columns, a batch of 256 mat-vecs)."""
    if switch == "INT8_STEPS" and case is None:
        pytest.skip("TTv1's write is not buffered: no steps")
    _check_lean_write(switch, True, case, "cuda", shape=(512, 512), count=256)


# chopped's and AGAD's transfer write (lr = granularity, a slot a train, no update
# management, whole steps of at most 1): probabilities 0 or 1 on both sides; H's scale 5
# (reads ~0.3: about half the elements a whole step)
CHOPPED_WRITE = kernels.TransferWriteParams(True, 0.06, 0.06, 1, False, False, False, 1.0,
                                            kernels.BufferParams(5.0, 1.0, 1, 0.0, True, 0.0,
                                                                 False))


def _check_sure_write(monkeypatch, case, int8, device="cpu", shape=(6, 5), count=None):
    """``pulsed_update_cuda.SURE_PULSES`` off, then on (the one-hot wide kernel's launches
    checked for its ``SURE``): a grid's chopped transfer writes (one
    ``transfer_lines_grouped_triton`` call, with or without ``INT8_STEPS``) leave C, its
    wear, the buffer, choppers, means, slots, calls and counts the same bit for bit."""

    module = triton_function("transfer_write_cuda", "transfer_write_triton",
                             device == "cpu").__globals__
    monkeypatch.setitem(module, "INT8_STEPS", int8)
    runs = []
    for sure in (False, True):
        checked = checked_sure_pulses(monkeypatch, sure)
        runs.append(_write_group(True, case, True, device, shape, count=count,
                                 p=CHOPPED_WRITE))
        assert checked.launches == 1
    (before, off), (_, on) = runs
    for name, value in off.items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(value, on[name]), name
    assert (off["total"].cpu() > before["total"]).any()
    assert (off["weights"].cpu() != before["weights"]).any()
    # the write's probabilities are certain: 0 or 1 on the one-hot side, 0 or +-1 on lines
    gen = torch.Generator().manual_seed(5)
    n_len, width = shape
    state = {k: v.to(device) for k, v in _pass_state(n_len, width, gen, False).items()}
    x, d, _ = module["transfer_write_triton"](
        (0.3 * torch.randn(count or width, n_len, generator=gen)).to(device),
        torch.tensor(width - 2, device=device), width, CHOPPED_WRITE, buffer=state["buffer"],
        out_sign=state["out_sign"], in_sign=state["in_sign"])
    assert ((x == 0) | (x == 1)).all() and (x == 1).any()
    assert ((d == 0) | (d.abs() == 1)).all() and (d == 0).any() and (d != 0).any()


@pytest.mark.parametrize("int8", [False, True], ids=["probs", "int8"])
@pytest.mark.parametrize("case", ["random", "agad"])
def test_sure_pulses_write_the_same(monkeypatch, case, int8):
    _check_sure_write(monkeypatch, case, int8)


@pytest.mark.gpu
@pytest.mark.parametrize("int8", [False, True], ids=["probs", "int8"])
@pytest.mark.parametrize("case", list(CHOPPERS))
def test_sure_pulses_write_compiled(monkeypatch, case, int8):
    """The 784-4096-4096-10 MLP's transfers: 512 x 512 tiles of the 4096-wide grid, 256
    reads a tile (half its columns, a batch of 256 mat-vecs)."""
    _check_sure_write(monkeypatch, case, int8, "cuda", shape=(512, 512), count=256)


def _line_major(t: torch.Tensor) -> torch.Tensor:
    """``t`` (``(.., L, lines)``) stored line by line: strides ``(.., 1, L)``, the same values
    (``grouped._LINE_STATE``'s layout)."""
    return t.transpose(-2, -1).contiguous().transpose(-2, -1)


def run_write_pair(module, case, device, n_out=5, n_lines=6, count=14, start=4, seeded=False,
                   tiles=0, layout=False, split=False):
    """``transfer_write_triton`` two ways, the trains, probabilities, buffer, choppers and
    means the same bit for bit; a group of ``tiles`` tiles where given. ``layout``: the
    one-line kernel with H and the means stored row by row, then line by line
    (``_line_major``). ``split``: the one-line kernel, then the split write's three launches
    (from one pass a line; its scan in trips of 16 passes)."""
    chopper, means = CHOPPERS[case]
    gen = torch.Generator().manual_seed(4)
    lead = (tiles,) if tiles else ()
    reads = (0.05 * torch.randn(*lead, count, n_out, generator=gen)).to(device)
    states = [_pass_state(n_out, n_lines, gen, means) for _ in range(max(tiles, 1))]
    state = {k: (torch.stack([st[k] for st in states]) if tiles else states[0][k]).to(device)
             for k in states[0]}
    options = dict(columns=True, lr=0.2, granularity=0.004, desired_bl=5, long_train=False,
                   update_management=True, update_bl_management=True, um_grad_scale=1.0,
                   scale=1.0, threshold=0.01, max_steps=3, momentum=0.2, chopper=chopper,
                   passes=torch.full(lead, 3, device=device))
    runs = -(-count // n_lines)
    if seeded:
        options["flip_seed"] = (2**40 + torch.arange(max(tiles, 1) * runs) * 977).reshape(
            *lead, runs).to(device)
    elif chopper.flip_prob > 0:
        options["flip_draws"] = torch.rand(*lead, count, generator=gen).to(device)
    assert layout or split
    saved = module["SPLIT_WRITE_MIN_PASSES"]
    out = []
    try:
        for on in (False, True):
            module["SPLIT_WRITE_MIN_PASSES"] = 1 if on and split else 1 << 30
            mine = {k: _line_major(v) if on and layout and v.dim() > 1 + bool(tiles)
                    else v.clone() for k, v in state.items()}
            mine |= {"train_slots": torch.zeros(max(tiles, 1), dtype=torch.int64,
                                                device=device),
                     "calls": torch.full(lead, 7, device=device)}
            got = loose_write(module["transfer_write_triton"])(
                reads, torch.full(lead, start, device=device), n_lines, **mine, **options)
            out.append((got, mine))
    finally:
        module["SPLIT_WRITE_MIN_PASSES"] = saved
    (a, sa), (b, sb) = out
    if layout:  # changed in place, in their layout
        assert sb["buffer"].stride()[-2:] == (1, n_out) != sa["buffer"].stride()[-2:]
    for x, y in [*zip(a, b, strict=True), *((sa[k], sb[k]) for k in sa)]:
        if device == "cpu" or not x.is_floating_point():
            assert torch.equal(x, y)
        else:  # compiled, two kernels may contract floats apart
            torch.testing.assert_close(x, y, rtol=1e-6, atol=1e-7)
    assert int(sa["train_slots"].min()) > 0 and not torch.equal(sa["in_sign"], state["in_sign"])


@pytest.mark.parametrize("case, seeded, tiles", [("agad", False, 0), ("random", True, 0),
                                                  ("period", False, 0), ("random", True, 2)])
def test_split_write_is_the_one_line_kernel(case, seeded, tiles):
    """The split write (a convolution tile's many passes: the switches, the lines' walks,
    then every row's trains at once): 14 reads of 6 lines from line 4, the trains,
    probabilities, buffer, choppers, AGAD's means (period, given draws, ready lines) and
    slots of the one-line kernel bit for bit; switches drawn from the read seeds; a group of
    two tiles."""
    launch = triton_function("transfer_write_cuda", "transfer_write_triton", interpret=True)
    run_write_pair(launch.__globals__, case, "cpu", seeded=seeded, tiles=tiles, split=True)


@pytest.mark.parametrize("case, seeded, tiles, count", [
    ("agad", False, 0, 3 * 33 + 2), ("random", True, 0, 3 * 16), ("period", False, 0, 3 * 21),
    ("random", True, 2, 3 * 17 + 1), ("agad", False, 0, 7)])
def test_split_write_in_trips_is_the_one_line_kernel(case, seeded, tiles, count):
    """The split write's scan in trips of 16 passes (each trip's loads during the trip
    before): the trains, probabilities, buffer, choppers, AGAD's means (period, given draws,
    ready lines) and slots of the one-line kernel, bit for bit: 3 lines from line 1, 34
    passes a line (two whole trips and a part), exactly one trip, 21 passes, a group of two
    tiles, and 2-3 passes (one trip, mostly past the lines' last)."""
    launch = triton_function("transfer_write_cuda", "transfer_write_triton", interpret=True)
    run_write_pair(launch.__globals__, case, "cpu", n_lines=3, count=count, start=1,
                   seeded=seeded, tiles=tiles, split=True)


@pytest.mark.gpu
@pytest.mark.parametrize("case, seeded, tiles", [("agad", False, 0), ("random", True, 0),
                                                  ("random", True, 3)])
def test_split_write_compiled(case, seeded, tiles):
    """The two tests above compiled (the three launches, the scan in trips of 16, against
    the one-line kernel): a ResNet conv tile's lines (16 rows, 27 lines, 4,855 passes and a
    part), and a 64-row tile's 288 lines as a group of 3."""
    launch = triton_function("transfer_write_cuda", "transfer_write_triton", interpret=False)
    if tiles:
        run_write_pair(launch.__globals__, case, "cuda", 64, 288, 288 * 28 + 13, 100, seeded,
                       tiles=tiles, split=True)
    else:
        run_write_pair(launch.__globals__, case, "cuda", 16, 27, 131072, 5, seeded,
                       split=True)


@pytest.mark.parametrize("case, seeded, tiles", [("agad", False, 0), ("random", True, 0),
                                                  ("agad", False, 2)])
def test_transfer_write_of_line_major_state_is_the_row_major_write(case, seeded, tiles):
    """H and AGAD's means stored line by line (``grouped._LINE_STATE``; the kernel's
    ``LINE_MAJOR`` addressing): the trains, probabilities, buffer, choppers and means of
    the row-major state's write, bit for bit; one tile and a group of two."""
    launch = triton_function("transfer_write_cuda", "transfer_write_triton", interpret=True)
    run_write_pair(launch.__globals__, case, "cpu", seeded=seeded, tiles=tiles, layout=True)


@pytest.mark.gpu
@pytest.mark.parametrize("tiles", [0, 3])
@pytest.mark.parametrize("case, seeded", [("agad", False), ("random", True)])
def test_transfer_write_of_line_major_state_compiled(case, seeded, tiles):
    """The same compiled, at a 512-row tile's 700 reads of 300 lines, alone and as 3 tiles."""
    launch = triton_function("transfer_write_cuda", "transfer_write_triton", interpret=False)
    run_write_pair(launch.__globals__, case, "cuda", 512, 300, 700, 37, seeded, tiles=tiles,
                   layout=True)


