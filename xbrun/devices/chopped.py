"""Chopped TTv2 (TTv3) and AGAD (TTv4): transfer with random sign changes on A.

``device=chopped`` is aihwkit's ``ChoppedTransferCompound``: A is written with its input
(and output) lines' signs flipped by choppers (``in_chop_prob``, ``out_chop_prob``), so A
stores ``A_stored[i, j] = c_d[i] c_x[j] A_true[i, j]``; reads are de-chopped before they
enter the buffer H, so whatever A does on its own - drift towards its symmetry point, an
offset - changes sign with the chopper and cancels in H, while the gradient does not.
H is counted in pulses of C (threshold 1): a read enters as
``read * |transfer_lr| / (thres_scale * buffer_granularity * dw_min_A)``.

``device=agad`` is ``DynamicTransferCompound`` (AGAD, Rasch et al. 2024): the reference
of A is not programmed but estimated on the fly - a running mean of each element's reads
(weight ``tail_weightening / n_samples``) is frozen when the element's chopper switches,
and H accumulates the de-chopped difference of each read from the mean of the previous
chopper period. Choppers switch regularly, every ``1 / in_chop_prob`` passes over A.

With ``gamma != 0`` the visible weight ``gamma * A_true + C`` undoes the chopper signs
element by element (aihwkit PR 764). ``scale_fast_lr`` (off by default here) makes A's
pulse-count learning rate follow the optimizer's rate, also under ``auto_scale``, where it
is ``fast_lr * desired_bl * dw_min_A / (m_x * m_d)`` with running maxima m of |x| and |d|.
The maxima are 0-dim buffers where the arrays are (``kernels.update_auto_scale``), so that
rate is a 0-dim tensor and a CUDA step never reads it back (``PulsedArray.update``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .. import kernels
from ..physics.lines import LineChopper, LineRun
from ..schema import check
from .transfer import BufferedTransfer, BufferedTransferConfig


@dataclass
class ChoppedTransferConfig(BufferedTransferConfig):
    """``device=chopped`` (TTv3; aihwkit ``ChoppedTransferCompound``).

    in_chop_prob: chance that a line's input chopper switches after the line is read
    (``in_chop_random``), else the switching frequency of all lines together.
    out_chop_prob: chance that each output chopper switches after a full pass over A.
    buffer_granularity / auto_granularity: H's threshold in units of dw_min_A, optionally
    scaled by ``auto_granularity / (n_lines * |transfer_every|)``. auto_scale /
    auto_momentum: scale A's learning rate by running maxima of |x| and |d|.
    correct_gradient_magnitudes: divide the transfer by A's learning rate (and the
    granularity ratio) so C sees the gradient's true size. no_buffer: H is not kept
    between reads (TTv1 with choppers). transfer_every < 0: ``|transfer_every| * n_states(A)
    / n_lines`` mat-vecs. One line per transfer, sequential, no reset (aihwkit's restriction).
    """

    kind: str = "chopped"
    in_chop_prob: float = 0.1  # chance a column's input chopper switches after its read
    in_chop_random: bool = True  # false: switch all columns every 1/in_chop_prob passes
    out_chop_prob: float = 0.0  # chance each output chopper switches after a full pass
    buffer_granularity: float = 1.0  # H threshold in units of dw_min of A
    # >0: threshold scaled by auto_granularity / (n_columns * transfer_every)
    auto_granularity: float = 0.0
    momentum: float = 0.0
    no_buffer: bool = False  # true: H is not kept between reads
    units_in_mbatch: bool = False
    auto_scale: bool = False  # scale A's lr by running maxima of |x| and |d|
    auto_momentum: float = 0.99
    correct_gradient_magnitudes: bool = False
    scale_fast_lr: bool = False  # true: fast_lr is multiplied by the optimizer's current lr

    auto_period = True

    def validate(self, key: str) -> None:
        super().validate(key)
        p = f"{key}." if key else ""
        for name in ("in_chop_prob", "out_chop_prob"):
            value = getattr(self, name)
            check(0 <= value <= 1, p + name, "a probability in [0, 1]", value)
        for name in ("buffer_granularity", "auto_granularity"):
            value = getattr(self, name)
            check(math.isfinite(value) and value >= 0, p + name, "a number >= 0", value)
        check(0 <= self.auto_momentum <= 1, p + "auto_momentum", "a number in [0, 1]",
              self.auto_momentum)
        check(self.n_reads_per_transfer == 1, p + "n_reads_per_transfer",
              f"1 (device={self.kind} reads one line per transfer)", self.n_reads_per_transfer)
        check(not self.random_selection, p + "random_selection",
              f"false (device={self.kind} transfers lines in order)", self.random_selection)
        check(self.with_reset_prob == 0, p + "with_reset_prob",
              f"0 (device={self.kind} does not reset A)", self.with_reset_prob)

    def build(self, out_size, in_size, cell, update, seed):
        return ChoppedTransfer(self, out_size, in_size, cell, update, seed)


@dataclass
class DynamicTransferConfig(ChoppedTransferConfig):
    """``device=agad`` (TTv4; aihwkit ``DynamicTransferCompound``).

    tail_weightening: weight of the later reads of a chopper period in the running mean
    (the mean's momentum is ``tail_weightening / n_samples``, at most 1). buffer_cap: with
    ``forget_buffer`` off, H is clipped to ``buffer_cap * transfer_update.desired_bl``
    (0: no cap). experimental_correct_accumulation: divide each read's contribution by its
    index in the chopper period. Choppers switch every ``max(ceil(1/in_chop_prob), 2)``
    passes (``in_chop_random``: also at random with that chance); C is written only after
    the first full period.
    """

    kind: str = "agad"
    in_chop_random: bool = False  # true: also switch at random with that chance
    tail_weightening: float = 5.0  # momentum of the running mean: tail_weightening / period
    buffer_cap: float = 0.0  # with forget_buffer false: |H| <= buffer_cap * desired_bl (0: no cap)
    experimental_correct_accumulation: bool = False

    def validate(self, key: str) -> None:
        super().validate(key)
        p = f"{key}." if key else ""
        check(self.in_chop_prob > 0, p + "in_chop_prob",
              "a probability > 0 (AGAD needs chopper periods)", self.in_chop_prob)
        check(0 < self.auto_momentum < 1, p + "auto_momentum", "a number in (0, 1)",
              self.auto_momentum)
        check(self.out_chop_prob == 0, p + "out_chop_prob",
              "0 (AGAD has no output choppers)", self.out_chop_prob)
        check(math.isfinite(self.tail_weightening) and self.tail_weightening > 0,
              p + "tail_weightening", "a number > 0", self.tail_weightening)
        check(math.isfinite(self.buffer_cap) and self.buffer_cap >= 0, p + "buffer_cap",
              "a number >= 0 (0: no cap)", self.buffer_cap)

    def build(self, out_size, in_size, cell, update, seed):
        return DynamicTransfer(self, out_size, in_size, cell, update, seed)


class ChoppedTransfer(BufferedTransfer):
    """Chopped buffered transfer. The input choppers start flipped, as aihwkit's do."""

    chopped = True
    AUTO_SCALE_STATE = ("m_x", "m_d")
    graph_device_state = (*BufferedTransfer.graph_device_state, *AUTO_SCALE_STATE)

    def __init__(self, config: ChoppedTransferConfig, out_size, in_size, cell, update, seed):
        super().__init__(config, out_size, in_size, cell, update, seed)
        self.in_chopper.fill_(-1.0)
        # auto_scale's running maxima: 0-dim buffers where the arrays are (float64, see
        # kernels/auto_scale_ref.py), so a CUDA step never reads them back
        for name in self.AUTO_SCALE_STATE:
            self.register_buffer(name, torch.zeros((), dtype=torch.float64))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """Checkpoints from before the running maxima were buffers kept them as floats in
        the extra state."""
        extra = state_dict.get(prefix + "_extra_state")
        for name in self.AUTO_SCALE_STATE:
            if prefix + name not in state_dict and isinstance(extra, dict) and name in extra:
                state_dict[prefix + name] = torch.tensor(float(extra[name]),
                                                         dtype=torch.float64)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @property
    def transfer_counter(self) -> int:
        """Full passes over A so far (read back from the schedule)."""
        return int(self.schedule.passes)

    def observe(self, x_rows, d_rows) -> None:
        """Running maxima of |x| and |d|, per mat-vec as aihwkit's ``updateAutoScale``
        (``kernels.update_auto_scale``: on the device, no host read)."""
        c = self.config
        if not c.auto_scale or x_rows.shape[0] == 0:
            return
        tau = (1.0 - c.auto_momentum) / x_rows.shape[0]
        kernels.update_auto_scale(x_rows, d_rows, self.m_x, self.m_d, tau=tau)

    def fast_learning_rate(self, lr: float) -> float | torch.Tensor:
        """Under ``auto_scale`` a 0-dim tensor where the arrays are: the rate follows the
        running maxima, which stay on the device (``PulsedArray.update`` takes it there)."""
        c = self.config
        if c.auto_scale and c.fast_lr > 0:
            base = c.fast_lr * lr if c.scale_fast_lr else c.fast_lr
            count_lr = base * self.update_params.desired_bl * self.fast.granularity
            seen = (self.m_x > 0) & (self.m_d > 0)
            return torch.where(seen, count_lr / (self.m_x * self.m_d), count_lr)
        return super().fast_learning_rate(lr)

    def transfer_period(self, k: int) -> int:
        every = self.config.transfer_every
        if every < 0:  # from the number of states of A
            return max(1, math.floor(self.fast.n_states / self.n_in * abs(every) + 0.5))
        return super().transfer_period(k)

    def buffer_scale(self, lr_t: float) -> float | torch.Tensor:
        """From a read of A to pulses of C (H counts pulses; threshold 1); with
        ``correct_gradient_magnitudes`` under ``auto_scale``, a 0-dim tensor (A's rate)."""
        c = self.config
        g_fast = self.fast.granularity
        bg = c.thres_scale * (c.buffer_granularity if c.buffer_granularity > 0 else 1.0)
        if c.auto_granularity > 0:
            bg *= g_fast * c.auto_granularity / (self.n_in * abs(c.transfer_every))
        else:
            bg *= g_fast
        if c.correct_gradient_magnitudes:
            bg *= self.slow.granularity / g_fast
            return abs(lr_t) / self.last_fast_lr / bg
        return abs(lr_t) / bg

    def buffer_options(self, lines: LineRun, lr_t: float) -> dict:
        return {"scale": self.buffer_scale(lr_t), "threshold": 1.0,
                "no_buffer": self.config.no_buffer}

    def folds_bookkeeping(self, lines: LineRun) -> bool:
        """Whether C's write does the read lines' bookkeeping in its kernel: where that
        write is fused (``CrossbarArray.fused_write``: Triton on CUDA, numba on the CPU).
        It saves the chopper switches' (and AGAD's means') small launches on CUDA and their
        torch dispatch on the CPU; otherwise ``after_reads`` (and ``buffer_signal``) do it."""
        return self.folds_on_device()

    def folds_on_device(self) -> bool:
        """:meth:`folds_bookkeeping` of a run on the device (CUDA)."""
        return self.slow.fused_write(self.config.transfer_update)

    def whole_walks(self) -> bool:
        """A step's transfers read A as the update left it (no reset) and the fused write
        keeps H, the chopper and AGAD's means per line, so every pass goes in one run: one
        read, one write that walks each line's passes in order (``kernels.transfer_lines``
        with more reads than lines) - a convolution's tile makes a transfer per image row,
        thousands of passes a step at batch 128. Not with output choppers: they switch
        after every pass, for every line."""
        return self.config.out_chop_prob == 0 and self.folds_on_device()

    def chopper_params(self) -> kernels.ChopperParams:
        """What the fused write does with the input choppers (``after_reads``'s rule)."""
        c = self.config
        if c.in_chop_prob <= 0:
            return kernels.ChopperParams()
        if c.in_chop_random:
            return kernels.ChopperParams(flip_prob=c.in_chop_prob)
        return kernels.ChopperParams(period=max(math.ceil(1.0 / c.in_chop_prob), 2))

    def line_chopper(self, lines: LineRun, generator) -> LineChopper | None:
        if not self.folds_bookkeeping(lines):
            return None
        params = self.chopper_params()
        draws = seed = None
        # random switches: on CUDA drawn in the kernel from the run's read seed (the walk's),
        # else here; on the host the write draws them after its seed, as after_reads would
        # (the same stream as the unfolded step)
        if params.flip_prob > 0 and not lines.on_host:
            seed = lines.read_seeds(self.in_chopper.device)
            if seed is None:
                draws = torch.rand(lines.count, generator=generator,
                                   device=self.in_chopper.device)
        return LineChopper(params, draws, lines.passes, self.reference_means(), seed)

    def reference_means(self) -> tuple | None:
        """AGAD's means for the fused write (None: TTv3 has none)."""
        return None

    def bound_chopper(self) -> LineChopper:
        return LineChopper(self.chopper_params(), None, 0, self.reference_means())

    def binds(self, lines: LineRun) -> bool:
        """A host run's write is bound once per rate (``_host_writer``, as TTv1/TTv2's)
        where the write does the bookkeeping (the chopper, AGAD's means) with a host
        buffer scale: on the CPU a transfer's write was some 0.13 ms of Python making its
        arguments anew (``write_plan``, ``fused_call``, the kernel's views)."""
        c = self.config
        return (self.folds_bookkeeping(lines)
                and not (c.auto_scale and c.correct_gradient_magnitudes))

    def _writer_key(self) -> tuple:
        # the buffer scale follows A's rate under correct_gradient_magnitudes (a host float
        # where bound: binds)
        return (self.last_fast_lr,) if self.config.correct_gradient_magnitudes else ()

    def _written(self) -> tuple[torch.Tensor, ...]:
        means = self.reference_means()
        return (*super()._written(), *(() if means is None else means))

    def period_ends(self, lines: LineRun, period: int) -> torch.Tensor:
        """Per read line: whether its pass is the last of a chopper period of ``period``
        passes."""
        return lines.pass_of(self.in_chopper.device) % period + 1 == period

    def after_reads(self, lines: LineRun, generator) -> None:
        """Switch the input choppers of the read lines (at random, or all every
        ``1 / in_chop_prob`` passes), the output choppers after a full pass."""
        c = self.config
        device = self.in_chopper.device
        if c.in_chop_prob > 0 and not self.folds_bookkeeping(lines):
            if c.in_chop_random:
                flip = torch.rand(lines.count, generator=generator, device=device) \
                    < c.in_chop_prob
            else:
                flip = self.period_ends(lines, max(math.ceil(1.0 / c.in_chop_prob), 2))
            self.flip_in_choppers(lines, flip)
        done = lines.pass_done() if c.out_chop_prob > 0 else False
        if done is not False:  # on the device: drawn, then masked
            flip = torch.rand(self.n_out, generator=generator, device=device) \
                < c.out_chop_prob
            if done is not True:
                flip &= done
            self.out_chopper.copy_(torch.where(flip, -self.out_chopper, self.out_chopper))

    def flip_in_choppers(self, lines: LineRun, flip: torch.Tensor) -> None:
        """Negate the input choppers of the read lines where ``flip``."""
        index = self.line_index(lines)
        chopper = self.in_chopper[index]
        self.in_chopper[index] = torch.where(flip, -chopper, chopper)


class DynamicTransfer(ChoppedTransfer):
    """AGAD: H accumulates reads relative to the mean of the previous chopper period."""

    graph_device_state = (*ChoppedTransfer.graph_device_state, "running_mean", "past_mean",
                          "switched")

    def __init__(self, config: DynamicTransferConfig, out_size, in_size, cell, update, seed):
        super().__init__(config, out_size, in_size, cell, update, seed)
        self.register_buffer("running_mean", torch.zeros(self.n_out, self.n_in))
        self.register_buffer("past_mean", torch.zeros(self.n_out, self.n_in))
        self.register_buffer("switched", torch.zeros(self.n_in, dtype=torch.bool))

    @property
    def n_samples(self) -> int:
        """Passes over A per chopper period."""
        return max(math.ceil(1.0 / self.config.in_chop_prob), 2)

    @property
    def mean_momentum(self) -> float:
        """The running mean's weight of a read."""
        return min(self.config.tail_weightening / self.n_samples, 1.0)

    def folds_bookkeeping(self, lines: LineRun) -> bool:
        """Not with ``experimental_correct_accumulation`` (a divisor per read), nor with a
        buffer scale on the device (``correct_gradient_magnitudes`` under ``auto_scale``:
        it would scale the reads before the reference is taken off), nor on the host before
        the first reference: those passes only fill H, through the unfused buffer step
        (chosen when its remainder rounded in float64; both now round as the twin, so
        folding these passes as well is open)."""
        return self.folds_on_device() and (not lines.on_host or lines.passes > self.n_samples)

    def folds_on_device(self) -> bool:
        c = self.config
        scale_on_device = c.auto_scale and c.correct_gradient_magnitudes
        return (super().folds_on_device() and not c.experimental_correct_accumulation
                and not scale_on_device)

    def chopper_params(self) -> kernels.ChopperParams:
        c = self.config
        return kernels.ChopperParams(flip_prob=c.in_chop_prob if c.in_chop_random else 0.0,
                                     period=self.n_samples, momentum=self.mean_momentum,
                                     ready_after=self.n_samples)

    def reference_means(self) -> tuple:
        return self.running_mean, self.past_mean, self.switched

    def buffer_signal(self, lines: LineRun, reads) -> torch.Tensor:
        """The raw (still chopped) reads relative to the reference of each line: the mean of
        its previous chopper period. A line whose chopper switched after its last read
        starts a new period, and the running mean of the period just ended becomes its
        reference; the running mean then takes in the reads."""
        momentum = self.mean_momentum
        index = self.line_index(lines)
        running, past = self.running_mean[:, index], self.past_mean[:, index]
        past = torch.where(self.switched[index][None, :], running, past)
        running = running.mul_(1.0 - momentum).add_(reads.T, alpha=momentum)
        self.past_mean[:, index] = past
        self.running_mean[:, index] = running
        self.switched.index_fill_(0, index, False)
        signal = reads - past.T
        if self.config.experimental_correct_accumulation and not lines.on_host:
            signal = signal / self.accumulation_divisor(lines.pass_of(index.device))[:, None]
        return signal

    def accumulation_divisor(self, passes):
        """``experimental_correct_accumulation``: a read's contribution is divided by its
        index in the chopper period (at most ``1 / dw_min_A``)."""
        sample = passes % self.n_samples + 1
        cap = 1.0 / self.fast.granularity
        if isinstance(sample, int):
            return min(sample, cap)
        return sample.to(self.running_mean.dtype).clamp(max=cap)

    def buffer_options(self, lines: LineRun, lr_t: float) -> dict:
        c = self.config
        scale = self.buffer_scale(lr_t)
        if c.experimental_correct_accumulation and lines.on_host:
            scale /= self.accumulation_divisor(lines.passes)
        return {"scale": scale, "threshold": 1.0,
                "buffer_cap": c.buffer_cap * c.transfer_update.desired_bl}

    def writes_ready(self, lines: LineRun) -> bool | torch.Tensor:
        """C is written once a line's first reference exists: after ``n_samples`` passes."""
        if lines.on_host:
            return lines.passes > self.n_samples
        return lines.pass_of(self.in_chopper.device) > self.n_samples

    def after_reads(self, lines: LineRun, generator) -> None:
        """Every line's chopper switches at the end of a period (``in_chop_random``: also at
        random); the switch starts the line's next period at its next read."""
        c = self.config
        if self.folds_bookkeeping(lines):
            return
        switch = self.period_ends(lines, self.n_samples)
        if c.in_chop_random:
            switch |= torch.rand(lines.count, generator=generator,
                                 device=switch.device) < c.in_chop_prob
        self.flip_in_choppers(lines, switch)
        self.switched[self.line_index(lines)] = switch

    def reset_state(self) -> None:
        super().reset_state()
        for state in (self.running_mean, self.past_mean, self.switched):
            state.zero_()


__all__ = ["ChoppedTransferConfig", "DynamicTransferConfig", "ChoppedTransfer",
           "DynamicTransfer"]
