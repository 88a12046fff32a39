"""Early stopping and checkpoint selection on the validation split (``early_stop.*``).

Selecting the epoch, or stopping, on the test set would report a number tuned on the very
samples that score it; both read the validation split (``dataset.val_fraction``) instead.
The model of the best epoch so far is kept in ``best.pt`` (weights only), which
``xbrun evaluate`` and ``xbrun.load`` use unless told otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..schema import check

#: the weights of the best epoch on the validation split
BEST = "best.pt"


@dataclass
class EarlyStopConfig:
    """Stop after ``patience`` epochs without an improvement of ``metric`` on the validation
    split (0: never stop early). ``keep_best`` writes the best epoch's weights to ``best.pt``
    whenever there is a validation split."""

    patience: int = 0
    metric: Literal["val_loss", "val_accuracy"] = "val_loss"
    min_delta: float = 0.0  # an improvement smaller than this does not count
    keep_best: bool = True

    def validate(self, key: str) -> None:
        check(self.patience >= 0, f"{key}.patience", "an integer >= 0 (0: off)", self.patience)
        check(self.min_delta >= 0, f"{key}.min_delta", "a number >= 0", self.min_delta)


class EarlyStopping:
    """Tracks the best epoch of ``config.metric``; its state is checkpointed so that a
    resumed run stops where an uninterrupted one would."""

    def __init__(self, config: EarlyStopConfig, state: dict | None = None):
        self.config = config
        self.maximize = config.metric.endswith("accuracy")
        state = state or {}
        self.best = state.get("best")
        self.best_epoch = state.get("best_epoch", 0)
        self.stale = state.get("stale", 0)

    def update(self, epoch: int, row: dict) -> bool:
        """Record epoch ``epoch``'s ``row``; True when it is the best so far."""
        value = row.get(self.config.metric)
        if value is None:
            return False
        delta = self.config.min_delta
        better = self.best is None or (value > self.best + delta if self.maximize
                                       else value < self.best - delta)
        if better:
            self.best, self.best_epoch, self.stale = value, epoch, 0
        else:
            self.stale += 1
        return better

    @property
    def should_stop(self) -> bool:
        return 0 < self.config.patience <= self.stale

    def state_dict(self) -> dict:
        return {"best": self.best, "best_epoch": self.best_epoch, "stale": self.stale}
