"""The one reader of a run folder's finished folds: ``RUN/fold<K>/metrics.json``, in fold order.

Used by evaluation (``combine``, ``rescore``), experiments (``grid``) and reporting (``summarize``, ``report``),
so every command lists the same folds in the same order (fold 2 before fold 10; before issue 23 ``combine``
sorted by name and put fold10 before fold2).
"""

from __future__ import annotations

import re
from pathlib import Path

from benchmark.errors import BenchError

#: A fold folder's name: ``fold`` and the test fold number.
FOLD_DIR = re.compile(r"fold(\d+)")


def fold_number(path: Path) -> int:
    """``RUN/fold10`` -> 10."""
    m = FOLD_DIR.fullmatch(path.name)
    if m is None:
        raise ValueError(f"not a fold folder: {path}")
    return int(m.group(1))


def finished_folds(run_dir: str | Path) -> list[Path]:
    """The fold folders of ``run_dir`` that hold a ``metrics.json`` (the fold finished), by fold number."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    done = [p for p in run_dir.iterdir() if FOLD_DIR.fullmatch(p.name) and (p / "metrics.json").is_file()]
    return sorted(done, key=fold_number)


def require_finished_folds(run_dir: str | Path, hint: str = "") -> list[Path]:
    """:func:`finished_folds`, at least one.

    Raises:
        BenchError: naming ``run_dir`` when no fold has finished (``hint`` appended to the message).
    """
    folds = finished_folds(run_dir)
    if not folds:
        raise BenchError(f"no fold*/metrics.json found{hint}", Path(run_dir))
    return folds
