"""The trained network as deployed hardware (``eval.*``): its analog weights programmed once
into inference tiles with the noise of a device model, read back at times after programming.

Each repeat programs every analog layer anew (its own seeded draws); at each time in
``eval.times`` the layers get the weights read then (drift, 1/f read noise, optionally global
drift compensation) and the test accuracy is measured. ``eval.noise=none`` leaves the
trained weights untouched, so it reproduces the run's own test score.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch

from ..errors import ConfigError
from ..kernels import seeds
from ..nn.convert import analog_layers
from ..physics.inference_noise import NOISE_MODELS, ProgrammedWeight
from ..schema import check

#: 1 s, 1 h, 1 day, 30 days, 1 year after programming
DEFAULT_TIMES = [1.0, 3600.0, 86400.0, 2592000.0, 31536000.0]


@dataclass
class EvalConfig:
    """``eval.*``: how ``xbrun evaluate`` (and ``eval.after_training``) deploys the model."""

    times: list[float] = field(default_factory=lambda: list(DEFAULT_TIMES))  # s after programming
    noise: Literal["pcm", "reram", "none"] = "pcm"  # physics/inference_noise.py
    drift_compensation: bool = True  # aihwkit's global drift compensation
    repeats: int = 3  # independent programmings: mean and sd over them
    seed: int = 0  # of the programming and read noise
    after_training: bool = False  # xbrun train: evaluate as the last step (analog runs)

    def validate(self, key: str) -> None:
        times = list(self.times)
        check(len(times) > 0, f"{key}.times", "a non-empty list of seconds after programming, "
              "e.g. [1, 3600, 86400]", times)
        check(all(t > 0 for t in times), f"{key}.times", "positive seconds after programming",
              times)
        check(all(a < b for a, b in zip(times[:-1], times[1:], strict=True)), f"{key}.times",
              "strictly increasing seconds", times)
        check(self.repeats >= 1, f"{key}.repeats", "an integer >= 1", self.repeats)
        check(self.seed >= 0, f"{key}.seed", "an integer >= 0", self.seed)


@torch.no_grad()
def deployed_scores(model, score, config: EvalConfig) -> list[dict]:
    """One record per time: ``{"time", "accuracy", "accuracy_sd", "loss", "loss_sd",
    "accuracies"}`` over ``config.repeats`` programmings; ``score(model)`` returns the
    ``evaluate_model`` dict. The model's weights are restored afterwards."""
    layers = analog_layers(model)
    if not layers and config.noise != "none":
        raise ConfigError(f"eval.noise: {config.noise} needs analog layers to program; this "
                          f"model has none (a digital run, device=fp): use eval.noise=none")
    saved = [layer.get_weights() for layer in layers]
    runs: list[list[dict]] = []
    try:
        for repeat in range(config.repeats if config.noise != "none" else 1):
            if config.noise == "none":
                runs.append([score(model)] * len(config.times))
                continue
            gen = torch.Generator().manual_seed(seeds.repeat_seed(config.seed, repeat))
            noise = NOISE_MODELS[config.noise]()
            programmed = [ProgrammedWeight(w.detach().cpu(), noise, gen,
                                           config.drift_compensation) for w, _ in saved]
            row = []
            for t in config.times:
                for layer, prog, (w, b) in zip(layers, programmed, saved, strict=True):
                    layer.set_weights(prog.read(t, w.dtype).to(w.device), b)
                row.append(score(model))
            runs.append(row)
    finally:
        for layer, (w, b) in zip(layers, saved, strict=True):
            layer.set_weights(w, b)
    def mean_sd(values):
        return float(values.mean()), float(values.std(unbiased=False))

    records = []
    for i, t in enumerate(config.times):
        acc = [r[i]["accuracy"] for r in runs]
        loss = torch.tensor([r[i]["loss"] for r in runs], dtype=torch.float64)
        record = {"time": t, "noise": config.noise,
                  "drift_compensation": config.drift_compensation, "repeats": len(runs)}
        if acc[0] is not None:
            record["accuracy"], record["accuracy_sd"] = mean_sd(torch.tensor(acc,
                                                                 dtype=torch.float64))
            record["accuracies"] = acc
        record["loss"], record["loss_sd"] = mean_sd(loss)
        records.append(record)
    return records
