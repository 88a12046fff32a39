"""Architecture numbers of a tree (issue 20's closing note): lines per package, the largest
functions, how many files a parameter crosses from the CLI to the kernel, and how many Hydra
compositions one ``xbrun train`` makes.

    python -m benchmarks.arch_stats               # the working tree
    python -m benchmarks.arch_stats --rev 087a39f  # a commit, unpacked by git archive into /tmp

How each number is counted:

- lines per package: ``wc -l`` of the ``*.py`` files of ``kernels/`` and of each package
  under ``xbrun/`` (recursively); "xbrun (top level)" is the files directly in ``xbrun/``.
- largest functions: every function and method of ``xbrun/`` and ``kernels/`` (nested ones
  included), its lines from ``def`` (decorators excluded) to its last line.
- files a parameter crosses: a real ``xbrun train debug=tiny`` run is made in a subprocess;
  of the source files it loaded (``sys.modules``), those that mention the parameter as a
  whole word (``dw_min``, not ``dw_min_std``), plus the ``conf/`` files that ``config.yaml``
  and the run's default options name it in. That is the path conf -> config -> cells ->
  array -> kernels a value travels, as files a change of the parameter may have to touch.
- Hydra compositions: in the same run, every call of Hydra's
  ``ConfigLoaderImpl.load_configuration`` (what ``hydra.compose`` and ``hydra.main`` both
  call to compose a config), and every Hydra initialisation (``initialize_config_dir``
  entered, ``hydra.main``'s own counted as one).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ["kernels", "xbrun/physics", "xbrun/devices", "xbrun/decompositions", "xbrun/tiles",
            "xbrun/nn", "xbrun/training", "xbrun/figures", "xbrun"]

# run in a subprocess: import the tree at ROOT as ``xbrun`` (kernels/ and conf/ mapped the
# way pyproject's package-dir installs them), count compositions, run `xbrun train`
PROBE = r"""
import importlib.util, json, sys
from pathlib import Path
root, out, word = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
places = {"xbrun": root / "xbrun", "xbrun.kernels": root / "kernels", "xbrun.conf": root / "conf"}

class Tree:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name in places:
            return importlib.util.spec_from_file_location(
                name, places[name] / "__init__.py", submodule_search_locations=[str(places[name])])
        return None

sys.meta_path.insert(0, Tree)
import hydra
from hydra._internal.config_loader_impl import ConfigLoaderImpl
from hydra.core.global_hydra import GlobalHydra
counts = {"compositions": 0, "initialisations": 0}
load = ConfigLoaderImpl.load_configuration
def counted_load(*args, **kwargs):
    counts["compositions"] += 1
    return load(*args, **kwargs)
ConfigLoaderImpl.load_configuration = counted_load
initialize = GlobalHydra.initialize
def counted_initialize(*args, **kwargs):
    counts["initialisations"] += 1
    return initialize(*args, **kwargs)
GlobalHydra.initialize = counted_initialize
from xbrun.cli import main
assert Path(sys.modules["xbrun"].__file__).resolve().is_relative_to(root.resolve())
try:
    main(["train", "debug=tiny", "progress=none", "hydra.run.dir=" + out + "/run"])
except SystemExit as err:
    assert err.code in (0, None), err.code
files = sorted({str(Path(m.__file__).resolve()) for m in list(sys.modules.values())
                if getattr(m, "__file__", None)
                and Path(m.__file__).resolve().is_relative_to(root.resolve())})
print(json.dumps({**counts, "files": files}))
"""


def tree_of(rev: str | None) -> Path:
    """The source tree to measure: the working tree, or ``rev`` unpacked into /tmp."""
    if rev is None:
        return REPO
    folder = Path(tempfile.mkdtemp(prefix=f"arch-{rev[:12]}-"))
    archive = subprocess.run(["git", "-C", str(REPO), "archive", rev], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def lines_per_package(root: Path) -> dict[str, int]:
    counts = {}
    for package in PACKAGES:
        folder = root / package
        files = folder.glob("*.py") if package == "xbrun" else folder.rglob("*.py")
        counts[package + (" (top level)" if package == "xbrun" else "")] = sum(
            len(f.read_text().splitlines()) for f in files)
    return counts


def _functions(node: ast.AST, prefix: str) -> list[tuple[int, str]]:
    """``(lines, "file::Class.name")`` of every function below ``node``."""
    found = []
    for child in ast.iter_child_nodes(node):
        name = prefix
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
            name = f"{prefix}{'::' if '::' not in prefix else ''}{child.name}"
            found.append((child.end_lineno - child.lineno + 1, name))
            name += "."
        elif isinstance(child, ast.ClassDef):
            name = f"{prefix}{'::' if '::' not in prefix else ''}{child.name}."
        found += _functions(child, name)
    return found


def largest_functions(root: Path, n: int = 10) -> list[tuple[int, str]]:
    found = []
    for path in [*(root / "xbrun").rglob("*.py"), *(root / "kernels").rglob("*.py")]:
        found += _functions(ast.parse(path.read_text()), path.relative_to(root).as_posix())
    return sorted(found, key=lambda item: (-item[0], item[1]))[:n]


def run_probe(root: Path, word: str) -> dict:
    """Compositions and initialisations of a real ``xbrun train debug=tiny``, and the files
    it loaded."""
    with tempfile.TemporaryDirectory() as out:
        env = {**os.environ, "TRITON_INTERPRET": "0"}
        done = subprocess.run([sys.executable, "-c", PROBE, str(root), out, word], cwd=out,
                              capture_output=True, text=True, env=env)
        if done.returncode != 0:
            raise SystemExit(f"the probe run failed:\n{done.stderr[-3000:]}")
        return json.loads(done.stdout.strip().splitlines()[-1])


def crossing(root: Path, loaded: list[str], word: str) -> list[str]:
    """The loaded source files and the default conf files that mention ``word``."""
    pattern = re.compile(rf"\b{re.escape(word)}\b")
    conf = [root / "conf" / "config.yaml"]
    defaults = (root / "conf" / "config.yaml").read_text()
    for group, option in re.findall(r"^\s*-\s*(\w+):\s*([\w-]+)\s*$", defaults, re.M):
        conf.append(root / "conf" / group / f"{option}.yaml")
    files = [Path(f) for f in loaded] + [f for f in conf if f.is_file()]
    return sorted(f.relative_to(root).as_posix() for f in files
                  if pattern.search(f.read_text()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rev", help="a git revision (default: the working tree)")
    parser.add_argument("--param", default="dw_min", help="the parameter to follow")
    parser.add_argument("--json", action="store_true", help="one JSON object instead")
    args = parser.parse_args()
    root = tree_of(args.rev)
    probe = run_probe(root, args.param)
    raises = [p for p in (root / "xbrun").rglob("*.py") if "ConfigError(" in p.read_text()]
    stats = {
        "tree": args.rev or "working tree",
        "lines": lines_per_package(root),
        "largest_functions": largest_functions(root),
        "param": args.param,
        "param_files": crossing(root, probe["files"], args.param),
        "hydra_compositions": probe["compositions"],
        "hydra_initialisations": probe["initialisations"],
        "config_error_calls": sum(p.read_text().count("ConfigError(") for p in raises),
        "config_error_files": len(raises),
    }
    if args.json:
        print(json.dumps(stats, indent=1))
        return
    print(f"tree: {stats['tree']}")
    print("lines per package: " + ", ".join(f"{k} {v}" for k, v in stats["lines"].items()))
    print("largest functions (lines):")
    for size, name in stats["largest_functions"]:
        print(f"  {size:4d}  {name}")
    print(f"files {args.param} crosses (train debug=tiny): {len(stats['param_files'])}: "
          + ", ".join(stats["param_files"]))
    print(f"Hydra compositions per `xbrun train debug=tiny`: {stats['hydra_compositions']} "
          f"(initialisations: {stats['hydra_initialisations']})")
    print(f"`ConfigError(` in xbrun/: {stats['config_error_calls']} in "
          f"{stats['config_error_files']} files")


if __name__ == "__main__":
    main()
