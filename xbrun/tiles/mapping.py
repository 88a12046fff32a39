"""The ``mapping`` config group: how a model's layers become crossbar tiles.

Names follow aihwkit's ``MappingParameter`` and ``InputRangeParameter`` where they exist.
A logical weight larger than ``max_output_size x max_input_size`` is cut into a grid of tiles
(each with its own device state and periphery) whose partial outputs are summed digitally.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..schema import check

#: keywords of ``mapping.analog_layers`` (anything else is a list of layer names / patterns)
LAYER_KEYWORDS = ("all", "none", "all_but_first", "all_but_last", "all_but_first_last")


@dataclass
class FactorizeConfig:
    """Low-rank module surgery before mapping (``xbrun.nn.factorize.factorize_module``).

    A Linear qualifies when ``min(in, out) >= min_features``, a Conv2d when ``min(in_ch, out_ch)
    >= min_channels``; either only when the pair has fewer weights than the original. ``rank``
    below 1 is a fraction of ``min(in, out)``, an integer >= 1 an absolute rank. The factors are
    fitted to the layer's own outputs on the first ``calibration_samples`` training inputs.
    A pair is a deeper linear chain than the layer it replaces, so it takes a smaller learning
    rate (the digits MLP diverges at the default ``lr=1.0`` and trains well at 0.5).
    """

    enabled: bool = False
    rank: int | float = 0.25  # < 1: fraction of min(in, out); integer >= 1: absolute rank
    min_features: int = 64  # Linear layers with min(in, out) >= this qualify
    min_channels: int = 32  # Conv2d layers with min(in_ch, out_ch) >= this qualify
    n_iters: int = 3  # alternating least-squares rounds after the closed form
    calibration_samples: int = 256  # training inputs the factors are fitted on

    def validate(self, key: str) -> None:
        ok = (self.rank >= 1) if isinstance(self.rank, int) else (0 < self.rank <= 1)
        check(ok, f"{key}.rank", "an integer >= 1 or a fraction in (0, 1]", self.rank)
        for name in ("min_features", "min_channels", "calibration_samples"):
            check(getattr(self, name) >= 1, f"{key}.{name}", "an integer >= 1",
                  getattr(self, name))
        check(self.n_iters >= 0, f"{key}.n_iters", "an integer >= 0", self.n_iters)


@dataclass
class MappingConfig:
    """Tile size, bias, weight scaling, learned periphery and which layers are analog.

    ``weight_scaling_omega > 0`` maps each tile's abs-max weight (per output when
    ``weight_scaling_columnwise``) to ``omega`` in conductance units and keeps the factor as a
    digital output scale; the update is divided by it so the logical step equals SGD's.
    ``learn_out_scaling`` adds trainable digital output scales (per output when
    ``out_scaling_columnwise``). ``learn_input_range`` clips each tile's inputs to a trained
    range ``r`` (the DAC spans ``[-r, r]``), initialised from the standard deviation of the
    first ``init_input_range_from_data`` training batches (0: start at ``input_range_init``).
    With ``io.forward.noise_management=abs_max`` each input is rescaled to the DAC range anyway
    and ``r`` only clips; ``noise_management=none`` gives the static learned DAC range that
    aihwkit recommends with it.
    """

    name: str = "default"
    digital_bias: bool = True  # false: the bias is an extra analog column
    max_input_size: int = 512  # columns of one tile (0: no limit)
    max_output_size: int = 512  # rows of one tile (0: no limit)
    weight_scaling_omega: float = 0.0  # > 0: each tile's abs-max weight is mapped to omega
    weight_scaling_columnwise: bool = False  # one weight scale per output instead of per tile
    learn_out_scaling: bool = False  # trainable digital output scales
    out_scaling_columnwise: bool = False  # one learned scale per output instead of per tile
    learn_input_range: bool = False  # clip inputs to a trained range r (needs digital_bias)
    init_input_range_from_data: int = 100  # batches that initialise r from std(x) (0: off)
    input_range_init: float = 3.0  # r before (or without) the data initialisation
    input_range_std_alpha: float = 3.0  # r = std_alpha * std(x) from data
    input_range_decay: float = 0.001  # pulls r in while fewer than 5% of inputs clip
    # all | none | all_but_first | all_but_last | all_but_first_last | [names]
    analog_layers: str | list[str] = "all"
    # low-rank surgery before mapping (xbrun.factorize); the
    factorize: FactorizeConfig = field(default_factory=FactorizeConfig)

    def validate(self, key: str) -> None:
        p = f"{key}." if key else ""
        for name in ("max_input_size", "max_output_size"):
            check(getattr(self, name) >= 0, p + name, "an integer >= 1 (0: no limit)",
                  getattr(self, name))
        check(self.weight_scaling_omega >= 0, p + "weight_scaling_omega",
              "a number >= 0 (0: no weight scaling)", self.weight_scaling_omega)
        check(self.init_input_range_from_data >= 0, p + "init_input_range_from_data",
              "a number of batches >= 0 (0: off)", self.init_input_range_from_data)
        check(self.input_range_init > 0, p + "input_range_init", "a number > 0",
              self.input_range_init)
        check(self.input_range_std_alpha > 0, p + "input_range_std_alpha", "a number > 0",
              self.input_range_std_alpha)
        check(self.input_range_decay >= 0, p + "input_range_decay", "a number >= 0",
              self.input_range_decay)
        check(not (self.learn_input_range and not self.digital_bias), p + "learn_input_range",
              "false when mapping.digital_bias=false (an analog bias column would be scaled "
              "by the input range)", self.learn_input_range)
        layers = self.analog_layers
        if isinstance(layers, str):
            check(layers in LAYER_KEYWORDS, p + "analog_layers",
                  f"one of {', '.join(LAYER_KEYWORDS)} or a list of layer names", layers)
        else:
            check(all(isinstance(n, str) and n for n in layers), p + "analog_layers",
                  "a list of non-empty layer names (glob patterns allowed)", layers)

    @property
    def weight_scaling(self) -> bool:
        return self.weight_scaling_omega > 0
