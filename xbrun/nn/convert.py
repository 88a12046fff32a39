"""Turn any ``torch.nn.Module`` into its analog twin layer by layer, and back.

``mapping.analog_layers`` picks the layers: ``all`` (every ``nn.Linear`` / ``nn.Conv2d``),
``none``, ``all_but_first``, ``all_but_last``, ``all_but_first_last`` (first and last in
module order, e.g. to keep the input and classifier layers digital), or a list of module names
as ``model.named_modules()`` spells them (glob patterns such as ``features.*`` allowed).
"""

from __future__ import annotations

import fnmatch

import torch
from torch import nn

from ..errors import ConfigError
from ..tiles.mapping import FactorizeConfig
from ..tiles.periphery import TileWithPeriphery
from .conv import AnalogConv2d
from .factorize import FactorizedConv2d, FactorizedLinear, factorize_module
from .linear import AnalogLayer, AnalogLinear
from .spec import AnalogSpec, TileFactory

__all__ = ["AnalogSpec", "analog_layers", "analog_tiles", "convert_to_analog",
           "convert_to_digital", "factorize_model", "mapping_summary", "select_layers"]


def _candidates(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """Linear / Conv2d layers in module order (not those inside attention blocks, which
    use their projection weights directly)."""
    skip: set[int] = set()
    found = []
    for name, module in model.named_modules():
        if id(module) in skip:
            continue
        if isinstance(module, nn.MultiheadAttention):
            skip.update(id(m) for m in module.modules())
            continue
        if type(module) in (nn.Linear, nn.Conv2d):
            found.append((name, module))
    return found


def select_layers(model: nn.Module, analog_layers: str | list[str] = "all") -> list[str]:
    """Names of the layers ``analog_layers`` makes analog (see the module docstring)."""
    names = [name for name, _ in _candidates(model)]
    if isinstance(analog_layers, str):
        chosen = {"all": names, "none": [], "all_but_first": names[1:],
                  "all_but_last": names[:-1], "all_but_first_last": names[1:-1]}
        if analog_layers not in chosen:
            raise ConfigError(f"mapping.analog_layers: expected one of {', '.join(chosen)} "
                              f"or a list of layer names, got {analog_layers!r}")
        return chosen[analog_layers]
    picked = []
    for pattern in analog_layers:
        hits = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
        if not hits:
            raise ConfigError(f"mapping.analog_layers: {pattern!r} matches no Linear/Conv2d "
                              f"layer; the model's layers are: {', '.join(names) or '(none)'}")
        picked += [n for n in hits if n not in picked]
    return [n for n in names if n in picked]


def convert_to_analog(model: nn.Module, spec: AnalogSpec) -> nn.Module:
    """Replace the selected ``nn.Linear`` / ``nn.Conv2d`` layers (in place; the root module
    may itself be replaced, so use the return value) by analog twins with the same weights.

    Tiles are numbered in module order (see :class:`TileFactory`), so a seed fixes them all.
    """
    factory = TileFactory(spec)
    selected = set(select_layers(model, spec.mapping.analog_layers))
    replaced: dict[str, nn.Module] = {}
    for name, module in _candidates(model):
        if name not in selected:
            continue
        try:
            if isinstance(module, nn.Conv2d):
                new = AnalogConv2d.from_digital(module, spec, factory)
            else:
                new = AnalogLinear.from_digital(module, spec, factory)
        except ConfigError as err:
            raise ConfigError(f"mapping.analog_layers: layer {name or '(root)'!r}: {err}; "
                              "keep it digital by listing the analog layers") from None
        new.train(module.training)
        replaced[name] = new
    return _replace(model, replaced)


def _replace(model: nn.Module, replaced: dict[str, nn.Module]) -> nn.Module:
    if "" in replaced:
        return replaced[""]
    for name, new in replaced.items():
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, new)
    return model


def convert_to_digital(model: nn.Module) -> nn.Module:
    """Export: analog layers become ``nn.Linear`` / ``nn.Conv2d`` with their logical weights
    (all digital scales applied)."""
    replaced = {}
    for name, module in model.named_modules():
        if isinstance(module, (AnalogLinear, AnalogConv2d)):
            device = module.tiles.tiles[0].pulses.device
            replaced[name] = module.to_digital().to(device).train(module.training)
    return _replace(model, replaced)


def analog_layers(model: nn.Module) -> list[AnalogLayer]:
    return [m for m in model.modules() if isinstance(m, AnalogLayer)]


def analog_tiles(model: nn.Module) -> list[TileWithPeriphery]:
    return [m for m in model.modules() if isinstance(m, TileWithPeriphery)]


@torch.no_grad()
def factorize_model(model: nn.Module, cfg: FactorizeConfig, inputs: torch.Tensor) -> dict:
    """Low-rank surgery before mapping: ``factorize_module`` with the config's thresholds,
    fitted on the first ``cfg.calibration_samples`` rows of ``inputs``. Returns its report
    (``{}`` when disabled or when no layer qualifies)."""
    if not cfg.enabled:
        return {}
    return factorize_module(model, inputs[: cfg.calibration_samples], rank=cfg.rank,
                            min_features=cfg.min_features, min_channels=cfg.min_channels,
                            n_iters=cfg.n_iters)


def mapping_summary(model: nn.Module) -> dict:
    """How the model sits on hardware: tiles, analog devices (crossbar elements, bias columns
    included), weights left digital, and how many layers are factorized pairs."""
    tiles = analog_tiles(model)
    digital = sum(m.weight.numel() for m in model.modules()
                  if type(m) in (nn.Linear, nn.Conv2d))
    return {"tiles": len(tiles),
            "analog_layers": len(analog_layers(model)),
            "analog_devices": sum(t.d_size * t.x_size for t in tiles),
            "digital_weights": digital,
            "factorized_layers": sum(isinstance(m, (FactorizedLinear, FactorizedConv2d))
                                     for m in model.modules())}
