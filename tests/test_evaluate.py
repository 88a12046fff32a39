"""Validation split, early stopping with keep-best, ``xbrun.load`` and ``xbrun evaluate``."""

import datetime
import json

import pytest
import torch
from cli_run import run_cli
from sklearn.model_selection import train_test_split

import xbrun
from xbrun.training.data import SPLIT_SEED, DigitsConfig, load_dataset, stratified_split

TINY = ["device=fp", "debug=tiny", "dataset.limit_train=300", "progress=none"]


def test_digits_split_is_sklearns_stratified_split_and_validation_is_carved_from_train():
    from sklearn.datasets import load_digits

    labels = load_digits().target
    _, test = train_test_split(range(len(labels)), test_size=359, random_state=SPLIT_SEED,
                               stratify=labels)
    split = load_dataset(DigitsConfig())
    assert split.y_test.tolist() == labels[test].tolist()
    assert split.y_test.bincount().tolist() == [36, 36, 35, 37, 36, 36, 36, 36, 35, 36]
    held = load_dataset(DigitsConfig(val_fraction=0.1))
    assert len(held.y_val) == 144 and len(held.y_train) == 1438 - 144
    for y, stratify in ((split.y_train, True), (split.y_train[:300].float(), False)):
        kept, out = train_test_split(range(len(y)), test_size=0.1, random_state=SPLIT_SEED,
                                     stratify=y.numpy() if stratify else None)
        mine = stratified_split(y, 0.1, stratify)
        assert [t.tolist() for t in mine] == [list(kept), list(out)]
    assert held.y_val.bincount().min() >= 14  # every class in proportion
    assert torch.equal(held.x_test, split.x_test)  # the test split does not move


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("early") / "run"
    summary = xbrun.train([*TINY, "epochs=30", "lr=3", "early_stop.patience=1",
                           "early_stop.metric=val_accuracy"], run_dir=run, log=lambda _: None)
    return run, summary


def test_early_stopping_keeps_the_best_epoch(stopped_run):
    run, summary = stopped_run
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert summary["status"] == "finished" and summary["stopped_early"] == len(rows) < 30
    assert summary["config"]["dataset"]["val_fraction"] == 0.1  # on by early_stop
    assert summary["config"]["objective"] == "val_accuracy"
    best = max(rows, key=lambda r: r["val_accuracy"])  # the first of equals
    assert summary["best_epoch"] == best["epoch"]
    assert summary["best_val_accuracy"] == best["val_accuracy"]
    assert rows[-1]["epoch"] - best["epoch"] == 1  # patience 1: one epoch without a gain
    assert all("val_loss" in r and "test_loss" in r for r in rows)
    assert torch.load(run / "best.pt", weights_only=True)["epoch"] == best["epoch"]


def test_load_returns_the_best_model_and_evaluate_scores_it(stopped_run, capsys):
    run, summary = stopped_run
    rows = {r["epoch"]: r for r in map(json.loads, (run / "metrics.jsonl").read_text()
                                       .splitlines())}
    model = xbrun.load(run)
    assert isinstance(model, torch.nn.Module) and not model.training
    data = load_dataset(DigitsConfig(limit_train=300, limit_test=96, val_fraction=0.1))
    from xbrun.evaluate import evaluate_model

    result = evaluate_model(model, data.x_test, data.y_test)
    assert result["accuracy"] == rows[summary["best_epoch"]]["test_accuracy"]
    last = evaluate_model(xbrun.load(run, which="last"), data.x_test, data.y_test)
    assert last["accuracy"] == summary["test_accuracy"]
    code, out = run_cli(["evaluate", str(run)], capsys)
    assert code == 0 and f"{100 * result['accuracy']:.2f}%" in out.out and "best.pt" in out.out
    code, out = run_cli(["evaluate", str(run), "dataset.limit_test=10", "--split", "val"],
                        capsys)
    assert code == 0 and "on 30 samples" in out.out  # the validation split of 300
    code, out = run_cli(["evaluate", str(run), "dataset=synthetic"], capsys)
    assert code == 0 and "dataset=synthetic" in out.out


def test_bad_evaluate_and_objective_input_is_one_line(tmp_path, capsys):
    forged = tmp_path / "forged"
    forged.mkdir()
    torch.save({"model": {}, "config": {}, "epoch": 1, "x": datetime.date(2020, 1, 1)},
               forged / "checkpoint.pt")
    for args in (["evaluate", str(tmp_path / "absent")], ["evaluate", str(forged)],
                 ["evaluate", str(forged), "lr=1"],
                 ["train", "objective=val_accuracy", "debug=tiny"],
                 ["train", "early_stop.patience=2", "dataset.val_fraction=0", "debug=tiny"]):
        code, out = run_cli(args, capsys)
        assert code == 2 and out.err.count("\n") == 1 and "Traceback" not in out.err, args
    assert xbrun.compose(["dataset.val_fraction=0.2"]).objective == "val_accuracy"
    assert xbrun.compose([]).objective == "test_accuracy"
    assert xbrun.compose([], optimising=True).dataset.val_fraction == 0.1


def test_a_checkpoint_from_before_the_validation_keys_still_resumes_as_it_ran():
    from xbrun.schema import to_dict
    from xbrun.training.rundir import changed_keys

    now = to_dict(xbrun.compose(["model=lenet5"]))
    before = json.loads(json.dumps(now))
    del before["early_stop"], before["dataset"]["val_fraction"], before["model"]["lr"]
    assert changed_keys(before, now) == {}
    later = to_dict(xbrun.compose(["model=lenet5", "early_stop.patience=2"]))
    assert set(changed_keys(before, later)) == {"dataset.val_fraction", "early_stop.patience",
                                                "objective"}


def test_a_resumed_run_stops_and_selects_as_an_uninterrupted_one(tmp_path):
    args = [*TINY, "lr=3", "early_stop.patience=2", "early_stop.metric=val_accuracy"]
    whole = xbrun.train([*args, "epochs=12"], run_dir=tmp_path / "whole", log=lambda _: None)
    xbrun.train([*args, "epochs=2"], run_dir=tmp_path / "part", log=lambda _: None)
    resumed = xbrun.train([*args, "epochs=12", f"resume={tmp_path / 'part'}"],
                          run_dir=tmp_path / "unused", log=lambda _: None)
    for key in ("stopped_early", "best_epoch", "best_val_accuracy", "test_accuracy"):
        assert resumed.get(key) == whole.get(key), key
    assert whole.get("stopped_early")  # the case checks a stop, not a run to the end
    best = torch.load(tmp_path / "part" / "best.pt", weights_only=True)
    assert best["epoch"] == whole["best_epoch"]


def test_evaluate_without_a_run_asks_only_for_the_run(capsys):
    """The data-set overrides are optional: argparse must not list them as required."""
    code, out = run_cli(["evaluate"], capsys)
    assert code == 2 and out.err.strip() == ("xbrun: error: xbrun evaluate: the following "
                                             "arguments are required: run_dir (see xbrun "
                                             "evaluate --help)")


def test_a_training_key_given_to_evaluate_names_every_kind_of_key_it_takes():
    from xbrun.evaluate import dataset_overrides

    with pytest.raises(xbrun.ConfigError, match=r"^lr=1: expected dataset=NAME, "
                                                r"dataset.KEY=VALUE or eval.KEY=VALUE$"):
        dataset_overrides({"name": "digits"}, ["lr=1"])
