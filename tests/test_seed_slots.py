"""``tile.SEED_SLOTS``: a training step's MVM seeds taken from two slots made ahead and
advanced once at the tile's update, instead of one add per MVM. The host logic runs here on
CPU tensors (the tile told its seeds live on the device): the seeds the MVMs read must be
the per-call seeds of the path without slots, call for call, through training steps,
evaluation, a step without an update, and a checkpoint."""

import pytest
import torch
from xbrun.kernels import seeds

from xbrun.composition import compose
from xbrun.tiles import tile as tile_module
from xbrun.tiles.tile import AnalogTile


def _tile(monkeypatch):
    cfg = compose(["device=sgd", "io=default"])
    t = AnalogTile(4, 6, device_config=cfg.device, cell=cfg.cell, io=cfg.io,
                   update=cfg.update, seed=5)
    monkeypatch.setattr(t, "_device_seeds", lambda: True)  # CPU tensors play the device
    return t


def _script(t, read):
    """Training steps (a forward, a backward - not on the last -, the update), evaluation
    MVMs between them, a step whose MVMs get no update, a checkpoint round trip. Returns
    the seeds the MVMs read (``read``: the list the patched MVM appends to) and each
    update's slots-advancing launches (adds on the seed tensors, via ``read``)."""
    x, d = torch.rand(3, 6), 0.01 * torch.rand(3, 4)
    slots = tile_module.SEED_SLOTS
    for step in range(3):
        t.train()
        t.mvm(x)
        before = None if t._mvm_slots is None else t._mvm_slots.clone()
        if step != 2:
            t.mvm_transposed(d)
        if slots:  # a training step's MVMs move no slot: the update advances them once
            assert torch.equal(before, t._mvm_slots) and t._mvm_pending == (2 - (step == 2))
        t.pulse_update(x, d, 0.1)
        assert t._mvm_pending == 0
        t.eval()
        for _ in range(step):
            t.mvm(x)
        assert t._mvm_pending == 0 and not t._mvm_advance  # as a captured step left it
    t.train()
    t.mvm(x)  # a step without an update (its slots left taken: host state a graph runner
    t.mvm_transposed(d)  # sees move, so the step stays eager), then evaluation
    assert t._mvm_pending == (2 if slots else 0)
    t.eval()
    t.mvm(x)
    t.train()
    t.mvm(x)
    t.mvm_transposed(d)
    state = t.get_extra_state()
    t.set_extra_state(state)
    t.mvm(x)
    t.mvm_transposed(d)
    t.mvm(x)  # a third before the update
    t.pulse_update(x, d, 0.1)
    return list(read), state["mvm_seed"]


def test_seed_slots_give_every_mvm_the_seed_of_its_call(monkeypatch):
    runs = []
    for slots in (False, True):
        monkeypatch.setattr(tile_module, "SEED_SLOTS", slots)
        read = []

        def mvm(weight, x, params, seed, vectors=None, read=read):
            assert isinstance(seed, torch.Tensor) and seed.numel() == 1
            read.append(int(seed))  # what the kernels read (the stream orders it so)
            return torch.zeros(x.shape[0], weight.shape[0])

        monkeypatch.setattr(tile_module, "analog_mvm", mvm)
        t = _tile(monkeypatch)
        runs.append(_script(t, read))
        assert t.mvm_calls == len(read) == 16
        if slots:
            assert t._mvm_slots is not None and t._mvm_pending == 0
    (off, saved_off), (on, saved_on) = runs
    host = [seeds.mvm_seed(5, n) for n in range(1, 17)]
    low = (1 << (seeds.MVM_SEED_BITS - 1)) - 1  # the bits the kernels take
    assert [s & low for s in off] == [s & low for s in host]
    assert on == off and saved_on == saved_off


@pytest.mark.gpu
@pytest.mark.parametrize("case", [["device=sgd"], ["device=chopped", "update.accumulate=batch"]])
def test_gpu_seed_slots_train_as_without_eager_and_replayed(monkeypatch, tmp_path, case):
    """Compiled, default (noisy) I/O, 3 epochs with evaluations between them: with
    ``SEED_SLOTS`` the metrics equal those without it exactly, eagerly and with the step
    captured and replayed (a replay that took its slots wrong would draw a step's noise
    again)."""
    from test_graphs import _run

    rows = {}
    for slots in (False, True):
        monkeypatch.setattr(tile_module, "SEED_SLOTS", slots)
        for graphs in ("off", "on"):
            logged = []
            _, got = _run(tmp_path, f"{slots}-{graphs}", [*case, f"cuda_graphs={graphs}"],
                          logged=logged)
            if graphs == "on":
                assert any("captured the training step" in line for line in logged)
            rows[slots, graphs] = [{k: v for k, v in r.items() if k != "seconds"} for r in got]
    assert rows[True, "off"] == rows[False, "off"]
    assert rows[True, "on"] == rows[False, "on"]
