"""A tile with its digital periphery (the API of aihwkit's ``TileWithPeriphery``; own code).

Around the raw analog MVM of :class:`~xbrun.tiles.tile.AnalogTile` a real chip has digital
circuits, and they decide how well the analog part is used:

* **mapping scales** ``M`` (``weight_scaling_omega``): weights are stored as ``W/M`` so their
  abs-max sits at ``omega`` in conductance units; outputs are multiplied by ``M`` again. The
  update is divided by ``M`` so the *logical* weight ``M * W_a`` takes SGD's step.
* **learned output scales** ``beta`` (``learn_out_scaling``): trainable digital factors on the
  outputs (scalar or per output); they sit in the autograd graph.
* **input range** ``r`` (``learn_input_range``): inputs are clipped to ``[-r, r]`` and divided
  by ``r`` so the DAC range is used; ``r`` multiplies the output again. ``r`` is initialised
  from the data (a running mean of ``std_alpha * std(x)`` over the first training batches)
  and trained by the straight-through gradient of the clip plus a small decay.
* **bias**: digital (a parameter added after scaling) or analog (an extra array column driven
  by a constant 1).

So the logical layer is ``y = beta * M * r * A(clip(x, r) / r) + b`` where ``A`` is the
noisy analog MVM with the conductances. ``get_weights(apply_weight_scaling=True)`` returns
``beta * M * W_a`` (``r`` cancels); ``read_weights`` estimates the same by least squares from
forward passes, ``program_weights`` writes conductances by pulsed write-and-verify.

Convolutions: ``set_indexed(indices, image_sizes)`` stores an im2col index matrix (see
:func:`conv_indices`); the ``*_indexed`` methods then take and return images.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..errors import ConfigError, TileError
from .mapping import MappingConfig
from .tile import AnalogTile


def _view(vector: torch.Tensor, ndim: int, dim: int) -> torch.Tensor:
    """``vector`` shaped to broadcast along dimension ``dim`` of an ``ndim`` tensor."""
    if vector.numel() == 1:
        return vector.reshape(())
    shape = [1] * ndim
    shape[dim] = -1
    return vector.reshape(shape)


class _TileFunction(torch.autograd.Function):
    """The analog part of a tile in autograd: forward and backward are noisy MVMs, the weight
    update is deferred (``(x, d)`` is queued on the tile for the optimizer's ``step``).

    ``analog_ctx`` is the tile's empty parameter: it makes autograd call this backward even
    when ``x`` needs no gradient. ``input_range`` (or None) receives the clip's gradient.
    """

    @staticmethod
    def forward(ctx, x, analog_ctx, input_range, tile):
        ctx.tile = tile
        ctx.has_range = input_range is not None
        ctx.save_for_backward(x)
        # autograd runs this without grad: the unwrapped pass spares a no_grad per call
        return tile._joint_forward(x, not tile.training)

    @staticmethod
    def backward(ctx, d):
        (x,) = ctx.saved_tensors
        tile = ctx.tile
        tile.pending.append((x.detach(), d.detach()))
        grad_x = grad_r = None
        if ctx.needs_input_grad[0] or ctx.has_range:
            ctx.saved_input = x
            grad_x = tile._backward(d, ctx)
            grad_r = getattr(ctx, "grad_input_range", None)
        return (grad_x if ctx.needs_input_grad[0] else None), None, grad_r, None


class TileWithPeriphery(AnalogTile):
    """One crossbar tile with weight scaling, learned output scales, input range and bias.

    ``in_size`` / ``out_size`` are the logical sizes; with ``analog_bias`` the array has one
    more column (``x_size = in_size + 1``). ``mapping`` supplies the periphery settings
    (:class:`~xbrun.tiles.mapping.MappingConfig`; defaults: none of it).
    """

    supports_indexed = True

    def __init__(self, out_size: int, in_size: int, *, device_config, cell, io, update,
                 decomposition=None, seed: int = 0, group_param_idx: int = 0,
                 mapping: MappingConfig | None = None, analog_bias: bool = False,
                 digital_bias: bool = False):
        if analog_bias and digital_bias:
            raise TileError("a tile's bias is either analog or digital, not both")
        super().__init__(out_size, in_size + int(analog_bias), device_config=device_config,
                         cell=cell, io=io, update=update, decomposition=decomposition,
                         seed=seed, group_param_idx=group_param_idx)
        self.in_size = in_size
        self.mapping = mapping if mapping is not None else MappingConfig()
        self.analog_bias, self.digital_bias = analog_bias, digital_bias
        self.bias = nn.Parameter(torch.zeros(out_size)) if digital_bias else None
        self.analog_ctx = nn.Parameter(torch.empty(0))
        self.analog_ctx.analog_tile = self  # type: ignore[attr-defined]
        self.pending: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.learning_rate = 0.01
        self.reference_combined_weights: torch.Tensor | None = None
        self.image_sizes: list[int] = []
        self.programming: dict | None = None
        self._range_initialised = False
        self.register_buffer("mapping_scales", None)
        self.register_buffer("matrix_indices", None, persistent=False)
        self.register_buffer("input_range_update_idx", None)
        self.out_scaling_alpha: nn.Parameter | None = None
        self.input_range: nn.Parameter | None = None
        self.init_learned_out_scales()
        self.init_mapping_scales()
        self.init_input_processing()

    def set_extra_state(self, state) -> None:
        super().set_extra_state(state)
        self._range_initialised = False  # re-read the loaded update count once

    # ------------------------------------------------------------ scales ---------------
    @torch.no_grad()
    def init_mapping_scales(self) -> None:
        """Ones (one per output when column-wise) when weight scaling is on, else None."""
        if not self.mapping.weight_scaling:
            self.set_mapping_scales(None)
            return
        size = self.out_size if self.mapping.weight_scaling_columnwise else 1
        self.set_mapping_scales(torch.ones(size))

    def get_mapping_scales(self) -> torch.Tensor | None:
        """Digital factors from conductance units back to logical weights (not learned)."""
        return self.mapping_scales

    @torch.no_grad()
    def set_mapping_scales(self, mapping_scales: torch.Tensor | float | None) -> None:
        if mapping_scales is None:
            self.mapping_scales = None
            return
        value = torch.as_tensor(mapping_scales, dtype=torch.float32).flatten()
        if value.numel() not in (1, self.out_size):
            raise TileError(f"mapping scales need 1 or {self.out_size} values, "
                            f"got {value.numel()}")
        self.mapping_scales = value.to(self.pulses.device).clone()

    @torch.no_grad()
    def init_learned_out_scales(self) -> None:
        """A trainable output scale (per output when column-wise) if ``learn_out_scaling``."""
        if not self.mapping.learn_out_scaling:
            self.out_scaling_alpha = None
            return
        size = self.out_size if self.mapping.out_scaling_columnwise else 1
        self.out_scaling_alpha = nn.Parameter(torch.ones(size, device=self.pulses.device))

    def get_learned_out_scales(self) -> nn.Parameter | None:
        return self.out_scaling_alpha

    @torch.no_grad()
    def set_learned_out_scales(self, alpha: torch.Tensor | float) -> None:
        """Overwrite the learned scales (broadcast); a no-op when they are not learned."""
        if self.out_scaling_alpha is None:
            return
        value = torch.as_tensor(alpha, dtype=self.out_scaling_alpha.dtype).flatten()
        self.out_scaling_alpha.data.copy_(value.to(self.out_scaling_alpha.device)
                                          .expand_as(self.out_scaling_alpha))

    def get_scales(self) -> torch.Tensor | None:
        """All output scales combined (mapping x learned), or None when there are none."""
        mapping, learned = self.get_mapping_scales(), self.get_learned_out_scales()
        if mapping is None and learned is None:
            return None
        if mapping is None:
            return learned.detach().clone()
        if learned is None:
            return mapping.clone()
        return mapping * learned.detach()

    @torch.no_grad()
    def set_scales(self, scales: torch.Tensor | float) -> None:
        """Put ``scales`` into the mapping scales and reset the learned ones to 1."""
        self.set_mapping_scales(scales)
        self.set_learned_out_scales(1.0)

    def apply_out_scaling(self, values: torch.Tensor, dim: int = -1) -> torch.Tensor:
        """Multiply by the learned output scales (differentiable); identity when unlearned."""
        if self.out_scaling_alpha is None:
            return values
        return values * _view(self.out_scaling_alpha, values.dim(), dim)

    @torch.no_grad()
    def apply_weight_scaling(self, combined_weights: torch.Tensor,
                             weight_scaling_omega: float | None = None) -> torch.Tensor:
        """Scale ``[d_size, x_size]`` weights so their abs-max is ``omega``; keep the factor.

        Layer-wise: ``alpha = max|W| / omega``; column-wise (one per output): ``alpha_i =
        max_j |W_ij| / omega``. ``alpha`` becomes the mapping scale (learned scales reset to
        1) and ``W / alpha`` is returned. ``omega`` defaults to the mapping's; 0 is a no-op.
        """
        omega = self.mapping.weight_scaling_omega if weight_scaling_omega is None \
            else weight_scaling_omega
        if omega < 0:
            raise ConfigError(f"weight_scaling_omega: expected a number >= 0, got {omega!r}")
        if omega == 0:
            return combined_weights
        if self.mapping.weight_scaling_columnwise:
            w_max = combined_weights.abs().amax(dim=1)
        else:
            w_max = combined_weights.abs().max().reshape(1)
        alpha = w_max / omega
        alpha[alpha == 0] = 1.0
        self.set_scales(alpha)
        return combined_weights / alpha.reshape(-1, 1)

    # ------------------------------------------------------------ input range ----------
    @torch.no_grad()
    def init_input_processing(self) -> bool:
        """Create the input range (a parameter) if ``learn_input_range``; True when enabled."""
        if self.analog_bias and self.mapping.learn_input_range:
            raise ConfigError("mapping.learn_input_range: needs a digital bias "
                              "(set mapping.digital_bias=true)")
        if not self.mapping.learn_input_range:
            self.input_range = None
            return False
        device = self.pulses.device
        self.input_range = nn.Parameter(torch.full((1,), self.mapping.input_range_init,
                                                   device=device))
        self.input_range_update_idx = torch.zeros((), device=device)  # a buffer (see __init__)
        self._range_initialised = False
        return True

    @torch.no_grad()
    def set_input_range(self, value: torch.Tensor | float) -> None:
        if self.input_range is None:
            raise ConfigError("input range is not enabled (set mapping.learn_input_range=true)")
        value = float(torch.as_tensor(value).flatten()[0])
        self.input_range.data.fill_(abs(value))

    def _range(self) -> torch.Tensor:
        return self.input_range.detach().abs().clamp_min(1e-8)

    @torch.no_grad()
    def apply_input_range(self, values: torch.Tensor, update_from_data: bool = False
                          ) -> torch.Tensor:
        """Clip to ``[-r, r]``; while initialising from data, first move ``r`` towards
        ``std_alpha * std(values)`` (a running mean over the first batches)."""
        if self.input_range is None:
            return values
        idx = self.input_range_update_idx
        if update_from_data and not self._range_initialised and not idx.is_cuda:
            # on the CPU reading the count is free; the flag ends the initialisation
            self._range_initialised = bool(idx >= self.mapping.init_input_range_from_data)
        if update_from_data and not self._range_initialised:
            # masked, so that CUDA never waits for the count (there it stays masked)
            std = values.std()
            use = (std > 0) & (idx < self.mapping.init_input_range_from_data)
            target = self.mapping.input_range_std_alpha * std
            moved = (self.input_range.data * idx + target) / (idx + 1)
            self.input_range.data.copy_(torch.where(use, moved, self.input_range.data).abs())
            idx += use.to(idx.dtype)
        r = self._range()
        return torch.maximum(torch.minimum(values, r), -r)

    # ------------------------------------------------------------ pre / post -----------
    def pre_forward(self, x_input: torch.Tensor, dim: int = -1, is_test: bool = False,
                    ctx: Any = None) -> torch.Tensor:
        """Clip to the input range and normalise by it (no-op without an input range)."""
        if self.input_range is None:
            return x_input
        return self.apply_input_range(x_input, not is_test) / self._range()

    def post_forward(self, x_output: torch.Tensor, dim: int = -1, is_test: bool = False,
                     ctx: Any = None) -> torch.Tensor:
        """Undo the input normalisation and apply the mapping scales (digital)."""
        scale = None
        if self.input_range is not None:
            scale = self._range().reshape(())
        if self.mapping_scales is not None:
            m = _view(self.mapping_scales, x_output.dim(), dim)
            scale = m if scale is None else scale * m
        return x_output if scale is None else x_output * scale

    def pre_backward(self, d_input: torch.Tensor, dim: int = -1, ctx: Any = None
                     ) -> torch.Tensor:
        """The mapping scales sit after the array, so the error passes them first."""
        if self.mapping_scales is None:
            return d_input
        return d_input * _view(self.mapping_scales, d_input.dim(), dim)

    def post_backward(self, d_output: torch.Tensor, dim: int = -1, ctx: Any = None
                      ) -> torch.Tensor:
        """Gradient through the input clip: zero where clipped, and the range's own gradient.

        ``d(clip(x, r))/dr = sign(x)`` where ``|x| >= r``; plus ``decay * r`` when fewer than
        5% of the inputs clip (aihwkit's ``input_min_percentage``), so an unused range shrinks
        and the DAC resolution is not wasted. With a ``ctx`` the gradient is left on it for
        autograd, else accumulated into ``input_range.grad``.
        """
        x = getattr(ctx, "saved_input", None) if ctx is not None else None
        if self.input_range is None or x is None:
            return d_output
        r = self._range()
        clipped = x.abs() >= r
        grad = (d_output * torch.sign(x) * clipped).sum().reshape(1)
        if self.mapping.input_range_decay > 0:  # a mask, not a branch: no wait on CUDA
            unused = (~clipped).float().mean() > 0.95
            grad = grad + self.mapping.input_range_decay * r * unused
        if isinstance(ctx, torch.autograd.function.FunctionCtx):
            ctx.grad_input_range = grad.to(self.input_range.dtype)
        elif self.input_range.grad is None:
            self.input_range.grad = grad.clone()
        else:
            self.input_range.grad += grad
        return d_output * (~clipped)

    def pre_update(self, x_input: torch.Tensor, x_dim: int, d_input: torch.Tensor,
                   d_dim: int) -> tuple[torch.Tensor, torch.Tensor]:
        """What the array sees: ``x`` clipped and normalised by ``r``; ``d * r / M``.

        Dividing by the mapping scales ``M`` makes the logical weight ``M * W_a`` move by
        ``-lr d x^T``, as in digital SGD; the factor ``r`` undoes the input normalisation
        (aihwkit leaves it out, which shrinks the learning rate by ``r``).
        """
        if self.input_range is not None:
            r = self._range()
            x_input = self.apply_input_range(x_input, False) / r
            d_input = d_input * r.reshape(())
        if self.mapping_scales is not None:
            d_input = d_input / _view(self.mapping_scales, d_input.dim(), d_dim)
        return x_input, d_input

    # ------------------------------------------------------------ passes ---------------
    def _with_bias_column(self, x: torch.Tensor) -> torch.Tensor:
        if not self.analog_bias:
            return x
        return torch.cat([x, torch.ones(*x.shape[:-1], 1, dtype=x.dtype, device=x.device)], -1)

    def _check_width(self, x: torch.Tensor, width: int, what: str) -> None:
        if x.shape[-1] != width:
            raise TileError(f"{what}: expected last dimension {width}, got {tuple(x.shape)}")

    @torch.no_grad()
    def joint_forward(self, x_input: torch.Tensor, is_test: bool = False, ctx: Any = None
                      ) -> torch.Tensor:
        """``pre_forward`` -> analog MVM -> ``post_forward`` on ``[N, in_size]`` (no autograd;
        the learned out scales and a digital bias are applied by :meth:`forward`)."""
        return self._joint_forward(x_input, is_test, ctx)

    def _joint_forward(self, x_input, is_test=False, ctx=None):
        self._check_width(x_input, self.in_size, "joint_forward")
        x = self.pre_forward(x_input, -1, is_test, ctx)
        out = self.mvm(self._with_bias_column(x))
        return self.post_forward(out, -1, is_test, ctx)

    @torch.no_grad()
    def backward(self, d_input: torch.Tensor, ctx: Any = None) -> torch.Tensor:
        """``pre_backward`` -> transposed analog MVM -> ``post_backward``: ``[N, in_size]``."""
        return self._backward(d_input, ctx)

    def _backward(self, d_input, ctx=None):
        self._check_width(d_input, self.out_size, "backward")
        d = self.pre_backward(d_input, -1, ctx)
        out = self.mvm_transposed(d)
        if self.analog_bias:
            out = out[..., :-1]
        return self.post_backward(out, -1, ctx)


    @torch.no_grad()
    def update(self, x_input: torch.Tensor, d_input: torch.Tensor,
               learning_rate: float | None = None) -> None:
        """Pulsed update from forward inputs ``[..., in_size]`` and errors ``[..., out_size]``
        (through ``pre_update`` and the decomposition) with the tile's learning rate."""
        self._check_width(x_input, self.in_size, "update x_input")
        self._check_width(d_input, self.out_size, "update d_input")
        x, d = self.pre_update(x_input, -1, d_input, -1)
        x = self._with_bias_column(x.reshape(-1, self.in_size))
        lr = self.learning_rate if learning_rate is None else learning_rate
        self.pulse_update(x, d.reshape(-1, self.out_size), lr)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The tile in autograd: images when indexed, else ``[..., in_size]`` rows."""
        if self.is_indexed() and x.dim() == 4:
            rows = self._gather(x)
            out = self._rows_forward(rows)
            return self._to_images(out, x.shape[0])
        if x.dim() == 2:
            return self._rows_forward(x)
        shape = x.shape
        out = self._rows_forward(x.reshape(-1, shape[-1]))
        return out.reshape(*shape[:-1], self.out_size)

    def _rows_forward(self, rows: torch.Tensor) -> torch.Tensor:
        self._check_width(rows, self.in_size, "forward")
        out = _TileFunction.apply(rows, self.analog_ctx, self.input_range, self)
        out = self.apply_out_scaling(out)
        if self.bias is not None:
            out = out + self.bias
        return out

    def apply_pending(self) -> None:
        """Apply the queued ``(x, d)`` of the last backward passes as one pulsed update."""
        if not self.pending:
            return
        x = torch.cat([p[0] for p in self.pending])
        d = torch.cat([p[1] for p in self.pending])
        self.pending.clear()
        self.update(x, d)

    @torch.no_grad()
    def clip_input_range(self) -> None:
        """Keep a trained input range positive (SGD may push it through zero)."""
        if self.input_range is not None:
            self.input_range.data.abs_().clamp_(min=1e-6)

    def set_learning_rate(self, learning_rate: float | None) -> None:
        """The learning rate of :meth:`update` (None leaves it); it must be >= 0."""
        if learning_rate is None:
            return
        if learning_rate < 0:
            raise TileError(f"learning rate must be >= 0, got {learning_rate}")
        self.learning_rate = float(learning_rate)

    def get_learning_rate(self) -> float:
        return self.learning_rate

    # ------------------------------------------------------------ weights --------------
    def _combine(self, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        weight = torch.as_tensor(weight, dtype=torch.float32).detach().cpu()
        if tuple(weight.shape) != (self.out_size, self.in_size):
            raise TileError(f"set_weights: expected a [{self.out_size}, {self.in_size}] "
                            f"weight, got {tuple(weight.shape)}")
        if not self.analog_bias:
            return weight
        if bias is None:
            raise TileError("set_weights: this tile has an analog bias; give the bias too")
        bias = torch.as_tensor(bias, dtype=torch.float32).detach().cpu().reshape(-1, 1)
        return torch.cat([weight, bias], 1)

    def _separate(self, combined: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self.analog_bias:
            return combined[:, :-1].clone(), combined[:, -1].clone()
        bias = self.bias.detach().cpu().clone() if self.bias is not None else None
        return combined, bias

    @torch.no_grad()
    def set_weights(self, weight: torch.Tensor, bias: torch.Tensor | None = None,
                    apply_weight_scaling: bool = True, realistic: bool = False,
                    weight_scaling_omega: float | None = None) -> None:
        """Set the logical weight ``[out_size, in_size]`` (and bias).

        With ``apply_weight_scaling`` the weight is mapped into conductances by
        :meth:`apply_weight_scaling` (new mapping scales); otherwise it is written as given.
        ``realistic`` writes it by pulsed write-and-verify (:meth:`program_weights`) instead
        of exactly. A digital bias is copied; an analog one goes into the extra column.
        """
        if bias is not None and self.bias is not None:
            self.bias.data.copy_(torch.as_tensor(bias).reshape(-1).to(self.bias))
        combined = self._combine(weight, bias)
        if apply_weight_scaling:
            combined = self.apply_weight_scaling(combined, weight_scaling_omega)
        self.set_conductances(combined)
        self.reference_combined_weights = None
        if realistic:
            self.program_weights()

    @torch.no_grad()
    def get_weights(self, apply_weight_scaling: bool = True, realistic: bool = False
                    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(weight, bias)`` on the CPU; the logical weight (scales applied) by default,
        the conductances with ``apply_weight_scaling=False``; ``realistic`` estimates them
        from forward passes (:meth:`read_weights`) instead of copying them."""
        if realistic:
            return self.read_weights(apply_weight_scaling=apply_weight_scaling)
        weight, bias = self._separate(self.get_conductances())
        if not apply_weight_scaling:
            return weight, bias
        alpha = self.get_scales()
        if alpha is None:
            return weight, bias
        alpha = alpha.cpu()
        if self.analog_bias:
            bias = bias * alpha
        return weight * alpha.reshape(-1, 1), bias

    @torch.no_grad()
    def program_weights(self, from_reference: bool = True, x_values: torch.Tensor | None = None,
                        learning_rate: float = 0.1, max_iter: int = 10000,
                        tolerance: float | None = 0.01, w_init: float | torch.Tensor = 0.01
                        ) -> None:
        """Write the target conductances by pulses: iterate forward read, compare, update.

        The target is the reference set by :meth:`set_weights` (or, without one or with
        ``from_reference=False``, the current conductances). The array starts from ``w_init``
        (a ``[d_size, x_size]`` tensor, or a float ``a`` for uniform ``[-a, a]``); each round
        reads ``y = x_values @ W^T`` through the forward I/O (``x_values`` default: unit
        vectors) and applies the device update ``W <- W - lr * err^T x`` (no decomposition),
        until the mean output error relative to the largest target output is below
        ``tolerance`` or ``max_iter`` rounds. ``self.programming`` records the outcome.
        """
        if not from_reference or self.reference_combined_weights is None:
            self.reference_combined_weights = self.get_conductances()
        where = self.pulses.device
        target = self.reference_combined_weights.to(where)
        if x_values is None:
            x_values = torch.eye(self.x_size, device=where)
        x_values = x_values.to(where, torch.float32)
        self._check_width(x_values, self.x_size, "program_weights x_values")
        target_values = x_values @ target.T
        target_max = float(target_values.abs().max()) or 1.0
        if isinstance(w_init, torch.Tensor):
            self.set_conductances(w_init)
        else:
            noise = torch.rand(target.shape, generator=self.generator, device=where)
            self.set_conductances((2 * noise - 1) * float(w_init))
        rel, rounds = float("inf"), 0
        while rounds < max_iter:
            rounds += 1
            error = self.mvm(x_values) - target_values
            rel = float(error.abs().mean()) / target_max
            if tolerance is not None and rel < tolerance:
                break
            self.pulse_update(x_values, error, learning_rate, decompose=False)
        self.programming = {"rounds": rounds, "relative_error": rel}

    @torch.no_grad()
    def read_weights(self, apply_weight_scaling: bool = False,
                     x_values: torch.Tensor | None = None, over_sampling: int = 10
                     ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Estimate ``(weight, bias)`` by least squares from noisy forward passes.

        Inputs are ``x_values`` (default: ``over_sampling * in_size`` standard normal rows);
        outputs come from the full periphery in eval mode, so the estimate is the logical
        weight. ``apply_weight_scaling=False`` divides the scales out again (conductance
        units), as ``get_weights(apply_weight_scaling=False)``.
        """
        where = self.pulses.device
        if x_values is None:
            if over_sampling < 1:
                raise TileError(f"over_sampling must be >= 1, got {over_sampling}")
            x_values = torch.randn(self.in_size * over_sampling, self.in_size,
                                   generator=self.generator, device=where)
        x_values = x_values.to(where, torch.float32)
        self._check_width(x_values, self.in_size, "read_weights x_values")
        y = self.apply_out_scaling(self.joint_forward(x_values, is_test=True)).detach()
        design = self._with_bias_column(x_values)
        if design.shape[0] < design.shape[1]:
            raise TileError(f"read_weights: need at least {design.shape[1]} input rows, "
                            f"got {design.shape[0]}")
        estimate = torch.linalg.lstsq(design.cpu().double(), y.cpu().double()).solution.T
        weight, bias = self._separate(estimate.float())
        if not apply_weight_scaling:
            alpha = self.get_scales()
            if alpha is not None:
                alpha = alpha.cpu()
                weight = weight / alpha.reshape(-1, 1)
                if self.analog_bias:
                    bias = bias / alpha
        return weight, bias

    @torch.no_grad()
    def remap_weights(self, weight_scaling_omega: float | None = 1.0) -> None:
        """Re-set the logical weights with fresh weight scaling (abs-max at ``omega``)."""
        weight, bias = self.get_weights(apply_weight_scaling=True)
        self.set_weights(weight, bias, apply_weight_scaling=True,
                         weight_scaling_omega=weight_scaling_omega)

    # ------------------------------------------------------------ devices --------------
    def cuda(self, device=None) -> TileWithPeriphery:
        """This tile with all its state in CUDA memory (queued updates dropped)."""
        self.pending.clear()
        return super().cuda(device)

    def cpu(self) -> TileWithPeriphery:
        """This tile with all its state in CPU memory (queued updates dropped)."""
        self.pending.clear()
        return super().cpu()

    # ------------------------------------------------------------ indexed (conv) -------
    def is_indexed(self) -> bool:
        return self.matrix_indices is not None

    def set_indexed(self, indices: torch.Tensor, image_sizes: list[int]) -> None:
        """Switch to image inputs: ``indices[l, k]`` is the position in the flattened input
        image (``C_in*H_in*W_in``) of patch ``l``'s element ``k``, -1 for zero padding;
        ``image_sizes = [C_in, H_in, W_in, H_out, W_out]`` (see :func:`conv_indices`)."""
        if len(image_sizes) != 5:
            raise ValueError("image_sizes expects 5 sizes [C_in, H_in, W_in, H_out, W_out], "
                             f"got {list(image_sizes)}")
        c, h, w, h_out, w_out = (int(s) for s in image_sizes)
        indices = torch.as_tensor(indices, dtype=torch.long)
        if tuple(indices.shape) != (h_out * w_out, self.in_size):
            raise TileError(f"set_indexed: expected indices of shape [{h_out * w_out}, "
                            f"{self.in_size}], got {tuple(indices.shape)}")
        if int(indices.min()) < -1 or int(indices.max()) >= c * h * w:
            raise TileError("set_indexed: indices must lie in [-1, C_in*H_in*W_in)")
        indices = torch.where(indices < 0, torch.full_like(indices, c * h * w), indices)
        self.matrix_indices = indices.to(self.pulses.device)
        self.image_sizes = [c, h, w, h_out, w_out]

    def _require_indexed(self, what: str) -> None:
        if not self.image_sizes or self.matrix_indices is None:
            raise TileError(f"{what}: the tile is not indexed; call set_indexed() first")

    def _gather(self, images: torch.Tensor) -> torch.Tensor:
        """im2col by index: ``[N, C, H, W]`` -> patch rows ``[N * L, in_size]``."""
        c, h, w = self.image_sizes[:3]
        if tuple(images.shape[1:]) != (c, h, w):
            raise TileError(f"indexed input: expected images [N, {c}, {h}, {w}], "
                            f"got {tuple(images.shape)}")
        flat = images.reshape(images.shape[0], -1)
        flat = torch.cat([flat, flat.new_zeros(flat.shape[0], 1)], 1)
        return flat[:, self.matrix_indices].reshape(-1, self.in_size)

    def _scatter(self, rows: torch.Tensor, n: int) -> torch.Tensor:
        """col2im by index: patch-row gradients ``[N * L, in_size]`` -> ``[N, C, H, W]``."""
        c, h, w = self.image_sizes[:3]
        rows = rows.reshape(n, -1)
        index = self.matrix_indices.reshape(1, -1).expand(n, -1)
        out = rows.new_zeros(n, c * h * w + 1).scatter_add_(1, index, rows)
        return out[:, :-1].reshape(n, c, h, w)

    def _to_images(self, rows: torch.Tensor, n: int) -> torch.Tensor:
        h_out, w_out = self.image_sizes[3:]
        return rows.reshape(n, h_out * w_out, -1).transpose(1, 2).reshape(n, -1, h_out, w_out)

    def _from_images(self, images: torch.Tensor) -> torch.Tensor:
        return images.reshape(images.shape[0], images.shape[1], -1).transpose(1, 2) \
            .reshape(-1, images.shape[1])

    @torch.no_grad()
    def joint_forward_indexed(self, x_input: torch.Tensor, is_test: bool = False,
                              ctx: Any = None) -> torch.Tensor:
        """Convolution forward: images ``[N, C_in, H, W]`` -> ``[N, out_size, H_out, W_out]``
        (mapping scales and input range applied, as :meth:`joint_forward`)."""
        self._require_indexed("joint_forward_indexed")
        out = self.joint_forward(self._gather(x_input), is_test, ctx)
        return self._to_images(out, x_input.shape[0])

    @torch.no_grad()
    def backward_indexed(self, d_input: torch.Tensor, ctx: Any = None) -> torch.Tensor:
        """Convolution backward: ``[N, out_size, H_out, W_out]`` -> ``[N, C_in, H, W]``."""
        self._require_indexed("backward_indexed")
        if d_input.dim() != 4 or d_input.shape[1] != self.out_size:
            raise TileError(f"backward_indexed: expected [N, {self.out_size}, H_out, W_out], "
                            f"got {tuple(d_input.shape)}")
        rows = self.backward(self._from_images(d_input), ctx)
        return self._scatter(rows, d_input.shape[0])

    @torch.no_grad()
    def update_indexed(self, x_input: torch.Tensor, d_input: torch.Tensor) -> None:
        """Convolution update: every patch position of every image is one rank-1 update."""
        self._require_indexed("update_indexed")
        self.update(self._gather(x_input), self._from_images(d_input))


def conv_indices(in_channels: int, height: int, width: int, kernel_size, stride=1, padding=0,
                 dilation=1) -> tuple[torch.Tensor, list[int]]:
    """The im2col index matrix of a 2-D convolution and its ``image_sizes``.

    Row ``l = oh * W_out + ow`` lists, in ``nn.Conv2d`` weight order (channel, kernel row,
    kernel column), where each patch element sits in the flattened image; -1 marks padding.
    """
    def pair(v):
        return (v, v) if isinstance(v, int) else tuple(v)

    (kh, kw), (sh, sw), (ph, pw), (dh, dw) = (pair(kernel_size), pair(stride), pair(padding),
                                              pair(dilation))
    h_out = (height + 2 * ph - dh * (kh - 1) - 1) // sh + 1
    w_out = (width + 2 * pw - dw * (kw - 1) - 1) // sw + 1
    if h_out < 1 or w_out < 1:
        raise TileError(f"convolution of a {height}x{width} image with kernel {kh}x{kw} has "
                        f"no output positions")
    oh = torch.arange(h_out).reshape(-1, 1, 1, 1, 1)
    ow = torch.arange(w_out).reshape(1, -1, 1, 1, 1)
    c = torch.arange(in_channels).reshape(1, 1, -1, 1, 1)
    ki = torch.arange(kh).reshape(1, 1, 1, -1, 1)
    kj = torch.arange(kw).reshape(1, 1, 1, 1, -1)
    ih = oh * sh - ph + ki * dh
    iw = ow * sw - pw + kj * dw
    valid = (ih >= 0) & (ih < height) & (iw >= 0) & (iw < width)
    index = c * height * width + ih * width + iw
    index = torch.where(valid, index, torch.full_like(index, -1))
    return index.reshape(h_out * w_out, -1), [in_channels, height, width, h_out, w_out]
