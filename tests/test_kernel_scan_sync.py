"""A chopped transfer write's scan in chunks that start at the passes where H forgets its
past (``transfer_write_cuda.SCAN_SYNC``) against the walk of every pass
(``_write_scan_kernel``, ``SPLIT_WRITE``): the same values, trains, probabilities, buffer,
choppers, calls and slots bit for bit. Interpreted on the CPU (chunks of 4 passes), compiled
on a GPU at the ResNet stem's shape (16 x 27, 131,072 rows: 4,855 passes a line)."""

import pytest
import torch
from pulse_cases import loose_write
from triton_modules import triton_function
from xbrun.kernels.transfer_write_ref import line_numbers, line_passes

from xbrun import kernels

CHOPPERS = {"random": kernels.ChopperParams(flip_prob=0.5),
            "period": kernels.ChopperParams(period=2)}
PASSES = 3  # full passes before the call (``passes``)


def run_sync(module, case, device, n_out, n_lines, count, start, chunk=None, seeded=False,
             momentum=0.0, line_major=False):
    """``transfer_write_triton``'s split write with ``SCAN_SYNC`` off, then on (from one pass
    a line, ``chunk`` passes a chunk): both results and states, and the starting state.
    The reads' signals: a fifth 0, a fifth under the threshold, a fifth 0.9-4 thresholds
    (a write or not, as H decides), the rest 4-40 (the ResNet stem's: a median of ~42); H
    starts at up to 2 thresholds (``line_major``: stored line by line, as
    ``grouped.LINE_MAJOR_STATE`` stores it)."""
    gen = torch.Generator().manual_seed(count + n_lines)
    threshold = 0.01
    u = torch.rand(count, n_out, generator=gen)
    v = torch.rand(count, n_out, generator=gen)
    reads = threshold * torch.where(u < 0.2, 0.0, torch.where(
        u < 0.4, 0.9 * v, torch.where(u < 0.6, 0.9 + 3.1 * v, 4.0 + 36.0 * v)))
    reads = reads * torch.where(torch.rand(count, n_out, generator=gen) < 0.5, -1.0, 1.0)
    state = {"buffer": 2 * threshold * (2 * torch.rand(n_out, n_lines, generator=gen) - 1),
             "out_sign": torch.where(torch.rand(n_out, generator=gen) < 0.5, -1.0, 1.0),
             "in_sign": torch.where(torch.rand(n_lines, generator=gen) < 0.5, -1.0, 1.0)}
    chopper = CHOPPERS[case]
    options = dict(columns=True, lr=0.2, granularity=0.004, desired_bl=5, long_train=False,
                   update_management=True, update_bl_management=True, um_grad_scale=1.0,
                   scale=1.0, threshold=threshold, max_steps=3, momentum=momentum,
                   forget_buffer=True, chopper=chopper,
                   passes=torch.tensor(PASSES, device=device))
    runs = -(-count // n_lines)
    if seeded:
        options["flip_seed"] = (2**40 + torch.arange(runs) * 977).to(device)
    elif chopper.flip_prob > 0:
        options["flip_draws"] = torch.rand(count, generator=gen).to(device)
    if line_major:
        state["buffer"] = state["buffer"].T.contiguous().T
    reads, state = reads.to(device), {k: v.to(device) for k, v in state.items()}
    saved = (module["SPLIT_WRITE"], module["SPLIT_WRITE_MIN_PASSES"], module["SCAN_SYNC"],
             module["SCAN_SYNC_MIN_PASSES"], module["SCAN_SYNC_PASSES"], module["SCAN_SYNC_TRIP"])
    out = []
    try:
        for on in (False, True):
            module["SPLIT_WRITE"], module["SPLIT_WRITE_MIN_PASSES"] = True, 1
            module["SCAN_SYNC"], module["SCAN_SYNC_MIN_PASSES"] = on, 1
            module["SCAN_SYNC_PASSES"] = chunk or saved[4]
            module["SCAN_SYNC_TRIP"] = 2 if chunk else saved[5]  # (trips of 2 passes)
            mine = {k: v.clone() for k, v in state.items()}
            mine |= {"train_slots": torch.zeros(1, dtype=torch.int64, device=device),
                     "calls": torch.tensor(7, device=device)}
            got = loose_write(module["transfer_write_triton"])(
                reads, torch.tensor(start, device=device), n_lines, **mine, **options)
            out.append((got, mine))
    finally:
        (module["SPLIT_WRITE"], module["SPLIT_WRITE_MIN_PASSES"], module["SCAN_SYNC"],
         module["SCAN_SYNC_MIN_PASSES"], module["SCAN_SYNC_PASSES"],
         module["SCAN_SYNC_TRIP"]) = saved
    return out, state


def period_switches(case, count, start, n_lines):
    """How often each line's chopper switches in a call of ``count`` reads from line
    ``start`` where it switches by period alone (``switch_choppers_torch``: in each of the
    line's passes ``p`` with ``p % period + 1 == period``); None for the random choppers."""
    if case != "period":
        return None
    start = torch.tensor(start)
    at = line_passes(start, count, n_lines, PASSES, "cpu") % CHOPPERS[case].period
    switch = (at + 1 == CHOPPERS[case].period).long()
    return torch.zeros(n_lines, dtype=torch.long).index_add_(
        0, line_numbers(start, count, n_lines, "cpu"), switch)


def assert_same_walk(out, state, switches=None):
    """Both walks alike, trains written, H changed, and the choppers switched: by period
    (``switches``: each line's count, ``period_switches``) their signs flipped an odd
    number of times and no other (a line switched an even number of times ends as it
    began: period 3 over the stem's 4,854-4,855 passes a line switches every line 1,618
    times), else (random) some sign changed."""
    (a, sa), (b, sb) = out
    for x, y in [*zip(a, b, strict=True), *((sa[k], sb[k]) for k in sa)]:
        assert torch.equal(x, y)
    assert int(sa["train_slots"].min()) > 0
    if switches is None:
        assert not torch.equal(sa["in_sign"], state["in_sign"])
    else:
        assert int(switches.sum()) > 0
        odd = (switches % 2 == 1).to(state["in_sign"].device)
        assert torch.equal(sa["in_sign"], torch.where(odd, -state["in_sign"], state["in_sign"]))
    assert not torch.equal(sa["buffer"], state["buffer"])


@pytest.mark.parametrize("case, seeded, count, chunk, line_major", [
    ("random", False, 3 * 29 + 2, 4, False), ("period", False, 3 * 33, 6, True),
    ("random", True, 3 * 9, 4, False), ("period", False, 3 * 4, 2, False)],
    ids=["random-draws", "period-line-major", "random-seeded-short", "period-even"])
def test_interpreted_sync_scan_is_the_walk(case, seeded, count, chunk, line_major):
    """3 lines from line 1, 29-33 passes a line in chunks of 4-6 in trips of 2 (some chunks
    without a sync; H stored line by line once), 9 passes with the switches drawn from the
    read seeds, 4 passes by period (every line switched twice: back to its start sign, as
    at the stem with period 3): every output and state bit for bit."""
    module = triton_function("transfer_write_cuda", "transfer_write_triton", True).__globals__
    out, state = run_sync(module, case, "cpu", 5, 3, count, 1, chunk, seeded,
                          line_major=line_major)
    assert out[0][1]["buffer"].stride() == ((1, 5) if line_major else (3, 1))
    assert_same_walk(out, state, period_switches(case, count, 1, 3))


def test_sync_scan_only_where_h_forgets(monkeypatch):
    """``SCAN_SYNC`` takes a chopped split write of one tile whose H forgets at a write
    (momentum 0) from ``SCAN_SYNC_MIN_PASSES`` passes a line; not momentum, AGAD's means
    or a group."""
    module = triton_function("transfer_write_cuda", "transfer_write_triton", True).__globals__
    monkeypatch.setitem(module, "SCAN_SYNC", True)
    monkeypatch.setitem(module, "SCAN_SYNC_MIN_PASSES", 10)
    p = kernels.TransferWriteParams(True, 0.2, 0.004, 5, False, True, True, 1.0,
                                    kernels.BufferParams(1.0, 0.01, 3, 0.0, True))
    chop = {"flags": {"MEANS": False}}
    syncs = module["_syncs"]
    assert syncs(p, chop, 30, 3, False) and not syncs(p, chop, 27, 3, False)
    assert not syncs(p, chop, 30, 3, True)
    assert not syncs(p, {"flags": {"MEANS": True}}, 30, 3, False)
    assert not syncs(p._replace(buffer=p.buffer._replace(momentum=0.1)), chop, 30, 3, False)
    assert not syncs(p._replace(buffer=p.buffer._replace(forget_buffer=False)), chop, 30, 3,
                     False)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("case, seeded", [("random", True), ("period", False)])
def test_sync_scan_compiled(case, seeded):
    """The ResNet stem's lines compiled (16 rows, 27 lines, 131,072 reads: 4,855 passes and
    a part, 38 chunks of 128; H line by line once): every output and state bit for bit;
    by period (2), 13 lines' choppers switched an odd number of times, 14 an even one."""
    module = triton_function("transfer_write_cuda", "transfer_write_triton", False).__globals__
    out, state = run_sync(module, case, "cuda", 16, 27, 131072, 5, seeded=seeded,
                          line_major=case == "random")
    assert_same_walk(out, state, period_switches(case, 131072, 5, 27))
