"""Convolutions on a tile by index (aihwkit's indexed tile API: ``set_indexed``,
``is_indexed``, ``joint_forward_indexed``, ``backward_indexed``, ``update_indexed``).

A convolution runs each patch of each image as one input row of the tile. ``set_indexed``
keeps the patches as an im2col index ``indices[L, K]`` (where patch ``l``'s element ``k``
sits in the flattened input image, ``-1`` for zero padding) and its inverse; the indexed
passes then take and return images. The rows are gathered by ``kernels.im2col`` (Triton on
CUDA, numba on the CPU) instead of a materialised ``unfold`` and a transposing copy, the
gradient goes back onto the image by ``kernels.col2im`` (a gather over the inverse: no
atomic adds, and the sums of torch's ``col2im``, bit for bit), and the update queue keeps
the images, ``K`` times smaller than their rows, which ``update_indexed`` gathers again;
with ``KEEP_ROWS`` it keeps the rows the forward pass gathered instead.

:class:`IndexedTile` is a mixin of :class:`~xbrun.tiles.periphery.TileWithPeriphery`.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch

from .. import kernels
from ..errors import TileError

# The update queue keeps the forward pass's patch rows (the same numbers ``update_indexed``
# would gather again from the images): one gather a convolution and step fewer (on issue 27's
# ResNet 26 launches and ~0.9 GB of rows written a step, counted on fake CUDA) for the rows
# held from the forward pass to the update (~0.9 GB there) instead of the images. False:
# images queued and gathered again (off until a GPU times it).
KEEP_ROWS = False

class ConvIndex(NamedTuple):
    """One convolution's index: ``indices[L, K]``, its inverse ``[C*H*W, J]`` (positions
    ``l * K + k`` reading each image element, ``kernels.inverse_index``),
    ``sizes = (C_in, H_in, W_in, H_out, W_out)``, the inverse as one channel's positions
    shifted (``kernels.channel_form``, None where it is not: a hand-made index), which
    col2im's channel tiles take."""

    indices: torch.Tensor
    inverse: torch.Tensor
    sizes: tuple[int, int, int, int, int]
    form: tuple | None = None

    def to(self, device) -> ConvIndex:
        """The index on ``device``."""
        form = self.form
        if form is not None:
            form = (form[0].to(device), *form[1:])
        return ConvIndex(self.indices.to(device), self.inverse.to(device), self.sizes, form)


class IndexedTile:
    """The index of the convolution this tile runs (``None`` until ``set_indexed``)."""

    conv_index: ConvIndex | None = None

    def is_indexed(self) -> bool:
        """Whether :meth:`set_indexed` has given this tile a convolution's index."""
        return self.conv_index is not None

    @property
    def image_sizes(self) -> list[int]:
        """``[C_in, H_in, W_in, H_out, W_out]`` of the index (empty when not indexed)."""
        return [] if self.conv_index is None else list(self.conv_index.sizes)

    def set_indexed(self, indices: torch.Tensor, image_sizes) -> None:
        """Take images from now on: ``indices[l, k]`` is where patch ``l``'s element ``k``
        sits in the flattened input image (``C_in * H_in * W_in``), ``-1`` for padding;
        ``image_sizes = [C_in, H_in, W_in, H_out, W_out]``. Queued updates keep the index
        they were made with."""
        if len(image_sizes) != 5:
            raise TileError("set_indexed: image_sizes expects 5 sizes [C_in, H_in, W_in, "
                            f"H_out, W_out], got {list(image_sizes)}")
        sizes = tuple(int(s) for s in image_sizes)
        c, h, w, h_out, w_out = sizes
        indices = torch.as_tensor(indices).to("cpu", torch.int64)
        if tuple(indices.shape) != (h_out * w_out, self.in_size):
            raise TileError(f"set_indexed: expected indices of shape [{h_out * w_out}, "
                            f"{self.in_size}], got {tuple(indices.shape)}")
        if indices.numel() and (int(indices.min()) < -1 or int(indices.max()) >= c * h * w):
            raise TileError(f"set_indexed: indices must lie in [-1, {c * h * w})")
        self._flush_images()
        where = self.pulses.device
        inverse = kernels.inverse_index(indices, c * h * w)
        index = ConvIndex(indices, inverse, sizes, kernels.channel_form(inverse, c))
        self.conv_index = index.to(where)

    # ------------------------------------------------------------ images <-> rows ------
    def _index_of(self, what: str) -> ConvIndex:
        if self.conv_index is None:
            raise TileError(f"{what}: the tile is not indexed; call set_indexed() first")
        index = self.conv_index
        if index.indices.device != self.pulses.device:  # the tile moved since set_indexed
            index = self.conv_index = index.to(self.pulses.device)
        return index

    @staticmethod
    def _check_images(images: torch.Tensor, index: ConvIndex) -> None:
        c, h, w = index.sizes[:3]
        if images.dim() != 4 or tuple(images.shape[1:]) != (c, h, w):
            raise TileError(f"indexed input: expected images [N, {c}, {h}, {w}], "
                            f"got {tuple(images.shape)}")

    @staticmethod
    def _gather(images: torch.Tensor, index: ConvIndex) -> torch.Tensor:
        """``[N, C, H, W]`` -> patch rows ``[N * L, in_size]``."""
        IndexedTile._check_images(images, index)
        return kernels.im2col(images, index.indices)

    @staticmethod
    def _scatter(rows: torch.Tensor, n: int, index: ConvIndex) -> torch.Tensor:
        """Patch-row gradients ``[N * L, in_size]`` -> ``[N, C, H, W]`` (col2im)."""
        form = None if index.form is None else (index.form, index.sizes[0])
        return kernels.col2im(rows, index.inverse, n, form=form).reshape(n, *index.sizes[:3])

    @staticmethod
    def _to_images(rows: torch.Tensor, n: int, index: ConvIndex) -> torch.Tensor:
        h_out, w_out = index.sizes[3:]
        return rows.reshape(n, h_out * w_out, -1).transpose(1, 2).reshape(n, -1, h_out, w_out)

    def _from_images(self, images: torch.Tensor, index: ConvIndex) -> torch.Tensor:
        if images.dim() != 4 or tuple(images.shape[1:]) != (self.out_size, *index.sizes[3:]):
            raise TileError(f"indexed error: expected [N, {self.out_size}, "
                            f"{index.sizes[3]}, {index.sizes[4]}], got {tuple(images.shape)}")
        return images.reshape(images.shape[0], self.out_size, -1).transpose(1, 2) \
            .reshape(-1, self.out_size)

    # ------------------------------------------------------------ passes ---------------
    @torch.no_grad()
    def joint_forward_indexed(self, x_input: torch.Tensor, is_test: bool = False,
                              ctx: Any = None) -> torch.Tensor:
        """Convolution forward: images ``[N, C_in, H, W]`` -> ``[N, out_size, H_out, W_out]``
        through ``pre_forward``, the analog MVM and ``post_forward`` (as ``joint_forward``)."""
        return self._joint_forward_indexed(x_input, is_test, ctx)

    def _joint_forward_indexed(self, x_input, is_test=False, ctx=None, index=None, keep=None):
        """``keep``: an autograd context whose ``rows`` get the gathered rows (``KEEP_ROWS``,
        in training)."""
        index = index if index is not None else self._index_of("joint_forward_indexed")
        keeps = keep is not None and KEEP_ROWS and not is_test
        if self.input_range is None and not self.analog_bias and not keeps:
            # no input clip nor bias column between the rows and the MVM
            out = self.post_forward(self.mvm(self._gather(x_input, index)), -1, is_test, ctx)
            return self._to_images(out, x_input.shape[0], index)
        rows = self._gather(x_input, index)
        if keeps:
            keep.rows = rows
        out = self._joint_forward(rows, is_test, ctx)
        return self._to_images(out, x_input.shape[0], index)

    @torch.no_grad()
    def backward_indexed(self, d_input: torch.Tensor, ctx: Any = None) -> torch.Tensor:
        """Convolution backward: ``[N, out_size, H_out, W_out]`` -> ``[N, C_in, H, W]``
        (transposed MVM on the error rows, then col2im onto the image)."""
        return self._backward_indexed(d_input, ctx)

    def _backward_indexed(self, d_input, ctx=None, index=None):
        index = index if index is not None else self._index_of("backward_indexed")
        rows = self._backward(self._from_images(d_input, index), ctx)
        return self._scatter(rows, d_input.shape[0], index)

    @torch.no_grad()
    def update_indexed(self, x_input: torch.Tensor, d_input: torch.Tensor,
                       learning_rate: float | None = None) -> None:
        """Convolution update: every patch of every image is one rank-1 term of ``update``."""
        index = self._index_of("update_indexed")
        self.update(self._gather(x_input, index), self._from_images(d_input, index),
                    learning_rate)

    # ------------------------------------------------------------ the update queue -----
    def queue_indexed(self, images: torch.Tensor, d_images: torch.Tensor,
                      index: ConvIndex, rows: torch.Tensor | None = None) -> None:
        """Queue a backward pass's images for ``update_indexed``; as rows if the tile has
        been given another index since that forward pass, or where the forward pass's
        ``rows`` are given (``KEEP_ROWS``)."""
        if rows is None and index is self.conv_index:
            self.pending.append((images, d_images))
        else:
            rows = self._gather(images, index) if rows is None else rows
            self.pending.append((rows, self._from_images(d_images, index)))

    def _flush_images(self) -> None:
        """Queued images become rows before the index they need is replaced."""
        if self.conv_index is not None and any(x.dim() == 4 for x, _ in self.pending):
            index = self._index_of("set_indexed")
            self.pending[:] = [(self._gather(x, index), self._from_images(d, index))
                               if x.dim() == 4 else (x, d) for x, d in self.pending]


def conv_indices(in_channels: int, height: int, width: int, kernel_size, stride=1, padding=0,
                 dilation=1) -> tuple[torch.Tensor, list[int]]:
    """The im2col index of a 2-D convolution and its ``image_sizes`` for :meth:`set_indexed`.

    Row ``l = oh * W_out + ow`` lists, in ``nn.Conv2d`` weight order (channel, kernel row,
    kernel column), where each patch element sits in the flattened image; -1 marks
    padding. ``padding``: an int, ``(ph, pw)``, or ``(top, bottom, left, right)``.
    """
    def pair(v):
        return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))

    (kh, kw), (sh, sw), (dh, dw) = pair(kernel_size), pair(stride), pair(dilation)
    if isinstance(padding, int) or len(padding) == 2:
        ph, pw = pair(padding)
        top, bottom, left, right = ph, ph, pw, pw
    else:
        top, bottom, left, right = (int(p) for p in padding)
    h_out = (height + top + bottom - dh * (kh - 1) - 1) // sh + 1
    w_out = (width + left + right - dw * (kw - 1) - 1) // sw + 1
    if h_out < 1 or w_out < 1:
        raise TileError(f"convolution of a {height}x{width} image with kernel {kh}x{kw} has "
                        f"no output positions")
    oh = torch.arange(h_out).reshape(-1, 1, 1, 1, 1)
    ow = torch.arange(w_out).reshape(1, -1, 1, 1, 1)
    c = torch.arange(in_channels).reshape(1, 1, -1, 1, 1)
    ki = torch.arange(kh).reshape(1, 1, 1, -1, 1)
    kj = torch.arange(kw).reshape(1, 1, 1, 1, -1)
    ih = oh * sh - top + ki * dh
    iw = ow * sw - left + kj * dw
    valid = (ih >= 0) & (ih < height) & (iw >= 0) & (iw < width)
    index = torch.where(valid, c * height * width + ih * width + iw, -1)
    return index.reshape(h_out * w_out, -1), [in_channels, height, width, h_out, w_out]
