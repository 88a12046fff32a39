"""benchmarks/bench_switches: each path's switch timed off then on, and put back."""

from benchmarks import bench_switches
from xbrun.tiles import indexed

SMALL = ["dataset=synthetic", "dataset.n_features=16", "dataset.n_train=64",
         "dataset.n_test=16"]


def test_a_path_is_timed_off_then_on_and_its_switch_put_back(monkeypatch, capsys):
    monkeypatch.setattr(bench_switches, "PATHS", {
        "keep-rows": (((indexed, "KEEP_ROWS"),), SMALL, ["batch_size=32"], ("sgd",))})
    default = indexed.KEEP_ROWS
    monkeypatch.setattr("sys.argv", ["bench_switches", "keep-rows"])
    bench_switches.main()
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("s/epoch") and "fp" in lines[0]
    assert [line.split(" [")[1].split("]")[0] for line in lines[1:]] == ["off", "on"]
    assert all("x fp" in line for line in lines[1:])
    assert indexed.KEEP_ROWS is default


def test_an_unknown_path_is_refused(monkeypatch):
    import pytest

    monkeypatch.setattr("sys.argv", ["bench_switches", "nope"])
    with pytest.raises(SystemExit, match="nope is not a path"):
        bench_switches.main()


def test_every_path_names_a_switch_of_its_module():
    for switches, *_ in bench_switches.PATHS.values():
        for module, switch in switches:
            assert isinstance(getattr(module, switch), bool), (module.__name__, switch)
