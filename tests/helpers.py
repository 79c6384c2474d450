"""Helpers shared by tests in several folders (no tests here); ``tests/`` is on ``sys.path`` (setup.cfg).

``review_planted`` writes what a finished review of the synthetic dataset looks like: every planted pair
answered ``same`` (grade ``identical`` for exact copies, ``same-frame`` otherwise), then every question the
review walk still asks answered ``different`` until none is open.
"""

from __future__ import annotations

import csv
from pathlib import Path

from busi_curate.review.journal import Decision, Journal, read_journal


def planted(synthetic_dir: Path) -> list[dict[str, str]]:
    with open(synthetic_dir / "planted.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def review_planted(
    scan_dir: Path, synthetic_dir: Path, journal: Path | None = None, complete: bool = True, extra: list[Decision] = ()
) -> Path:  # type: ignore[assignment]
    """Write a journal (default ``scan_dir/decisions.csv``) answering the planted pairs, plus ``extra`` lines."""
    from busi_curate.publish.export import open_questions
    from busi_curate.scan.run import read_scan

    journal = journal or scan_dir / "decisions.csv"
    with Journal(journal) as j:
        for p in planted(synthetic_dir):
            grade = "identical" if p["kind"] == "identical" else "same-frame"
            j.append(
                Decision(
                    p["source_class"],
                    p["source_id"],
                    p["copy_class"],
                    p["copy_id"],
                    "same",
                    grade,
                    "test",
                    time="2026-01-01T00:00:00Z",
                )
            )
        for d in extra:
            j.append(d)
    if complete:
        scan = read_scan(scan_dir)
        for _ in range(100):
            qs = open_questions(scan, read_journal(journal), 0.23)
            if not qs:
                break
            with Journal(journal) as j:
                for a, b in qs:
                    j.append(Decision(a[0], a[1], b[0], b[1], "different", "", "test", time="2026-01-01T00:00:00Z"))
        else:  # pragma: no cover
            raise AssertionError("the review walk did not finish")
    return journal


def planted_keys(synthetic_dir: Path) -> set[tuple[str, str]]:
    out = set()
    for p in planted(synthetic_dir):
        out |= {(p["source_class"], p["source_id"]), (p["copy_class"], p["copy_id"])}
    return out


def run_cli_captured(argv: list[str], capsys) -> tuple[int, str, str]:  # type: ignore[no-untyped-def]
    """Run ``busi_curate.cli.main(argv)``; return (exit status, stdout, stderr)."""
    from busi_curate.cli import main

    code = 0
    try:
        main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    cap = capsys.readouterr()
    return code, cap.out, cap.err


def run_cli(argv: list[str]) -> int:
    """Run ``busi-curate`` in-process as a user would; returns its exit status."""
    from busi_curate.cli import main

    try:
        main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0
