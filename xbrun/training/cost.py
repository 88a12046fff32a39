"""The cost ledger of a run: pulses, wear, energy and analog time per layer and in total.

The counters live where the work is done and are checkpointed there: every array's
``cell_pulses`` and ``ledger`` (train slots, transfer reads; ``physics/array.py``) and every
tile's ``mvm_vectors``. This module only reads them, at the end of an epoch (one host
sync per epoch), and prices them with ``physics/energy.py``. Energies, pulses and time are
linear in the counts, so an epoch's share is the run's total now minus at the last call;
``max_cell_pulses``, ``p99_cell_pulses``, ``lifetime_used`` and ``runs_to_wear_out`` are of
the whole run so far (wear accumulates).
"""

from __future__ import annotations

import numpy as np
import torch

from ..physics.array import CrossbarArray
from ..physics.energy import EnergyConfig, adc_energy, converter_bits, dac_energy

COUNTS = "counts.npz"  # the run folder's per-cell pulse counts (written with the checkpoint)

#: linear quantities: an epoch's value is a difference of run totals
ADDITIVE = ("pulses", "write_energy_j", "read_energy_j", "convert_energy_j", "analog_time_s")
COLUMNS = ADDITIVE + ("max_cell_pulses", "p99_cell_pulses", "lifetime_used",
                      "runs_to_wear_out")


def analog_layers_by_name(model) -> list[tuple[str, list]]:
    """``(name, tiles)`` of each analog layer (a module with ``analog_tiles``)."""
    return [(name or "model", module.analog_tiles()) for name, module in model.named_modules()
            if callable(getattr(module, "analog_tiles", None))]


def tile_arrays(tile) -> list[CrossbarArray]:
    return [m for m in tile.device_state.modules() if isinstance(m, CrossbarArray)]


class CostLedger:
    """Reads and prices a model's counters; :meth:`epoch` returns the epoch's ``cost``."""

    def __init__(self, model, energy: EnergyConfig):
        self.energy = energy
        self.layers = analog_layers_by_name(model)
        for _, tiles in self.layers:
            for tile in tiles:
                for array in tile_arrays(tile):
                    array.counting = energy.count_cells
        self.last = {name: self._run_totals(tiles) for name, tiles in self.layers}

    # -- pricing ----------------------------------------------------------------------
    def _write_price(self, array: CrossbarArray) -> float:
        if self.energy.write_energy_j > 0:
            return self.energy.write_energy_j
        return float(getattr(array.cell, "pulse_energy_j", 0.0))

    def _vector_prices(self, tile) -> tuple[float, float]:
        """Conversion energy of one forward and of one backward vector of ``tile``."""
        e, bits = self.energy, self.energy.unquantized_bits
        fwd, bwd = tile.io.forward, tile.io.backward
        n_out, n_in = tile.d_size, tile.x_size

        def b(io, res):
            return bits if io.is_perfect else converter_bits(res, bits)

        forward = (n_in * dac_energy(e, b(fwd, fwd.inp_res))
                   + n_out * adc_energy(e, b(fwd, fwd.out_res)))
        backward = (n_out * dac_energy(e, b(bwd, bwd.inp_res))
                    + n_in * adc_energy(e, b(bwd, bwd.out_res)))
        return forward, backward

    def _run_totals(self, tiles) -> dict:
        """The linear quantities of these tiles since the run began."""
        e = self.energy
        out = dict.fromkeys(ADDITIVE, 0.0)
        out["pulses"] = 0
        for tile in tiles:
            forward, backward = (int(v) for v in tile.mvm_vectors.tolist())
            fwd_price, bwd_price = self._vector_prices(tile)
            reads = slots = 0
            for array in tile_arrays(tile):
                pulses = int(array.cell_pulses.sum(dtype=torch.int64))
                out["pulses"] += pulses
                out["write_energy_j"] += pulses * self._write_price(array)
                slots_a, reads_a = (int(v) for v in array.ledger.tolist())
                slots, reads = slots + slots_a, reads + reads_a
            vectors = forward + backward + reads  # a transfer read: one forward MVM
            out["read_energy_j"] += vectors * tile.d_size * tile.x_size * e.read_energy_j
            out["convert_energy_j"] += (forward + reads) * fwd_price + backward * bwd_price
            out["analog_time_s"] += vectors * e.mvm_time_s + slots * e.pulse_time_s
        return out

    # -- wear ------------------------------------------------------------------------
    @staticmethod
    def _wear(tiles) -> tuple[list[torch.Tensor], float]:
        """Every array's counts (flat views) and the largest ``count / endurance``."""
        counts, used = [], 0.0
        for tile in tiles:
            for array in tile_arrays(tile):
                c = array.cell_pulses
                counts.append(c.reshape(-1))
                endurance = float(getattr(array.cell, "endurance", float("inf")))
                used = max(used, int(c.max()) / endurance if c.numel() else 0.0)
        return counts, used

    @staticmethod
    def _wear_stats(counts: list[torch.Tensor], used: float) -> dict:
        flat = torch.cat(counts) if counts else torch.zeros(0, dtype=torch.int32)
        if flat.numel() == 0:
            return {"max_cell_pulses": 0, "p99_cell_pulses": 0, "lifetime_used": 0.0,
                    "runs_to_wear_out": None}
        rank = max(1, int(np.ceil(0.99 * flat.numel())))  # nearest-rank percentile
        return {"max_cell_pulses": int(flat.max()),
                "p99_cell_pulses": int(flat.kthvalue(rank).values),
                "lifetime_used": used,
                "runs_to_wear_out": (1.0 / used) if used > 0 else None}

    # -- records ---------------------------------------------------------------------
    def run_cost(self) -> dict:
        """The whole run so far: totals and wear, per layer and in total."""
        return self._cost(since=None)

    def epoch(self) -> dict:
        """The epoch since the last call (totals of the additive quantities) with the
        run's wear so far; advances the ledger."""
        return self._cost(since=self.last, advance=True)

    def _cost(self, since: dict | None, advance: bool = False) -> dict:
        layers, all_counts, used_all = {}, [], 0.0
        total = dict.fromkeys(ADDITIVE, 0.0)
        total["pulses"] = 0
        now = {}
        for name, tiles in self.layers:
            run = self._run_totals(tiles)
            now[name] = run
            part = {k: run[k] - (since[name][k] if since else 0) for k in ADDITIVE}
            counts, used = self._wear(tiles)
            all_counts += counts
            used_all = max(used_all, used)
            layers[name] = {**part, **self._wear_stats(counts, used)}
            for k in ADDITIVE:
                total[k] += part[k]
        if advance:
            self.last = now
        return {"total": {**total, **self._wear_stats(all_counts, used_all)},
                "layers": layers}

    def counts(self) -> dict[str, np.ndarray]:
        """Per-cell pulse counts of the whole run: one ``(out, in)`` array per tile and
        array (``LAYER/tileT/ARRAY``), for the wear map (``counts.npz``)."""
        out = {}
        for name, tiles in self.layers:
            for t, tile in enumerate(tiles):
                for path, module in tile.device_state.named_modules():
                    if isinstance(module, CrossbarArray):
                        key = f"{name}/tile{t}/{path or 'array'}"
                        out[key] = module.cell_pulses.detach().cpu().numpy()
        return out


def cost_line(cost: dict) -> str:
    """The log line's part: the epoch's pulses and energy."""
    t = cost["total"]
    energy = t["write_energy_j"] + t["read_energy_j"] + t["convert_energy_j"]
    return f"energy {energy:.3g} J (write {t['write_energy_j']:.3g})"


__all__ = ["COLUMNS", "CostLedger", "analog_layers_by_name", "cost_line"]
