"""aihwkit's epoch rows one group at a time, each in its own subprocess with its own time cap,
inside one budget (issue 27 item 5; ``scripts/anchor-gpu.sh``'s ``rows`` part).

Why a process per group: a device call is at most 600 s and building 784-4096-4096-10 with a
transfer compound (88 tiles of two devices) or converting the ResNet takes seconds per device,
so one slow or crashing device must not cost the rows after it. Each group's JSON lines go
straight into ``--out`` as the anchor script prints them (a group stopped at its cap keeps the
rows it finished; its stderr goes to ``--errors``), followed by one ``{"part": ..., "rc": ...}``
line (124: stopped at its cap; ``"skipped"``: the budget had run out). ``aihwkit_anchor`` reads
the file
(``XBRUN_AIHWKIT_RESULTS``), so ``bench_training`` prints aihwkit's columns beside xbrun's.

This file never imports aihwkit (nor torch): it only starts ``aihwkit_epoch_bench.py`` with the
Python given (the GPU machine's torch Python, ``PYTHONPATH`` naming the aihwkit build).

usage: python benchmarks/aihwkit_rows.py --out FILE [--rows missing,rest | shape:dev+dev,...]
       [--budget 480] [--cap 120] [--where cuda] [--repeats 1] [--only sgd,...]
       [--python python] [--errors FILE] [--print-table]
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEVICES = ("sgd", "ttv1", "ttv2", "chopped", "agad", "mixed_precision")
BATCHES = {"bench": "256,32", "large": "256", "resnet": "128"}
# not measured on the H100 of 2026-12-07 15:06 (the 500 s budget ran out): most wanted first
MISSING = ("resnet:mixed_precision", "resnet:ttv1", "resnet:sgd", "large:sgd+chopped",
           "bench:" + "+".join(DEVICES))
# measured then; again here, budget permitting, for a same-call comparison (ResNet chopped
# and AGAD last: aihwkit took 48 s an epoch, 108 s a group, with them)
REST = ("large:ttv2", "large:agad", "large:mixed_precision", "large:ttv1", "resnet:ttv2",
        "resnet:chopped", "resnet:agad")
NAMED = {"missing": MISSING, "rest": REST}
# a group given fewer seconds than this is skipped: the Python, torch and aihwkit start-up
# alone take several
MIN_SECONDS = 15


def parse(rows: str, only: str = "") -> list[tuple[str, tuple[str, ...]]]:
    """``shape:dev+dev`` groups (``missing``/``rest`` name the lists above) in order, each
    device at most once per shape; devices outside ``only`` (the ones that passed the smoke
    test, when given) are dropped. ValueError names a bad group."""
    keep = set(only.split(",")) if only else set(DEVICES)
    groups, seen = [], set()
    for item in (r.strip() for r in rows.split(",")):
        if not item:
            continue
        for group in NAMED.get(item, (item,)):
            shape, _, devs = group.partition(":")
            if shape not in BATCHES:
                raise ValueError(f"row group {group!r}: shape must be one of {sorted(BATCHES)}")
            devices = tuple(d for d in devs.split("+") if d)
            bad = [d for d in devices if d not in DEVICES]
            if bad or not devices:
                raise ValueError(f"row group {group!r}: devices must be among {DEVICES}")
            devices = tuple(d for d in devices if d in keep and (shape, d) not in seen)
            seen.update((shape, d) for d in devices)
            if devices:
                groups.append((shape, devices))
    return groups


def run(groups, out: Path, budget: float, cap: float, command: list[str], where: str = "cuda",
        repeats: int = 1, clock=time.monotonic, errors: Path | None = None) -> list[dict]:
    """Each group in order: ``command`` + the anchor's arguments, stdout appended to ``out``
    as it comes, stderr to ``errors`` (default ``out`` with ``.err``), at most ``cap`` seconds
    and what is left of ``budget``. Returns the part lines written."""
    errors = errors or out.with_suffix(".err")
    began = clock()
    parts = []
    for shape, devices in groups:
        name = f"{shape}:{'+'.join(devices)}"
        seconds = min(cap, budget - (clock() - began))
        part = {"part": name}
        if seconds < MIN_SECONDS:
            part.update(rc="skipped", left=round(seconds, 1))
        else:
            cmd = [*command, "--where", where, "--shape", shape, "--batches", BATCHES[shape],
                   "--devices", ",".join(devices), "--repeats", str(repeats)]
            t0 = clock()
            # one stderr file for all groups: a device call brings back 8 files at most
            with open(out, "a") as sink, open(errors, "a") as err:
                err.write(f"== {name}\n")
                err.flush()
                proc = subprocess.Popen(cmd, stdout=sink, stderr=err, start_new_session=True)
                try:
                    rc = proc.wait(timeout=seconds)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()
                    rc = 124
            part.update(rc=rc, took=round(clock() - t0, 1), cap=round(seconds, 1))
        with open(out, "a") as sink:
            sink.write(json.dumps(part) + "\n")
        parts.append(part)
        print(json.dumps(part), file=sys.stderr, flush=True)
    return parts


def table(rows_file: Path) -> str:
    """The rows of ``rows_file`` as text: seconds per epoch and the ratio to aihwkit's own fp
    epoch of the same process; errors and parts that stopped early."""
    lines = [f"{'shape':8} {'batch':>5} {'device':16} {'s/epoch':>9} {'x aihwkit fp':>12}"]
    for line in rows_file.read_text().splitlines():
        try:
            r = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(r, dict):
            continue
        if "seconds" in r and "device" in r:
            lines.append(f"{r.get('shape', 'bench'):8} {r['batch']:>5} {r['device']:16} "
                         f"{r['seconds']:>9.4f} {r.get('ratio', 0.0):>11.2f}x")
        elif "error" in r and "device" in r:
            lines.append(f"{r.get('shape', 'bench'):8} {r['batch']:>5} {r['device']:16} "
                         f"error: {r['error'][:80]}")
        elif "part" in r and r.get("rc"):
            why = {124: "stopped at its cap; rows after the last one missing",
                   "skipped": "budget spent"}.get(r["rc"], "failed: see its .err")
            lines.append(f"{r['part']}: rc {r['rc']} ({why})")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--rows", default="missing,rest")
    ap.add_argument("--budget", type=float, default=480.0)
    ap.add_argument("--cap", type=float, default=120.0)
    ap.add_argument("--where", default="cuda", choices=("cuda", "cpu"))
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--only", default="", help="devices that passed the smoke test")
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--bench", default=str(HERE / "aihwkit_epoch_bench.py"))
    ap.add_argument("--errors", type=Path, help="the anchor processes' stderr (default: "
                    "OUT with .err)")
    ap.add_argument("--print-table", action="store_true", help="print OUT's rows as a table")
    a = ap.parse_args(argv)
    try:
        groups = parse(a.rows, a.only)
    except ValueError as e:
        print(f"aihwkit_rows: {e}", file=sys.stderr)
        return 2
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.touch()
    run(groups, a.out, a.budget, a.cap, [a.python, a.bench], a.where, a.repeats,
        errors=a.errors)
    if a.print_table:
        print(table(a.out), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
