"""The layer order of docs/architecture.md, checked on the source: every import points down
(``kernels`` <- physics/devices/decompositions/tiles <- nn <- training <- the commands), and
no two modules import each other, directly or through others."""

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# lowest first; a module may import its own layer and those below it
LAYERS = [
    ("xbrun.kernels", "xbrun.errors", "xbrun.schema"),
    ("xbrun.physics", "xbrun.devices", "xbrun.decompositions", "xbrun.tiles"),
    ("xbrun.nn",),
    ("xbrun.training", "xbrun.config", "xbrun.presets", "xbrun.sweeps", "xbrun.extras",
     "xbrun.sweep_report", "xbrun.workers"),
    ("xbrun", "xbrun.cli", "xbrun.composition", "xbrun.api", "xbrun.evaluate", "xbrun.report",
     "xbrun.cells_info", "xbrun.figures", "xbrun.wear_map", "xbrun.run_folders"),
]


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
    for node in ast.walk(ast.parse(path.read_text())):
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


def test_the_check_sees_an_upward_import():
    """The test above can fail: a physics module importing the CLI is caught."""
    assert _layer("xbrun.cli") > _layer("xbrun.physics.io")
    graph = _graph()
    assert "xbrun.kernels" in graph["xbrun.physics.array"]  # imports are found
    assert "xbrun.composition" in graph["xbrun.cells_info"]
