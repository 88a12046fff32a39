"""Learning-rate schedules: the lr each epoch trains with, through the recipe and the CLI."""

import json
import math

import pytest
import torch

from xbrun.cli import main
from xbrun.composition import compose
from xbrun.training.schedule import ScheduleConfig, build_scheduler


def lrs(config: ScheduleConfig, epochs: int, lr: float = 1.0) -> list[float]:
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    scheduler = build_scheduler(config, optimizer, epochs)
    out = []
    for _ in range(epochs):
        out.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return out


def test_constant_step_and_cosine_sequences():
    assert lrs(ScheduleConfig(), 4) == [1.0] * 4
    assert lrs(ScheduleConfig(name="step", step_size=2, factor=0.5), 5) == \
        pytest.approx([1.0, 1.0, 0.5, 0.5, 0.25])
    cosine = lrs(ScheduleConfig(name="cosine", min_lr=0.1), 4, lr=0.5)
    assert cosine == pytest.approx([0.1 + 0.2 * (1 + math.cos(math.pi * e / 4))
                                    for e in range(4)])


def test_the_cli_logs_the_scheduled_lr_per_epoch(tmp_path):
    main(["train", "device=fp", "schedule=step", "schedule.step_size=1",
          "schedule.factor=0.5", "lr=0.4", "epochs=3", "dataset.limit_train=32",
          "model.hidden=[8]", f"hydra.run.dir={tmp_path}"])
    rows = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [r["lr"] for r in rows] == pytest.approx([0.4, 0.2, 0.1])
    state = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert state["scheduler"]["last_epoch"] == 3  # saved for an exact resume


def test_schedule_is_a_config_group():
    assert compose([]).schedule.name == "constant"
    cfg = compose(["schedule=cosine", "schedule.t_max=7"])
    assert (cfg.schedule.name, cfg.schedule.t_max) == ("cosine", 7)


@pytest.mark.parametrize("override, key", [
    ("schedule=nope", "schedule=nope"),
    ("schedule.factor=0", "schedule.factor"),
    ("schedule.step_size=0", "schedule.step_size"),
])
def test_bad_schedule_is_one_line_and_exit_2(override, key, capsys):
    args = ["train", override] if override.startswith("schedule=") else \
        ["train", "schedule=step", override]
    with pytest.raises(SystemExit) as exc:
        main(args)
    err = capsys.readouterr().err
    assert exc.value.code == 2 and key in err and len(err.strip().splitlines()) == 1
