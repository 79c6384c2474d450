"""``busi-curate audit``: find the leakage in any split (test images with a copy in training)."""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.command()
@click.argument("data_dir", type=click.Path(path_type=Path))
@click.option("--split", "split_file", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="CSV with class, id, split (test is audited against the other splits) or a folds file "
                   "class, id, fold, split (each fold's test images against that fold's other images).")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Audit folder to write.")
@click.option("--scan", "scan_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Reuse this scan of DATA_DIR (default: scan into OUT/scan).")
@click.option("--decisions", "decisions_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Use this review journal (default: the scan's journal, else the automatic review into OUT/decisions.csv).")
@click.option("--fail-on", type=click.Choice(["identical", "same-frame", "adjacent-frame"]), default="same-frame",
              show_default=True, help="Exit status 1 when a pair of this grade or stronger crosses from test to training.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def audit(data_dir: Path, split_file: Path, out: Path, scan_dir: Path | None, decisions_file: Path | None,
          fail_on: str, quiet: bool) -> None:
    """Audit a split of DATA_DIR for leakage: duplicates that cross from its test images to its training images.

    Exit status: 0 clean, 1 leakage at or above --fail-on, 2 bad input (usable in a CI job).
    """
    from ..audit import audit_split, read_split, write_audit
    from ..errors import ScanError
    from ..journal import read_journal
    from ..review.session import JOURNAL_NAME, load_journal, load_scan, review_lock
    from ..scan import ScanSettings, run_scan

    split = read_split(split_file)
    if out.exists() and not out.is_dir():
        raise ScanError("--out must be a folder (this is an existing file)", out)
    if scan_dir is None:
        scan_dir = out / "scan"
        if not (scan_dir / "scan.json").is_file():
            run_scan(data_dir, scan_dir, ScanSettings(), progress=not quiet)
    scan = load_scan(scan_dir)
    if Path(scan.data_dir).resolve() != Path(data_dir).resolve() and Path(scan.data_dir).resolve() != (Path(data_dir) / "Dataset_BUSI_with_GT").resolve():
        raise ScanError(f"this scan is of {scan.data_dir}, not of {data_dir}", scan_dir)
    known = {(c, str(i)) for c, i in zip(scan.index["class"], scan.index["id"])}
    if decisions_file is not None:
        decisions = read_journal(decisions_file, known)
        source = str(decisions_file)
    elif (Path(scan.dir) / JOURNAL_NAME).is_file() and (Path(scan.dir) / JOURNAL_NAME).stat().st_size:
        decisions, _ = load_journal(Path(scan.dir) / JOURNAL_NAME, scan)
        source = str(Path(scan.dir) / JOURNAL_NAME)
    else:
        from ..export import DEFAULT_THRESHOLD
        from .review import DEFAULT_ASSISTANT, _review

        journal = out / "decisions.csv"
        out.mkdir(parents=True, exist_ok=True)
        with review_lock(scan.dir):
            _review(scan, journal, "audit", 0, DEFAULT_THRESHOLD, True, True, DEFAULT_ASSISTANT, False)
        decisions, _ = load_journal(journal, scan)
        source = f"{journal} (automatic review; questions left for a person count as different)"
    result = audit_split(scan, decisions, split)
    write_audit(result, scan, out, {"scan": str(scan_dir), "decisions": source, "split": str(split_file)}, fail_on)
    click.echo(f"{result.summary} -> {out / 'leakage.md'}")
    sys.exit(1 if result.fails(fail_on) else 0)
