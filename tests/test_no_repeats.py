"""No block of six or more repeated lines in the package and its kernels (the project's own bar).

Lines are compared after stripping indentation and comments; blank lines, lone brackets and
short blocks (under 120 characters) do not count. Function signatures are left out: a
kernel repeats its torch twin's keyword arguments on purpose, because the twin is its
specification and the tests call both with the same arguments.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WINDOW = 6
TRIVIAL = {'"""', "'''", ")", "]", "}", "else:", "try:", "return", "pass"}


def _signature_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            lines.update(range(node.lineno, node.body[0].lineno))
    return lines


def _lines(path: Path) -> list[tuple[int, str]]:
    text = path.read_text()
    skip = _signature_lines(ast.parse(text))
    kept = []
    for number, line in enumerate(text.splitlines(), start=1):
        code = re.sub(r"#.*", "", line).strip()
        if code and code not in TRIVIAL and number not in skip:
            kept.append((number, code))
    return kept


def repeated_blocks(paths, root: Path = ROOT) -> list[list[tuple[str, int]]]:
    seen: dict[tuple[str, ...], list[tuple[str, int]]] = defaultdict(list)
    for path in paths:
        lines = _lines(path)
        for k in range(len(lines) - WINDOW + 1):
            block = tuple(code for _, code in lines[k:k + WINDOW])
            if sum(map(len, block)) >= 120:
                seen[block].append((str(path.relative_to(root)), lines[k][0]))
    return [places for places in seen.values() if len(places) > 1]


def test_no_block_of_six_lines_is_repeated():
    paths = sorted([*(ROOT / "xbrun").rglob("*.py"), *(ROOT / "kernels").rglob("*.py")])
    assert paths
    assert repeated_blocks(paths) == []


def test_the_check_finds_a_repeat(tmp_path):
    body = "\n".join(f"    value_{i} = compute_something_long(argument_{i}, {i})"
                     for i in range(WINDOW))
    for name in ("a.py", "b.py"):
        (tmp_path / name).write_text(f"def f():\n{body}\n")
    found = repeated_blocks(sorted(tmp_path.glob("*.py")), root=tmp_path)
    assert [sorted(p for p, _ in places) for places in found] == [["a.py", "b.py"]]
