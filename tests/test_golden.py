"""Golden metrics: analog training learns, in the default suite (not only under ``-m slow``).

Floors come from measured runs (2-core x86-64, 2026-12-06, the stratified test split; the
default run's test accuracy after 10 epochs was 96.1 / 95.3 / 95.0 % for seeds 0 / 1 / 2
with aihwkit's constant-step clip order, 95.3 / 94.7 / 94.7 % before it;
96.7 / 95.5 / 97.2 % on the random split used before) with room for the numerical
differences between machines; chance is 10 %.
"""

import xbrun


def test_the_default_analog_run_learns_digits(tmp_path):
    summary = xbrun.train([], run_dir=tmp_path / "default")
    assert summary["status"] == "finished"
    assert summary["config"]["device"]["kind"] == "sgd"  # the default run is analog
    assert summary["test_accuracy"] >= 0.90
