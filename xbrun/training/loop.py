"""The training recipe: set up data, model and optimizer; loop; evaluate; checkpoint; log.

One call of :func:`train` is one run. It writes into ``run_dir``: ``metrics.jsonl`` (a line
per epoch, and with ``log_every=N`` a line with a ``step`` field every N steps, the first
before any update), ``summary.json``, ``checkpoint.pt`` (resumable) and ``curves.png``. A
run whose loss stops being finite or grows past ``diverge_loss`` x its first step's loss
ends with status ``diverged`` and keeps its last good checkpoint.
``resume=<folder>`` continues in that folder after the checks of :mod:`.rundir`.
"""

from __future__ import annotations

import contextlib
import functools
import math
import time
from pathlib import Path
from types import SimpleNamespace

import torch

from ..errors import ConfigError
from ..graph_state import GraphState
from ..kernels import cpu_kernels_compiled
from ..nn import AnalogSGD, analog_tiles, convert_to_analog, factorize_model, mapping_summary
from ..nn.convert import AnalogSpec
from ..schema import to_dict
from . import driver_start
from .cost import COUNTS, CostLedger, cost_line
from .data import load_dataset
from .distributed import Replicas, check_machine, env_world, lock_held_for_me, place
from .early_stop import BEST, EarlyStopping
from .graphs import StepRunner
from .interrupts import Interrupted, interruption, shielded
from .lock import run_lock
from .loggers import RunLoggers, open_loggers
from .models import build_model
from .outputs import (
    metric_records,
    plot_curves,
    remove_temporaries,
    save_checkpoint,
    save_weights,
    write_json,
    write_jsonl,
    write_npz,
)
from .phases import Phases, TimedSteps, bytecode_note, release_collector
from .placement import placement
from .progress import pulses_so_far
from .rundir import CHECKPOINT, load_resume, restore
from .schedule import build_scheduler
from .schemas import RunConfig
from .tasks import single_linear, task_loss, weight_metrics

#: metrics.jsonl and summary.json are rewritten after an epoch that writes a checkpoint, and
#: otherwise at most this often: runs of many tiny epochs (a full-batch regression is one
#: step an epoch) would spend their time rewriting files; what a resume continues from is
#: the checkpoint's copy of the records anyway
FLUSH_SECONDS = 1.0
#: at most about this many epoch lines in a run's log
LOG_LINES = 50


def pick_device(accelerator: str) -> torch.device:
    if accelerator == "cuda" and not torch.cuda.is_available():
        raise ConfigError("accelerator: cuda, but torch sees no CUDA GPU here; use "
                          "accelerator=auto or accelerator=cpu")
    if accelerator == "cuda" or (accelerator == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("cpu")


def graphs_mode(config: RunConfig, device: torch.device) -> str:
    """``cuda_graphs`` resolved for ``device``: auto is on exactly when CUDA is used."""
    if config.cuda_graphs == "on" and device.type != "cuda":
        raise ConfigError("cuda_graphs: 'on' needs the run on CUDA (the run is on "
                          f"{device.type}); use auto or off")
    if config.cuda_graphs == "auto":
        return "auto" if device.type == "cuda" else "off"
    return config.cuda_graphs


def build_decomposition(config: RunConfig):
    if config.decomposition.name == "outer_product":
        return None  # the rank-1 updates are the samples themselves: nothing to compute
    from ..decompositions import build_decomposition as build

    options = {k: v for k, v in to_dict(config.decomposition).items() if k not in ("name", "rank")}
    return build(config.decomposition.name, config.decomposition.rank, **options)


def setup(config: RunConfig, device: torch.device, phases: Phases | None = None):
    """Data, model (analog unless ``device=fp``), optimizer and decomposition of a run
    (``phases``: where the seconds of the data and of the build are marked)."""
    torch.manual_seed(config.seed)
    data = load_dataset(config.dataset)
    if phases is not None:
        phases.mark("data")
    model = build_model(config.model, data.input_shape, data.n_classes)
    factorize_model(model, config.mapping.factorize, data.x_train)  # before mapping to tiles
    decomposition = None
    if config.is_analog:
        decomposition = build_decomposition(config)
        spec = AnalogSpec(device=config.device, cell=config.cell, io=config.io,
                          update=config.update, decomposition=decomposition,
                          seed=config.seed, mapping=config.mapping)
        model = convert_to_analog(model, spec)
        optimizer = AnalogSGD(model.parameters(), lr=config.lr)
    elif config.device.grad_noise_std > 0:
        optimizer = NoisyGradientSGD(model.parameters(), lr=config.lr,
                                     std=config.device.grad_noise_std, seed=config.seed,
                                     device=device)
    else:
        optimizer = torch.optim.SGD(model.parameters(), lr=config.lr)
    model = model.to(device)
    if phases is not None:
        phases.mark("build")
    return data, model, optimizer, decomposition


class NoisyGradientSGD(torch.optim.SGD, GraphState):
    """SGD that first adds Gaussian noise of std ``std`` to every gradient element
    (``device.grad_noise_std``). The noise has its own generator, seeded by the run's seed
    and saved with the optimizer's state, so a resumed run draws what it would have drawn
    (and registered with a CUDA graph, so a replay draws afresh)."""

    def __init__(self, params, lr: float, std: float, seed: int, device: torch.device):
        super().__init__(params, lr=lr)
        self.std = std
        self.noise_generator = torch.Generator(device=device).manual_seed(seed)

    def graph_generators(self) -> dict[str, torch.Generator]:
        return {"noise_generator": self.noise_generator}

    @torch.no_grad()
    def step(self, closure=None):
        for group in self.param_groups:
            for param in group["params"]:
                if param.grad is not None:
                    noise = torch.randn(param.grad.shape, generator=self.noise_generator,
                                        device=param.grad.device, dtype=param.grad.dtype)
                    param.grad.add_(noise, alpha=self.std)
        return super().step(closure)

    def state_dict(self):
        return {**super().state_dict(), "noise_generator": self.noise_generator.get_state()}

    def load_state_dict(self, state_dict):
        state_dict = dict(state_dict)
        saved = state_dict.pop("noise_generator", None)
        super().load_state_dict(state_dict)
        if saved is not None:
            self.noise_generator.set_state(saved)


def training_step(model, optimizer, x, y, replicas: Replicas | None = None) -> torch.Tensor:
    """One step on the batch ``(x, y)``; returns its loss (on the device).

    ``loss.backward()`` leaves every analog tile its ``(x, d)`` pair (as it leaves ``.grad``
    on digital parameters); ``optimizer.step(analog=False)`` is SGD on the digital
    parameters, and ``optimizer.analog_step()`` is the analog update: each tile writes
    ``-lr d x^T`` into its arrays as pulse trains (``nn/optimizer.py``).

    With ``replicas`` (a run on several processes) ``(x, y)`` is this rank's shard of the
    global batch; between backward and update ``replicas.synchronise`` sums the digital
    gradients and gathers every tile's ``(x, d)``, so the update is the global batch's.
    """
    if replicas is not None:
        replicas.begin(optimizer)
    out = model(x)
    loss = task_loss(out, y) if replicas is None else replicas.loss(out, y)
    optimizer.zero_grad(set_to_none=True)
    if isinstance(optimizer, AnalogSGD) and replicas is None:
        with optimizer.updates_in_backward():  # (nn/optimizer.py: EARLY_UPDATES)
            loss.backward()
    else:
        loss.backward()
    if replicas is not None:
        loss = replicas.synchronise(model, optimizer, loss)
    if isinstance(optimizer, AnalogSGD):
        optimizer.step(analog=False)
        optimizer.analog_step()
    else:
        optimizer.step()
    return loss.detach()


def train_epoch(model, optimizer, x, y, order, batch_size: int,
                runner: StepRunner | None = None, on_step=None,
                replicas: Replicas | None = None) -> torch.Tensor:
    """One pass over the data in ``order``; returns the summed loss (kept on the device,
    so the GPU never waits for the host inside the epoch). ``runner`` runs each
    ``training_step`` (eagerly, or as CUDA graph replays); by default eagerly. Each step's
    analog update is the ``optimizer.analog_step()`` call in :func:`training_step`
    (``nn/optimizer.py::AnalogSGD.analog_step``: tiles' queued ``(x, d)`` -> pulses).
    ``on_step(samples_done, loss_sum)``, when given, sees each step (progress bar,
    per-step loggers). With ``replicas`` each rank steps on its shard of each batch and
    ``runner`` must run ``training_step`` with those replicas (:func:`step_function`)."""
    runner = runner or StepRunner(step_function(replicas), model, optimizer, "off")
    loss_sum = torch.zeros((), device=x.device)
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        mine = idx if replicas is None else replicas.shard(idx)
        loss_sum += runner(x, y, mine) * len(idx)
        if on_step is not None:
            on_step(start + len(idx), loss_sum)
    return loss_sum


def step_function(replicas: Replicas | None):
    """:func:`training_step` for this process: with the run's replicas, if any."""
    if replicas is None:
        return training_step
    return functools.partial(training_step, replicas=replicas)


@torch.no_grad()
def evaluate(model, x, y, batch_size: int = 512) -> tuple[float, float | None]:
    """``(mean loss, accuracy)`` on ``(x, y)``; the accuracy is None on a regression."""
    model.eval()
    loss_sum, correct = 0.0, 0
    for start in range(0, len(y), batch_size):
        out = model(x[start:start + batch_size])
        target = y[start:start + batch_size]
        loss_sum += float(task_loss(out, target, reduction="sum"))
        if not target.is_floating_point():
            correct += int((out.argmax(1) == target).sum())
    model.train()
    return loss_sum / len(y), None if y.is_floating_point() else correct / len(y)


def train(config: RunConfig, run_dir: Path, log=print) -> dict:
    """One run into ``run_dir``, reported to the trackers ``config.logger`` selects. The run
    holds the lock of every folder it writes (``run_dir``, and the folder it resumes) for its
    whole life (:mod:`.lock`). A resume is checked and restored (:mod:`.rundir`) before the
    trackers open on its folder, so a refused one leaves that folder as it was.

    Started by torchrun or ``distributed.nproc`` (:mod:`.distributed`), this process is one
    replica of the run: it joins the process group, and unless it is rank 0 it writes
    nothing and logs nothing (``run_dir`` may then be None)."""
    if config.distributed.nproc > 1 and env_world()[1] == 1:
        raise ConfigError(f"distributed.nproc: {config.distributed.nproc} processes are "
                          f"started by the xbrun command (or torchrun), not inside this "
                          f"process; from Python, train with distributed.nproc=1")
    phases = Phases()
    device = place(pick_device(config.accelerator))
    check_machine(config, device)
    with contextlib.ExitStack() as held:
        replicas = Replicas.join(config, device)
        if replicas is not None:
            held.callback(replicas.leave)
        writer = replicas is None or replicas.rank == 0
        if writer:
            run_dir = Path(run_dir)
            run_dir.mkdir(parents=True, exist_ok=True)
            if not lock_held_for_me():  # (distributed.nproc: the launching command holds it)
                held.enter_context(run_lock(run_dir, "run_dir"))
                resumed = Path(config.resume).expanduser() if config.resume else None
                if resumed is not None and resumed.is_dir():
                    held.enter_context(run_lock(resumed, "resume"))
        else:
            log = _silent
        run = _start(config, run_dir, log, device, phases, replicas)
        if writer:
            log(f"run folder: {run.run_dir.absolute()}")
        if replicas is not None:
            log(f"distributed: {replicas.size} processes ({device.type}), each "
                f"{config.batch_size // replicas.size} samples of every batch of "
                f"{config.batch_size}")
        run.compiling = (run.device.type == "cpu" and config.is_analog
                         and not cpu_kernels_compiled())
        if run.compiling:
            log("compiling CPU kernels (first run only, about 15 s)")
        loggers = open_loggers(config, run.run_dir) if writer else RunLoggers([], 0, None)
        with loggers:
            summary = _train(config, run, log, loggers)
        phases.mark("end")
        if writer:
            note = bytecode_note()
            if note:
                log(note)
            log(phases.line())
            log(f"run {summary['status']}: results in {run.run_dir.absolute()}")
        return summary


def _silent(*_args) -> None:
    """The log of a replica other than rank 0."""


def _start(config: RunConfig, run_dir: Path | None, log, device: torch.device, phases: Phases,
           replicas: Replicas | None = None) -> SimpleNamespace:
    """Everything a run needs before its first epoch, restored from the checkpoint when it
    resumes (the one place a resumed folder is read before it is written)."""
    state = load_resume(config) if config.resume else None  # before anything is built
    if config.threads:
        torch.set_num_threads(config.threads)
    data, model, optimizer, decomposition = setup(config, device, phases)
    if replicas is not None:
        model = _replicated(model, config, len(data.y_train), replicas.size, device)
    run = SimpleNamespace(
        replicas=replicas, writer=replicas is None or replicas.rank == 0,
        run_dir=run_dir, device=device, data=data, model=model, optimizer=optimizer,
        phases=phases,
        decomposition=decomposition, rows=[], steps=[], start_epoch=0, resumed=None,
        scheduler=build_scheduler(config.schedule, optimizer, config.epochs),
        shuffle=torch.Generator().manual_seed(config.seed),
        early=EarlyStopping(config.early_stop, state and state.get("early_stop")))
    if state is not None:
        run.run_dir = Path(config.resume).expanduser()
        run.resumed = restore(state, config, model, optimizer, run.scheduler, run.shuffle,
                              decomposition)
        run.rows, run.start_epoch = state["metrics"], state["epoch"]
        run.steps, run.step_pending = state.get("steps", []), state.get("step_pending")
        run.reference_loss = state.get("reference_loss", run.rows[0]["train_loss"]
                                       if run.rows else None)
        for tmp in remove_temporaries(run.run_dir) if run.writer else ():
            log(f"removed {tmp.name}, left behind by the interrupted run")
        changed = ", ".join(f"{k} {v['checkpoint']!r} -> {v['now']!r}"
                            for k, v in run.resumed["changed"].items())
        log(f"resuming {run.run_dir} after epoch {run.start_epoch}"
            + (f" (changed: {changed})" if changed else ""))
    return run


def _replicated(model, config: RunConfig, n_train: int, size: int, device: torch.device):
    """``model`` as one of ``size`` replicas: BatchNorm layers normalise over the global
    batch (``SyncBatchNorm``, CUDA only); refused where a shard would be empty."""
    last = n_train % config.batch_size
    if 0 < last < size:
        raise ConfigError(f"batch_size: the last batch of an epoch has {last} samples "
                          f"({n_train} training samples), fewer than the {size} processes; "
                          f"choose batch_size so that the training set splits into batches "
                          f"of at least {size} samples")
    if any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules()):
        if device.type != "cuda":
            raise ConfigError(f"model={config.model.name}: its BatchNorm layers need CUDA to "
                              f"run on {size} processes (SyncBatchNorm); use accelerator=cuda "
                              f"or distributed.nproc=1")
        model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
    return model


def _train(config: RunConfig, run: SimpleNamespace, log, loggers) -> dict:
    run_dir, device, model, optimizer = run.run_dir, run.device, run.model, run.optimizer
    scheduler, shuffle, decomposition = run.scheduler, run.shuffle, run.decomposition
    rows, steps, start_epoch, resumed = run.rows, run.steps, run.start_epoch, run.resumed
    replicas, writer = run.replicas, run.writer
    x_train, y_train = run.data.x_train.to(device), run.data.y_train.to(device)
    x_test, y_test = run.data.x_test.to(device), run.data.y_test.to(device)
    val = None if run.data.x_val is None else (run.data.x_val.to(device),
                                               run.data.y_val.to(device))
    early = run.early
    scores = _weight_scorer(run)
    if getattr(run, "step_pending", None):
        loggers.pending = list(run.step_pending)

    layout = mapping_summary(model)
    log("mapping: " + ", ".join(f"{k} {v:,}" for k, v in layout.items()))
    summary = {"status": "running", "epochs_done": start_epoch, "run_dir": str(run_dir),
               "mapping": layout, "placement": placement(device),
               "world_size": replicas.size if replicas is not None else 1,
               # the samples used (limits applied): a report drawn away from the data reads
               # them here (figures/runner.py run_sizes)
               "data": {"train": len(y_train), "test": len(y_test),
                        "val": 0 if val is None else len(val[1])},
               "config": to_dict(config)}
    if replicas is not None:  # where each process ran (rank order)
        summary["placements"] = replicas.gather(summary["placement"])
    if resumed is not None:
        summary["resumed"] = resumed
    total_pulses = sum(r["pulses"] for r in rows)
    total_rank1 = sum(r.get("rank1_updates", 0) for r in rows)
    n = len(y_train)
    if config.log_every and start_epoch == 0:  # the weights before any update
        steps.append({"step": 0, "epoch": 0, "train_loss": None, **scores(exact=True)})
    graphs = graphs_mode(config, device)
    if replicas is not None and graphs != "off":
        log("cuda_graphs: eager steps on several processes (collectives are not captured)")
        graphs = "off"
    runner = TimedSteps(StepRunner(step_function(replicas), model, optimizer, graphs, log),
                        run.phases)
    ledger = CostLedger(model, config.energy)  # counters restored by a resume: deltas from here
    reference = getattr(run, "reference_loss", None)  # the first step's loss: divergence
    flushed, flush = -math.inf, True
    # a run of 1,000 one-step epochs logs about 50 epoch lines, not 1,000 (metrics.jsonl
    # keeps every epoch)
    log_period = max(1, config.epochs // LOG_LINES)

    def save(epoch: int) -> None:
        """The checkpoint after ``epoch`` (called only at that epoch's end; rank 0's)."""
        if not writer:
            return
        save_checkpoint(run_dir / CHECKPOINT, {
            "epoch": epoch, "model": model.state_dict(),
            "optimizer": optimizer.state_dict(), "shuffle": shuffle.get_state(),
            "scheduler": scheduler.state_dict(),
            "decomposition": (decomposition.state_dict()
                              if hasattr(decomposition, "state_dict") else None),
            "metrics": rows, "steps": steps, "step_pending": list(loggers.pending),
            "early_stop": early.state_dict(), "reference_loss": reference,
            "config": to_dict(config)})
        write_npz(run_dir / COUNTS, ledger.counts())

    saved, boundary = start_epoch, True  # the checkpoint's epoch; state at an epoch's end?
    if device.type == "cuda" and config.is_analog:
        driver_start.settle()  # Triton's cache key, computed beside the start-up
    run.phases.mark("set-up")
    # start-up is over (phases.hold_collector); the first step holds the collector again
    # but where it compiles numba's kernels (20 s of garbage: the collector stays on there)
    runner.quiet_first = release_collector() and not run.compiling
    try:
        for epoch in range(start_epoch, config.epochs):
            boundary = False
            began = time.perf_counter()
            order = torch.randperm(n, generator=shuffle).to(device)

            def record(step: int, loss: float, epoch=epoch + 1) -> dict:
                extra = scores(exact=True)
                steps.append({"step": step, "epoch": epoch, "train_loss": loss, **extra})
                return extra

            steps_run = runner if reference is not None else FirstLoss(runner)
            with loggers.steps(epoch + 1, n, config.batch_size, lambda: pulses_so_far(model),
                               record) as on_step:
                train_loss = float(train_epoch(model, optimizer, x_train, y_train, order,
                                               config.batch_size, steps_run, on_step,
                                               replicas)) / n
            if reference is None and steps_run.loss is not None:
                reference = float(steps_run.loss)
            test_loss, test_acc = evaluate(model, x_test, y_test)
            val_loss, val_acc = evaluate(model, *val) if val else (None, None)
            counters = [tile.take_counters() for tile in analog_tiles(model)]
            pulses = sum(c["pulses"] for c in counters)
            rank1 = sum(c["rank1_updates"] for c in counters)
            err_n = sum(c["err_count"] for c in counters)
            row = {"epoch": epoch + 1, "train_loss": train_loss,
                   **({"val_loss": val_loss, "val_accuracy": val_acc} if val else {}),
                   "test_loss": test_loss, "test_accuracy": test_acc, **scores(exact=False),
                   "lr": optimizer.param_groups[0]["lr"],
                   "pulses": pulses, "rank1_updates": rank1,
                   "reconstruction_error": (sum(c["err_sum"] for c in counters) / err_n
                                            if err_n else 0.0),
                   "cost": ledger.epoch(),
                   "seconds": time.perf_counter() - began}
            reason = diverged(train_loss, test_loss, reference, config.diverge_loss)
            if reason:
                log(f"epoch {epoch + 1}: {reason}; stopping (diverged)")
                summary["status"] = "diverged"
                summary["diverged"] = {"epoch": epoch + 1, "reason": reason}
                steps[:] = [r for r in steps if r["epoch"] <= epoch]  # as far as the rows go
                break
            with shielded():  # an epoch's records and checkpoint are written together
                rows.append(row)
                scheduler.step()  # per epoch; the row logged the lr the epoch trained with
                total_pulses += pulses
                total_rank1 += rank1
                score = (f"test_acc {100 * test_acc:6.2f}%" if test_acc is not None else
                         f"weight_error {row['weight_error']:.4g}" if "weight_error" in row
                         else "")
                if val_acc is not None:
                    score = f"val_acc {100 * val_acc:6.2f}%  {score}"
                if epoch == 0 or (epoch + 1) % log_period == 0 or epoch + 1 == config.epochs:
                    log(f"epoch {epoch + 1:3d}/{config.epochs}  train_loss {train_loss:.4f}  "
                        f"test_loss {test_loss:.4f}  {score}  "
                        f"pulses {pulses:,}  {cost_line(row['cost'])}  {row['seconds']:.1f}s")
                if val and early.update(epoch + 1, row) and config.early_stop.keep_best \
                        and writer:
                    save_weights(run_dir / BEST, model.state_dict(), epoch + 1,
                                 to_dict(config))
                stop = early.should_stop and epoch + 1 < config.epochs
                checkpoint = ((epoch + 1) % config.checkpoint_every == 0
                              or epoch + 1 == config.epochs or stop)
                flush = writer and (checkpoint
                                    or time.perf_counter() - flushed >= FLUSH_SECONDS)
                if flush:
                    write_jsonl(run_dir / "metrics.jsonl", metric_records(rows, steps))
                loggers.epoch(row, rows)
                if checkpoint:
                    save(epoch + 1)
                    saved = epoch + 1
                summary["epochs_done"] = epoch + 1
                if flush:
                    summary["cost"] = ledger.run_cost()
                    write_json(run_dir / "summary.json",
                               {**summary, **_final(rows, total_pulses, total_rank1)})
                    flushed = time.perf_counter()
                boundary = True
            if stop:
                log(f"early stop: no better {config.early_stop.metric} for "
                    f"{config.early_stop.patience} epochs (best: epoch {early.best_epoch})")
                summary.update(status="finished", stopped_early=epoch + 1)
                break
        else:
            summary["status"] = "finished"
    except (KeyboardInterrupt, Interrupted) as err:
        signal_stop = interruption(err)
        with shielded():
            if boundary and rows and saved != len(rows):
                save(len(rows))  # the state is that of an epoch's end: safe to keep
                saved = len(rows)
            steps[:] = [r for r in steps if r["epoch"] <= len(rows)]
            summary.update(status="interrupted", epochs_done=len(rows),
                           interrupted={"signal": signal_stop.signal_name,
                                        "resumes_after": saved},
                           cost=ledger.run_cost(), **_final(rows, total_pulses, total_rank1))
            if rows and writer:
                write_jsonl(run_dir / "metrics.jsonl", metric_records(rows, steps))
            if writer:
                write_json(run_dir / "summary.json", summary)
        log(f"interrupted by {signal_stop.signal_name} after epoch {len(rows)}; status "
            f"interrupted (a resume continues after epoch {saved})")
        signal_stop.run_dir, signal_stop.epoch = run_dir, saved
        raise signal_stop from None
    if replicas is not None:  # every rank: a collective
        summary["replicas_identical"] = replicas.identical(model)
        if not summary["replicas_identical"]:
            log("warning: distributed: the replicas' states differ at the end of the run "
                "(a kernel that is not deterministic?); rank 0's is saved")
    with shielded():
        if early.best is not None:
            summary.update(best_epoch=early.best_epoch,
                           **{f"best_{early.config.metric}": early.best})
        if rows and not flush and writer:  # a divergence after epochs not yet written
            write_jsonl(run_dir / "metrics.jsonl", metric_records(rows, steps))
        summary.update(_final(rows, total_pulses, total_rank1))
        summary["cost"] = ledger.run_cost()
        run.phases.mark("epochs")
        summary["phases"] = run.phases.rounded()  # the end (plot, trackers) only in the log
        if writer:
            write_json(run_dir / "summary.json", summary)
        if rows and writer:
            plot_curves(run_dir / "curves.png", rows, _title(config))
        loggers.finish(summary, run_dir)
    return summary


class FirstLoss:
    """A step runner that keeps (on the device, without a sync) the loss of the first step
    it runs: the loss of the untrained model, the scale ``diverge_loss`` multiplies. A
    copy: a CUDA graph's output buffer is overwritten by the next replay."""

    def __init__(self, runner):
        self.runner, self.loss = runner, None

    def __call__(self, x, y, idx):
        loss = self.runner(x, y, idx)
        if self.loss is None:
            self.loss = loss.detach().clone()
        return loss


def diverged(train_loss: float, test_loss: float, reference: float | None,
             factor: float) -> str:
    """Why an epoch with these losses has diverged, or "" when it has not: a loss that is
    not finite, or above ``factor`` x the first step's loss (at least ``factor``)."""
    if not (math.isfinite(train_loss) and math.isfinite(test_loss)):
        return f"loss is {train_loss if not math.isfinite(train_loss) else test_loss}"
    bound = factor * max(1.0, reference if reference is not None else 1.0)
    worst = max(train_loss, test_loss)
    if worst > bound:
        return (f"loss {worst:.3g} is above diverge_loss x the first step's loss "
                f"({bound:.3g})")
    return ""


def _weight_scorer(run: SimpleNamespace):
    """``scores(exact)``: the weight metrics of a regression with one linear layer
    (:func:`.tasks.weight_metrics`; ``exact`` adds ``exact_loss``), else ``{}``."""
    target = run.data.target
    layer = single_linear(run.model) if target is not None else None
    if layer is None:
        return lambda exact: {}
    x_train = run.data.x_train

    def scores(exact: bool) -> dict:
        return weight_metrics(layer, target, x_train if exact else None)

    return scores


#: metrics of the last epoch that summary.json repeats, when the run logs them
FINAL_KEYS = ("test_accuracy", "test_loss", "train_loss", "reconstruction_error",
              "val_accuracy", "val_loss", "weight_error", "weight_rmse", "weight_std")


def _final(rows: list[dict], pulses: int, rank1: int) -> dict:
    last = rows[-1] if rows else {}
    final = {k: last.get(k) for k in FINAL_KEYS if k in last or k in FINAL_KEYS[:4]}
    accuracies = [r["test_accuracy"] for r in rows if r.get("test_accuracy") is not None]
    return {**final, "best_test_accuracy": max(accuracies, default=None),
            "pulses": pulses, "rank1_updates": rank1,
            "seconds": sum(r["seconds"] for r in rows)}


def _title(config: RunConfig) -> str:
    cell = getattr(config.cell, "kind", "")
    return (f"device={config.device.kind} cell={cell} io={config.io.name} "
            f"model={config.model.name} dataset={config.dataset.name} seed={config.seed}")
