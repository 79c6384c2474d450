"""The committed CPU reports of Tables 4 and 6/8/9 are what ``busi-bench report --grid`` writes from their runs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("torch")

from benchmark.reporting.report import build_report  # noqa: E402

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("report", "grid"), [("bench_cpu_table4", "cpu_table4.yaml"), ("bench_cpu_tables", "cpu_tables.yaml")]
)
def test_the_committed_report_regenerates_from_its_committed_runs(report: str, grid: str, tmp_path: Path) -> None:
    committed = REPO / "reports" / report
    if not (committed / "runs").is_dir():
        pytest.skip(f"no committed runs in reports/{report}")
    build_report(committed / "runs", tmp_path, grid_file=REPO / "grids" / grid)
    names = sorted(p.name for p in committed.glob("table*.csv")) + ["progress.csv", "significance.csv"]
    assert "table4.csv" in names
    for name in names:
        new, old = tmp_path / name, committed / name
        if old.stat().st_size <= 1:  # an empty table: nothing to compare but its presence
            assert new.is_file(), name
            continue
        pd.testing.assert_frame_equal(pd.read_csv(new), pd.read_csv(old), obj=name)
    for name in (p.name for p in committed.glob("table*.md")):
        assert (tmp_path / name).read_text(encoding="utf-8") == (committed / name).read_text(encoding="utf-8"), name
