"""The built-in demo keeps one honest hard pair, a neighbouring frame, so that after ``review --auto`` the page
opens on a question (not on "Review complete"), and that question is the neighbouring frame."""

from __future__ import annotations

import pandas as pd
from helpers import run_cli_captured

from busi_curate.review.run import automatic_pass
from busi_curate.scan.run import read_scan


def test_demo_leaves_the_neighbouring_frame_to_a_person(tmp_path, capsys):
    code, out, err = run_cli_captured(["demo", "--out", str(tmp_path / "demo"), "--size", "64"], capsys)
    assert code == 0, err
    assert "8/8 planted duplicates ranked first" in out and "neighbouring frame" in out
    planted = pd.read_csv(tmp_path / "demo" / "data" / "planted.csv", dtype=str)
    hard = planted[planted["kind"] == "neighbour"]
    assert len(hard) == 1
    scan = read_scan(tmp_path / "demo" / "scan")
    walk, summary = automatic_pass(scan, scan.dir / "decisions.csv")
    pair = {
        scan.row_of(hard.iloc[0]["source_class"], hard.iloc[0]["source_id"]),
        scan.row_of(hard.iloc[0]["copy_class"], hard.iloc[0]["copy_id"]),
    }
    open_pairs = [set(q.rows) for q in walk.open_questions()]
    assert summary.uncertain >= 1 and pair in open_pairs, summary.line()
