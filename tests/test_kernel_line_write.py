"""The numba CPU kernels of the transfers against their torch twins.

``line_write`` (pulsing whole lines of an array: ``kernels/line_write_ref.py``) and
``transfer_buffer`` (read -> de-chop -> buffer -> whole steps). Exact where nothing is drawn
(given pulse counts, noise off; the buffer); in distribution (per-element means and
variances over seeds) where kernel and twin draw different random numbers.
"""

import pytest
import torch
from pulse_cases import loose_buffer, loose_lines, loose_transfer
from test_kernel_pulsed_update import CELLS, assert_same_distribution, make_cell, start_weight
from test_kernel_transfer import (
    BUFFER_OPTIONS,
    _signs,
    buffer_settings,
    check_buffer_at_thresholds,
)
from xbrun.kernels import CELL_CONSTANT

from xbrun import kernels

pytest.importorskip("numba")
from xbrun.kernels import (
    line_write_cpu,  # noqa: E402
    transfer_buffer_cpu,  # noqa: E402
)

line_write_torch = loose_lines(kernels.line_write_torch)
line_write_numba = loose_lines(line_write_cpu.line_write_numba)
transfer_buffer_torch = loose_buffer(kernels.transfer_buffer_torch)
transfer_buffer_numba = loose_buffer(transfer_buffer_cpu.transfer_buffer_numba)

M, N = 6, 9  # the array; lines 1, 4 and 7 (columns) or 0, 2, 5 (rows) are written


def _problem(cell, columns, seed=0, counts=True):
    label, kind, mult, scalars = cell
    gen = torch.Generator().manual_seed(seed)
    cp = make_cell(kind, M, N, gen)
    weight = start_weight(cp, gen)
    index = torch.tensor([1, 4, 7]) if columns else torch.tensor([0, 2, 5])
    length = M if columns else N
    line_prob = (0.2 + 0.8 * torch.rand(3, length, generator=gen)) * \
        torch.where(torch.rand(3, length, generator=gen) < 0.5, -1.0, 1.0)
    one_prob = 0.3 + 0.7 * torch.rand(3, generator=gen)
    bl = torch.tensor([5, 0, 9])
    given = torch.randint(0, 5, (3, length), generator=gen) if counts else None
    options = dict(columns=columns, cell_kind=kind, mult_noise=mult, cell_scalars=scalars,
                   counts=given)
    return weight, cp, index, one_prob, line_prob, bl, options


@pytest.mark.parametrize("columns", [True, False], ids=["columns", "rows"])
@pytest.mark.parametrize("cell", CELLS, ids=[c[0] for c in CELLS])
def test_line_write_given_counts_is_exact(cell, columns):
    weight, cp, index, one, line, bl, options = _problem(cell, columns)
    w_kernel, w_twin = weight.clone(), weight.clone()
    p_kernel = line_write_numba(w_kernel, cp, index, one, line, bl, noise_std=0.0, seed=3,
                                **options)
    p_twin = line_write_torch(w_twin, cp, index, one, line, bl, noise_std=0.0, **options)
    assert int(p_kernel) == int(p_twin) == int(options["counts"].sum())
    torch.testing.assert_close(w_kernel, w_twin, rtol=1e-5, atol=1e-6)
    written = torch.zeros(M, N, dtype=torch.bool)
    if columns:
        written[:, index] = True
    else:
        written[index, :] = True
    assert torch.equal(w_kernel[~written], weight[~written])  # other lines untouched
    assert (w_kernel[written] != weight[written]).any()


def _samples(write, cell, columns, noise, counts, reps=300):
    out = []
    for seed in range(reps):
        weight, cp, index, one, line, bl, options = _problem(cell, columns, counts=counts)
        write(weight, cp, index, one, line, bl, seed, noise_std=noise, **options)
        out.append(weight[:, index].T.reshape(-1) if columns else weight[index].reshape(-1))
    return torch.stack(out)


def _kernel(weight, cp, index, one, line, bl, seed, **options):
    line_write_numba(weight, cp, index, one, line, bl, seed=seed, **options)


def _twin(weight, cp, index, one, line, bl, seed, **options):
    line_write_torch(weight, cp, index, one, line, bl,
                     generator=torch.Generator().manual_seed(10_000 + seed), **options)


@pytest.mark.parametrize("cell", CELLS, ids=[c[0] for c in CELLS])
def test_line_write_noise_in_distribution(cell):
    """Given counts, cycle-to-cycle noise on: the written weights agree in distribution."""
    a = _samples(_kernel, cell, True, 0.3, True)
    b = _samples(_twin, cell, True, 0.3, True)
    assert (a.var(0) > 0).any()
    assert_same_distribution(a, b, what=f"{cell[0]} noisy line write")


@pytest.mark.parametrize("columns", [True, False], ids=["columns", "rows"])
def test_line_write_drawn_pulses_in_distribution(columns):
    """Drawn trains: the pulse counts (wide bounds, equal steps) agree in distribution and
    their mean is ``bl * |one_prob| * |line_prob|``."""
    cell = ("constant", CELL_CONSTANT, True, ())

    def counts(write):
        rows = []
        for seed in range(400):
            weight, cp, index, one, line, bl, options = _problem(cell, columns, counts=False)
            cp[0] = cp[1] = 1.0
            cp[2], cp[3] = 100.0, -100.0
            before = weight.clone()
            write(weight, cp, index, one, line, bl, seed, noise_std=0.0, **options)
            moved = (weight - before).abs().round()
            rows.append(moved[:, index].T.reshape(-1) if columns else moved[index].reshape(-1))
        return torch.stack(rows), (bl[:, None] * one[:, None] * line.abs()).reshape(-1)

    a, expected = counts(_kernel)
    b, _ = counts(_twin)
    assert_same_distribution(a, b, what="pulse counts", pooled=True)
    se = (a.var(0) / a.shape[0]).sqrt()
    assert ((a.mean(0) - expected).abs() <= 5 * se + 1e-9).all()
    length = a.shape[1] // 3
    assert a[:, length:2 * length].sum() == 0  # the line with bl = 0 gets nothing


def test_line_write_same_seed_same_result():
    cell = CELLS[1]
    results = []
    for _ in range(2):
        weight, cp, index, one, line, bl, options = _problem(cell, True, counts=False)
        pulses = line_write_numba(weight, cp, index, one, line, bl, noise_std=0.2, seed=11,
                                  **options)
        results.append((weight, int(pulses)))
    assert torch.equal(results[0][0], results[1][0]) and results[0][1] == results[1][1] > 0


@pytest.mark.parametrize("options", BUFFER_OPTIONS)
def test_transfer_buffer_numba_matches_twin(options):
    for n_out, n_in, count in ((9, 6, 4), (130, 5, 2), (1, 1, 1)):
        gen = torch.Generator().manual_seed(n_out + 7 * n_in + count)
        buffer = 2 * torch.randn(n_out, n_in, generator=gen)
        reads = 3 * torch.randn(count, n_out, generator=gen)
        index = torch.randperm(n_in, generator=gen)[:count]
        out_sign, in_sign = _signs(n_out, gen, "cpu"), _signs(n_in, gen, "cpu")
        args = dict(scale=0.7, threshold=0.5, max_steps=3, momentum=0.2, **options)
        buf_k, buf_t = buffer.clone(), buffer.clone()
        steps_k = transfer_buffer_numba(buf_k, reads, index, out_sign, in_sign, **args)
        steps_t = transfer_buffer_torch(buf_t, reads, index, out_sign, in_sign, **args)
        assert torch.equal(steps_k, steps_t)
        assert torch.equal(buf_k, buf_t)
        if n_out > 1:
            assert (steps_t != 0).any() and (steps_t == 0).any()


def test_transfer_buffer_numba_matches_twin_at_the_thresholds():
    """Every option drawn, H and the steps bit for bit over transfers at the thresholds
    (``check_buffer_at_thresholds``): the kernel once kept the remainder in float64 and
    rounded ``1 - momentum`` and ``buffer_cap * threshold`` unlike the twin - a last bit
    of H that flipped a step some transfers later."""
    check_buffer_at_thresholds(transfer_buffer_numba, buffer_settings(0, 30))


# ------------------------------------------------------------------ transfer_lines ------
TRAINS = [  # update_bl_management, update_management, long_train, um_grad_scale
    (True, True, False, 1.0), (False, True, False, 0.5), (False, False, True, 1.0)]


def _transfer_problem(columns, buffered, trains, seed=0):
    ubm, um, long_train, ugs = trains
    gen = torch.Generator().manual_seed(seed)
    cp = make_cell(CELL_CONSTANT, M, N, gen, degenerate=False)
    cp[0] = cp[1] = 1.0  # unit steps, wide bounds: a weight change counts pulses
    cp[2], cp[3] = 1e3, -1e3
    length = M if columns else N
    reads = 0.05 * torch.randn(3, length, generator=gen)
    reads[1, :2] = 0.0
    lr = 0.03 if long_train else (0.004 if buffered else 0.2)  # buffered: steps of g
    options = dict(lr=lr, granularity=0.004, desired_bl=5,
                   long_train=long_train, update_management=um, update_bl_management=ubm,
                   um_grad_scale=ugs)
    if buffered:
        n_lines = N if columns else M
        options.update(buffer=0.02 * torch.randn(length, n_lines, generator=gen),
                       out_sign=_signs(length, gen, "cpu"), in_sign=_signs(n_lines, gen, "cpu"),
                       scale=1.0, threshold=0.01, max_steps=3, momentum=0.6,
                       forget_buffer=False, buffer_cap=2.5)  # 1 - 0.6, 2.5 * 0.01: numbers
    # whose float32 products round otherwise than once from double, as the twin takes them
    return torch.zeros(M, N), cp, reads, options


@pytest.mark.parametrize("trains", TRAINS)
@pytest.mark.parametrize("buffered", [False, True], ids=["direct", "buffered"])
@pytest.mark.parametrize("columns", [True, False], ids=["columns", "rows"])
def test_transfer_lines_numba_matches_twin(columns, buffered, trains):
    """The buffer exactly; the written pulses per element in distribution."""
    from xbrun.kernels.transfer_write_cpu import transfer_lines_numba as numba

    transfer_lines_numba = loose_transfer(numba)
    transfer_lines_torch = loose_transfer(kernels.transfer_lines_torch)

    cell = dict(columns=columns, cell_kind=CELL_CONSTANT, noise_std=0.0, mult_noise=True)
    samples = {"numba": [], "twin": []}
    buffers = {}
    for seed in range(300):
        for which in ("numba", "twin"):
            weight, cp, reads, options = _transfer_problem(columns, buffered, trains)
            if which == "numba":
                pulses = transfer_lines_numba(weight, cp, reads, 2, seed=seed, **cell, **options)
            else:
                pulses = transfer_lines_torch(weight, cp, reads, 2, **cell, **options,
                                              generator=torch.Generator().manual_seed(seed))
            assert int(pulses) == int(weight.abs().sum().round())
            written = weight[:, 2:5] if columns else weight[2:5]
            assert int(pulses) == int(written.abs().sum().round())  # only the read lines
            samples[which].append(written.reshape(-1))
            if buffered and seed == 0:
                buffers[which] = options["buffer"]
    if buffered:
        assert torch.equal(buffers["numba"], buffers["twin"])
    a, b = torch.stack(samples["numba"]), torch.stack(samples["twin"])
    moving = (a.var(0) > 0) | (b.var(0) > 0)  # elements some draw moved (others: none)
    assert torch.equal(a[:, ~moving], b[:, ~moving]) and a.abs().sum() > 0
    assert moving.any() or trains[2]  # long trains fire surely
    if moving.any():
        assert_same_distribution(a[:, moving], b[:, moving], what="transferred pulses",
                                 pooled=True)


@pytest.mark.parametrize("passes", [4, 5], ids=["not-ready", "ready"])
@pytest.mark.parametrize("case", ["random", "period", "agad"])
@pytest.mark.parametrize("columns", [True, False], ids=["columns", "rows"])
def test_transfer_lines_numba_folds_the_chopper_bookkeeping_as_the_twin(columns, case,
                                                                        passes):
    """The chopped devices' bookkeeping in the numba write: the buffer, the switched input
    choppers, AGAD's means (momentum 0.4: its fused multiply-add) and the train slots
    exactly as the twin's; AGAD's lines before their first reference are not written."""
    from test_kernel_transfer import CHOPPERS
    from xbrun.kernels.transfer_write_cpu import transfer_lines_numba as numba

    chopper, means = CHOPPERS[case]
    cell = dict(columns=columns, cell_kind=CELL_CONSTANT, noise_std=0.0, mult_noise=True)
    n_lines = N if columns else M
    results = []
    for which in ("numba", "twin"):
        weight, cp, reads, options = _transfer_problem(columns, True, TRAINS[0])
        gen = torch.Generator().manual_seed(1)
        length = reads.shape[1]
        if means:
            options |= {"running_mean": 0.05 * torch.randn(length, n_lines, generator=gen),
                        "past_mean": 0.05 * torch.randn(length, n_lines, generator=gen),
                        "switched": torch.rand(n_lines, generator=gen) < 0.5}
        draws = torch.rand(3, generator=gen) if chopper.flip_prob > 0 else None
        slots = torch.zeros(1, dtype=torch.int64)
        options |= {"chopper": chopper, "flip_draws": draws, "passes": passes}
        before = {k: v.clone() for k, v in options.items() if isinstance(v, torch.Tensor)}
        if which == "numba":
            pulses = loose_transfer(numba)(weight, cp, reads, 2, seed=0, train_slots=slots,
                                           **cell, **options)
        else:
            pulses = loose_transfer(kernels.transfer_lines_torch)(
                weight, cp, reads, 2, train_slots=slots, **cell, **options,
                generator=torch.Generator().manual_seed(0))
        results.append((options, slots, weight, int(pulses), before))
    (got, got_slots, got_w, got_p, before), (want, want_slots, want_w, want_p, _) = results
    for name, value in want.items():
        if isinstance(value, torch.Tensor) and name != "flip_draws":
            assert torch.equal(got[name], value), name
    assert torch.equal(got_slots, want_slots)
    flipped = got["in_sign"] != before["in_sign"]
    assert not flipped[:2].any() and not flipped[5:].any()  # the written lines 2..4 only
    if means:
        assert torch.equal(got["switched"][2:5], flipped[2:5])
    ready = not (means and passes <= chopper.ready_after)
    assert (int(got_slots) > 0) == ready and (got_p > 0) == ready == (want_p > 0)
    assert int(got_w.abs().sum().round()) == got_p


@pytest.mark.parametrize("buffered", [False, True], ids=["direct", "buffered"])
@pytest.mark.parametrize("columns", [True, False], ids=["columns", "rows"])
def test_bound_transfer_lines_is_the_numba_write(columns, buffered):
    """``bind_transfer_lines``' run, called twice, leaves weight, buffer, cell counter and
    slots exactly as two calls of ``transfer_lines_numba`` with the same seeds do."""
    from pulse_cases import _write_params
    from xbrun.kernels.params import CellParams
    from xbrun.kernels.transfer_write_cpu import bind_transfer_lines, transfer_lines_numba

    cell = CellParams(CELL_CONSTANT, 0.0, True, (), None)
    states = []
    for bound in (False, True):
        weight, cp, reads, options = _transfer_problem(columns, buffered, TRAINS[0])
        tensors = {k: options.pop(k) for k in ("buffer", "out_sign", "in_sign") if k in options}
        p = _write_params(dict(options, columns=columns))
        counter = torch.zeros(M, N, dtype=torch.int32)
        slots = torch.zeros(2, dtype=torch.int64)
        kw = dict(cell_pulses=counter, train_slots=slots[:1], **tensors)
        run = bind_transfer_lines(weight, cp, p, cell, **kw) if bound else None
        pulses = [run(reads, start, seed) if bound else
                  transfer_lines_numba(weight, cp, reads, start, p, cell, seed=seed, **kw)
                  for start, seed in ((2, 11), (3, 12))]
        states.append((weight, counter, slots, pulses, tensors.get("buffer")))
    (w0, c0, s0, p0, b0), (w1, c1, s1, p1, b1) = states
    assert torch.equal(w0, w1) and torch.equal(c0, c1) and torch.equal(s0, s1)
    assert [int(p) for p in p0] == [int(p) for p in p1] and int(c1.sum()) > 0
    assert b0 is None or torch.equal(b0, b1)


@pytest.mark.parametrize("means", [False, True], ids=["chopped", "agad"])
def test_bound_transfer_lines_with_a_chopper_is_the_numba_write(means):
    """With the chopped devices' bookkeeping (random and periodic switches, AGAD's means and
    first reference) the bound run, given each call's passes and draws, leaves every tensor
    as ``transfer_lines_numba`` does, a call before the first reference included."""
    from pulse_cases import _write_params
    from xbrun.kernels.params import CellParams, ChopperParams
    from xbrun.kernels.transfer_write_cpu import bind_transfer_lines, transfer_lines_numba

    cell = CellParams(CELL_CONSTANT, 0.0, True, (), None)
    chopper = ChopperParams(flip_prob=0.3, period=2, momentum=0.25 if means else 0.0,
                            ready_after=1 if means else -1)
    states = []
    for bound in (False, True):
        weight, cp, reads, options = _transfer_problem(True, True, TRAINS[0])
        tensors = {k: options.pop(k) for k in ("buffer", "out_sign", "in_sign")}
        signs = tensors["in_sign"].clone()
        if means:
            gen = torch.Generator().manual_seed(5)
            tensors.update(running_mean=torch.randn(M, N, generator=gen),
                           past_mean=torch.randn(M, N, generator=gen),
                           switched=torch.zeros(N, dtype=torch.bool))
        p = _write_params(dict(options, columns=True))
        counter = torch.zeros(M, N, dtype=torch.int32)
        slots = torch.zeros(2, dtype=torch.int64)
        kw = dict(cell_pulses=counter, train_slots=slots[:1], chopper=chopper, **tensors)
        run = bind_transfer_lines(weight, cp, p, cell, **kw) if bound else None
        pulses = []
        for start, seed, passes in ((2, 11, 1), (3, 12, 2), (0, 13, 3)):
            draws = torch.rand(3, generator=torch.Generator().manual_seed(seed))
            pulses.append(run(reads, start, seed, passes, draws) if bound else
                          transfer_lines_numba(weight, cp, reads, start, p, cell, seed=seed,
                                               passes=passes, flip_draws=draws, **kw))
        states.append([weight, counter, slots, *tensors.values(), torch.stack(pulses)])
    for a, b in zip(*states, strict=True):
        assert torch.equal(a, b)
    assert not torch.equal(tensors["in_sign"], signs) and int(counter.sum()) > 0
