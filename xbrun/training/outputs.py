"""Run outputs: atomic JSON/JSONL/checkpoint writes and the loss/accuracy plot.

Everything is written to a temporary file in the same folder and renamed over the target,
so a run killed at any instant leaves either the old or the new file, never half of one. The
file gets the mode the umask allows (``mkstemp`` alone would make it 0600, so a group could
not read its own results); a kill can leave a ``.NAME.*.tmp`` behind, which
:func:`remove_temporaries` deletes when the run is resumed.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .checkpoint import to_bytes

#: the files a run writes; their temporaries are ``.NAME.<random>.tmp`` beside them
RUN_FILES = ("checkpoint.pt", "best.pt", "metrics.jsonl", "summary.json", "curves.png",
             "error.log", "counts.npz")
#: every name in a run folder that xbrun (or Hydra for it) owns: the run lock, the MLflow
#: run id, Hydra's recorded config; no tracker or Hydra setting may write to one of them
OWNED = (*RUN_FILES, ".xbrun.lock", "mlflow_run_id", ".hydra")


def inside_run(value: str, key: str, allow: tuple = ()) -> Path:
    """``value`` as a path relative to the run folder, checked to stay inside it and to name
    nothing xbrun owns (:data:`OWNED`, the write temporaries) unless listed in ``allow``:
    a tracker or a Hydra setting must not replace a checkpoint or write into another run."""
    norm = Path(os.path.normpath(value)) if value else Path(".")
    if not value or Path(value).is_absolute() or (norm.parts or (".",))[0] in (".", ".."):
        raise ConfigError(f"{key}: expected a path inside the run folder (relative, not "
                          f"leaving it with ..), got {value!r}")
    first = norm.parts[0]
    if (first in OWNED and first not in allow) or (first.startswith(".") and
                                                   first.endswith(".tmp")):
        raise ConfigError(f"{key}: {value!r} names {first}, which xbrun writes itself; "
                          f"choose another name")
    return norm


def check_resolved(run_dir: Path, relative: Path, key: str) -> Path:
    """``run_dir / relative``, refused if a link inside the run folder leads out of it."""
    target = (Path(run_dir) / relative).resolve()
    if Path(run_dir).resolve() not in target.parents:
        raise ConfigError(f"{key}: {relative} leads out of the run folder (to {target})")
    return target


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _atomic(path: Path, write) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json(path: Path, data: Any) -> None:
    text = json.dumps(data, indent=2, sort_keys=True, default=str) + "\n"
    _atomic(path, lambda h: h.write(text.encode()))


def write_npz(path: Path, arrays: dict) -> None:
    """Arrays by name in one ``.npz`` (numpy only: loading it runs no code), deflated at
    level 1: ``np.savez_compressed``'s level 6 took 5x as long (34 against 6 ms for the
    default run's pulse counts, written every epoch) for a file 2 % smaller."""
    import zipfile

    import numpy as np

    def write(handle) -> None:
        with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1,
                             allowZip64=True) as archive:
            for name, value in arrays.items():
                with archive.open(f"{name}.npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array(member, np.asanyarray(value),
                                              allow_pickle=False)

    _atomic(path, write)


def write_text(path: Path, text: str) -> None:
    _atomic(path, lambda h: h.write(text.encode()))


def remove_temporaries(run_dir: Path) -> list[Path]:
    """Delete the temporaries a killed run left in ``run_dir``; returns what was removed."""
    removed = []
    for name in RUN_FILES:
        for tmp in Path(run_dir).glob(f".{name}.*.tmp"):
            if tmp.is_file():
                tmp.unlink()
                removed.append(tmp)
    return removed


def write_jsonl(path: Path, rows: list[dict]) -> None:
    text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows)
    _atomic(path, lambda h: h.write(text.encode()))


def metric_records(rows: list[dict], steps: list[dict]) -> list[dict]:
    """The lines of ``metrics.jsonl``: each epoch's step records (``log_every``; they carry
    a ``step`` key) before that epoch's own record; step 0 (epoch 0) first."""
    keyed = [((r["epoch"], 0, r["step"]), r) for r in steps]
    keyed += [((r["epoch"], 1, 0), r) for r in rows]
    return [r for _, r in sorted(keyed, key=lambda item: item[0])]


def epoch_records(records: list[dict]) -> list[dict]:
    """The per-epoch records of a ``metrics.jsonl`` (those without a ``step`` key)."""
    return [r for r in records if "step" not in r]


def read_jsonl(path: Path) -> list[dict]:
    path = Path(path)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def save_checkpoint(path: Path, state: dict) -> None:
    """``state`` with its checksum (:mod:`.checkpoint`), atomically."""
    data = to_bytes(state)
    _atomic(path, lambda h: h.write(data))


def save_weights(path: Path, model_state: dict, epoch: int, config: dict) -> None:
    """The weights of one epoch (``best.pt``): what ``xbrun.load`` rebuilds a model from."""
    save_checkpoint(path, {"epoch": epoch, "model": model_state, "config": config})


def plot_curves(path: Path, rows: list[dict], title: str) -> None:
    """``curves.png``: train/test loss and test accuracy (on a regression: the weight
    error, when logged) against epoch (drawn by :func:`.curves.draw_curves`)."""
    from .curves import draw_curves

    png = draw_curves(rows, title)
    _atomic(path, lambda h: h.write(png))


def save_figure(path: Path, fig, dpi: int) -> None:
    """``fig`` into ``path`` atomically, in the format its suffix names."""
    path = Path(path)
    _atomic(path, lambda h: fig.savefig(h, format=path.suffix[1:].lower() or "png", dpi=dpi))
