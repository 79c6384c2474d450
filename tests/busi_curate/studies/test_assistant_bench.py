"""``busi-curate bench-auto``: every phase timed, a reference in the same run, results as JSON; bad input exits 2."""

from __future__ import annotations

import json

import pytest
from conftest import run_cli


def test_bench_auto_reports_each_phase(scan_copy, tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert run_cli(["bench-auto", str(scan_copy), "--reference-pairs", "4", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    for phase in ("features", "shortlist", "verification", "walk", "grouping", "total", "reference:", "pairs/s"):
        assert phase in text
    r = json.loads(out.read_text())
    assert r["n_images"] == 36 and r["features"]["computed"] > 0 and r["cold"] is True
    assert r["pairs"]["verified"] >= r["pairs"]["walk_candidates"] > 0
    assert r["reference"]["pairs_timed"] == 4 and r["reference"]["s_per_pair"] > 0
    assert set(r["timings_s"]) == {"features", "shortlist", "verification", "walk", "grouping", "total"}
    # the planted same-frame copies of the synthetic set are all grouped (identical + same-frame grades)
    assert r["images_in_groups"] >= 10 and r["questions"] <= 3
    assert not (scan_copy / "features").exists()  # a cold run leaves the scan's cache alone


@pytest.mark.parametrize("make_bad", ["missing", "changed"])
def test_bench_auto_bad_scan_is_one_line_exit_2(scan_copy, tmp_path, capsys, make_bad):
    target = tmp_path / "nope" if make_bad == "missing" else scan_copy
    if make_bad == "changed":
        with open(scan_copy / "candidates.csv", "a") as fh:
            fh.write("benign,1,benign,2,99,0.5\n")
    assert run_cli(["bench-auto", str(target)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:")
