"""What every training algorithm on a crossbar (an aihwkit "device") provides to a tile (the
transfer devices' shared schedule is ``schedule.TransferSchedule``)."""

from __future__ import annotations

import torch
from torch import nn

from ..graph_state import GraphState


class TrainingDevice(nn.Module, GraphState):
    """Owns one or more arrays and turns rank-1 updates into pulses on them.

    ``visible_weight`` is what the forward and backward MVMs see; ``update`` receives the
    rank-1 factors of the batch gradient and returns the number of device pulses it made.
    Its own step state (choppers, digital buffers, running statistics) lives in buffers it
    declares as ``graph_device_state``; its arrays and schedule declare theirs.
    """

    def visible_weight(self) -> torch.Tensor:
        raise NotImplementedError

    def set_weight(self, weight: torch.Tensor) -> None:
        raise NotImplementedError

    def update(self, x_rows: torch.Tensor, d_rows: torch.Tensor, lr: float,
               generator: torch.Generator | None,
               add_to: torch.Tensor | None = None,
               rows: torch.Tensor | None = None) -> torch.Tensor:
        """Write ``-lr * sum_k d_k x_k^T``; return the pulses applied (0-dim int64), added in
        place to ``add_to`` where given (the tile's count: on CUDA the kernels add them, no
        launch to sum) and then ``add_to`` itself. ``rows``: the tile's count of rank-1
        updates, which takes the ``k`` rows (on CUDA in the trains' kernel)."""
        raise NotImplementedError
