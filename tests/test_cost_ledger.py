"""The cost ledger: the arrays' per-cell counters equal the pulses the writes report, the
energy and time sums follow the model's formulas on hand-computed cases, ``--by`` gives each
group's writes against sgd's. (A real CLI run's ``cost`` and ``counts.npz``: ``test_cli.py``,
whose one-line override cases refuse bad ``energy.*`` values; report columns and wear map:
``test_sweep_report.py``.)"""

import pytest
import torch

from xbrun.composition import compose
from xbrun.physics.energy import EnergyConfig, converter_bits
from xbrun.tiles.tile import AnalogTile
from xbrun.training.cost import CostLedger


class _Layer(torch.nn.Module):
    """A model of one analog layer holding ``tile`` (what ``analog_layers_by_name`` finds)."""

    def __init__(self, tile):
        super().__init__()
        self.tile = tile

    def analog_tiles(self):
        return [self.tile]


def _tile(overrides, out=3, inp=4):
    cfg = compose(overrides)
    return AnalogTile(out, inp, device_config=cfg.device, cell=cfg.cell, io=cfg.io,
                      update=cfg.update, seed=2), cfg


@pytest.mark.parametrize("device,accumulate", [("sgd", "sample"), ("ttv2", "sample"),
                                               ("mixed_precision", "sample"), ("ttv2", "batch")])
def test_cell_counters_sum_to_the_pulses_of_every_write(device, accumulate):
    """Updates (per sample or batch-counted) and (for transfer devices) line writes into C:
    each array's counter adds up to exactly the pulses the writes returned, and lands on
    real cells only."""
    tile, _ = _tile([f"device={device}", "io=perfect", f"update.accumulate={accumulate}"],
                    out=5, inp=6)
    if device == "ttv2":
        tile.device_state.config.transfer_every = 1
    gen = torch.Generator().manual_seed(0)
    reported = 0
    for _ in range(6):
        tile.update(torch.rand(4, 6, generator=gen), 0.3 * torch.randn(4, 5, generator=gen),
                    0.5)
        reported += tile.take_counters()["pulses"]
    arrays = [m for m in tile.device_state.modules() if hasattr(m, "cell_pulses")]
    counted = sum(int(a.cell_pulses.sum()) for a in arrays)
    assert reported > 0 and counted == reported
    if device == "ttv2":  # A and C both wrote, each into its own counter
        assert all(int(a.cell_pulses.sum()) > 0 for a in arrays) and len(arrays) == 2


def test_tile_mvms_count_their_rows():
    """A tile's forward and backward MVMs add their rows to ``mvm_vectors`` (on the CPU
    through a numpy view: ``AnalogTile._counted_mvm``), also where it is a view of a
    larger tensor (a grid's tiles share one)."""
    tile, _ = _tile(["device=sgd", "io=default"])
    tile.mvm(torch.rand(5, 4))
    tile.mvm_transposed(torch.rand(2, 3))
    tile.mvm(torch.rand(1, 4))
    assert tile.mvm_vectors.tolist() == [6, 2]
    shared = torch.zeros(2, 2, dtype=torch.int64)
    tile.mvm_vectors = shared[1]
    tile.mvm_transposed(torch.rand(7, 3))
    assert shared.tolist() == [[0, 0], [0, 7]]


def test_energy_and_time_sums_by_hand():
    """One 3x4 sgd tile with set counters: every column is the formula's number."""
    tile, _ = _tile(["device=sgd", "io=default", "cell.pulse_energy_j=2e-12",
                     "cell.endurance=1000"])
    energy = EnergyConfig(read_energy_j=1e-15, adc_fom_j=1e-14, dac_unit_j=1e-15,
                          pulse_time_s=1e-9, mvm_time_s=1e-7)
    ledger = CostLedger(_Layer(tile), energy)
    array = tile.device_state.array
    array.cell_pulses.copy_(torch.tensor([[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 200]]))
    array.ledger.copy_(torch.tensor([31 * 5, 0]))  # 5 rank-1 updates of 31 slots
    tile.mvm_vectors.copy_(torch.tensor([10, 6]))
    total = ledger.epoch()["total"]
    pulses = 255
    # default io: forward and backward 7-bit DAC, 9-bit ADC
    fwd = 4 * 1e-15 * 2**7 + 3 * 1e-14 * 2**9
    bwd = 3 * 1e-15 * 2**7 + 4 * 1e-14 * 2**9
    assert total["pulses"] == pulses
    assert total["write_energy_j"] == pytest.approx(pulses * 2e-12, rel=1e-12)
    assert total["read_energy_j"] == pytest.approx(16 * 12 * 1e-15, rel=1e-12)
    assert total["convert_energy_j"] == pytest.approx(10 * fwd + 6 * bwd, rel=1e-12)
    assert total["analog_time_s"] == pytest.approx(16 * 1e-7 + 155 * 1e-9, rel=1e-12)
    assert total["max_cell_pulses"] == 200 and total["p99_cell_pulses"] == 200
    assert total["lifetime_used"] == pytest.approx(0.2)
    assert total["runs_to_wear_out"] == pytest.approx(5.0)
    # the next epoch: only what was added since
    array.cell_pulses[0, 0] += 5
    tile.mvm_vectors[0] += 1
    again = ledger.epoch()["total"]
    assert again["pulses"] == 5 and again["write_energy_j"] == pytest.approx(1e-11)
    assert again["analog_time_s"] == pytest.approx(1e-7)
    assert again["max_cell_pulses"] == 200  # wear is of the whole run
    assert ledger.run_cost()["total"]["pulses"] == 260
    # energy.write_energy_j overrides the cell's price
    override = CostLedger(_Layer(tile), EnergyConfig(write_energy_j=1e-13))
    assert override.run_cost()["total"]["write_energy_j"] == pytest.approx(260 * 1e-13)


def test_converter_bits():
    assert converter_bits(1 / (2**7 - 2), 8) == 7
    assert converter_bits(1 / (2**9 - 2), 8) == 9
    assert converter_bits(254, 8) == 8  # a number of steps
    assert converter_bits(0.0, 6) == 6  # quantizer off


def test_counting_off_leaves_the_counters_and_the_weights(tmp_path):
    on, _ = _tile(["device=sgd"])
    off, _ = _tile(["device=sgd"])
    CostLedger(_Layer(off), EnergyConfig(count_cells=False))
    gen = torch.Generator().manual_seed(1)
    x, d = torch.rand(4, 4, generator=gen), torch.randn(4, 3, generator=gen)
    on.update(x, d, 0.5)
    off.update(x, d, 0.5)
    assert torch.equal(on.get_weights()[0], off.get_weights()[0])
    assert int(on.device_state.array.cell_pulses.sum()) > 0
    assert int(off.device_state.array.cell_pulses.sum()) == 0


def test_by_device_gives_each_group_its_writes_against_sgd():
    from xbrun.sweep_report import grouped_rows

    def run(device, pulses):
        return {"status": "finished", "test_accuracy": 0.9, "test_loss": 0.3,
                "pulses": pulses, "write_energy_j": pulses * 1e-13,
                "overrides": {"device": device}}

    runs = [run("chopped", 3000), run("chopped", 5000), run("sgd", 1000), run("sgd", 1000)]
    header, body = grouped_rows(runs, "device")
    assert header[-2:] == ["write_J", "pulses / sgd"]
    ratios = {row[0]: row[-1] for row in body}
    assert ratios == {"chopped": "4x", "sgd": "1x"}
