"""A tile with its digital periphery (the API of aihwkit's ``TileWithPeriphery``; own code).

Around the raw analog MVM of :class:`~xbrun.tiles.tile.AnalogTile` a real chip has digital
circuits, and they decide how well the analog part is used. Each concern has its module:

* ``scales.py``: mapping scales ``M`` (``weight_scaling_omega``) and learned output scales
  ``beta`` (``learn_out_scaling``);
* ``input_range.py``: the learned input range ``r`` (``learn_input_range``);
* ``autograd.py``: the tile in autograd (the update is queued, not a gradient);
* ``indexed.py``: convolutions by an im2col index (images in, images out);
* ``programming.py``: pulsed write-and-verify and least-squares read-back;
* here: the bias (digital: a parameter added after scaling; analog: an extra array column
  driven by a constant 1), the passes that chain them, the update and the logical weights.

So the logical layer is ``y = beta * M * r * A(clip(x, r) / r) + b`` where ``A`` is the
noisy analog MVM with the conductances. ``get_weights(apply_weight_scaling=True)`` returns
``beta * M * W_a`` (``r`` cancels).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..errors import TileError
from .autograd import IndexedTileFunction, TileFunction, count_use
from .indexed import IndexedTile
from .input_range import InputRange
from .mapping import MappingConfig
from .programming import Programming
from .scales import OutputScales, view_along
from .tile import AnalogTile


class TileWithPeriphery(OutputScales, InputRange, IndexedTile, Programming, AnalogTile):
    """One crossbar tile with weight scaling, learned output scales, input range and bias.

    ``in_size`` / ``out_size`` are the logical sizes; with ``analog_bias`` the array has one
    more column (``x_size = in_size + 1``). ``mapping`` supplies the periphery settings
    (:class:`~xbrun.tiles.mapping.MappingConfig`; defaults: none of it).
    """

    graph_device_state = (*AnalogTile.graph_device_state, "mapping_scales",
                          "input_range_update_idx")

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
        self.backward_uses = 0  # forward passes whose backward is to come (autograd.count_use)
        self.learning_rate = 0.01
        self.reference_combined_weights = None
        self.programming = None
        self._range_initialised = False
        self.register_buffer("mapping_scales", None)
        self.register_buffer("input_range_update_idx", None)
        self.out_scaling_alpha = None
        self.input_range = None
        self.init_learned_out_scales()
        self.init_mapping_scales()
        self.init_input_processing()

    def set_extra_state(self, state) -> None:
        super().set_extra_state(state)
        self._range_initialised = False  # re-read the loaded update count once

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
            m = view_along(self.mapping_scales, x_output.dim(), dim)
            scale = m if scale is None else scale * m
        return x_output if scale is None else x_output * scale

    def pre_backward(self, d_input: torch.Tensor, dim: int = -1, ctx: Any = None
                     ) -> torch.Tensor:
        """The mapping scales sit after the array, so the error passes them first."""
        if self.mapping_scales is None:
            return d_input
        return d_input * view_along(self.mapping_scales, d_input.dim(), dim)

    def post_backward(self, d_output: torch.Tensor, dim: int = -1, ctx: Any = None
                      ) -> torch.Tensor:
        """Through the input clip (:meth:`~.input_range.InputRange.input_range_gradient`)."""
        return self.input_range_gradient(d_output, ctx)

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
            d_input = d_input / view_along(self.mapping_scales, d_input.dim(), d_dim)
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
        """The tile in autograd on ``[..., in_size]`` rows (:class:`TileFunction`), or on
        images ``[N, C, H, W]`` when indexed (:class:`IndexedTileFunction`)."""
        if x.dim() == 2:
            return self._rows_forward(x)
        if x.dim() == 4 and self.conv_index is not None:
            return self._images_forward(x)
        shape = x.shape
        out = self._rows_forward(x.reshape(-1, shape[-1]))
        return out.reshape(*shape[:-1], self.out_size)

    def _rows_forward(self, rows: torch.Tensor) -> torch.Tensor:
        self._check_width(rows, self.in_size, "forward")
        count_use(self, self.analog_ctx)
        out = TileFunction.apply(rows, self.analog_ctx, self.input_range, self)
        out = self.apply_out_scaling(out)
        if self.bias is not None:
            out = out + self.bias
        return out

    def _images_forward(self, images: torch.Tensor) -> torch.Tensor:
        count_use(self, self.analog_ctx)
        out = IndexedTileFunction.apply(images, self.analog_ctx, self.input_range, self)
        out = self.apply_out_scaling(out, 1)
        if self.bias is not None:
            out = out + self.bias.reshape(1, -1, 1, 1)
        return out

    def apply_pending(self) -> None:
        """Apply the queued ``(x, d)`` of the last backward passes as one pulsed update
        (``update_indexed`` when they are images)."""
        if not self.pending:
            return
        if any(p[0].dim() == 4 for p in self.pending) and \
                not all(p[0].dim() == 4 for p in self.pending):
            self._flush_images()  # rows and images: all as rows
        if len(self.pending) == 1:  # one backward pass (the usual step): no copy
            x, d = self.pending[0]
        else:
            x = torch.cat([p[0] for p in self.pending])
            d = torch.cat([p[1] for p in self.pending])
        self.pending.clear()
        if x.dim() == 4:
            self.update_indexed(x, d)
        else:
            self.update(x, d)

    def set_learning_rate(self, learning_rate: float | None) -> None:
        """The learning rate of :meth:`update` (None leaves it); it must be >= 0."""
        if learning_rate is None:
            return
        if learning_rate < 0:
            raise TileError(f"learning rate must be >= 0, got {learning_rate}")
        learning_rate = float(learning_rate)
        if learning_rate != self.learning_rate:  # every step: spare nn.Module.__setattr__
            self.learning_rate = learning_rate

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
        return self.apply_scales(weight, bias)

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
