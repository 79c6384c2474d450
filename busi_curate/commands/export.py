"""``busi-curate export``, ``folds``, ``verify`` and ``materialize``."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from busi_curate.defaults import SCREEN_THRESHOLD

_POLICIES = ("drop-all", "keep-one")  # keep in step with busi_curate.publish.export.POLICIES (checked by a test)


def _fold_options(f: Callable[..., Any]) -> Callable[..., Any]:
    opts = [
        click.option(
            "--k",
            "--folds",
            "k",
            default=4,
            show_default=True,
            type=click.IntRange(2),
            help="Number of folds (--k everywhere; --folds for a count is the deprecated spelling, "
            "kept until 0.3: --folds names a folds *file* elsewhere).",
        ),
        click.option("--seed", default=1993, show_default=True, type=int, help="random_state of the fold draws."),
        click.option(
            "--val-fraction",
            default=0.2,
            show_default=True,
            type=click.FloatRange(0, 1, max_open=True),
            help="Share of each fold's remainder used for validation (stratified).",
        ),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def _echo_fold_counts(folds: Any) -> None:
    from busi_curate.publish.folds import fold_counts

    click.echo("images per fold and split:")
    click.echo(fold_counts(folds).to_string())


@click.command()
@click.argument("scan_dir", type=click.Path(path_type=Path))
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Manifest folder to write (manifest.csv, manifest.json, folds.csv, README.md).",
)
@click.option(
    "--policy",
    default="drop-all",
    show_default=True,
    type=click.Choice(_POLICIES),
    help="drop-all: remove every member of a duplicate group (the paper). keep-one: keep one "
    "representative of a group whose members agree on class (largest image, then record order).",
)
@click.option(
    "--decisions",
    "decisions",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Review journal [default: SCAN_DIR/decisions.csv].",
)
@click.option("--version", "version", default="1.0.0", show_default=True, help="Manifest version (semver).")
@click.option(
    "--undecided",
    type=click.Choice(["different", "same"]),
    help="Treat review questions still open as different or same (default: refuse to export).",
)
@click.option("--include-adjacent", is_flag=True, help="Also merge adjacent-frame duplicates into groups.")
@click.option(
    "--threshold",
    default=SCREEN_THRESHOLD,
    show_default=True,
    type=float,
    help="SSIM screening threshold of the review walk (for finding open questions).",
)
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Data folder, if not the one recorded in the scan.",
)
@_fold_options
def export(
    scan_dir: Path,
    out: Path,
    policy: str,
    decisions: Path | None,
    version: str,
    undecided: str | None,
    include_adjacent: bool,
    threshold: float,
    data_dir: Path | None,
    k: int,
    seed: int,
    val_fraction: float,
) -> None:
    """Write the curated manifest of a reviewed scan, its folds and its sidecar into OUT."""
    from busi_curate.publish.export import ExportSettings, export_manifest, export_summary
    from busi_curate.publish.folds import FoldSettings

    settings = ExportSettings(
        policy=policy,
        version=version,
        undecided=undecided,
        include_adjacent=include_adjacent,
        threshold=threshold,
        folds=FoldSettings(k=k, seed=seed, val_fraction=val_fraction),
    )
    res = export_manifest(scan_dir, out, decisions, settings, data_dir=data_dir)
    for line in export_summary(res):
        click.echo(line)
    _echo_fold_counts(res.folds)
    click.echo(f"manifest {settings.version} -> {out}")


@click.command()
@click.argument("manifest", type=click.Path(path_type=Path))
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Folds file to write (a sidecar <stem>.json is written beside it).",
)
@click.option("--k", "k", default=4, show_default=True, type=click.IntRange(2), help="Number of folds.")
@click.option("--seed", default=1993, show_default=True, type=int, help="random_state of the fold draws.")
@click.option(
    "--val-fraction",
    default=0.2,
    show_default=True,
    type=click.FloatRange(0, 1, max_open=True),
    help="Share of each fold's remainder used for validation (stratified).",
)
def folds(manifest: Path, out: Path, k: int, seed: int, val_fraction: float) -> None:
    """Draw k stratified folds over the kept images of MANIFEST (folder or manifest.csv) into OUT."""
    from busi_curate.publish.folds import FoldSettings, write_folds
    from busi_curate.publish.manifest import read_manifest

    table, side = write_folds(read_manifest(manifest), out, FoldSettings(k=k, seed=seed, val_fraction=val_fraction))
    _echo_fold_counts(table)
    click.echo(f"folds -> {out} (sidecar {side.name})")


@click.command()
@click.argument("manifest", type=click.Path(path_type=Path))
@click.argument("data_dir", type=click.Path(path_type=Path))
@click.option("--all", "show_all", is_flag=True, help="List every file, not only the problems.")
@click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the per-file table as CSV.",
)
@click.option("--no-extra", is_flag=True, help="Do not look for image files the manifest does not name.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def verify(
    manifest: Path, data_dir: Path, show_all: bool, report_path: Path | None, no_extra: bool, quiet: bool
) -> None:
    """Check DATA_DIR against MANIFEST by decoded pixels: missing, changed and extra images and masks.

    Re-encoded files with equal pixels pass. Exit status: 0 all match, 1 any data mismatch,
    2 the manifest itself is broken (or DATA_DIR does not exist).
    """
    import pandas as pd

    from busi_curate.fileio import write_csv
    from busi_curate.publish.manifest import FOLDS_CSV, read_folds, read_manifest
    from busi_curate.publish.verify import verify_data

    m = read_manifest(manifest)
    if FOLDS_CSV in (m.meta or {}).get("files", {}):  # the exported folds: their units must stay together too
        read_folds(m.dir / FOLDS_CSV, m)
    report = verify_data(m, data_dir, progress=not quiet, extras=not no_extra)
    shown = report.checks if show_all else report.problems()
    if shown:
        table = pd.DataFrame(
            report.rows() if show_all else [r for r, c in zip(report.rows(), report.checks) if not c.ok]
        )
        click.echo(table.to_string(index=False))
    if report_path is not None:
        write_csv(report_path, pd.DataFrame(report.rows(), columns=["kind", "class", "id", "path", "status", "detail"]))
    click.echo(f"manifest {m.version} ({m.path}) vs {report.data_dir}")
    click.echo(report.summary())
    if not report.ok:
        sys.exit(1)


@click.command()
@click.argument("manifest", type=click.Path(path_type=Path))
@click.argument("data_dir", type=click.Path(path_type=Path))
@click.argument("legacy_out", metavar="", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder (new, or an earlier materialize output). A third positional OUT is the deprecated "
    "spelling, kept until 0.3.",
)
@click.option(
    "--size",
    default=None,
    help="Side of the square output images, or 'none' to keep the original size [default: 128; with --format "
    "nnunet: none, the native size nnU-Net plans its own resampling from].",
)
@click.option("--include-removed", is_flag=True, help="Also write the images the manifest removed.")
@click.option(
    "--folds",
    "folds_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Folds file for the mapping's fold columns [default: folds.csv beside the manifest, if any].",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["png", "monai", "nnunet"]),
    default="png",
    show_default=True,
    help="png: images/ + masks/; monai: + 0/1 labels/ and a MONAI datalist per fold; nnunet: + an nnU-Net v2 "
    "raw dataset (imagesTr, labelsTr, dataset.json, splits_final.json from the folds).",
)
@click.option("--nnunet-id", default=501, show_default=True, help="nnU-Net dataset id (with --format nnunet).")
@click.option("--nnunet-name", default="CuratedBUSI", show_default=True, help="nnU-Net dataset name.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def materialize(
    manifest: Path,
    data_dir: Path,
    legacy_out: Path | None,
    out: Path | None,
    size: str | None,
    include_removed: bool,
    folds_path: Path | None,
    fmt: str,
    nnunet_id: int,
    nnunet_name: str,
    quiet: bool,
) -> None:
    """Write MANIFEST's kept images and merged masks from DATA_DIR into --out (verified first), with a mapping CSV."""
    from busi_curate.errors import ManifestError
    from busi_curate.publish.manifest import read_manifest
    from busi_curate.publish.materialize import MaterializeSettings
    from busi_curate.publish.materialize import materialize as run

    if legacy_out is not None and out is not None:
        raise click.UsageError("give the output folder once: --out OUT (the positional OUT is deprecated)")
    if legacy_out is not None:
        click.echo("warning: a positional OUT is deprecated (kept until 0.3); use --out OUT", err=True)
        out = legacy_out
    if out is None:
        raise click.UsageError("missing --out OUT (the output folder)")
    if size is None:
        size = "none" if fmt == "nnunet" else "128"
    if size.lower() == "none":
        side = None
    elif size.isdigit() and int(size) > 0:
        side = int(size)
    else:
        raise ManifestError(f"--size must be a positive integer or 'none', got {size!r}")
    settings = MaterializeSettings(
        size=side, include_removed=include_removed, format=fmt, nnunet_id=nnunet_id, nnunet_name=nnunet_name
    )
    meta = run(read_manifest(manifest), data_dir, out, settings, folds_path, progress=not quiet)
    c = meta["counts"]
    click.echo(
        f"wrote {c['total']} images + masks ({', '.join(f'{k} {v}' for k, v in c.items() if k != 'total')}) "
        f"at {'original size' if side is None else f'{side}x{side}'} -> {out}"
    )
