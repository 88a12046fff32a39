"""A tile's MVM seeds on the device (CUDA: one tensor advanced in place by each MVM, read
by the kernels). The host logic runs here on CPU tensors (the tile told its seeds live on
the device): the seeds the MVMs read must be the per-call seeds of the host path, call for
call, through training steps, evaluation, a step without an update, and a checkpoint."""

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
    the seeds the MVMs read (``read``: the list the patched MVM appends to) and the saved
    seed."""
    x, d = torch.rand(3, 6), 0.01 * torch.rand(3, 4)
    for step in range(3):
        t.train()
        t.mvm(x)
        if step != 2:
            t.mvm_transposed(d)
        t.pulse_update(x, d, 0.1)
        t.eval()
        for _ in range(step):
            t.mvm(x)
    t.train()
    t.mvm(x)  # a step without an update, then evaluation
    t.mvm_transposed(d)
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


def test_device_mvm_seeds_are_the_host_seeds_of_their_calls(monkeypatch):
    read = []

    def mvm(weight, x, params, seed, vectors=None):
        assert isinstance(seed, torch.Tensor) and seed.numel() == 1
        read.append(int(seed))  # what the kernels read (the stream orders it so)
        return torch.zeros(x.shape[0], weight.shape[0])

    monkeypatch.setattr(tile_module, "analog_mvm", mvm)
    t = _tile(monkeypatch)
    got, saved = _script(t, read)
    assert t.mvm_calls == len(got) == 16
    host = [seeds.mvm_seed(5, n) for n in range(1, 17)]
    low = (1 << (seeds.MVM_SEED_BITS - 1)) - 1  # the bits the kernels take
    assert [s & low for s in got] == [s & low for s in host]
    assert saved == got[12]  # the checkpoint's: the last MVM's before it
