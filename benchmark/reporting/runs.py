"""Stage: reporting -- the finished run folders under a folder, read once for every table, figure and report.

A :class:`RunData` is one run folder (its finished folds in fold order, by :func:`benchmark.run_folder.finished_folds`,
their ``per_image.csv`` rows and the resolved config); an :class:`Entry` is one table row of it (scored after or
before prediction refining).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from benchmark.errors import BenchError
from benchmark.provenance import read_checked_json
from benchmark.reporting.dsc_conventions import DERIVED_KEYS, derived_fold_values
from benchmark.run_folder import finished_folds


@dataclass
class RunData:
    """One run folder: its folds' metrics, the resolved config, per-image rows of every fold."""

    name: str
    path: Path
    folds: list[dict[str, Any]]
    config: dict[str, Any]
    per_image: pd.DataFrame
    tables: set[str] = field(default_factory=set)

    @property
    def provenance(self) -> dict[str, Any]:
        return self.folds[0]["provenance"]


@dataclass(frozen=True)
class Entry:
    """A table row: which run, and which of its two scorings (``after`` PR or ``before`` PR)."""

    label: str
    run: RunData
    scoring: str = "after"
    seeds: tuple[RunData, ...] = ()  # the same configuration at other seeds (benchmark.reporting.seeds), this run first

    def fold_values(self, key: str) -> list[float | None]:
        if key in DERIVED_KEYS:
            return derived_fold_values(self.run, self.scoring, key)
        if self.scoring == "before":
            return [f.get("before_pr", {}).get(key) for f in self.run.folds]
        return [f.get(key) for f in self.run.folds]

    def per_image(self) -> pd.DataFrame:
        """Columns ``class, id, fold, true, pred, dice`` for this scoring."""
        df = self.run.per_image
        p = "before_" if self.scoring == "before" else ""
        out = pd.DataFrame({"class": df["class"], "id": df["id"].astype(str), "fold": df["fold"], "true": df["true"]})
        out["pred"] = df[f"{p}pred"] if f"{p}pred" in df else np.nan
        out["dice"] = df[f"{p}dice"] if f"{p}dice" in df else np.nan
        return out


def load_runs(runs_dir: str | Path, grid: Any = None) -> list[RunData]:
    """Every run folder under ``runs_dir`` with at least one finished fold.

    Raises:
        BenchError: no finished run found.
    """
    runs_dir = Path(runs_dir)
    tables = {r.name: {t.strip() for t in r.table.split(",") if t.strip()} for r in grid.runs} if grid else {}
    tables.update(
        {c.name: {t.strip() for t in c.table.split(",") if t.strip()} for c in (grid.combines if grid else [])}
    )
    out = []
    for d in sorted(p for p in runs_dir.iterdir() if p.is_dir()):
        paths = [f / "metrics.json" for f in finished_folds(d)]
        if not paths:
            continue
        folds = [read_checked_json(p) for p in paths]
        frames = []
        for p, f in zip(paths, folds):
            pi = p.parent / "per_image.csv"
            if pi.is_file():
                df = pd.read_csv(pi, dtype={"id": str}, keep_default_na=False, na_values=[""])
                df["fold"] = f["fold"]
                frames.append(df)
        run = RunData(
            d.name,
            d,
            folds,
            folds[0]["provenance"]["config"],
            pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(),
            tables.get(d.name, set()),
        )
        out.append(run)
    if not out:
        raise BenchError("no run folder with fold*/metrics.json found", runs_dir)
    return out
