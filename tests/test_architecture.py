"""The layer order of docs/architecture.md, checked on the source: every import points down
(errors/schema/graph_state <- ``kernels`` <- physics/devices/decompositions/tiles <- nn <-
training <- the config modules <- the commands), and no two modules import each other,
directly or through others; the root config takes each package's groups from its ``schemas``
module only; Hydra is initialised in one module; the CLI uses no private name of another
module. Also: every source file and name the page mentions exists."""

import ast
import functools
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# lowest first; a module may import its own layer and those below it (the page's numbered list)
LAYERS = [
    ("xbrun.errors", "xbrun.schema", "xbrun.graph_state"),
    ("xbrun.kernels",),
    ("xbrun.physics", "xbrun.devices", "xbrun.decompositions", "xbrun.tiles"),
    ("xbrun.nn",),
    ("xbrun.training",),
    ("xbrun.config", "xbrun.presets", "xbrun.sweeps", "xbrun.extras", "xbrun.sweep_report",
     "xbrun.workers"),
    ("xbrun", "xbrun.cli", "xbrun.jobs", "xbrun.composition", "xbrun.api", "xbrun.evaluate",
     "xbrun.report", "xbrun.cells_info", "xbrun.cells_fit", "xbrun.figures", "xbrun.wear_map",
     "xbrun.run_folders"),
]


@functools.cache
def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text())


def _modules() -> dict[str, Path]:
    found = {}
    for path in (REPO / "xbrun").rglob("*.py"):
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    for path in (REPO / "kernels").glob("*.py"):  # installed as xbrun.kernels
        found["xbrun.kernels" + ("" if path.stem == "__init__" else "." + path.stem)] = path
    return found


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The xbrun modules ``name`` imports, at the top or inside functions."""
    package = name if path.stem == "__init__" else name.rpartition(".")[0]
    targets = set()
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] \
                if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            targets |= {f"{module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            targets |= {alias.name for alias in node.names}
    resolved = set()
    for target in targets:
        while target and target not in known:  # `from .x import Name`: the module x
            target = target.rpartition(".")[0]
        if target and target != name:
            resolved.add(target)
    return resolved


@functools.cache
def _graph() -> dict[str, set[str]]:
    modules = _modules()
    graph = {name: _imports(name, path, set(modules)) for name, path in modules.items()}
    for name, deps in graph.items():  # importing a.b.c runs a.b's __init__ first (unless
        for dep in list(deps):        # the importer lives inside a.b, which is then loading)
            parent = dep.rpartition(".")[0]
            while parent in graph and parent != "xbrun" and parent != name \
                    and not name.startswith(parent + "."):
                deps.add(parent)
                parent = parent.rpartition(".")[0]
    return graph


def _layer(name: str) -> int:
    matches = [(len(prefix), index) for index, prefixes in enumerate(LAYERS)
               for prefix in prefixes if name == prefix or name.startswith(prefix + ".")]
    assert matches, f"{name} belongs to no layer: add it to LAYERS (and docs/architecture.md)"
    return max(matches)[1]


def test_imports_point_down_the_layers():
    upward = [f"{name} -> {dep}" for name, deps in _graph().items() for dep in deps
              if _layer(dep) > _layer(name)]
    assert not upward, upward


def test_no_import_cycles():
    graph, cycles = _graph(), []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node, path):
        state[node] = 1
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                cycles.append(" -> ".join(path[path.index(dep):] + [dep]))
            elif dep not in state:
                visit(dep, path + [dep])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, cycles


def test_graph_capture_asks_the_protocol_only():
    """``training/graphs.py`` knows the step's state through ``xbrun.graph_state`` alone: it
    imports no device, tile, array or module (a new device needs no change there)."""
    deps = _graph()["xbrun.training.graphs"]
    assert "xbrun.graph_state" in deps
    assert not [d for d in deps if d.startswith(("xbrun.devices", "xbrun.tiles",
                                                 "xbrun.physics", "xbrun.nn"))], deps


def test_the_check_sees_an_upward_import():
    """The test above can fail: a physics module importing the CLI is caught."""
    assert _layer("xbrun.cli") > _layer("xbrun.physics.io")
    graph = _graph()
    assert "xbrun.kernels" in graph["xbrun.physics.array"]  # imports are found
    assert "xbrun.composition" in graph["xbrun.cells_info"]
    assert _layer("xbrun.kernels.im2col_ref") > _layer("xbrun.errors")  # kernels import no
    assert _layer("xbrun.physics.array") > _layer("xbrun.kernels")      # config code


def _from_imports(path: Path) -> list[tuple[str, str]]:
    """``(module as written, name)`` of each ``from ... import name`` of ``path``."""
    return [("." * node.level + (node.module or ""), alias.name)
            for node in ast.walk(_tree(path)) if isinstance(node, ast.ImportFrom)
            for alias in node.names]


def test_config_takes_the_groups_each_package_registers():
    """``config.py`` assembles the packages' ``schemas`` modules and imports no other module
    of the layers below it (no training, physics, ... internals)."""
    below = ("xbrun.physics", "xbrun.devices", "xbrun.decompositions", "xbrun.tiles",
             "xbrun.nn", "xbrun.training")
    internals = sorted(dep for dep in _graph()["xbrun.config"]
                       if dep.startswith(below) and dep.rpartition(".")[2] != "schemas"
                       and dep not in below)
    assert not internals, internals
    assert "xbrun.training.schemas" in _graph()["xbrun.config"]
    users = [name for name, deps in _graph().items() if "xbrun.config" in deps
             and _layer(name) <= _layer("xbrun.training")]
    assert not users, users


def test_hydra_is_initialised_and_composed_in_one_module():
    """Only ``composition.py`` initialises Hydra and calls its compose (``cli.py`` hands
    ``hydra.main`` the same folder)."""
    calls = sorted(name for name, path in _modules().items()
                   for module, imported in _from_imports(path)
                   if module == "hydra" and imported in ("initialize_config_dir", "compose",
                                                         "initialize"))
    assert calls == ["xbrun.composition", "xbrun.composition"], calls


def test_the_cli_uses_public_names_only():
    """``cli.py`` is a layer over the API: no ``_private`` name of another module, and the
    run itself through ``api.run`` (no direct import of the recipe or the config root)."""
    private = [f"{module}.{name}" for module, name in _from_imports(REPO / "xbrun" / "cli.py")
               if name.startswith("_") and name != "__future__"]
    assert not private, private
    assert not {"xbrun.config", "xbrun.training.loop"} & _graph()["xbrun.cli"]


# -- the page names only what exists ------------------------------------------------------
DOC = REPO / "docs" / "architecture.md"
PY_FILES = [p for root in ("xbrun", "kernels") for p in (REPO / root).rglob("*.py")]


def _files(name: str) -> list[Path]:
    """``training/loop.py``, ``xbrun/cli.py`` or a bare ``loop.py``: the files it can mean."""
    exact = [REPO / name, REPO / "xbrun" / name]
    found = [p for p in exact if p.is_file()]
    return found or [p for p in PY_FILES if p.as_posix().endswith("/" + name)]


def _defines(path: Path, name: str) -> bool:
    """``name`` (or ``Class.attr``) is defined at the top of ``path`` or in a class of it."""
    tree = _tree(path)
    scopes = {None: tree.body}
    scopes |= {n.name: n.body for n in ast.walk(tree) if isinstance(n, ast.ClassDef)}
    owner, _, attr = name.rpartition(".")
    body = scopes.get(owner or None)
    if body is None:
        return False
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) \
                and node.name == attr:
            return True
        targets = node.targets if isinstance(node, ast.Assign) else \
            [node.target] if isinstance(node, ast.AnnAssign) else []
        if any(isinstance(t, ast.Name) and t.id == attr for t in targets):
            return True
        if isinstance(node, (ast.Import, ast.ImportFrom)) and \
                any((a.asname or a.name) == attr for a in node.names):
            return True
    return False


def _defined_anywhere(name: str) -> bool:
    return any(_defines(path, name) for path in PY_FILES)


def missing_names(text: str) -> list[str]:
    """Each ``path.py::name``, ``path.py``, ``kernels.name``, ``module.name`` and
    ``Class.method`` the text mentions that the source does not have."""
    missing = []
    for path, name in re.findall(r"(?<![*\w/])([\w/]+\.py)(?:::([\w.]+))?", text):
        files = _files(path)
        if not files:
            missing.append(path)
        elif name and not any(_defines(f, name) for f in files):
            missing.append(f"{path}::{name}")
    for token in re.findall(r"`([A-Za-z_]\w*(?:\.\w+)+)`", text):
        head, _, rest = token.partition(".")
        if head == "kernels":
            ok = _defines(REPO / "kernels" / "__init__.py", rest.partition(".")[0])
        elif head in ("xbrun", "torch", "os", "hydra", "mapping", "dataset", "update", "tile",
                      "optimizer", "model", "loss") or \
                token.endswith((".py", ".md", ".png", ".npz", ".jsonl", ".pt")):
            continue  # packages, config keys, variables and files: not source names
        elif _files(head + ".py") or _files(head + "/__init__.py"):
            ok = any(_defines(f, rest)
                     for f in _files(head + ".py") + _files(head + "/__init__.py"))
        else:
            ok = _defined_anywhere(token)
        if not ok:
            missing.append(token)
    return missing


def test_the_page_names_only_what_exists():
    assert not missing_names(DOC.read_text())


def test_the_name_check_can_fail():
    assert missing_names("`physics/array.py::NoSuchArray` `tiles/nowhere.py` "
                         "`kernels.no_such_kernel` `PulsedArray.no_such_method`") == [
        "physics/array.py::NoSuchArray", "tiles/nowhere.py", "kernels.no_such_kernel",
        "PulsedArray.no_such_method"]
    assert not missing_names("`physics/array.py::PulsedArray.update` `kernels.im2col`")
