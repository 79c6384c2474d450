"""``busi-curate audit``: find the leakage in any split (test images with a copy in training)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from busi_curate.commands.scan import scan_options

if TYPE_CHECKING:
    from busi_curate.review.journal import Decision
    from busi_curate.scan.run import ScanResult


def _audit_decisions(
    scan: ScanResult, decisions_file: Path | None, out: Path, seeded_from: Path | None = None
) -> tuple[list[Decision], str]:
    """The review decisions the audit uses, and where they come from: ``decisions_file``, else the scan's own
    journal when it has lines, else an automatic review written to ``out`` (resumed from ``seeded_from``'s lines,
    already written there by ``seed_union_journal``)."""
    from busi_curate.defaults import JOURNAL_NAME
    from busi_curate.fileio import portable_path
    from busi_curate.review.journal import read_journal
    from busi_curate.review.session import load_journal, review_lock

    known = {(c, str(i)) for c, i in zip(scan.index["class"], scan.index["id"])}
    if decisions_file is not None:
        decisions = read_journal(decisions_file, known)
        source = portable_path(decisions_file, out)
    elif (Path(scan.dir) / JOURNAL_NAME).is_file() and (Path(scan.dir) / JOURNAL_NAME).stat().st_size:
        decisions, _ = load_journal(Path(scan.dir) / JOURNAL_NAME, scan)
        source = portable_path(Path(scan.dir) / JOURNAL_NAME, out)
    else:
        from busi_curate.review.run import automatic_pass

        journal = out / JOURNAL_NAME
        out.mkdir(parents=True, exist_ok=True)
        with review_lock(scan.dir):
            _, summary = automatic_pass(scan, journal)
        click.echo(summary.line())
        decisions, _ = load_journal(journal, scan)
        seed = "" if seeded_from is None else f" from the lines of {portable_path(seeded_from, out)}"
        source = (
            f"{portable_path(journal, out)} (automatic review{seed}; questions left for a person count as different)"
        )
    return decisions, source


def _seed(train_decisions: Path | None, decisions_file: Path | None, train_dir: Path, out: Path) -> None:
    """Start the cross audit's journal from ``--train-decisions`` (:func:`~busi_curate.audit.leakage.seed_union_journal`)."""
    if train_decisions is None:
        return
    if decisions_file is not None:
        raise click.UsageError("--train-decisions seeds the automatic review; it does not go with --decisions")
    from busi_curate.audit.leakage import seed_union_journal
    from busi_curate.defaults import JOURNAL_NAME

    seed_union_journal(train_decisions, train_dir, out / JOURNAL_NAME)


@click.command()
@click.argument("data_dir", type=click.Path(path_type=Path), required=False)
@click.option(
    "--split",
    "split_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="CSV with class, id, split (test is audited against the other splits), or image, split (each image "
    "by its path in DATA_DIR, or absolute), or a folds file class, id, fold, split (each fold's test images "
    "against that fold's other images). Patients on both sides are reported too when the data names them.",
)
@click.option(
    "--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path), help="Audit folder to write."
)
@click.option(
    "--scan",
    "scan_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Reuse this scan of DATA_DIR (default: scan into OUT/scan).",
)
@click.option(
    "--decisions",
    "decisions_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Use this review journal (default: the scan's journal, else the automatic review into OUT/decisions.csv).",
)
@click.option(
    "--fail-on",
    type=click.Choice(["identical", "same-frame", "adjacent-frame", "same-lesion"]),
    default="same-frame",
    show_default=True,
    help="Exit status 1 when a pair of this grade or stronger crosses from test to training.",
)
@click.option(
    "--train",
    "train_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Cross-dataset mode: the dataset a model was trained on (with --test).",
)
@click.option(
    "--test",
    "test_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Cross-dataset mode: the dataset it is tested on; lists its images with a copy in --train.",
)
@click.option(
    "--train-decisions",
    "train_decisions",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Cross-dataset mode: the review journal of --train (its own ids, e.g. a curated release's decisions.csv). "
    "Its answers stand in the audit, and the automatic review asks only what they do not decide or imply.",
)
@scan_options
@click.option("--quiet", is_flag=True, help="No progress bars.")
def audit(
    data_dir: Path | None,
    split_file: Path | None,
    out: Path,
    scan_dir: Path | None,
    decisions_file: Path | None,
    fail_on: str,
    train_dir: Path | None,
    test_dir: Path | None,
    train_decisions: Path | None,
    quiet: bool,
    **scan_options: Any,
) -> None:
    """Audit a split of DATA_DIR for leakage: duplicates that cross from its test images to its training images.

    Or, with --train DATA_A --test DATA_B (no DATA_DIR, no --split): the images of B with a copy in A.
    The scan options (--size ... --finder) apply when the audit scans (no --scan): for 10^4+ images (or the union of
    two large datasets) use --mode pruned --finder faiss, the FAISS index of `scan` (docs/scan.md).
    Exit status: 0 clean, 1 leakage at or above --fail-on, 2 bad input (usable in a CI job).
    """
    from busi_curate.audit.leakage import audit_split, read_split, union_dataset, write_audit
    from busi_curate.errors import ScanError
    from busi_curate.fileio import portable_path
    from busi_curate.review.session import load_scan
    from busi_curate.scan.run import ScanSettings, run_scan

    if (train_dir is None) != (test_dir is None):
        raise click.UsageError("--train and --test go together")
    if train_dir is not None and test_dir is not None:
        if data_dir is not None or split_file is not None or scan_dir is not None:
            raise click.UsageError(
                "the cross-dataset mode takes --train and --test instead of DATA_DIR, --split and --scan"
            )
        data_dir, split_file = union_dataset(train_dir, test_dir, out / "union")
        _seed(train_decisions, decisions_file, train_dir, out)
    elif train_decisions is not None:
        raise click.UsageError("--train-decisions goes with --train and --test")
    if data_dir is None or split_file is None:
        raise click.UsageError("give DATA_DIR and --split SPLIT.csv (or --train DATA_A --test DATA_B)")
    split = read_split(split_file)
    if out.exists() and not out.is_dir():
        raise ScanError("--out must be a folder (this is an existing file)", out)
    if scan_dir is None:
        scan_dir = out / "scan"
        if not (scan_dir / "scan.json").is_file():
            run_scan(data_dir, scan_dir, ScanSettings(**scan_options), progress=not quiet)  # --size ... --finder
    scan = load_scan(scan_dir)
    if (
        Path(scan.data_dir).resolve() != Path(data_dir).resolve()
        and Path(scan.data_dir).resolve() != (Path(data_dir) / "Dataset_BUSI_with_GT").resolve()
    ):
        raise ScanError(f"this scan is of {scan.data_dir}, not of {data_dir}", scan_dir)
    decisions, source = _audit_decisions(scan, decisions_file, out, train_decisions)
    result = audit_split(scan, decisions, split)
    inputs = {"scan": portable_path(scan_dir, out), "decisions": source, "split": portable_path(split_file, out)}
    write_audit(result, scan, out, inputs, fail_on)
    click.echo(f"{result.summary} -> {out / 'leakage.md'}")
    sys.exit(1 if result.fails(fail_on) else 0)
