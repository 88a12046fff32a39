"""Composing xbrun's Hydra configs, and the one-line errors every command shares.

The one composition: Hydra is initialised here only (:func:`hydra_config`), and every entry
point - ``xbrun train`` and its sweeps, ``xbrun.compose`` / ``xbrun.train``, ``xbrun
figure``, ``xbrun cells``, ``xbrun evaluate`` - gets its typed ``RunConfig`` from
:func:`compose` (``config.load`` checks the values as the dataclasses are built). Also here:
the shipped config folder and its groups, Hydra's parse of overrides, Hydra's and
OmegaConf's errors turned into one line naming the key, and the checks of output paths made
before any work.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import functools
import re
import shutil
import sys
import tempfile
import types
import typing
from importlib import resources
from pathlib import Path
from typing import Any

from .errors import ConfigError

MISSING = "???"  # OmegaConf's missing value: every schema key gets its option's default
#: the config groups (the top-level keys that are not in the ``schema/run`` node)
GROUPS = ("device", "cell", "io", "decomposition", "mapping", "model", "dataset", "schedule",
          "logger", "energy", "distributed")


def conf_dir() -> Path:
    """The shipped Hydra configs (``conf/`` installed as ``xbrun.conf``), their schemas
    registered (:func:`register_schemas`)."""
    register_schemas()
    return Path(str(resources.files("xbrun.conf")))


def _omega_type(tp: Any) -> Any:
    """The nearest type OmegaConf checks for ``tp`` (Literal -> str, unions of several -> Any);
    what OmegaConf cannot express ``load`` checks."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Literal:
        return str if all(isinstance(a, str) for a in args) else Any
    if origin in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        inner = _omega_type(rest[0]) if len(rest) == 1 else Any
        optional = inner is not Any and len(rest) < len(args)  # OmegaConf 2.3 wants Optional
        return typing.Optional[inner] if optional else inner  # noqa: UP045
    if origin in (list, tuple):
        return list[_omega_type(args[0])] if args else list
    if origin is dict or tp is dict:
        return dict
    if dataclasses.is_dataclass(tp):
        return schema_type(tp)
    return tp if tp in (int, float, bool, str) else Any


@functools.cache
def schema_type(cls: type) -> type:
    """``cls`` as an OmegaConf structured config: same fields, types OmegaConf knows."""
    hints = typing.get_type_hints(cls)
    return dataclasses.make_dataclass(cls.__name__, [
        (f.name, _omega_type(hints[f.name]), dataclasses.field(default=MISSING))
        for f in dataclasses.fields(cls) if f.init])


def schema_value(default: Any, names: list[str] | None = None) -> Any:
    """A config dataclass instance as an instance of its :func:`schema_type`, the same
    values: what OmegaConf turns into the typed node in one pass (merging the values into
    the empty schema node costs twice as long, and every run composes after it). With
    ``names``, an instance of a schema of those fields only."""
    cls = schema_type(type(default))
    if names is not None:
        cls = _some_fields(cls, tuple(names))
    values = {}
    for field in dataclasses.fields(cls):
        value, tp = getattr(default, field.name), field.type
        if typing.get_origin(tp) is typing.Union:  # Optional[schema]: OmegaConf 2.3's way
            tp = next(a for a in typing.get_args(tp) if a is not type(None))
        typed_node = dataclasses.is_dataclass(tp) and dataclasses.is_dataclass(value)
        values[field.name] = schema_value(value) if typed_node else _plain(value)
    return cls(**values)


@functools.cache
def _some_fields(cls: type, names: tuple[str, ...]) -> type:
    """The schema ``cls`` with the fields ``names`` only, the same types and defaults."""
    return dataclasses.make_dataclass(cls.__name__, [
        (f.name, f.type, dataclasses.field(default=f.default))
        for f in dataclasses.fields(cls) if f.name in names])


def _plain(value: Any) -> Any:
    """``value`` as ``dataclasses.asdict`` leaves a field's value: dataclasses as dicts."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return copy.deepcopy(value)


@functools.cache
def register_schemas() -> None:
    """Each option's defaults come from its dataclass, registered in Hydra's ConfigStore as
    ``schema/GROUP/OPTION`` (``schema/run`` for the top-level keys): an option file names its
    schema in its defaults list and holds only what differs (``tests/test_defaults.py``).

    An option's typed node is built when Hydra first loads it (:func:`_deferred_entry`): a
    run loads about a dozen of the forty, and building them all cost about a tenth of a second
    of every command's start on two cores."""
    from hydra.core.config_store import ConfigStore

    from .config import SCHEMAS

    store = ConfigStore.instance()
    entry = _deferred_entry()
    folder = store.repo.setdefault("schema", {})  # (where ConfigStore.store files them)
    for group, options in SCHEMAS.items():
        for name, default in options.items():
            folder.setdefault(group, {})[f"{name}.yaml"] = entry(
                f"{name}.yaml", f"schema/{group}", functools.partial(_option_node, group, default))
    folder["run.yaml"] = entry("run.yaml", "schema", _top_level_node)


def _top_level_node():
    """The typed top-level keys of ``RunConfig`` (``schema/run``) in an open root, which the
    groups and the shortcuts join."""
    from omegaconf import OmegaConf

    from .config import RunConfig

    run = RunConfig()
    top = [f.name for f in dataclasses.fields(run) if f.name not in GROUPS]
    node = OmegaConf.structured(schema_value(run, top))
    root = OmegaConf.create({})
    for key in top:
        root[key] = node._get_node(key)
    return OmegaConf.structured(root)  # (what ConfigStore.store keeps of it)


def _option_node(group: str, default: Any):
    """The typed OmegaConf node of one option's defaults (``schema/GROUP/OPTION``)."""
    from omegaconf import OmegaConf

    node = OmegaConf.structured(schema_value(default))
    if group == "decomposition":  # an option has its method's keys only
        node = OmegaConf.masked_copy(node, [k for k in node if node[k] is not None])
    return node


@functools.cache
def _deferred_entry() -> type:
    """Hydra's ``ConfigNode`` whose node is made when first read, once. Hydra never changes
    a stored entry (``ConfigStore.load`` hands out a copy of its node), so a copy of the
    whole store (each composition makes one: ``CachingConfigRepository``) shares the entry
    rather than copying its node; a copy of the entry itself, or a pickle (Hydra's state sent
    to a joblib sweep's workers), is a plain ``ConfigNode`` with the node made."""
    from hydra.core.config_store import ConfigNode

    class Deferred(ConfigNode):
        def __init__(self, name: str, group: str, make) -> None:  # noqa: D107
            self.name, self.group, self.package, self.provider = name, group, None, None
            self._make, self._made = make, []

        @property
        def node(self):
            if not self._made:
                self._made.append(self._make())
            return self._made[0]

        def __reduce__(self):
            return ConfigNode, (self.name, self.node, self.group, self.package, self.provider)

        def __deepcopy__(self, memo):
            return self

    return Deferred


def fail(message: str) -> None:
    print(f"xbrun: error: {message}", file=sys.stderr)
    raise SystemExit(2)


def warn(message: str) -> None:
    print(f"xbrun: warning: {message}", file=sys.stderr)


class Parser(argparse.ArgumentParser):
    """argparse with our one-line errors (exit 2) instead of usage plus a message."""

    def error(self, message: str) -> None:
        fail(f"{self.prog}: {message} (see {self.prog} --help)")


def group_options(group: str) -> list[str]:
    """The options of ``group``: xbrun's (``config.options``) or Hydra's own groups."""
    from .config import options

    if options(group):
        return options(group)
    if group.startswith("hydra/"):  # Hydra's own groups (launchers, sweepers, ...)
        from hydra.core.global_hydra import GlobalHydra

        with _initialised():
            return sorted(GlobalHydra.instance().config_loader().get_group_options(group))
    return []


def is_hydra(override: str) -> bool:
    return override.lstrip("+~").startswith("hydra")


_EXPECTED = {"Integer": "an integer", "Float": "a number", "Boolean": "true or false",
             "String": "a string"}


def explain_hydra_error(err: Exception) -> str:
    """One line for an error from Hydra or OmegaConf, naming the key where it can."""
    from hydra.errors import MissingConfigException
    from omegaconf.errors import OmegaConfBaseException

    from .extras import missing_plugin

    text = str(err).strip()
    cause = err.__cause__ or err.__context__
    named = re.search(r"Could not (?:find|load) '([^']+)'", text)  # load: a list's option
    if named and (isinstance(err, MissingConfigException) or "Could not find '" in text):
        missing = named[1]
        group, _, option = missing.rpartition("/")
        if missing_plugin(group, option):
            return missing_plugin(group, option)
        options = group_options(group)
        if options:
            return f"{group}={option}: no such option; choose one of {', '.join(options)}"
    if "Could not override '" in text or "is not in struct" in text:
        key = text.split("'", 2)[1] if "'" in text else text
        return f"{key}: unknown key; {_allowed_keys(key, cause)}"
    if isinstance(cause, OmegaConfBaseException) and not isinstance(err, OmegaConfBaseException):
        err, text = cause, str(cause).strip()
    if isinstance(err, OmegaConfBaseException) and getattr(err, "full_key", None):
        message = (getattr(err, "msg", None) or text).strip().splitlines()[0]
        wrong = re.fullmatch(r"Value '(.*)' of type '\w+' could not be converted to (\w+)",
                             message)
        if wrong and wrong[2] in _EXPECTED:  # a schema's type, in the words load() uses
            return f"{err.full_key}: expected {_EXPECTED[wrong[2]]}, got {wrong[1]!r}"
        got = getattr(err, "value", None)
        if re.match(r"Invalid value assigned: \w+ is not a ListConfig", message):
            return f"{err.full_key}: expected a list, written [a,b], got {got!r}"
        bool_value = re.fullmatch(r"Value '(.*)' is not a valid bool \(type \w+\)", message)
        if bool_value:
            return f"{err.full_key}: expected true or false, got {bool_value[1]!r}"
        if re.match(r"Invalid type assigned: \w+ is not a subclass of \w+", message):
            return (f"{err.full_key}: a group of keys, not a value; set its keys one by one "
                    f"({err.full_key}.KEY=VALUE, `xbrun train --cfg job` lists them), "
                    f"got {got!r}")
        return f"{err.full_key}: {message}"
    return " ".join(line.strip() for line in text.splitlines() if line.strip())[:400]


def _allowed_keys(key: str, cause) -> str:
    """What may stand where the unknown ``key`` was written: the keys of its parent node,
    which OmegaConf's error carries (Hydra's own ``hydra`` node left out of the top level),
    so a misspelt key is answered with the right spelling instead of a search."""
    from omegaconf import DictConfig

    parent = getattr(cause, "parent_node", None)
    if not isinstance(parent, DictConfig):
        return "see `xbrun train --cfg job` for the keys"
    names = sorted(str(k) for k in parent.keys() if k != "hydra")
    group = key.rpartition(".")[0]
    option = next((parent.get(k) for k in ("kind", "name") if k in names), None)
    where = f" ({group}={option})" if group and isinstance(option, str) else ""
    line = f"allowed keys{where} are {', '.join(names)}"
    if "_target_" in names:  # model=custom: the factory takes more keyword arguments
        line += f" (more keyword arguments: +{group}.KEY=VALUE)"
    return line


def parse_overrides(overrides: list[str]) -> list:
    """Hydra's parse of ``overrides``; a bad one is named with what went wrong."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import OverrideParseException

    parser = OverridesParser.create()
    parsed = []
    for item in overrides:
        try:
            parsed += parser.parse_overrides([item])
        except OverrideParseException as err:
            key = item.split("=", 1)[0] or item
            reason = " ".join(str(err).split("See https")[0].split())
            raise ConfigError(f"{key}: cannot parse {item!r} ({reason}); write KEY=VALUE, lists "
                              f"as KEY=[a,b], and quote values with spaces or brackets") from None
    for item in parsed:
        group = item.key_or_group
        if not group:
            raise ConfigError(f"{item.input_line}: an override needs a key (KEY=VALUE)")
        value = item.value()
        if item.is_delete() or item.is_sweep_override() or isinstance(value, (str, list)):
            continue
        if "." not in group and (options := group_options(group)):
            raise ConfigError(f"{group}={item.get_value_element_as_str()}: a config group "
                              f"takes an option; choose one of {', '.join(options)} "
                              f"(~{group} removes it)")
    return parsed


#: set while :func:`hydra_held` holds Hydra initialised for a whole command
_HELD: list[bool] = []


@contextlib.contextmanager
def _initialised():
    """Hydra initialised on the shipped configs: the one place (``hydra.main`` in
    ``cli.train_command`` gets the same folder), the job named as ``hydra.main`` names the
    command's (``hydra.job.name=cli``: its log file). Inside :func:`hydra_held`, the Hydra
    it holds."""
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    if _HELD and GlobalHydra.instance().is_initialized():
        yield
        return
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3", job_name="cli"):
        yield


@contextlib.contextmanager
def hydra_held():
    """Hydra initialised once for what runs inside: a command's checks (every composition of
    ``jobs.check_jobs``) and a single run's job (:func:`run_composed`) share one Hydra, its
    config loader and plugin search path, instead of initialising it for each. ``hydra.main``
    (sweeps, ``--cfg``, ``--help``) initialises its own: call it outside."""
    with _initialised():
        _HELD.append(True)
        try:
            yield
        finally:
            _HELD.pop()


class _OneRepository:
    """The config loader as Hydra's help text sees it: the group listing asks one config
    repository for every group. Hydra's own ``get_group_options`` deep-copies its repository
    (the ConfigStore's nodes with it) for each call: about 260 copies for xbrun's groups,
    nine tenths of ``xbrun train --help``'s Hydra time. The answers are the same: each copy
    was of the same unchanged repository, with no primary config and no overrides."""

    def __init__(self, loader):
        self._loader = loader
        self._repository = None
        self._options: dict = {}

    def list_groups(self, parent_name: str) -> list[str]:
        from hydra.core.object_type import ObjectType

        return self.get_group_options(parent_name, ObjectType.GROUP)

    def get_group_options(self, group_name: str, results_filter=None, config_name=None,
                          overrides=None) -> list[str]:
        from hydra.core.object_type import ObjectType

        if results_filter is None:
            results_filter = ObjectType.CONFIG  # (Hydra's default)
        repository = getattr(self._loader, "_parse_overrides_and_create_caching_repo", None)
        if config_name is not None or overrides or repository is None:  # Hydra's own way
            return self._loader.get_group_options(group_name, results_filter, config_name,
                                                  overrides)  # (and another Hydra's)
        key = (group_name, results_filter)
        if key not in self._options:
            if self._repository is None:
                self._repository = repository(None, [])[1]  # as each of Hydra's calls makes
            self._options[key] = self._repository.get_group_options(group_name,
                                                                    results_filter)
        return list(self._options[key])

    def __getattr__(self, name: str):
        return getattr(self._loader, name)


def internal_group(group: str) -> bool:
    """Whether ``group`` is one xbrun picks itself, left out of ``xbrun train --help``'s list
    of the groups a user composes from (its footer names them): ``schema/*`` (each option's
    typed defaults, ``schema/GROUP/OPTION``), ``debug_model`` (``debug``'s size of the chosen
    model) and ``experiment/NAME`` (a figure's series, which its sweep selects)."""
    top, _, rest = group.partition("/")
    return top in ("schema", "debug_model") or (top == "experiment" and bool(rest))


@contextlib.contextmanager
def groups_listed_once():
    """``--help`` and ``--hydra-help`` as Hydra prints them (its template, the composed
    config), their list of config groups read from one config repository
    (:class:`_OneRepository`) instead of a copy of it per group and option, and without the
    groups xbrun picks itself (:func:`internal_group`), which a user never selects."""
    from hydra._internal.hydra import Hydra

    get_help, format_groups = Hydra.get_help, Hydra.format_config_groups

    @functools.wraps(format_groups)
    def users_groups(self, predicate, compact=True):
        return format_groups(self, lambda group: predicate(group) and not internal_group(group),
                             compact)

    @functools.wraps(get_help)
    def listed_once(self, *args, **kwargs):
        loader = self.config_loader
        self.config_loader = _OneRepository(loader)
        try:
            return get_help(self, *args, **kwargs)
        finally:
            self.config_loader = loader

    Hydra.get_help, Hydra.format_config_groups = listed_once, users_groups
    try:
        yield
    finally:
        Hydra.get_help, Hydra.format_config_groups = get_help, format_groups


def hydra_config(overrides: list[str], with_hydra: bool = False):
    """Hydra's composed config for ``overrides`` (an OmegaConf node; Hydra's and OmegaConf's
    errors as they come, see :func:`one_line`); ``with_hydra`` keeps the ``hydra`` node
    (launcher, sweeper, run folders)."""
    from hydra import compose as hydra_compose

    with _initialised():
        return hydra_compose(config_name="config", overrides=list(overrides),
                             return_hydra_config=with_hydra)


@contextlib.contextmanager
def one_line():
    """Hydra's and OmegaConf's errors inside as ``ConfigError`` with their one line."""
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        yield
    except (HydraException, OmegaConfBaseException) as err:
        raise ConfigError(explain_hydra_error(err)) from None


#: compositions with Hydra's own settings made for the command at hand, by their overrides
#: (its first job's and its settings': ``jobs.check_jobs`` empties it as a command starts)
COMPOSED: dict[tuple[str, ...], Any] = {}


def composed(overrides: list[str], hydra_overrides: list[str] | None = None,
             optimising: bool = False):
    """``(node, config)``: Hydra's composed config for ``overrides`` without its ``hydra``
    node, and the typed, checked ``RunConfig`` built from it (``optimising``: as a job of a
    sweeper that selects runs; see ``config.load``).

    With ``hydra_overrides`` (``hydra.*`` keys) Hydra's own settings come out of the same
    composition, which is kept whole in ``COMPOSED`` under ``(*overrides, *hydra_overrides)``
    (or taken from there): :func:`hydra_settings` reads its settings and
    :func:`run_composed` runs a single job on it, so a single run is composed once, and a
    sweep's first job shares its composition with the sweep's settings (a composition costs
    a few tenths of a second).
    """
    from omegaconf import OmegaConf

    with_hydra = hydra_overrides is not None
    every = [*overrides, *(hydra_overrides or [])]
    cfg = COMPOSED.get(tuple(every)) if with_hydra else None
    if cfg is None:
        cfg = hydra_config(every, with_hydra)
    if with_hydra:
        COMPOSED[tuple(every)] = cfg
        cfg = OmegaConf.masked_copy(cfg, [key for key in cfg if key != "hydra"])
    return cfg, typed(cfg, optimising)


def typed(cfg, optimising: bool = False):
    """The typed, checked ``RunConfig`` of Hydra's composed ``cfg`` (``config.load``: each
    dataclass checks its values as it is built)."""
    from omegaconf import OmegaConf

    from .config import load

    return load(OmegaConf.to_container(cfg, resolve=True), optimising)


def compose(overrides: list[str], hydra_overrides: list[str] | None = None,
            optimising: bool = False):
    """The typed, checked ``RunConfig`` of ``overrides`` (see :func:`composed`)."""
    return composed(overrides, hydra_overrides, optimising)[1]


def hydra_settings(overrides: list[str], whole: bool = False):
    """Hydra's own config under ``overrides`` (its keys checked the way Hydra would); with
    ``whole``, the job's entire config (the ``hydra`` node under the task's keys)."""
    cfg = COMPOSED.get(tuple(overrides))  # composed already, with a job's config
    if cfg is None:
        cfg = hydra_config(overrides, with_hydra=True)
        if not whole:  # (each job's own, which a sweep asks for, is not kept)
            COMPOSED[tuple(overrides)] = cfg
    return cfg if whole else cfg.hydra


def run_composed(cfg, task) -> None:
    """Run ``task`` on ``cfg`` (a composition of :func:`composed`, its ``hydra`` node
    included) as ``hydra.main`` runs a single job, without composing it again: Hydra's
    logging, the run folder with ``.hydra/`` and the job's log, the config's callbacks, a
    job's failure raised (``Hydra.run``, ``hydra.core.utils.run_job``)."""
    from hydra._internal.callbacks import Callbacks
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.utils import configure_log, run_job
    from hydra.types import HydraContext, RunMode

    with _initialised():
        configure_log(cfg.hydra.hydra_logging, cfg.hydra.verbose)
        if cfg.hydra.mode is None:
            cfg.hydra.mode = RunMode.RUN
        callbacks = Callbacks(cfg)
        callbacks.on_run_start(config=cfg, config_name="config")
        context = HydraContext(config_loader=GlobalHydra.instance().config_loader(),
                               callbacks=callbacks)
        ret = run_job(hydra_context=context, task_function=task, config=cfg,
                      job_dir_key="hydra.run.dir", job_subdir_key=None)
        callbacks.on_run_end(config=cfg, config_name="config", job_return=ret)
        _ = ret.return_value  # a job's exception, raised


def make_folder(path: str, key: str) -> Path | None:
    """Make the run (or sweep) folder now, so an impossible place is one line and not a Hydra
    traceback; returns the topmost folder it created (None if the folder existed)."""
    folder = Path(path).expanduser().absolute()
    chain = [folder, *folder.parents]
    missing = [p for p in chain if not p.exists()]
    made = missing[-1] if missing else None
    blocker = next(p for p in chain if p.exists())
    if not blocker.is_dir():
        raise ConfigError(f"{key}: cannot make {folder}: {blocker} is a file")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        if made is not None:
            remove_made(folder, made)
        raise ConfigError(f"{key}: cannot write into {folder} "
                          f"({err.strerror or type(err).__name__})") from None
    return made


def remove_made(folder: Path, made: Path) -> None:
    """Remove ``folder`` and its parents up to ``made``, which this command created (a parent
    only while empty: another run may have begun in it since)."""
    shutil.rmtree(folder, ignore_errors=True)
    for parent in folder.parents:
        if not (parent == made or made in parent.parents):
            break
        try:
            parent.rmdir()
        except OSError:
            break


def plot_path(path: str, key: str = "--plot") -> str:
    """Check ``--plot`` before any work: a file name of a format matplotlib writes, in a folder
    that exists or can be made (it is made here)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    target = Path(path).expanduser()
    if target.is_dir():
        raise ConfigError(f"{key}: {target} is a folder; give a file name such as "
                          f"{target / 'plot.png'}")
    formats = sorted(FigureCanvasAgg.get_supported_filetypes())
    suffix = target.suffix.lstrip(".").lower()
    if suffix not in formats:
        raise ConfigError(f"{key}: expected a file name ending in one of "
                          f"{', '.join('.' + f for f in formats)}, got {path!r}")
    make_folder(str(target.parent), key)
    return str(target)


__all__ = ["COMPOSED", "Parser", "compose", "composed", "conf_dir", "explain_hydra_error",
           "fail", "group_options", "groups_listed_once", "hydra_config", "hydra_settings",
           "internal_group", "is_hydra", "make_folder", "one_line", "parse_overrides",
           "plot_path", "remove_made", "run_composed", "typed", "warn"]
