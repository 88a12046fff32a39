"""The transfer schedule (``devices/schedule.py``): when transfers fall due and which lines they
read - on the host (the CPU path) and as device tensors (the CUDA path, which a replayed CUDA
graph runs; forced here on the CPU through ``walks_on_host``)."""

import functools
import pickle

import pytest
import torch
from test_transfer import device
from xbrun.kernels import seeds

from xbrun.devices.schedule import TransferSchedule
from xbrun.physics.cells import SoftBounds
from xbrun.physics.lines import LineRun


@pytest.mark.parametrize("k, period", [(4, 4), (4, 8), (32, 3), (6, 4), (5, 0), (8, 1)])
def test_due_is_predicted_and_takes_at_most_two_values(k, period):
    """The graph runner keys graphs by the transfers of a step (the phase, ``next_phase``)
    and counts replayed steps with ``replayed``: both follow ``due`` (what an eager step
    calls), through the protocol methods the runner calls."""
    schedule, replayed = TransferSchedule(7), TransferSchedule(7)
    seen = set()
    for _ in range(24):
        predicted = schedule.next_phase((k, period))
        schedule.start_step()
        assert schedule.due(k, period) == predicted
        assert schedule.step_record() == ((k, period), predicted)
        replayed.replayed((k, period))
        seen.add(predicted)
    assert len(seen) <= 2  # so at most two graphs per batch shape, whatever the tile size
    assert schedule.n_updates == replayed.n_updates == 24 * k
    assert schedule.host_counts() == replayed.host_counts()
    schedule.start_step()  # a step in which the device did not update
    assert schedule.step_record() == (None, 0) and schedule.next_phase(None) == 0
    replayed.replayed(None)
    assert replayed.n_updates == 24 * k


def _lines(runs, what):
    return torch.cat([getattr(run, what)("cpu") for run in runs])


def test_host_and_device_walks_read_the_same_lines(monkeypatch):
    host, dev = TransferSchedule(5), TransferSchedule(5)
    monkeypatch.setattr(dev, "walks_on_host", lambda: False)
    for count in [3, 3, 5, 12, 1, 4, 2]:
        on_host, on_device = host.walk(count), dev.walk(count)
        assert all(run.on_host and run.start + run.count <= 5 for run in on_host)
        assert not any(run.on_host for run in on_device)
        for run in on_device:  # distinct lines, wrapping past the last
            assert len(set(run.index("cpu").tolist())) == run.count
        assert torch.equal(_lines(on_host, "index"), _lines(on_device, "index"))
        assert torch.equal(_lines(on_host, "pass_of"), _lines(on_device, "pass_of"))
        onehots = [torch.cat([run.onehot(torch.float32, "cpu") for run in runs])
                   for runs in (on_host, on_device)]
        assert torch.equal(*onehots)
        assert sum(bool(run.pass_done()) for run in on_host) == \
            sum(int(run.pass_done()) for run in on_device)
        assert int(host.line) == int(dev.line) and int(host.passes) == int(dev.passes)
    assert host.walk(0) == dev.walk(0) == []


def test_a_device_walk_keys_each_runs_read_seed_by_the_reads_before_it(monkeypatch):
    """On CUDA the walk's kernel makes the reads' noise seeds (``seeds.read_seed``), from
    the reads its ledger counted before each run: no launch per read draws one."""
    dev = TransferSchedule(5)
    monkeypatch.setattr(dev, "walks_on_host", lambda: False)
    reads = torch.tensor([7])
    runs = dev.walk(12, onehot=torch.float32, reads=reads, seed_offset=99)
    assert [run.count for run in runs] == [5, 5, 2] and int(reads) == 19
    assert [int(run.read_seed("cpu")) for run in runs] == [
        seeds.read_seed(before, 99) for before in (7, 12, 17)]
    assert dev.walk(3, onehot=torch.float32, reads=reads)[0].read_seed("cpu") is None


@pytest.mark.parametrize("kind", ["chopped", "agad"])
def test_a_cuda_walk_past_the_last_line_reads_its_runs_at_once(monkeypatch, kind):
    """A walk that passes the last line (16 lines of 6 a step: three runs) reads A once for
    all its runs where the walk makes the read seeds (CUDA; forced here): A is the same
    for every run, so with exact cells and reads the arrays, buffers, choppers and means
    end as the host path's, run by run."""
    host, dev = _twins(monkeypatch, kind, transfer_every=1.0, in_chop_prob=0.5,
                       in_chop_random=False)
    monkeypatch.setattr(dev, "read_seed_offset", lambda generator: 11)
    reads = []

    def read_ahead(runs, gen):
        ahead = type(dev).read_ahead(dev, runs, gen)
        reads.append(None if ahead is None else [len(r) for r in ahead])
        return ahead

    monkeypatch.setattr(dev, "read_ahead", read_ahead)
    data = torch.Generator().manual_seed(7)
    for _ in range(6):
        x, d = torch.rand(16, 6, generator=data), 0.3 * torch.randn(16, 4, generator=data)
        for twin, gen in ((host, torch.Generator().manual_seed(0)),
                          (dev, torch.Generator().manual_seed(0))):
            twin.update(x, d, 0.5, gen)
    assert reads == [[6, 6, 4]] * 6  # one read of 16 lines a step
    for (name, a), (_, b) in zip(host.state_dict().items(), dev.state_dict().items(),
                                 strict=True):
        _assert_same(a, b, name)
    assert dev.slow.weight.abs().sum() > 0  # C learned


@pytest.mark.parametrize("kind", ["chopped", "agad"])
def test_a_chopped_steps_passes_go_in_one_run_as_the_runs_of_one_pass(monkeypatch, kind):
    """On CUDA (forced here) a chopped device's transfers of a step, 16 lines of 6 (three
    passes), are one run - one read, one write walking each line's passes - and leave
    exactly what the runs of one pass each leave: arrays, buffer, choppers (switched at
    random from each pass's read seed), AGAD's means, ledgers, the pulses."""
    whole, runs = (device(kind, seed=3, cell=SoftBounds(dw_min=0.01), transfer_every=1.0,
                          in_chop_prob=0.4, in_chop_random=True, buffer_granularity=0.05)
                   for _ in range(2))
    walks = []
    for dev in (whole, runs):
        monkeypatch.setattr(dev.schedule, "walks_on_host", lambda: False)
        monkeypatch.setattr(dev, "read_seed_offset", lambda generator: 11)
        monkeypatch.setattr(dev.schedule, "walk",
                            functools.partial(_counted, walks, dev.schedule.walk))
    monkeypatch.setattr(runs, "whole_walks", lambda: False)
    data = torch.Generator().manual_seed(7)
    pulses = []
    for dev in (whole, runs):
        gen = torch.Generator().manual_seed(0)
        data.manual_seed(7)
        pulses.append(sum(int(dev.update(torch.rand(16, 6, generator=data),
                                         0.3 * torch.randn(16, 4, generator=data), 0.5, gen))
                          for _ in range(6)))
    assert walks == [[16]] * 6 + [[6, 6, 4]] * 6
    assert pulses[0] == pulses[1] > 0
    for (name, a), (_, b) in zip(whole.state_dict().items(), runs.state_dict().items(),
                                 strict=True):
        _assert_same(a, b, name)
    assert int(whole.schedule.passes) > 12 and whole.slow.weight.abs().sum() > 0


def _counted(walks, walk, *args, **kwargs):
    made = walk(*args, **kwargs)
    walks.append([run.count for run in made])
    return made


def _twins(monkeypatch, kind, seed=3, **options):
    """Two devices alike; the second walks its lines as on CUDA (tensors, kernels read)."""
    host, dev = (device(kind, seed=seed, **options) for _ in range(2))
    monkeypatch.setattr(dev.schedule, "walks_on_host", lambda: False)
    return host, dev


def _assert_same(a, b, name):
    """Equal state entries: tensors exactly, extra-state dicts (counters, ledgers) key by key."""
    if isinstance(a, dict):
        assert a.keys() == b.keys(), name
        for key in a:
            _assert_same(a[key], b[key], f"{name}.{key}")
    elif isinstance(a, torch.Tensor):
        assert torch.equal(a, b), name
    else:
        assert a == b, name


def _train(dev, steps=20, seed=0, lr=0.5):
    gen = torch.Generator().manual_seed(seed)
    data = torch.Generator().manual_seed(99)
    pulses = 0
    for _ in range(steps):
        x, d = torch.rand(4, 6, generator=data), 0.3 * torch.randn(4, 4, generator=data)
        pulses += int(dev.update(x, d, lr, gen))
    return pulses


EXACT = {  # no run passes the last line, so host runs and device chunks are the same calls
    "ttv1": dict(n_reads_per_transfer=2, with_reset_prob=0.2),
    "ttv1_rows": dict(n_reads_per_transfer=2, transfer_columns=False, gamma=0.1),
    "ttv2": dict(n_reads_per_transfer=3, forget_buffer=False),
    "chopped": dict(transfer_every=2.0, in_chop_prob=0.3),
    "chopped_regular": dict(transfer_every=2.0, in_chop_prob=0.5, in_chop_random=False),
    "agad": dict(transfer_every=2.0, in_chop_prob=0.5),
    "agad_random": dict(transfer_every=2.0, in_chop_prob=0.5, in_chop_random=True,
                        forget_buffer=False, buffer_cap=2.0),
    "mixed_precision": dict(n_rows_per_transfer=2),
}


@pytest.mark.parametrize("case", sorted(EXACT))
def test_the_device_walk_trains_exactly_as_the_host_walk(monkeypatch, case):
    """With an ideal cell (exact writes) and perfect reads, the device path - line numbers,
    pass numbers, chopper switches, AGAD's first-reference mask, all as tensors - gives the
    same arrays, buffers, choppers and schedule as the host path."""
    host, dev = _twins(monkeypatch, case.split("_")[0] if case != "mixed_precision"
                       else case, **EXACT[case])
    _train(host), _train(dev)
    assert int(host.schedule.passes) >= 3  # several passes (AGAD: its first references)
    for (name, a), (_, b) in zip(host.state_dict().items(), dev.state_dict().items(),
                                 strict=True):
        _assert_same(a, b, name)
    assert not torch.equal(host.visible_weight(), device(
        case.split("_")[0] if case != "mixed_precision" else case, seed=3,
        **EXACT[case]).visible_weight())  # it learned something


@pytest.mark.parametrize("kind", ["ttv1", "ttv2", "chopped", "agad", "mixed_precision"])
def test_the_device_walk_writes_pulsed_cells_through_the_kernel_twin(monkeypatch, kind):
    """Pulsed cells: the device path writes with the kernel twin from the device start
    (the numba kernel takes host starts), wrapping past the last line."""
    options = {"mixed_precision": dict(n_rows_per_transfer=3)}.get(
        kind, dict(n_reads_per_transfer=4) if kind in ("ttv1", "ttv2") else
        dict(transfer_every=1.0, buffer_granularity=0.05))
    if kind == "agad":
        options["in_chop_prob"] = 0.5
    host, dev = _twins(monkeypatch, kind, cell=SoftBounds(dw_min=0.01), **options)
    slow_before = (dev.array if kind == "mixed_precision" else dev.slow).weight.clone()
    pulses_host, pulses_dev = _train(host, 30), _train(dev, 30)
    assert pulses_dev > 0 and pulses_dev == pytest.approx(pulses_host, rel=0.25)
    assert int(host.schedule.line) == int(dev.schedule.line)
    assert int(host.schedule.passes) == int(dev.schedule.passes)
    slow = (dev.array if kind == "mixed_precision" else dev.slow).weight
    assert not torch.equal(slow, slow_before)


FOLDED = {  # no random switches: the two paths draw the same numbers in the same order
    "chopped": dict(transfer_every=1.0, in_chop_prob=0.5, in_chop_random=False,
                    buffer_granularity=0.05),
    "agad": dict(transfer_every=1.0, in_chop_prob=0.5, buffer_granularity=0.05),
    "agad_kept": dict(transfer_every=1.0, in_chop_prob=0.4, forget_buffer=False,
                      buffer_cap=2.0, buffer_granularity=0.05),
}


@pytest.mark.parametrize("case", sorted(FOLDED))
def test_bookkeeping_folded_into_the_write_is_the_bookkeeping(monkeypatch, case):
    """The chopper switches, AGAD's means and first-reference mask done by C's write kernel
    (``line_chopper``; on CUDA) leave exactly the state of the separate torch steps."""
    kind = case.split("_")[0]
    folded, apart = (device(kind, seed=3, cell=SoftBounds(dw_min=0.01), **FOLDED[case])
                     for _ in range(2))
    for dev in (folded, apart):
        monkeypatch.setattr(dev.schedule, "walks_on_host", lambda: False)
    monkeypatch.setattr(apart, "folds_bookkeeping", lambda lines: False)
    calls = []
    line_chopper = folded.line_chopper
    monkeypatch.setattr(folded, "line_chopper",
                        lambda lines, gen: calls.append(1) or line_chopper(lines, gen))
    assert _train(folded, 12) == _train(apart, 12) > 0
    assert calls and folded.folds_bookkeeping(LineRun(torch.tensor(0), 1, 4, torch.tensor(0)))
    assert int(folded.schedule.passes) > 3  # AGAD's first references, several periods
    for (name, a), (_, b) in zip(folded.state_dict().items(), apart.state_dict().items(),
                                 strict=True):
        _assert_same(a, b, name)


HOST_FOLDED = {**FOLDED,  # on the host the write draws random switches after its seed
               "chopped_random": dict(transfer_every=1.0, in_chop_prob=0.3,
                                      buffer_granularity=0.05, out_chop_prob=0.5),
               "agad_random": dict(transfer_every=1.0, in_chop_prob=0.4, in_chop_random=True,
                                   tail_weightening=1.0, buffer_granularity=0.05),
               "agad_momentum": dict(transfer_every=1.0, in_chop_prob=0.3, forget_buffer=False,
                                     momentum=0.1, buffer_granularity=0.05)}


@pytest.mark.parametrize("case", sorted(HOST_FOLDED))
def test_host_bookkeeping_folded_into_the_numba_write_is_the_bookkeeping(monkeypatch, case):
    """On the CPU the numba write does the chopper switches, AGAD's means (their running
    mean as torch's fused multiply-add) and first-reference mask: the same state, bit for
    bit, as the separate torch steps, random switches included (drawn in the same order)."""
    pytest.importorskip("numba")
    kind = case.split("_")[0]
    folded, apart = (device(kind, seed=3, cell=SoftBounds(dw_min=0.01), **HOST_FOLDED[case])
                     for _ in range(2))
    monkeypatch.setattr(apart, "folds_bookkeeping", lambda lines: False)
    folds = []
    line_chopper = folded.line_chopper
    monkeypatch.setattr(folded, "line_chopper", lambda lines, gen: folds.append(
        chopper := line_chopper(lines, gen)) or chopper)
    binds = folded.binds  # a bound host write (``_host_writer``) folds them as well
    monkeypatch.setattr(folded, "binds", lambda lines: folds.append(
        bound := binds(lines) or None) or bound)
    assert _train(folded, 16) == _train(apart, 16) > 0
    assert folded._writer[1] is not None  # the bound write ran
    assert sum(chopper is not None for chopper in folds) >= 8  # (AGAD: not before its
    assert int(folded.schedule.passes) > 3  # first references), over several periods
    for (name, a), (_, b) in zip(folded.state_dict().items(), apart.state_dict().items(),
                                 strict=True):
        _assert_same(a, b, name)


BOUND = {"ttv1": dict(n_reads_per_transfer=2, with_reset_prob=0.2),
         "ttv1_rows": dict(n_reads_per_transfer=3, transfer_columns=False),
         "ttv2": dict(n_reads_per_transfer=3, momentum=0.2),
         "ttv2_rows_kept": dict(transfer_columns=False, forget_buffer=False, gamma=0.2,
                                transfer_io={"is_perfect": False})}


@pytest.mark.parametrize("case", sorted(BOUND))
def test_host_write_bound_once_is_the_write(monkeypatch, case):
    """TTv1/TTv2's CPU write with its arguments bound once per rate (``_host_writer``, or
    with the reads in the whole bound transfer, ``_host_mover``, where the reads are not
    perfect) leaves the state of ``write_reads``, bit for bit, and is rebound when the rate
    moves."""
    pytest.importorskip("numba")
    bound, apart = (device(case.split("_")[0], seed=3, cell=SoftBounds(dw_min=0.01),
                           **BOUND[case]) for _ in range(2))
    apart._plain = False
    made = []
    line_writer = bound.line_writer
    monkeypatch.setattr(bound, "line_writer", lambda lr: made.append(lr) or line_writer(lr))
    assert _train(bound, 12) == _train(apart, 12) > 0
    assert _train(bound, 4, lr=0.3) == _train(apart, 4, lr=0.3) > 0
    mover = bound._mover[1] is not None
    assert mover == (case == "ttv2_rows_kept")  # (the others: resets, or perfect reads)
    assert (bound._mover if mover else bound._writer)[1] is not None and len(made) == 2
    monkeypatch.undo()
    copy = pickle.loads(pickle.dumps(bound))  # the bound writer and mover stay behind
    assert copy._writer == (None, None) and copy._mover == (None, None)
    for (name, a), (_, b) in zip(bound.state_dict().items(), apart.state_dict().items(),
                                 strict=True):
        _assert_same(a, b, name)
