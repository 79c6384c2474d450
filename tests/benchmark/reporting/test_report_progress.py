"""busi-bench report --grid: every grid row of a table is listed, finished or not (issue 26)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from benchmark.experiments.grid import load_grid
from benchmark.reporting.progress import PARTIAL, QUEUED, TableSink, grid_progress, write_progress

REPO = Path(__file__).resolve().parents[3]


def _finish(runs: Path, name: str, fold: int) -> None:
    d = runs / name / f"fold{fold}"
    d.mkdir(parents=True)
    (d / "metrics.json").write_text("{}", encoding="utf-8")


def test_every_row_of_the_grid_is_counted_from_its_run_folders(tmp_path: Path) -> None:
    grid = load_grid(REPO / "grids" / "cpu_table4.yaml", base=REPO)
    runs = tmp_path / "runs"
    _finish(runs, "t4-unet-bm", 0)
    _finish(runs, "t4-unet-bm", 2)
    (runs / "t4-unet-all" / "fold1").mkdir(parents=True)  # started, not finished: no metrics.json
    progress = grid_progress(grid, runs)
    assert [p.run for p in progress if p.table == "4"] == [r.name for r in grid.runs if "4" in r.table]
    by_run = {p.run: p for p in progress}
    assert by_run["t4-unet-bm"].state == PARTIAL and by_run["t4-unet-bm"].cells()[3] == "2 of 4 (0, 2)"
    assert by_run["t4-unet-all"].state == QUEUED
    for f in (1, 3):
        _finish(runs, "t4-unet-bm", f)
    assert {p.run: p for p in grid_progress(grid, runs)}["t4-unet-bm"].state == "finished"

    write_progress(tmp_path, grid_progress(grid, runs), grid.path)
    frame = pd.read_csv(tmp_path / "progress.csv")
    assert len(frame) == len(progress)
    assert frame.set_index("run").loc["t4-unet-bm", "folds_finished"] == 4


def test_a_table_lists_its_unfinished_grid_rows_under_the_finished_ones(tmp_path: Path) -> None:
    grid = load_grid(REPO / "grids" / "cpu_table4.yaml", base=REPO)
    runs = tmp_path / "runs"
    for f in range(4):
        _finish(runs, "t4-unet-bm", f)
    sink = TableSink(tmp_path, grid_progress(grid, runs))
    sink.write("table4", "Table 4", pd.DataFrame({"a": [1]}), ["Configuration"], [["unet (benign-malignant)"]], [])
    md = (tmp_path / "table4.md").read_text(encoding="utf-8")
    queued = md.split("## Grid rows of this table not finished yet")[1]
    assert "| t4-unet-all | unet | seg | 0 of 4 | queued |" in queued
    assert "t4-unet-bm" not in queued  # finished rows are in the table, not the queue
    assert "t4-unet-all" in (tmp_path / "table4.html").read_text(encoding="utf-8")
    sink.write("table8", "Table 8", pd.DataFrame(), ["Configuration"], [], [])
    assert "not finished yet" not in (tmp_path / "table8.md").read_text(encoding="utf-8")  # the grid claims none


@pytest.mark.parametrize("grid_name", ["cpu_table4.yaml", "cpu_tables.yaml", "cpu.yaml"])
def test_the_committed_cpu_grids_resolve_every_row(grid_name: str) -> None:
    grid = load_grid(REPO / "grids" / grid_name, base=REPO)
    progress = grid_progress(grid, REPO / "no-such-runs")
    assert progress and all(p.state == QUEUED and p.declared for p in progress)
