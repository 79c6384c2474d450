"""``python -m busi_curate.studies.verify_cost``: CPU per verified pair by outcome, from a reviewed scan."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from busi_curate.studies import verify_cost


@pytest.mark.slow
def test_verify_cost_on_a_reviewed_synthetic_scan(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from busi_curate.cli import cli
    from busi_curate.data.synthetic import make_synthetic_busi

    make_synthetic_busi(tmp_path / "data", n_per_class=(8, 5, 4), seed=3)
    scan = tmp_path / "scan"
    for args in (["scan", str(tmp_path / "data"), "--out", str(scan), "--quiet"],
                 ["review", str(scan), "--auto", "--no-browser", "--quiet"]):  # fmt: skip
        res = CliRunner().invoke(cli, args)
        assert res.exit_code == 0, res.output
    items = json.loads((scan / "features" / "assessments.json").read_text())["items"]
    by = verify_cost.assessed_pairs(scan, {})
    assert by == {"no fit": [], "fitted": []}  # no row known: nothing
    verify_cost.main([str(scan), "--per-outcome", "2", "--json", str(tmp_path / "cost.json")])
    out = json.loads((tmp_path / "cost.json").read_text())
    assert set(out) == {"no fit", "fitted"}
    verified = sum(1 for v in items.values() if not v[2].endswith("identical pixels"))
    assert out["no fit"]["assessed"] + out["fitted"]["assessed"] == verified
    for r in out.values():
        assert r["sampled"] == min(2, r["assessed"]) and r["ms_per_pair"] >= 0
    assert "| no fit |" in capsys.readouterr().out


def test_a_scan_without_assessments_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="no features/assessments.json"):
        verify_cost.main([str(tmp_path)])
