"""benchmarks/aihwkit_anchor.py: the subprocess it starts for aihwkit (a stand-in script here,
no aihwkit), the arguments and path it hands over, the rows it keeps."""

import json
import sys

from benchmarks import aihwkit_anchor

FAKE = """
import json, os, sys
args = sys.argv[1:]
shape = args[args.index("--shape") + 1]
print("a warning line")
print(json.dumps({"device": "fp", "batch": 256, "seconds": 0.5, "shape": shape}))
print(json.dumps({"device": "sgd", "batch": 256, "seconds": float(len(args)), "shape": shape}))
print(json.dumps({"device": "chopped", "batch": 256, "error": "RuntimeError('x')"}))
print(json.dumps({"device": os.environ["PYTHONPATH"].split(os.pathsep)[0], "batch": 1,
                  "seconds": 1.0}))
"""


def test_measure_runs_the_anchor_with_shape_and_path(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("XBRUN_AIHWKIT_RESULTS", raising=False)
    script = tmp_path / "bench.py"
    script.write_text(FAKE)
    monkeypatch.setenv("XBRUN_AIHWKIT_PYTHON", sys.executable)
    monkeypatch.setenv("XBRUN_AIHWKIT_BENCH", str(script))
    monkeypatch.setenv("XBRUN_AIHWKIT_PATH", "/opt/aihwkit-cuda")
    assert aihwkit_anchor.available()
    rows = aihwkit_anchor.measure("cuda", (256,), ("sgd", "chopped"), shape="large", repeats=1)
    # --where cuda --shape large --batches 256 --devices sgd,chopped --repeats 1: 10 arguments
    assert rows == {("fp", 256): 0.5, ("sgd", 256): 10.0, ("/opt/aihwkit-cuda", 1): 1.0}
    assert "aihwkit large chopped b256: RuntimeError('x')" in capsys.readouterr().err


def test_no_anchor_no_rows(tmp_path, monkeypatch):
    monkeypatch.delenv("XBRUN_AIHWKIT_RESULTS", raising=False)
    monkeypatch.setenv("XBRUN_AIHWKIT_PYTHON", str(tmp_path / "missing" / "python"))
    assert not aihwkit_anchor.available()
    assert aihwkit_anchor.measure("cpu", (32,), ("sgd",)) == {}


def test_rows_read_from_a_results_file(tmp_path, monkeypatch, capsys):
    lines = [
        {"device": "fp", "batch": 256, "shape": "large", "where": "cuda", "seconds": 0.5},
        {"device": "sgd", "batch": 256, "shape": "large", "where": "cuda", "seconds": 2.0},
        {"device": "sgd", "batch": 256, "shape": "large", "where": "cuda", "seconds": 3.0},
        {"device": "sgd", "batch": 32, "shape": "large", "where": "cuda", "seconds": 9.0},
        {"device": "sgd", "batch": 256, "shape": "bench", "where": "cuda", "seconds": 9.0},
        {"device": "sgd", "batch": 256, "shape": "large", "where": "cpu", "seconds": 9.0},
        {"device": "ttv1", "batch": 256, "shape": "large", "where": "cuda", "seconds": 9.0},
        {"device": "chopped", "batch": 256, "shape": "large", "where": "cuda", "error": "crash"},
        {"smoke": "sgd", "ok": True},
    ]
    results = tmp_path / "aihwkit.jsonl"
    results.write_text("a warning line\n" + "\n".join(json.dumps(r) for r in lines) + "\n")
    monkeypatch.setenv("XBRUN_AIHWKIT_RESULTS", str(results))
    monkeypatch.setenv("XBRUN_AIHWKIT_PYTHON", str(tmp_path / "missing" / "python"))
    assert aihwkit_anchor.available()
    assert aihwkit_anchor.source() == "read from aihwkit.jsonl"
    rows = aihwkit_anchor.measure("cuda", (256,), ("sgd", "chopped"), shape="large")
    assert rows == {("fp", 256): 0.5, ("sgd", 256): 3.0}  # the later row of a key wins
    assert "aihwkit large chopped b256: crash" in capsys.readouterr().err
