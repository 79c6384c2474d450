"""Stage: report -- how far a grid got: every row a grid declares for a table, finished or not.

With ``busi-bench report RUNS --grid GRID.yaml`` each table lists, under its finished rows, the grid's rows that
have not finished every declared fold (queued, or partial with the folds done), so a table is never silently
short of a row; ``progress.csv`` / ``progress.md`` hold the same for every row of the grid. Counts come from the
run folders (a fold finished when its ``metrics.json`` exists), never from a log.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from benchmark.reporting.tables import markdown_table, write_table
from benchmark.run_folder import finished_folds, fold_number
from busi_curate.fileio import write_csv, write_text

__all__ = ["RowProgress", "TableSink", "grid_progress", "write_progress"]

HEADER = ["Grid run", "Model", "Task", "Folds finished", "State"]
FINISHED, PARTIAL, QUEUED = "finished", "partial", "queued"


@dataclass(frozen=True)
class RowProgress:
    """One grid row claimed by one table: its declared folds and those finished under the runs folder."""

    table: str
    run: str
    model: str
    task: str
    declared: tuple[int, ...]
    finished: tuple[int, ...]

    @property
    def done(self) -> list[int]:
        """The declared folds that finished, in order."""
        return sorted(set(self.finished) & set(self.declared))

    @property
    def state(self) -> str:
        """``finished`` (every declared fold), ``partial`` (some) or ``queued`` (none)."""
        done = self.done
        return FINISHED if len(done) == len(set(self.declared)) else PARTIAL if done else QUEUED

    def cells(self) -> list[str]:
        """The row of the tables' queued section and of ``progress.md``."""
        done = self.done
        folds = f"{len(done)} of {len(self.declared)}" + (f" ({', '.join(map(str, done))})" if done else "")
        return [self.run, self.model, self.task, folds, self.state]


def _tables(field_value: str) -> list[str]:
    return [t.strip() for t in field_value.split(",") if t.strip()]


def _done(runs_dir: Path, name: str) -> tuple[int, ...]:
    return tuple(fold_number(p) for p in finished_folds(runs_dir / name))


def grid_progress(grid: Any, runs_dir: str | Path) -> list[RowProgress]:
    """One :class:`RowProgress` per (table, row) of ``grid`` (runs and combines), in the grid's order."""
    from benchmark.experiments.grid import run_folds

    runs_dir = Path(runs_dir)
    out: list[RowProgress] = []
    folds = {r.name: run_folds(r) for r in grid.runs}
    for r in grid.runs:
        model, task, done = str(r.settings.get("model", "")), str(r.settings.get("task", "")), _done(runs_dir, r.name)
        out += [RowProgress(t, r.name, model, task, folds[r.name], done) for t in _tables(r.table)]
    for c in grid.combines:
        declared = tuple(sorted(set(folds.get(c.seg, ())) & set(folds.get(c.cls, ()))))
        done = _done(runs_dir, c.name)
        out += [RowProgress(t, c.name, f"{c.seg} + {c.cls}", "combine", declared, done) for t in _tables(c.table)]
    return out


@dataclass(frozen=True)
class TableSink:
    """Where the report's tables go, with the grid rows each table still waits for."""

    path: Path
    progress: Sequence[RowProgress] = field(default_factory=tuple)

    def write(
        self, name: str, title: str, tidy: pd.DataFrame, header: list[str], rows: list[list[str]], notes: Sequence[str]
    ) -> None:
        """:func:`~benchmark.reporting.tables.write_table`, plus the table's unfinished grid rows under it."""
        number = name.removeprefix("table")
        waiting = [p.cells() for p in self.progress if p.table == number and p.state != FINISHED]
        after = ("Grid rows of this table not finished yet (no figure above for a queued row)", HEADER, waiting)
        write_table(self.path, name, title, tidy, header, rows, notes, after=after if waiting else None)


def write_progress(out: Path, progress: Sequence[RowProgress], grid_path: Path) -> list[Path]:
    """``progress.csv`` (one row per table and grid row) and ``progress.md``."""
    frame = pd.DataFrame(
        [
            {
                "table": p.table,
                "run": p.run,
                "model": p.model,
                "task": p.task,
                "folds_declared": len(p.declared),
                "folds_finished": len(p.done),
                "state": p.state,
            }
            for p in progress
        ],
        columns=["table", "run", "model", "task", "folds_declared", "folds_finished", "state"],
    )
    write_csv(out / "progress.csv", frame)
    counts: Mapping[str, int] = frame["state"].value_counts().to_dict() if len(frame) else {}
    summary = ", ".join(f"{counts.get(s, 0)} {s}" for s in (FINISHED, PARTIAL, QUEUED))
    lines = [
        f"# Progress of grid `{grid_path.name}`",
        "",
        f"- {len(frame)} (table, row) entries: {summary}; a fold counts when its `metrics.json` exists",
        "",
        markdown_table(["Table", *HEADER], [[p.table, *p.cells()] for p in progress]),
        "",
    ]
    write_text(out / "progress.md", "\n".join(lines))
    return [out / "progress.csv", out / "progress.md"]
