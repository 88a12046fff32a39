"""Checks a run passes before its folder is made, so a bad config costs no ``failed`` folder.

``check_structure`` asks only the config: it builds the (digital) model for the data set's
sample shape, without loading any data, and checks what the run would otherwise find out
after it started - a ``model._target_`` that does not make a module,
``mapping.analog_layers`` patterns that match no layer, a ``mapping.factorize`` that
factorizes nothing, a ``decomposition.rank`` above a tile's width. ``check_environment``
asks the machine: the GPU of ``accelerator=cuda`` and ``cuda_graphs=on``, the data set
files, the checkpoint of ``resume``. The CLI runs both before a single run and
``check_structure`` before every job of a sweep; a sweep's jobs meet the machine checks
inside ``train`` (a job may run on another host), where a failure is recorded in that job's
folder.
"""

from __future__ import annotations

import inspect

import torch
from torch import nn

from ..errors import ConfigError
from ..nn.convert import select_layers
from ..nn.factorize import planned_rank
from ..tiles.grid import split_sizes
from .data import require_files
from .distributed import check_machine, world_size
from .models import build_model, resolve_target
from .rundir import load_resume
from .schemas import RANKED, RunConfig


def sample_shape(dataset) -> tuple[tuple[int, ...], int]:
    """``(input shape, classes)`` of a data set config, without loading it."""
    shape = dataset.images or (getattr(dataset, "n_features", 64),)
    return tuple(shape), getattr(dataset, "n_classes", 10)


def check_structure(config: RunConfig) -> list[str]:
    """Raise a one-line ConfigError for what the config alone rules out; returns warnings."""
    shape, classes = sample_shape(config.dataset)
    model = _model(config.model, shape, classes)
    check_replicas(config, model)
    layers = [(n, m) for n, m in model.named_modules() if type(m) in (nn.Linear, nn.Conv2d)]
    factorize = config.mapping.factorize
    if factorize.enabled:
        _check_factorize(factorize, layers)
        return []  # factorizing renames and reshapes layers: the rest is checked at run time
    if not config.is_analog:
        return []
    selected = set(select_layers(model, config.mapping.analog_layers))
    if config.decomposition.name not in RANKED:
        return []
    return _check_rank(config, [(n, m) for n, m in layers if n in selected])


def check_replicas(config: RunConfig, model: nn.Module) -> None:
    """BatchNorm on several processes normalises over the global batch (SyncBatchNorm),
    which torch has on CUDA only."""
    from .loop import pick_device

    size = world_size(config)
    if size == 1 or not any(isinstance(m, nn.modules.batchnorm._BatchNorm)
                            for m in model.modules()):
        return
    if config.accelerator == "cpu" or pick_device(config.accelerator).type != "cuda":
        raise ConfigError(f"model={config.model.name}: its BatchNorm layers need CUDA to run "
                          f"on {size} processes (SyncBatchNorm); use accelerator=cuda or "
                          f"distributed.nproc=1")


def _first_line(err: BaseException) -> str:
    return f"{type(err).__name__}: " + (str(err).strip().splitlines() or [""])[0][:200]


def _model(cfg, shape: tuple[int, ...], classes: int) -> nn.Module:
    """The digital model, checked: it builds, has trainable weights and maps a batch of
    samples to one logit per class."""
    if cfg.name == "custom":
        target = resolve_target(cfg._target_)
        made = target if isinstance(target, type) else inspect.signature(
            target).return_annotation if _has_signature(target) else None
        if isinstance(made, type) and not issubclass(made, nn.Module) and made is not \
                inspect.Signature.empty:
            raise ConfigError(f"model._target_: {cfg._target_} makes a {made.__name__}, not "
                              f"a torch.nn.Module")
    try:
        model = build_model(cfg, shape, classes)
    except ConfigError:
        raise
    except (Exception, SystemExit) as err:  # a custom factory's own error
        raise ConfigError(f"model: building it failed ({_first_line(err)})") from None
    label = f"model._target_: {cfg._target_}" if cfg.name == "custom" else f"model={cfg.name}"
    if not any(p.requires_grad for p in model.parameters()):
        raise ConfigError(f"{label}: the model has no trainable parameters")
    batch = torch.zeros(2, *shape)
    try:
        with torch.no_grad():
            out = model.eval()(batch)
    except Exception as err:
        raise ConfigError(f"{label}: a batch of shape {list(batch.shape)} (this data set's "
                          f"samples) does not pass through it ({_first_line(err)})") from None
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (2, classes):
        got = list(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ConfigError(f"{label}: maps a batch of shape {list(batch.shape)} to {got}, "
                          f"expected [2, {classes}] (one logit per class)")
    return model.train()


def _has_signature(fn) -> bool:
    try:
        inspect.signature(fn)
    except (TypeError, ValueError):
        return False
    return True


def _check_factorize(cfg, layers) -> None:
    if any(planned_rank(m, cfg.rank, cfg.min_features, cfg.min_channels) is not None
           for _, m in layers):
        return
    sizes = ", ".join(f"{n or '(root)'} {_dims(m)[0]}x{_dims(m)[1]}" for n, m in layers[:6])
    big_enough = any(planned_rank(m, 1, cfg.min_features, cfg.min_channels) is not None
                     for _, m in layers)
    key = "rank" if big_enough else (
        "min_channels" if any(isinstance(m, nn.Conv2d) for _, m in layers) else "min_features")
    raise ConfigError(f"mapping.factorize.{key}: rank={cfg.rank!r} with min_features="
                      f"{cfg.min_features}, min_channels={cfg.min_channels} factorizes no layer "
                      f"(a layer of in x out qualifies when min(in, out) >= min_features and "
                      f"rank * (in + out) < in * out; here: {sizes}); lower the rank or the "
                      f"minimum sizes, or set mapping.factorize.enabled=false")


def _dims(module: nn.Module) -> tuple[int, int]:
    """``(inputs, outputs)`` of a Linear or Conv2d as a crossbar sees it."""
    if isinstance(module, nn.Conv2d):
        kh, kw = module.kernel_size
        return module.in_channels * kh * kw, module.out_channels
    return module.in_features, module.out_features


def _check_rank(config: RunConfig, layers) -> list[str]:
    rank, mapping = config.decomposition.rank, config.mapping
    warnings = []
    for name, module in layers:
        d_in, d_out = _dims(module)
        bias = int(not mapping.digital_bias and module.bias is not None)
        width_in = min(split_sizes(d_in + bias, mapping.max_input_size))
        width = min(width_in, min(split_sizes(d_out, mapping.max_output_size)))
        label = name or "(root)"
        if config.decomposition.name == "truncated_svd" and rank >= width_in:
            raise ConfigError(f"decomposition.rank: expected an integer < {width_in} for "
                              f"truncated_svd (layer {label!r} has tiles {width_in} inputs "
                              f"wide; decomposition=svd gives full rank), got {rank}")
        if rank > width:
            warnings.append(f"decomposition.rank={rank} is above the width of layer {label!r} "
                            f"({width}); that layer uses rank {width}")
    return warnings


def check_environment(config: RunConfig) -> None:
    """Raise a one-line ConfigError for what this machine cannot give the run."""
    from . import driver_start
    from .loop import graphs_mode, pick_device

    if config.accelerator != "cpu":
        driver_start.meanwhile()  # while the driver starts: the imports of a first step
    device = pick_device(config.accelerator)
    graphs_mode(config, device)
    check_machine(config, device)
    require_files(config.dataset)
    if config.resume:
        load_resume(config)
