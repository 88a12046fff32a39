"""``cuda_graphs``: the training step captured once per batch shape and replayed.

The CPU tests check the key and the runner's bookkeeping; the ``gpu`` tests (run with
``-m gpu`` on the device machine) check that a step makes no host sync, that replays train
like eager steps, that counters stay right and that the same seed gives the same metrics.
"""

import pytest
import torch
from cli_run import run_cli
from test_transfer_schedule import _assert_same

from xbrun.composition import compose
from xbrun.errors import ConfigError
from xbrun.training import loop
from xbrun.training.graphs import StepRunner, host_state
from xbrun.training.loop import train

gpu = pytest.mark.gpu


def test_cuda_graphs_key_is_checked():
    assert compose([]).cuda_graphs == "auto"
    assert compose(["cuda_graphs=on"]).cuda_graphs == "on"
    with pytest.raises(ConfigError, match="cuda_graphs"):
        compose(["cuda_graphs=maybe"])
    with pytest.raises(ConfigError, match="cuda_graphs: expected auto or off"):
        compose(["cuda_graphs=on", "accelerator=cpu"])


def test_cli_rejects_graphs_on_the_cpu_in_one_line(tmp_path, capsys):
    code, out = run_cli(["train", "cuda_graphs=on", "accelerator=cpu",
                         f"hydra.run.dir={tmp_path / 'run'}"], capsys)
    assert code == 2
    assert out.err.strip().count("\n") == 0 and "cuda_graphs" in out.err
    assert not (tmp_path / "run").exists()


def test_auto_is_eager_on_the_cpu():
    cfg = compose([])
    assert loop.graphs_mode(cfg, torch.device("cpu")) == "off"
    assert loop.graphs_mode(cfg, torch.device("cuda")) == "auto"
    with pytest.raises(ConfigError, match="needs the run on CUDA"):
        loop.graphs_mode(compose(["cuda_graphs=on"]), torch.device("cpu"))


def test_host_state_sees_a_moving_counter():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2))
    model[0].steps = 0
    before = host_state(model)
    model[0].steps += 1
    after = host_state(model)
    assert before != after and any(k.endswith(".steps") for k in after)


def test_eager_runner_is_the_step(small_run):
    """On the CPU (or with ``off``) the runner calls the step on the batch, nothing else."""
    seen = []

    def step(model, optimizer, x, y):
        seen.append((x.clone(), y.clone()))
        return x.sum()

    runner = StepRunner(step, torch.nn.Linear(1, 1), None, "auto")
    x, y = torch.arange(10.0)[:, None], torch.arange(10)
    idx = torch.tensor([3, 1, 4])
    assert float(runner(x, y, idx)) == 8.0
    assert torch.equal(seen[0][1], idx)


# --------------------------------------------------------------------------------------
# GPU

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
SYNTH = ["dataset=synthetic", "dataset.n_features=64", "dataset.n_train=512",
         "dataset.n_test=128", "model.hidden=[48, 32]", "batch_size=32", "lr=0.1",
         "accelerator=cuda"]
GRID = ["mapping.max_input_size=16", "mapping.max_output_size=16"]
# every device: the transfer devices' schedules move in device tensors and graph keys
CASES = {"fp": ["device=fp"], "sgd": ["device=sgd", "io=perfect"],
         "sgd_default_io": ["device=sgd"], "ttv1": ["device=ttv1"],
         "ttv1_rows": ["device=ttv1", "device.transfer_columns=false",
                       "device.n_reads_per_transfer=5", "device.transfer_every=2"],
         "ttv1_random_reset": ["device=ttv1", "device.random_selection=true",
                               "device.n_reads_per_transfer=3", "device.with_reset_prob=0.2"],
         "ttv2": ["device=ttv2"], "chopped": ["device=chopped"],
         "chopped_out": ["device=chopped", "device.out_chop_prob=0.2",
                         "device.in_chop_random=false", "device.in_chop_prob=0.5"],
         "agad": ["device=agad", "device.in_chop_prob=0.5"],
         "agad_exp": ["device=agad", "device.in_chop_prob=0.5", "device.in_chop_random=true",
                      "device.experimental_correct_accumulation=true"],
         "mixed_precision": ["device=mixed_precision"],
         "mixed_precision_rows": ["device=mixed_precision", "device.n_rows_per_transfer=20",
                                  "device.random_row=true"],
         "chopped_write_noise": ["device=chopped", "cell=soft_bounds",
                                 "cell.write_noise_std=0.5"],
         # running maxima of |x| and |d| and A's learning rate on the device
         "chopped_auto_scale": ["device=chopped", "device.auto_scale=true"],
         "agad_auto_scale": ["device=agad", "device.in_chop_prob=0.5", "device.auto_scale=true",
                             "device.correct_gradient_magnitudes=true"],
         # update.accumulate=batch: the counted update (bits, int8 counts, apply) on the device
         "sgd_batch": ["device=sgd", "io=perfect", "update.accumulate=batch"],
         "chopped_auto_scale_batch": ["device=chopped", "device.auto_scale=true",
                                      "update.accumulate=batch"],
         "agad_exp_step_batch": ["device=agad", "device.in_chop_prob=0.5", "cell=exp_step",
                                 "update.accumulate=batch"],
         "mixed_precision_batch": ["device=mixed_precision", "cell=soft_bounds",
                                   "update.accumulate=batch"],
         # the table cell's knots: a small tensor beside the cell rows, on the device
         "chopped_table": ["device=chopped", "cell=table"],
         "mixed_precision_table_batch": ["device=mixed_precision", "cell=table",
                                         "update.accumulate=batch"],
         # layers cut into grids of equal tiles, read and updated as one group
         # (xbrun/tiles/grouped.py): 64-48-32-10 on 16 x 16 tiles, 4x3 + 3x2 + 2x1 tiles
         "sgd_grouped_batch": ["device=sgd", "update.accumulate=batch", *GRID],
         "sgd_grouped_sample": ["device=sgd", *GRID],
         "mixed_precision_grouped": ["device=mixed_precision", *GRID],
         # a transfer device's A updated as one group, its transfers walked and read as one
         "chopped_grouped_batch": ["device=chopped", "update.accumulate=batch", *GRID],
         # and its writes into C in the group's launches (constant steps), AGAD's means too
         "agad_grouped_batch": ["device=agad", "device.in_chop_prob=0.5",
                                "update.accumulate=batch", *GRID],
         # 32 transfers a step over 8 lines (the last layer's): the step's four passes in
         # one run (ChoppedTransfer.whole_walks), as a convolution's thousands
         "chopped_passes": ["device=chopped", "model.hidden=[48, 8]"],
         "agad_passes": ["device=agad", "device.in_chop_prob=0.3",
                         "device.in_chop_random=true", "model.hidden=[48, 8]"]}
TILES = {"sgd_grouped_batch": 20, "sgd_grouped_sample": 20, "mixed_precision_grouped": 20,
         "chopped_grouped_batch": 20, "agad_grouped_batch": 20}


def _step_once(overrides, steps=4):
    cfg = compose([*SYNTH, *overrides])
    device = torch.device("cuda")
    data, model, optimizer, _ = loop.setup(cfg, device)
    x, y = data.x_train.to(device), data.y_train.to(device)
    for s in range(steps):  # compile the kernels, initialise lazily built state
        loop.training_step(model, optimizer, x[s * 32:(s + 1) * 32], y[s * 32:(s + 1) * 32])
    torch.cuda.synchronize()
    return model, optimizer, x, y


@gpu
@needs_cuda
@pytest.mark.parametrize("case", sorted(CASES))
def test_gpu_training_step_makes_no_host_sync(case):
    model, optimizer, x, y = _step_once(CASES[case])
    torch.cuda.set_sync_debug_mode("error")
    try:
        for s in range(4):  # steps with and without transfers (ttv1_rows: every second)
            loop.training_step(model, optimizer, x[s * 32:(s + 1) * 32],
                               y[s * 32:(s + 1) * 32])
    finally:
        torch.cuda.set_sync_debug_mode(0)
    torch.cuda.synchronize()


@gpu
@needs_cuda
@pytest.mark.parametrize("case", ["chopped_passes", "agad_passes"])
def test_gpu_a_steps_passes_in_one_run_train_as_the_runs_of_one_pass(monkeypatch, case):
    """On CUDA a chopped step's transfers over several passes go in one run (one read, one
    write walking each line's passes): the same numbers, bit for bit, as the runs of one
    pass each that it replaces (reads, switches, pulses keyed as theirs)."""
    from xbrun.devices.chopped import ChoppedTransfer

    states = []
    for whole in (True, False):
        if not whole:
            monkeypatch.setattr(ChoppedTransfer, "whole_walks", lambda self: False)
        model, _, _, _ = _step_once(CASES[case], steps=6)
        states.append(model.state_dict())
    assert states[0].keys() == states[1].keys()
    for name, a in states[0].items():
        _assert_same(a, states[1][name], name)


def _run(tmp_path, name, overrides, epochs=3, logged=None):
    summary = train(compose([*SYNTH, f"epochs={epochs}", *overrides]), tmp_path / name,
                    log=(logged.append if logged is not None else lambda *_: None))
    import json

    rows = [json.loads(line) for line in (tmp_path / name / "metrics.jsonl").read_text()
            .splitlines()]
    return summary, rows


@gpu
@needs_cuda
@pytest.mark.parametrize("case", sorted(CASES))
def test_gpu_graph_replay_trains_like_eager(tmp_path, case):
    eager, e_rows = _run(tmp_path, "eager", [*CASES[case], "cuda_graphs=off"])
    logged = []
    graph, g_rows = _run(tmp_path, "graph", [*CASES[case], "cuda_graphs=on"], logged=logged)
    again, a_rows = _run(tmp_path, "again", [*CASES[case], "cuda_graphs=on"])
    captures = [line for line in logged if "captured the training step" in line]
    print(case, "eager", [(r["test_loss"], r["pulses"]) for r in e_rows])
    print(case, "graph", [(r["test_loss"], r["pulses"]) for r in g_rows], captures)
    print(case, "graph == eager exactly:", [{k: v for k, v in r.items() if k != "seconds"}
                                             for r in g_rows] ==
          [{k: v for k, v in r.items() if k != "seconds"} for r in e_rows])
    # the step is replayed, from few graphs: one per (batch shape, transfers of the step)
    assert 1 <= len(captures) <= 2, captures
    # same seed, same metrics on the GPU
    for a, b in zip(g_rows, a_rows, strict=True):
        assert {k: v for k, v in a.items() if k != "seconds"} == \
            {k: v for k, v in b.items() if k != "seconds"}
    # replays count like eager steps: every sample is one rank-1 update per tile
    for e, g in zip(e_rows, g_rows, strict=True):
        assert g["rank1_updates"] == e["rank1_updates"]
        assert g["pulses"] == pytest.approx(e["pulses"], rel=0.02)
        assert g["test_loss"] == pytest.approx(e["test_loss"], rel=0.02)
        assert g["train_loss"] == pytest.approx(e["train_loss"], rel=0.02)
        # the cost ledger's per-cell counters count replayed steps too
        assert g["cost"]["total"]["pulses"] == g["pulses"]
    assert graph["status"] == eager["status"] == "finished"
    if case != "fp":
        tiles = TILES.get(case, 3)
        assert all(r["pulses"] > 0 and r["rank1_updates"] == tiles * 512 for r in g_rows)


@gpu
@needs_cuda
@pytest.mark.parametrize("case", ["sgd", "ttv1_rows", "ttv2", "chopped_out", "agad_exp",
                                  "mixed_precision_rows", "chopped_auto_scale",
                                  "sgd_grouped_batch"])
def test_gpu_resume_with_graphs_is_exact(tmp_path, case):
    overrides = [*CASES[case], "cuda_graphs=on"]
    full, rows = _run(tmp_path, "full", overrides, epochs=4)
    _run(tmp_path, "part", overrides, epochs=2)
    resumed = train(compose([*SYNTH, "epochs=4", *overrides, f"resume={tmp_path / 'part'}"]),
                    tmp_path / "unused", log=lambda *_: None)
    assert resumed["test_loss"] == pytest.approx(full["test_loss"], rel=1e-5)
    assert resumed["pulses"] == full["pulses"]
    assert resumed["cost"]["total"]["pulses"] == full["cost"]["total"]["pulses"]
    assert resumed["cost"]["total"]["max_cell_pulses"] == full["cost"]["total"]["max_cell_pulses"]


@gpu
@needs_cuda
def test_gpu_a_step_that_syncs(tmp_path):
    """``on`` stops with one line naming the key; ``auto`` warns once and trains eagerly."""
    lin = torch.nn.Linear(4, 2).cuda()
    opt = torch.optim.SGD(lin.parameters(), lr=0.1)

    def syncing_step(model, optimizer, x, y):
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if float(loss) > -1:  # waits for the GPU
            optimizer.step()
        return loss.detach()

    x, y = torch.randn(64, 4, device="cuda"), torch.randint(0, 2, (64,), device="cuda")
    idx = torch.arange(16, device="cuda")
    runner = StepRunner(syncing_step, lin, opt, "on")
    with pytest.raises(ConfigError) as err:  # after MAX_UNFIT eager steps
        for _ in range(400):
            runner(x, y, idx)
    assert str(err.value).startswith("cuda_graphs=on: the step waits for the GPU")
    assert "\n" not in str(err.value)
    logged = []
    runner = StepRunner(syncing_step, lin, opt, "auto", log=logged.append)
    before = lin.weight.detach().clone()
    for _ in range(400):
        runner(x, y, idx)
    torch.cuda.synchronize()
    assert len(logged) == 1 and logged[0].startswith("warning: cuda_graphs=auto")
    assert not torch.equal(before, lin.weight)
    assert not runner.graphs


@gpu
@needs_cuda
@pytest.mark.parametrize("path", ["grouped", "idle-lines"])
def test_gpu_mixed_precision_grid_updates_as_one_group_in_graphs(monkeypatch, tmp_path, path):
    """The grid's mixed-precision tiles update as one group (``bench_switches``'
    ``idle-lines``, ``pulsed_update_cuda.SKIP_IDLE_LINES``, off and on), with no host sync
    in a step; replayed graphs train as eager steps; a resumed run is exact."""
    from xbrun.kernels import pulsed_update_cuda

    from benchmarks.bench_switches import PATHS
    from xbrun.tiles import grouped

    # every switch of the idle-lines path off or on (on by default since 8c70820)
    for module, switch in PATHS["idle-lines"][0]:
        monkeypatch.setattr(module, switch, path == "idle-lines")
    assert pulsed_update_cuda.SKIP_IDLE_LINES == (path == "idle-lines")
    calls = []
    monkeypatch.setattr(grouped.TileGroup, "_mixed_update",
                        lambda self, *a, f=grouped.TileGroup._mixed_update: calls.append(1)
                        or f(self, *a))
    test_gpu_training_step_makes_no_host_sync("mixed_precision_grouped")
    assert len(calls) >= 3 * 8  # three grids, four warm-up steps and four checked
    test_gpu_graph_replay_trains_like_eager(tmp_path, "mixed_precision_grouped")
    test_gpu_resume_with_graphs_is_exact(tmp_path, "mixed_precision_grouped")
