"""Low-rank factorization of Linear / Conv2d layers before mapping (``mapping.factorize``).

A digital model transform, run before :func:`~xbrun.nn.convert.convert_to_analog`: each
large layer becomes two smaller ones fitted on calibration data, so the model needs fewer
crossbar devices. ``matrix.py`` holds the fit (method, rank, nmse), ``conv.py`` its
convolution form, ``layers.py`` the factorized pairs, ``surgery.py`` the model walk.
"""

from .conv import factorize_conv2d
from .layers import FactorizedConv2d, FactorizedLinear
from .matrix import LowRankSolution, factorize_matrix, resolve_rank
from .surgery import count_devices, factorize_module, planned_rank

__all__ = ["FactorizedConv2d", "FactorizedLinear", "LowRankSolution", "count_devices",
           "factorize_conv2d", "factorize_matrix", "factorize_module", "planned_rank",
           "resolve_rank"]
