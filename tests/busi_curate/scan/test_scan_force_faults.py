"""Issue 22, FAILs 2 and 3: ``scan --force`` never replaces a scan or its journal under a running review, and a
journal moved aside never replaces an earlier one (a UTC name plus a unique suffix, created exclusively)."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path

from helpers import run_cli_captured

from busi_curate.review.session import review_lock


def _scan(data: Path, out: Path, *extra: str) -> list[str]:
    return ["scan", str(data), "--out", str(out), "--size", "32", "--quiet", *extra]


def test_scan_force_is_refused_while_a_review_holds_the_folder(synthetic_dir: Path, scan_copy: Path, capsys) -> None:
    journal = scan_copy / "decisions.csv"
    journal.write_text(
        "reference_class,reference_id,candidate_class,candidate_id,answer,grade,decided_by,evidence,time\n"
    )
    before = {p.name: p.read_bytes() for p in scan_copy.iterdir() if p.is_file() and p.name != ".review.lock"}
    with review_lock(scan_copy):  # a review server (or automatic pass) is running on this folder
        code, _, err = run_cli_captured(_scan(synthetic_dir, scan_copy, "--force"), capsys)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and ".review.lock" in lines[0] and "another review" in lines[0]
    after = {p.name: p.read_bytes() for p in scan_copy.iterdir() if p.is_file() and p.name != ".review.lock"}
    assert after == before  # neither the scan files nor the journal were touched


class _Frozen(dt.datetime):
    @classmethod
    def now(cls, tz=None):  # noqa: ANN001, ANN206
        return dt.datetime(2026, 10, 25, 1, 30, 0, tzinfo=tz)


def test_two_moves_in_the_same_second_keep_both_journals(
    synthetic_dir: Path, tmp_path: Path, capsys, monkeypatch
) -> None:
    from busi_curate import fileio

    monkeypatch.setattr(
        time, "strftime", lambda fmt, *a: fmt.replace("%Y%m%dT%H%M%S", "20261025T013000")
    )  # the same second (or DST hour)
    monkeypatch.setattr(fileio, "datetime", _Frozen, raising=False)
    out = tmp_path / "scan"
    out.mkdir()
    for text in ("first journal\n", "second journal\n"):
        (out / "decisions.csv").write_text(text)
        code, _, err = run_cli_captured(_scan(synthetic_dir, out, "--force"), capsys)
        assert code == 0, err
    aside = sorted(out.glob("decisions.before-scan-*.csv"))
    assert sorted(p.read_text() for p in aside) == ["first journal\n", "second journal\n"]
    assert all("20261025T013000Z" in p.name for p in aside), aside  # UTC, marked as such
