"""One run on several processes (``distributed.nproc``, torchrun): the replicas take the
single-process run's steps, rank 0 writes, checkpoints resume on any number of processes,
and what cannot work is refused at the command line."""

import json

import pytest
import torch
from cli_run import run_cli

# Exact I/O and an analog bias: every number the step computes is then the same in one
# process and in two (each sample's rows and gradients are bitwise those of the whole batch;
# a digital bias would sum its gradient in another order). LeNet-5, so both queues are
# gathered (a convolution's images and a linear layer's rows); a chopped transfer device, so
# transfers, choppers and their schedules are covered; 47 samples in batches of 16 end an
# epoch on a batch of 15 that splits 8 + 7 (padded for the all-gather).
EXACT = ["debug=tiny", "model=lenet5", "io=perfect", "mapping.digital_bias=false",
         "device=chopped", "dataset.limit_train=47", "dataset.limit_test=32",
         "accelerator=cpu"]


def _records(folder):
    lines = (folder / "metrics.jsonl").read_text().splitlines()
    return [{k: v for k, v in json.loads(line).items() if k != "seconds"} for line in lines]


def _same_state(a, b) -> None:
    """The checkpoints' model and optimizer states are equal bit for bit."""
    sa = torch.load(a / "checkpoint.pt", weights_only=True)
    sb = torch.load(b / "checkpoint.pt", weights_only=True)
    for key in ("model", "optimizer", "shuffle", "scheduler", "epoch"):
        _equal(sa[key], sb[key], key)


def _equal(x, y, where: str) -> None:
    if isinstance(x, torch.Tensor):
        assert isinstance(y, torch.Tensor) and x.dtype == y.dtype and torch.equal(x, y), where
    elif isinstance(x, dict):
        assert x.keys() == y.keys(), where
        for key in x:
            _equal(x[key], y[key], f"{where}.{key}")
    elif isinstance(x, (list, tuple)):
        assert len(x) == len(y), where
        for i, (u, v) in enumerate(zip(x, y, strict=True)):
            _equal(u, v, f"{where}[{i}]")
    else:
        assert x == y, where


def _same_records(one, two) -> None:
    """Every metric equal bit for bit but the training loss, whose mean over a batch is
    summed over ranks in another order: equal to float32 rounding."""
    assert len(one) == len(two)
    for a, b in zip(one, two, strict=True):
        assert a.pop("train_loss") == pytest.approx(b.pop("train_loss"), rel=1e-6)
        assert a == b


def test_two_processes_match_one_and_resume_on_one(tmp_path, capfd):
    capsys = capfd  # the processes write to the file descriptors
    single, double = tmp_path / "single", tmp_path / "double"
    code, out = run_cli(["train", *EXACT, "epochs=2", f"hydra.run.dir={single}"], capsys)
    assert code == 0, out.err
    code, out = run_cli(["train", *EXACT, "epochs=2", "distributed.nproc=2",
                         f"hydra.run.dir={double}"], capsys)
    assert code == 0, out.err
    assert "distributed: 2 processes (cpu), each 8 samples of every batch of 16" in out.out
    assert out.out.count("run finished") == 1  # rank 0 alone logs
    summary = json.loads((double / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["status"] == "finished"
    assert summary["replicas_identical"] is True
    assert [p["device"] for p in summary["placements"]] == ["cpu", "cpu"]
    assert json.loads((single / "summary.json").read_text())["world_size"] == 1
    _same_records(_records(single), _records(double))
    _same_state(single, double)
    assert "distributed: 2 processes" in (double / "cli.log").read_text()  # rank 0's log

    # the checkpoint rank 0 wrote resumes on one process where the one-process run does
    for folder in (single, double):
        code, out = run_cli(["train", *EXACT, "epochs=3", f"resume={folder}",
                             f"hydra.run.dir={folder}-resumed"], capsys)
        assert code == 0, out.err
    _same_records(_records(single), _records(double))
    _same_state(single, double)
    assert json.loads((double / "summary.json").read_text())["world_size"] == 1


def test_noisy_replicas_stay_identical(tmp_path, capfd):
    """Noisy I/O (each rank draws its own MVM noise), a learned input range initialised from
    each shard's data and a digital bias: the replicas still end bit for bit alike (the
    run's own check, ``replicas_identical``, digests every rank's state)."""
    folder = tmp_path / "run"
    code, out = run_cli(["train", "debug=tiny", "io=default", "mapping.learn_input_range=true",
                         "dataset.limit_train=48", "dataset.limit_test=16", "accelerator=cpu",
                         "distributed.nproc=2", f"hydra.run.dir={folder}"], capfd)
    assert code == 0, out.err
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["replicas_identical"] is True and summary["status"] == "finished"


@pytest.mark.parametrize(("args", "message"), [
    (["distributed.nproc=0"], "distributed.nproc: expected an integer in [1, 1024], got 0"),
    (["distributed.nproc=2", "batch_size=15"], "batch_size: expected a multiple of the 2 "
     "processes"),
    (["distributed.nproc=2", "distributed.backend=nccl", "accelerator=cpu"],
     "distributed.backend: expected auto or gloo with accelerator=cpu"),
    (["distributed.nproc=2", "model=resnet", "dataset=synthetic",
      "dataset.image_shape=[3,8,8]", "accelerator=cpu"],
     "model=resnet: its BatchNorm layers need CUDA to run on 2 processes"),
])
def test_refusals(args, message, tmp_path, capsys):
    code, out = run_cli(["train", "debug=tiny", *args, f"hydra.run.dir={tmp_path / 'run'}",
                         f"hydra.sweep.dir={tmp_path / 'sweep'}"], capsys)
    assert code == 2
    lines = out.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("xbrun: error: ") and message in lines[0]
    assert not (tmp_path / "run").exists() and not (tmp_path / "sweep").exists()


def test_python_api_refuses_several_processes(tmp_path):
    """``xbrun.api.train`` trains in its own process: it refuses what it cannot start."""
    from xbrun.api import train
    from xbrun.errors import ConfigError

    with pytest.raises(ConfigError, match="distributed.nproc: 2 processes are started by"):
        train(["debug=tiny", "distributed.nproc=2"], run_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_refusals_under_torchrun(tmp_path, capsys, monkeypatch):
    """torchrun sets the world: ``distributed.nproc`` must agree, and nccl needs CUDA."""
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    code, out = run_cli(["train", "debug=tiny", "distributed.nproc=3",
                         f"hydra.run.dir={tmp_path / 'run'}"], capsys)
    assert code == 2 and "distributed.nproc: expected 1 (or 2) under torchrun" in out.err
    if not torch.cuda.is_available():
        code, out = run_cli(["train", "debug=tiny", "distributed.backend=nccl",
                             f"hydra.run.dir={tmp_path / 'run'}"], capsys)
        assert code == 2 and "distributed.backend: nccl needs the run on CUDA GPUs" in out.err


@pytest.mark.gpu
def test_two_gpus_match_one(tmp_path, capsys):
    """On two GPUs (NCCL) the run follows the one-GPU run: cuBLAS may sum a shard's rows in
    another order than the whole batch's, so the pulses differ by a few, not the result."""
    if torch.cuda.device_count() < 2:
        pytest.skip(f"needs 2 CUDA GPUs, this machine has {torch.cuda.device_count()}")
    base = ["debug=tiny", "io=perfect", "mapping.digital_bias=false", "accelerator=cuda",
            "epochs=3", "dataset.limit_train=96", "cuda_graphs=off"]
    one, two = tmp_path / "one", tmp_path / "two"
    assert run_cli(["train", *base, f"hydra.run.dir={one}"], capsys)[0] == 0
    code, out = run_cli(["train", *base, "distributed.nproc=2", f"hydra.run.dir={two}"],
                        capsys)
    assert code == 0, out.err
    a, b = (json.loads((f / "summary.json").read_text()) for f in (one, two))
    assert b["world_size"] == 2 and b["replicas_identical"] is True
    assert len({p["gpu_uuid"] for p in b["placements"]}) == 2  # one GPU each
    assert abs(a["test_accuracy"] - b["test_accuracy"]) <= 0.05
    assert b["pulses"] == pytest.approx(a["pulses"], rel=0.02)
