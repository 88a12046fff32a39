"""The trained network as deployed hardware: ``eval.*``, ``xbrun evaluate RUN_DIR eval.*``."""

import json

import pytest
import torch
from cli_run import run_cli

import xbrun
from xbrun.evaluate import evaluate_model, load_run
from xbrun.physics.inference_noise import PCMLikeNoiseModel
from xbrun.training.deployment import EvalConfig, deployed_scores

TINY = ["debug=tiny", "io=perfect", "dataset.limit_train=300", "progress=none", "epochs=3"]


@pytest.fixture(scope="module")
def deployed_run(tmp_path_factory):
    """A tiny analog run (deterministic reads: io=perfect) evaluated as its last step."""
    run = tmp_path_factory.mktemp("deploy") / "run"
    summary = xbrun.train([*TINY, "eval.after_training=true", "eval.times=[1,3600]",
                           "eval.repeats=1"], run_dir=run, log=lambda _: None)
    return run, summary


def _scores(run, **kw):
    model, _, data, _ = load_run(run)
    return deployed_scores(model, lambda m: evaluate_model(m, data.x_test, data.y_test),
                           EvalConfig(**kw))


def test_after_training_writes_evaluate_jsonl_and_report_shows_it(deployed_run, capsys):
    run, summary = deployed_run
    records = [json.loads(r) for r in (run / "evaluate.jsonl").read_text().splitlines()]
    assert [r["time"] for r in records] == [1, 3600] and (run / "evaluate.png").is_file()
    assert 0 <= records[-1]["accuracy"] <= 1 and records[-1]["noise"] == "pcm"
    code, out = run_cli(["report", str(run), "--csv"], capsys)
    assert code == 0 and "deployed_acc" in out.out.splitlines()[0]
    assert str(records[-1]["accuracy"]) in out.out


def test_noise_none_reproduces_the_runs_test_accuracy(deployed_run):
    run, summary = deployed_run
    records = _scores(run, noise="none", times=[1, 1e9])
    assert [r["accuracy"] for r in records] == [summary["test_accuracy"]] * 2


def test_drift_lowers_accuracy_and_compensation_recovers_most_of_it(deployed_run):
    run, summary = deployed_run
    times = [1, 1e6, 1e12]
    raw = [r["accuracy"] for r in _scores(run, times=times, repeats=4,
                                          drift_compensation=False)]
    comp = [r["accuracy"] for r in _scores(run, times=times, repeats=4)]
    assert raw[0] > raw[1] > raw[2]  # in expectation: the mean over programmings
    assert raw[0] - raw[2] > 0.15
    assert comp[2] - raw[2] > 0.75 * (raw[0] - raw[2])  # most of the loss comes back


def test_pcm_model_matches_aihwkits_formulas_at_its_defaults():
    """Programming sd at g_t = g_max: 0.26348 + 1.9650 - 1.1731 uS; no drift at t = 0."""
    model, gen = PCMLikeNoiseModel(), torch.Generator().manual_seed(0)
    g = torch.full((20000,), 25.0, dtype=torch.float64)
    prog = model.apply_programming_noise_to_conductance(g, gen)
    assert abs(float(prog.std()) - (0.26348 + 1.9650 - 1.1731)) < 0.03
    nu = model.generate_drift_coefficients(g, gen)
    assert abs(float(nu.mean()) - 0.049) < 0.002  # mu clipped at 0.049 near g_max
    late = model.apply_drift_noise_to_conductance(prog, nu, 1e6, gen)
    expected = prog * ((1e6 + 20) / 20) ** -nu
    assert 0.9 < float(late.mean() / expected.mean()) < 1.1 and float(late.mean()) < 0.7 * 25


@pytest.mark.parametrize("override, message", [
    ("eval.times=[3600,1]", "eval.times: expected strictly increasing"),
    ("eval.times=[0,1]", "eval.times: expected positive"),
    ("eval.times=[]", "eval.times: expected a non-empty list"),
    ("eval.noise=flash", "eval.noise: expected one of pcm, reram, none, got 'flash'"),
])
def test_a_bad_time_list_or_noise_is_refused_in_one_line(deployed_run, capsys, override,
                                                         message):
    code, out = run_cli(["evaluate", str(deployed_run[0]), override], capsys)
    assert code == 2 and out.err.startswith(f"xbrun: error: {message}")
    assert len(out.err.strip().splitlines()) == 1


def test_reram_model_relaxes_without_systematic_drift():
    from xbrun.physics.inference_noise import ReRAMLikeNoiseModel

    model, gen = ReRAMLikeNoiseModel(), torch.Generator().manual_seed(0)
    g = torch.full((20000,), 12.5, dtype=torch.float64)
    prog = model.apply_programming_noise_to_conductance(g, gen)
    nu = model.generate_drift_coefficients(g, gen)
    early, late = (model.apply_drift_noise_to_conductance(prog, nu, t, gen) for t in (1, 1e8))
    assert abs(float(late.mean()) - 12.5) < 0.05  # no drift in the mean
    assert float((late - prog).std()) > 3 * float((early - prog).std())  # spread grows
