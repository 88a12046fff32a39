"""Every training command that the README, ``xbrun --help`` and ``examples/`` show learns
with the settings written there (reduced in epochs only where marked), well above chance.

Each command is looked up in the text that shows it, so an edited example that is no longer
tested, or a tested one that is no longer shown, fails here. The default run
(``make train``, ``xbrun train``) is tests/test_golden.py.
"""

import json
import re
import runpy
from pathlib import Path

import pytest

import xbrun
from xbrun.cli import USAGE

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
SHOWN = {"README": README, "--help": USAGE}
PYTHON = "python"  # shown as ``xbrun.train([...])`` in the README's Python API section

#: (the command's overrides as shown, where shown, reduction for the test, metric, bound)
EXAMPLES = [
    ("device=sgd cell=soft_bounds io=default model.activation=relu epochs=3 lr=0.1 seed=1",
     ("README", "--help"), ["epochs=1"], "test_accuracy", 0.5),
    ("device=fp", ("README",), [], "test_accuracy", 0.9),
    ("preset=sgd_ecram model.activation=relu lr=0.1 schedule=cosine epochs=3", ("README",),
     ["epochs=1"], "test_accuracy", 0.5),
    ("model=lenet5", ("README",), ["epochs=1"], "test_accuracy", 0.3),
    ("device=chopped gamma=0.1 model.activation=relu lr=0.1 epochs=5 "
     "device.transfer_update.desired_bl=31 device.transfer_update.update_management=true "
     "device.transfer_update.update_bl_management=true", ("README",), ["epochs=1"],
     "test_accuracy", 0.4),
    # the regression task: the weight error starts at 2.08 and falls to analog SGD's floor
    ("dataset=regression model=linear device=sgd cell=soft_bounds io=perfect batch_size=100 "
     "epochs=1000 log_every=1 checkpoint_every=500 lr=0.8 model.init=constant "
     "model.init_value=1.0 cell.w_max=3.5 cell.w_min=-3.5", ("README",),
     ["epochs=100", "log_every=0"], "weight_error", 0.5),
    ("model.activation=relu lr=0.1 epochs=3", (PYTHON,), ["epochs=1"], "test_accuracy", 0.5),
    # early stopping (tests/test_evaluate.py checks that it stops and keeps the best epoch)
    ("model.activation=relu lr=0.1 early_stop.patience=2", ("README",), ["epochs=1"],
     "test_accuracy", 0.5),
]


def _flat(text: str) -> str:
    """``text`` with line continuations and runs of spaces folded, as a shell reads it."""
    return re.sub(r"\s+", " ", text.replace("\\\n", " "))


@pytest.mark.parametrize("command, where, reduced, metric, bound", EXAMPLES,
                         ids=["soft_bounds", "fp", "preset", "lenet5", "chopped", "regression",
                              "readme_python", "early_stop"])
def test_each_shown_example_learns(command, where, reduced, metric, bound, tmp_path):
    for name in where:
        shown = (f"xbrun.train({json.dumps(command.split())})" if name == PYTHON else
                 f"xbrun train {command}")
        assert shown in _flat(SHOWN.get(name, README)), f"not shown in {name}"
    summary = xbrun.train([*command.split(), *reduced, "progress=none"],
                          run_dir=tmp_path / "run", log=lambda line: None)
    assert summary["status"] == "finished"
    if metric == "test_accuracy":  # chance is 10 %
        assert summary[metric] >= bound, summary[metric]
    else:
        assert summary[metric] <= bound, summary[metric]


def test_the_python_example_learns(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    runpy.run_path(str(ROOT / "examples" / "python_api.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "chopped 0.1" in out and "rejected: lr:" in out
    for device in ("fp", "sgd"):
        accuracy = float(re.search(rf"{device}: finished, test accuracy ([\d.]+)%", out)[1])
        assert accuracy >= 60, (device, accuracy)
    assert len(list((tmp_path / "outputs" / "python_api").glob("*/sgd/summary.json"))) == 1


def test_the_readme_config_group_table_names_every_option():
    """Each group of ``conf/`` has a row in the README's table naming all its options (a
    figure's ``_quick`` twin aside; ``debug_model`` is the ``debug`` row's)."""
    rows = {m[1]: m[0] for m in re.finditer(r"^\| `(\w+)` \|.*$", README, re.M)}
    for group in sorted(p.name for p in (ROOT / "conf").iterdir() if p.is_dir()):
        if group == "debug_model":
            assert "conf/debug_model/" in rows["debug"]
            continue
        options = sorted(p.stem for p in (ROOT / "conf" / group).glob("*.yaml"))
        shown = rows[group].split("|")[2]
        names = set(re.findall(r"`([\w-]+)`", shown))
        if group == "preset":  # `<algorithm>_<cell>`: the algorithms times the cells
            names |= {f"{a}_{c}" for a in names for c in names}
        missing = [o for o in options if o not in names and not o.endswith("_quick")]
        assert not missing, (group, missing)


def test_every_top_level_key_is_named_in_the_readme():
    """``xbrun train --cfg job``'s top-level keys (RunConfig's fields) each appear in the
    README, as a key or a group, where a user looks for what a key does."""
    import dataclasses

    from xbrun.training.schemas import RunConfig

    names = set(re.findall(r"`([\w.]+?)(?:\.\*|=[^`]*)?`", README))
    fields = [f.name for f in dataclasses.fields(RunConfig)]
    assert not [f for f in fields if f not in names], fields
