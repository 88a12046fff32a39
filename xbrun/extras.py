"""Optional extras: which pip extra brings each Hydra plugin xbrun documents.

Hydra finds launcher and sweeper plugins by import; when one is missing its own error is a
paragraph about search paths. xbrun answers with one line naming the extra instead.
"""

from __future__ import annotations

import importlib.util

# hydra/<group>=<option> -> (the plugin's module, the xbrun extra that installs it)
PLUGINS = {
    ("hydra/launcher", "joblib"): ("hydra_plugins.hydra_joblib_launcher", "sweep"),
    ("hydra/launcher", "submitit_local"): ("hydra_plugins.hydra_submitit_launcher", "submitit"),
    ("hydra/launcher", "submitit_slurm"): ("hydra_plugins.hydra_submitit_launcher", "submitit"),
    ("hydra/launcher", "ray"): ("hydra_plugins.hydra_ray_launcher", "ray"),
    ("hydra/launcher", "ray_aws"): ("hydra_plugins.hydra_ray_launcher", "ray"),
    ("hydra/sweeper", "optuna"): ("hydra_plugins.hydra_optuna_sweeper", "optuna"),
}


# config groups whose options select a plugin
GROUP_PLUGINS = {"hparams_search": ("hydra/sweeper", "optuna")}


def installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def missing_plugin(group: str, option: str) -> str | None:
    """One line naming the extra when ``group=option`` is a known plugin not installed."""
    group = group.lstrip("+~")
    plugin = GROUP_PLUGINS.get(group, (group, option))
    module, extra = PLUGINS.get(plugin, (None, None))
    if module is None or installed(module):
        return None
    package = module.split(".")[-1].replace("_", "-")
    return (f"{group}={option}: needs Hydra's {package} plugin; install it with "
            f"pip install 'xbrun[{extra}]'")
