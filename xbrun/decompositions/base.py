"""Base gradient decomposition API (after ``xbtorch.decomposition.base``).

A linear layer's batch gradient is the batch sum of outer products
``G = delta.T @ input`` of shape ``(out_dim, in_dim)``. A decomposition rewrites it as ``k`` pairs
of vectors, ``G ~= left.T @ right`` with ``left`` of shape ``(k, out_dim)`` and ``right`` of shape
``(k, in_dim)``, so a crossbar can apply ``k`` rank-1 pulsed updates instead of one per sample
(the cost low rank exists to cut; Huang et al., ACM JETC 2023; Hoskins et al., Front. Neurosci.
2019).

Two views are offered for every decomposition:

- :meth:`GenericDecomposition.factors` returns ``(left, right)``, what a pulsed update consumes.
- :meth:`GenericDecomposition.decompose` keeps the XBTorch signature
  ``decompose(input, delta, gradient, group_param_idx)`` and returns the dense reconstruction
  ``left.T @ right`` of shape ``(out_dim, in_dim)`` (for inspection and digital checks).

Balance. Apart from :class:`FullOuterProduct` (whose factors are the deltas and inputs
themselves), each component's magnitude is split evenly between its two vectors: a singular
triplet ``(u, s, v)`` becomes ``left = sqrt(s) * u`` and ``right = sqrt(s) * v``, and NMF
components are rescaled so that ``||left_j|| == ||right_j||``. A stochastic or coincidence pulse
update multiplies pulse probabilities drawn from the two sides, and it is most accurate when both
sides use a comparable part of their range.
"""

from __future__ import annotations

import abc
from typing import Any

import torch
from torch import Tensor

from xbrun.errors import ConfigError

__all__ = ["GenericDecomposition", "FullOuterProduct", "Factors"]

Factors = tuple[Tensor, Tensor]

_LOW_PRECISION = (torch.float16, torch.bfloat16)


def check_rank(rank: Any, key: str = "decomposition.rank") -> int:
    """Return ``rank`` as an int, or raise :class:`ConfigError` naming ``key``."""
    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
        raise ConfigError(f"{key} must be a positive integer, got {rank!r}")
    return rank


def work_dtype(dtype: torch.dtype) -> torch.dtype:
    """The dtype linear algebra runs in: float32 for half precision inputs, else ``dtype``."""
    return torch.float32 if dtype in _LOW_PRECISION else dtype


def balanced_svd_factors(u: Tensor, s: Tensor, vh: Tensor) -> Factors:
    """Factors of ``u @ diag(s) @ vh``: ``left = sqrt(s) u^T``, ``right = sqrt(s) vh``.

    ``u`` is ``(out, k)``, ``s`` is ``(k,)`` and ``vh`` is ``(k, in)``.
    """
    root = s.clamp_min(0).sqrt().unsqueeze(1)
    return root * u.T, root * vh


class GenericDecomposition(abc.ABC):
    """Abstract base class of gradient decompositions.

    Subclasses implement :meth:`_factorize`; :meth:`factors` and :meth:`decompose` are built on
    it, and both record :attr:`last_relative_error`, ``||G - left.T @ right||_F / ||G||_F`` of the
    last call (``0.0`` when ``G == 0``). Set ``track_error = False`` to skip that (it forms the
    dense gradient); the attribute is then ``nan``.

    Inputs with more than two dimensions (e.g. im2col patches ``(batch, positions, in_dim)``) are
    flattened to ``(-1, in_dim)`` and ``(-1, out_dim)``: every row is one outer product.
    """

    #: name used by :func:`xbrun.decompositions.build_decomposition`
    name: str = "generic"

    def __init__(self) -> None:
        self.last_relative_error: float = 0.0
        self.track_error: bool = True

    # -- API -------------------------------------------------------------------------------
    def factors(
        self,
        input: Tensor | None,
        delta: Tensor | None,
        group_param_idx: Any = None,
        *,
        gradient: Tensor | None = None,
    ) -> Factors:
        """Return ``(left, right)``, shapes ``(k, out_dim)`` and ``(k, in_dim)``.

        ``left.T @ right`` approximates the batch gradient ``delta.T @ input`` (no division by
        the batch size). When ``input`` and ``delta`` are ``None`` the dense ``gradient``
        ``(out_dim, in_dim)`` is decomposed instead. Factors have the device and dtype of the
        inputs.
        """
        if input is not None and delta is not None:
            out_dtype = torch.promote_types(input.dtype, delta.dtype)
        elif gradient is not None:
            out_dtype = gradient.dtype
        else:
            raise ValueError("pass input and delta, or gradient")
        x, d, g = self._prepare(input, delta, gradient)
        left, right = self._factorize(x, d, g, group_param_idx)
        if self.track_error:
            self.last_relative_error = self._relative_error(x, d, g, left, right)
        else:
            self.last_relative_error = float("nan")
        return left.to(out_dtype), right.to(out_dtype)

    def decompose(
        self,
        input: Tensor | None,
        delta: Tensor | None,
        gradient: Tensor | None = None,
        group_param_idx: Any = None,
    ) -> Tensor:
        """Dense reconstruction ``left.T @ right`` of :meth:`factors`, shape ``(out_dim, in_dim)``.

        Same signature as XBTorch's ``decompose``. ``gradient`` fixes the output shape and dtype
        when given; the SVD and NMF decompositions factorize it directly when it is given (as in
        XBTorch), the others use ``input`` and ``delta``.
        """
        use_gradient = gradient if self._uses_gradient or input is None else None
        left, right = self.factors(input, delta, group_param_idx, gradient=use_gradient)
        dense = left.T @ right
        if gradient is not None:
            if gradient.numel() != dense.numel():
                raise ValueError(
                    f"gradient has shape {tuple(gradient.shape)}, the decomposition "
                    f"{tuple(dense.shape)}"
                )
            dense = dense.reshape(gradient.shape).to(gradient.dtype)
        return dense

    def rank1_updates(self, factors: Factors) -> int:
        """Number of rank-1 updates a pulsed update of ``factors`` issues."""
        return int(factors[0].shape[0])

    def reset(self) -> None:
        """Forget any state carried across steps (no-op for stateless decompositions)."""
        return None

    def state_dict(self) -> dict[str, Any]:
        """State carried across steps (empty for stateless decompositions)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` (no-op for stateless decompositions)."""
        return None

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    # -- to implement ----------------------------------------------------------------------
    #: whether :meth:`decompose` passes the ``gradient`` argument on (SVD and NMF do)
    _uses_gradient: bool = False

    @abc.abstractmethod
    def _factorize(
        self, input: Tensor | None, delta: Tensor | None, gradient: Tensor | None, group: Any
    ) -> Factors:
        """Factors in the work dtype. Either ``input``/``delta`` or ``gradient`` is set."""

    # -- helpers ---------------------------------------------------------------------------
    @staticmethod
    def _prepare(
        input: Tensor | None, delta: Tensor | None, gradient: Tensor | None
    ) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
        if input is None or delta is None:
            if gradient is None:
                raise ValueError("pass input and delta, or gradient")
            if gradient.dim() != 2:
                raise ValueError(f"gradient must be 2-D (out_dim, in_dim), got {gradient.dim()}-D")
            return None, None, gradient.to(work_dtype(gradient.dtype))
        if input.dim() < 2 or delta.dim() < 2:
            raise ValueError("input and delta must be at least 2-D (batch, features)")
        x = input.reshape(-1, input.shape[-1])
        d = delta.reshape(-1, delta.shape[-1])
        if x.shape[0] != d.shape[0]:
            raise ValueError(
                f"input has {x.shape[0]} rows and delta {d.shape[0]}: they must pair up"
            )
        dt = work_dtype(torch.promote_types(x.dtype, d.dtype))
        g = None if gradient is None else gradient.to(dt)
        return x.to(dt), d.to(dt), g

    @staticmethod
    def dense_gradient(
        input: Tensor | None, delta: Tensor | None, gradient: Tensor | None
    ) -> Tensor:
        """``gradient`` if given, else ``delta.T @ input``."""
        if gradient is not None:
            return gradient
        assert input is not None and delta is not None
        return delta.T @ input

    def _relative_error(
        self,
        input: Tensor | None,
        delta: Tensor | None,
        gradient: Tensor | None,
        left: Tensor,
        right: Tensor,
    ) -> float:
        g = self.dense_gradient(input, delta, gradient)
        norm = torch.linalg.matrix_norm(g).item()
        if norm == 0.0:
            return 0.0
        return torch.linalg.matrix_norm(g - left.T @ right).item() / norm


class FullOuterProduct(GenericDecomposition):
    """Full outer product: the baseline, one rank-1 update per sample.

    ``left = delta`` and ``right = input`` (``k`` = batch size), so ``left.T @ right`` is the batch
    sum of outer products, the standard gradient without division by the batch size. The factors
    are not rebalanced: they are what the layer computed. When only a dense ``gradient`` is given,
    it is written as the sum of its columns' outer products (``k = in_dim``).
    """

    name = "outer_product"

    def _factorize(self, input, delta, gradient, group):
        if input is None:
            assert gradient is not None
            eye = torch.eye(gradient.shape[1], device=gradient.device, dtype=gradient.dtype)
            return gradient.T.contiguous(), eye
        return delta, input

    def _relative_error(self, input, delta, gradient, left, right) -> float:
        return 0.0  # exact by construction
