"""The import checker shared by the layer tests of both packages (tests/test_layers.py, tests/benchmark/test_bench_layers.py)."""

from __future__ import annotations

import ast
from pathlib import Path


def stage_of(module: str, package: str) -> str | None:
    """``<package>.scan.run`` -> ``scan``; the package itself (and its ``__version__``) -> None."""
    parts = module.split(".")
    if len(parts) < 2 or parts[0] != package or parts[1] == "__version__":
        return None
    return parts[1]


def imports_of(path: Path, package: str) -> list[tuple[int, str]]:
    """``(line, absolute module)`` for every import of ``package`` in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{a.name}" for a in node.names] if node.module == package else [node.module]
            out += [(node.lineno, n) for n in names]
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names]
    return [(line, m) for line, m in out if m == package or m.startswith(package + ".")]
