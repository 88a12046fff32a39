"""Each default is defined once: in its dataclass. Option files name their schema
(``/schema/GROUP/OPTION@_here_``, registered from ``xbrun.config.SCHEMAS``) and hold only
the keys they change; a key repeating its dataclass default is drift waiting to happen."""

import dataclasses

import pytest
import yaml
from hydra import compose as hydra_compose
from hydra import initialize_config_dir
from omegaconf import OmegaConf

from xbrun.composition import GROUPS, conf_dir
from xbrun.config import SCHEMAS, RunConfig, option_values, options


def repeated(values: dict, defaults: dict, prefix: str = "") -> list[str]:
    """Keys of ``values`` (nested) whose value equals the one in ``defaults``."""
    found = []
    for key, value in values.items():
        default = defaults.get(key, object())
        if isinstance(value, dict) and isinstance(default, dict):
            found += repeated(value, default, f"{prefix}{key}.")
        elif value == default and type(value) in (type(default), int, float):
            found.append(prefix + key)
    return found


def test_repeated_finds_a_copied_default():
    defaults = {"a": 1.0, "io": {"b": 2, "c": "x"}}
    assert repeated({"a": 1, "io": {"b": 3, "c": "x"}}, defaults) == ["a", "io.c"]
    assert repeated({"a": 2.0, "io": {"b": 3}}, defaults) == []


OPTIONS = [(g, o) for g in SCHEMAS for o in options(g) if (g, o) != ("logger", "none")]


def schema_of(group: str, option: str) -> tuple[str, str, dict]:
    """(schema option, package, the file's own keys) of conf/GROUP/OPTION.yaml."""
    data = yaml.safe_load((conf_dir() / group / f"{option}.yaml").read_text())
    schemas = [d for d in data.pop("defaults", []) if str(d).startswith(f"/schema/{group}/")]
    assert len(schemas) == 1, (
        f"conf/{group}/{option}.yaml: name its schema, e.g. - /schema/{group}/NAME@_here_")
    base, _, package = schemas[0].split("/")[3].partition("@")
    assert base in SCHEMAS[group] and package, (schemas[0], list(SCHEMAS[group]))
    return base, package, data if package == "_here_" else data.get(package, {})


@pytest.mark.parametrize("group, option", OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_option_files_hold_only_what_differs(group, option):
    base, _, values = schema_of(group, option)
    default = dataclasses.asdict(SCHEMAS[group][base])
    assert not repeated(values, default), (
        f"conf/{group}/{option}.yaml repeats the dataclass defaults of "
        f"{repeated(values, default)}: delete them there")


@pytest.mark.parametrize("group, option", OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_composed_option_is_its_dataclass_plus_its_file(group, option):
    """What Hydra composes for GROUP=OPTION equals the dataclass defaults updated with the
    file's keys (``option_values``: what ``device.fast_cell=NAME`` reads without Hydra)."""
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        cfg = hydra_compose(config_name="config", overrides=[f"{group}={option}"])
    base, package, values = schema_of(group, option)
    composed = OmegaConf.to_container(cfg[group] if package == "_here_" else
                                      cfg[group][package])
    if package == "_here_":
        values = option_values(group, option)
    expected = dataclasses.asdict(SCHEMAS[group][base])
    if group == "decomposition":  # an option has its method's keys only
        expected = {k: v for k, v in expected.items() if v is not None}
    for key, value in values.items():
        expected[key] = {**expected[key], **value} if isinstance(value, dict) else value
    assert composed == expected


def test_root_config_sets_no_top_level_default():
    """conf/config.yaml keeps the groups, the device shortcuts and Hydra's settings; the
    top-level keys' defaults are RunConfig's. The one exception is not a value: ``lr``
    follows the model's own ``model.lr`` where a model has one (lenet5), else RunConfig's."""
    data = yaml.safe_load((conf_dir() / "config.yaml").read_text())
    own = {f.name for f in dataclasses.fields(RunConfig)} - set(GROUPS)
    assert data.pop("lr") == f"${{oc.select:model.lr,{RunConfig().lr}}}"
    assert not own & set(data), sorted(own & set(data))
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        cfg = OmegaConf.to_container(hydra_compose(config_name="config"), resolve=True)
    for name in sorted(own):
        assert cfg[name] == dataclasses.asdict(RunConfig()).get(name, getattr(RunConfig(), name))
