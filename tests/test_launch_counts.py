"""The CUDA step's bookkeeping launches, counted on the CPU (``benchmarks.count_launches``:
the model's tensors faked onto CUDA, every aten operator that computes and every Triton
launch counted): a launch in a replayed graph costs ~1-2 us whatever it does, so the
counters and seeds around a counted update's kernels are held to what they need."""

from benchmarks import count_launches

SMALL = ["dataset=synthetic", "dataset.n_features=16", "dataset.n_train=64",
         "dataset.n_test=16", "lr=0.1"]
LAYERS = 2  # 16 -> 8 -> 10: two analog layers, each updated once a step


def _update_launches() -> dict:
    """The analog update's launches of a step of the small MLP (sgd, ``accumulate=batch``),
    by kind."""
    counts = count_launches.count("sgd", batch=8, steps=2, data=SMALL,
                                  extra=["update.accumulate=batch", "model.hidden=[8]"])
    key = count_launches.UPDATE_KEY
    return {k[len(key):]: v for k, v in counts.items() if k.startswith(key)}


def test_a_counted_update_spends_few_launches_on_its_counters():
    """Per analog layer and step, the update's only torch operators are its seed (three)
    and the split-K count's zeroing: the pulses go to the tile's count in the apply kernel
    (no zeroed count, no add), the call counter advances in the trains' kernel."""
    got = _update_launches()
    torch_ops = {k: v for k, v in got.items() if k.startswith("aten.")}
    seed_ops = {"aten.mul": LAYERS, "aten.add": LAYERS, "aten.bitwise_and": LAYERS}
    assert torch_ops == {**seed_ops, "aten.zeros": LAYERS}
    assert got["triton._apply_counts_kernel"] == LAYERS
    assert sum(got.values()) <= 10 * LAYERS
