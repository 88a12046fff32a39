"""benchmarks/aihwkit_rows.py: the groups it plans, the caps and budget it keeps, the rows it
appends as they come (a stand-in anchor script here, no aihwkit), and that bench_training's
reader takes those rows."""

import json
import sys

import pytest

from benchmarks import aihwkit_anchor, aihwkit_rows

# prints one row per device at once; a device named "ttv1" then sleeps (a row that overruns)
FAKE = """
import json, sys, time
args = sys.argv[1:]
shape = args[args.index("--shape") + 1]
batch = int(args[args.index("--batches") + 1].split(",")[0])
print(json.dumps({"device": "fp", "batch": batch, "shape": shape, "seconds": 0.5, "ratio": 1.0,
                  "where": "cuda"}), flush=True)
for d in args[args.index("--devices") + 1].split(","):
    if d == "ttv1":
        time.sleep(30)
    print(json.dumps({"device": d, "batch": batch, "shape": shape, "seconds": 2.0, "ratio": 4.0,
                      "where": "cuda"}), flush=True)
"""


def test_missing_rows_come_first_each_device_once():
    groups = aihwkit_rows.parse("missing,rest")
    assert groups[0] == ("resnet", ("mixed_precision",))
    assert [g for g in groups if g[0] == "resnet"][-1] == ("resnet", ("agad",))
    pairs = [(s, d) for s, devs in groups for d in devs]
    assert len(pairs) == len(set(pairs))
    missing = {(shape, d) for shape, devs in (r.split(":") for r in aihwkit_rows.MISSING)
               for d in devs.split("+")}
    assert set(pairs[:len(missing)]) == missing
    # every device of every shape once: bench 6, large 6, resnet 6
    assert len(pairs) == 18


def test_devices_that_failed_the_smoke_are_dropped():
    assert aihwkit_rows.parse("large:ttv2+agad,resnet:agad", only="sgd,agad") == [
        ("large", ("agad",)), ("resnet", ("agad",))]
    assert aihwkit_rows.parse("missing", only="none") == []


@pytest.mark.parametrize("rows", ["huge:sgd", "large:fp", "large:"])
def test_bad_groups_are_one_line_errors(rows, capsys, tmp_path):
    assert aihwkit_rows.main(["--out", str(tmp_path / "a.jsonl"), "--rows", rows]) == 2
    err = capsys.readouterr().err
    assert err.startswith("aihwkit_rows: row group") and err.count("\n") == 1


def test_rows_are_appended_per_group_with_caps_and_budget(tmp_path, monkeypatch):
    bench = tmp_path / "bench.py"
    bench.write_text(FAKE)
    out = tmp_path / "aihwkit.jsonl"
    out.write_text('{"device": "sgd", "batch": 256, "shape": "large", "seconds": 9.0}\n')
    monkeypatch.setattr(aihwkit_rows, "MIN_SECONDS", 0.2)
    groups = [("large", ("ttv2", "agad")), ("resnet", ("ttv1",)), ("resnet", ("chopped",)),
              ("large", ("sgd",))]
    # a clock that jumps 1 s per reading: the last group finds the budget spent
    ticks = iter(range(1000))
    parts = aihwkit_rows.run(groups, out, budget=10.0, cap=1.0, where="cuda",
                             command=[sys.executable, str(bench)],
                             clock=lambda: float(next(ticks)))
    assert [p["rc"] for p in parts] == [0, 124, 0, "skipped"]
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r.get("shape"), r.get("device")) for r in lines if "device" in r] == [
        ("large", "sgd"), ("large", "fp"), ("large", "ttv2"), ("large", "agad"),
        ("resnet", "fp"), ("resnet", "fp"), ("resnet", "chopped")]
    assert "== resnet:ttv1\n" in (tmp_path / "aihwkit.err").read_text()
    # what bench_training reads (XBRUN_AIHWKIT_RESULTS): the later row of a key wins
    monkeypatch.setenv("XBRUN_AIHWKIT_RESULTS", str(out))
    assert aihwkit_anchor.measure("cuda", (256,), ("sgd", "ttv2", "agad"), shape="large") == {
        ("sgd", 256): 9.0, ("fp", 256): 0.5, ("ttv2", 256): 2.0, ("agad", 256): 2.0}
    assert aihwkit_anchor.measure("cuda", (128,), ("ttv1", "chopped"), shape="resnet") == {
        ("fp", 128): 0.5, ("chopped", 128): 2.0}
    text = aihwkit_rows.table(out)
    assert "resnet:ttv1: rc 124 (stopped at its cap" in text
    assert "large:sgd: rc skipped (budget spent)" in text
    assert "large      256 agad                2.0000        4.00x" in text


def test_anchor_gpu_script_joins_parts_and_measures_rows(tmp_path):
    """scripts/anchor-gpu.sh's rows part end to end on a stand-in build (packed in two parts,
    as its build part sends it back) and a stand-in anchor script: no GPU, no aihwkit."""
    import os
    import subprocess
    import tarfile
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    pkg = tmp_path / "pkg"
    (pkg / "aihwkit" / "simulator").mkdir(parents=True)
    (pkg / "aihwkit" / "simulator" / "rpu_base.cpython-312-x86_64-linux-gnu.so").write_text("")
    (pkg / "segv_trace.so").write_text("")
    packed = tmp_path / "aihwkit-cuda-device.tar.xz"
    with tarfile.open(packed, "w:xz") as tar:
        tar.add(pkg / "aihwkit", "aihwkit")
        tar.add(pkg / "segv_trace.so", "segv_trace.so")
    data = packed.read_bytes()
    half = len(data) // 2
    (tmp_path / "aihwkit-cuda-device.tar.xz.part-aa").write_bytes(data[:half])
    (tmp_path / "aihwkit-cuda-device.tar.xz.part-ab").write_bytes(data[half:])
    bench = tmp_path / "bench.py"
    bench.write_text(FAKE)
    env = dict(os.environ, OUT=str(tmp_path / "out"), ANCHOR_DIR=str(tmp_path / "A"),
               ANCHOR_TGZ=str(tmp_path / "aihwkit-cuda-device.tar.xz.part-aa"),
               ANCHOR_PARTS="rows", ANCHOR_ROWS="large:ttv2+agad,resnet:chopped",
               ANCHOR_BENCH=str(bench), ANCHOR_BUDGET="60", ANCHOR_SEARCH=str(tmp_path),
               PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    done = subprocess.run(["bash", "scripts/anchor-gpu.sh"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    anchor = tmp_path / "out" / "anchor"
    assert (tmp_path / "A" / "aihwkit" / "simulator").is_dir()
    rows = [json.loads(line) for line in (anchor / "aihwkit.jsonl").read_text().splitlines()]
    assert [r["part"] for r in rows if "part" in r] == ["large:ttv2+agad", "resnet:chopped"]
    assert all(r["rc"] == 0 for r in rows if "part" in r)
    assert {(r["shape"], r["device"]) for r in rows if "device" in r} == {
        ("large", "fp"), ("large", "ttv2"), ("large", "agad"), ("resnet", "fp"),
        ("resnet", "chopped")}
    assert "resnet     128 chopped" in done.stdout
    assert len(list(anchor.iterdir())) <= 8


FAKE_BUILD = """set -e
echo "[0 s] sdist $(basename "$1")"
mkdir -p "$2/aihwkit/simulator"
head -c 100000 /dev/urandom > "$2/aihwkit/simulator/rpu_base.cpython-312-x86_64-linux-gnu.so"
echo "[1 s] done"
"""


def test_anchor_gpu_script_builds_packs_and_builds_once(tmp_path):
    """The build part (a stand-in build script): the build packed into $OUT in parts, rows
    measured on it; a second call on the same machine does not build again."""
    import os
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    (tmp_path / "build.sh").write_text(FAKE_BUILD)
    (tmp_path / "sdist.tar.gz").write_text("not an sdist")
    (tmp_path / "bench.py").write_text(FAKE)
    env = dict(os.environ, ANCHOR_DIR=str(tmp_path / "A"), ANCHOR_PARTS="build,rows",
               ANCHOR_ROWS="resnet:agad", ANCHOR_BENCH=str(tmp_path / "bench.py"),
               ANCHOR_BUILD_SCRIPT=str(tmp_path / "build.sh"), ANCHOR_BUDGET="60",
               AIHWKIT_SDIST=str(tmp_path / "sdist.tar.gz"), ANCHOR_SEARCH=str(tmp_path),
               PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")
    for call in ("1", "2"):
        env["OUT"] = str(tmp_path / f"out{call}")
        done = subprocess.run(["bash", "scripts/anchor-gpu.sh"], cwd=root, env=env,
                              capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
    first, second = tmp_path / "out1" / "anchor", tmp_path / "out2" / "anchor"
    assert "build rc=0" in (first / "log.txt").read_text()
    assert sorted(p.name for p in first.glob("aihwkit-cuda-device.tar.xz.part-*")) == [
        "aihwkit-cuda-device.tar.xz.part-aa"]
    assert "build: done by an earlier call" in (second / "log.txt").read_text()
    assert "== build" not in (second / "log.txt").read_text()
    for out in (first, second):
        assert '"device": "agad", "batch": 128' in (out / "aihwkit.jsonl").read_text()
        assert len(list(out.iterdir())) <= 8


def test_bench_training_prints_aihwkit_beside_the_missing_rows(tmp_path, monkeypatch):
    """bench_training's large and ResNet rows with XBRUN_AIHWKIT_RESULTS: aihwkit's seconds
    and xbrun / aihwkit beside each (xbrun's epochs and the floor stubbed: no GPU here)."""
    import io

    from rich.console import Console

    from benchmarks import bench_floor, bench_training

    out = tmp_path / "aihwkit.jsonl"
    rows = [("large", 256, "fp", 0.02), ("large", 256, "ttv2", 3.0),
            ("resnet", 128, "fp", 0.1), ("resnet", 128, "agad", 2.0)]
    out.write_text("".join(json.dumps({"shape": s, "batch": b, "device": d, "seconds": t,
                                       "where": "cuda"}) + "\n" for s, b, d, t in rows))
    monkeypatch.setenv("XBRUN_AIHWKIT_RESULTS", str(out))
    monkeypatch.setattr(bench_training, "epoch_seconds", lambda *a, **k: (1.0, "graph"))
    monkeypatch.setattr(bench_floor, "run", lambda *a, **k: {"floor_ratio": 2.0})
    monkeypatch.setattr(bench_training.torch.cuda, "is_available", lambda: True)
    text = io.StringIO()
    console = Console(file=text, width=200)
    bench_training.run_large(console, "cuda", ["ttv2", "ttv2+update.accumulate=batch", "agad"])
    bench_training.run_resnet(console, ["agad", "ttv1"])
    printed = text.getvalue()
    assert printed.count("150.0x") == 2 and printed.count("3.0000") == 2  # ttv2, both modes
    assert printed.count("0.33x") == 2  # xbrun 1.0 s / aihwkit 3.0 s
    assert "aihwkit fp 0.1000 s/epoch" in printed
    assert "resnet agad: 1.0000 s/epoch" in printed and "xbrun / aihwkit 0.50x" in printed
    assert "resnet ttv1: 1.0000 s/epoch" in printed  # no aihwkit row: nothing beside it
