"""The install: every config folder is a listed package (pip then warns about none, and the
wheel carries every option file), and the optional Optuna sweeper stays on the versions
that work together."""

from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+
ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_every_config_folder_is_a_listed_package():
    listed = {p for p in PROJECT["tool"]["setuptools"]["packages"] if p.startswith("xbrun.conf")}
    folders = {".".join(["xbrun", *d.relative_to(ROOT).parts]) for d in
               [ROOT / "conf", *(ROOT / "conf").rglob("*")] if d.is_dir()
               and d.name != "__pycache__"}
    assert listed == folders
    assert PROJECT["tool"]["setuptools"]["package-data"]["*"] == ["*.yaml"]


def test_optuna_is_pinned_to_what_the_sweeper_plugin_supports():
    extra = PROJECT["project"]["optional-dependencies"]["optuna"]
    assert any(r.startswith("hydra-optuna-sweeper>=1.3") for r in extra)
    assert any(r.startswith("optuna>=2.10") and "<3" in r for r in extra)
