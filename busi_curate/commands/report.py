"""``busi-curate report``."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("scan_dir", type=click.Path(path_type=Path))
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(path_type=Path, file_okay=False),
    help="Report folder to write (e.g. reports/<name>/).",
)
@click.option(
    "--decisions",
    "decisions",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="Decisions journal.  [default: SCAN_DIR/decisions.csv]",
)
@click.option("--include-adjacent", is_flag=True, help="Merge adjacent-frame pairs into groups too.")
@click.option(
    "--threshold-percentile",
    default=99.0,
    show_default=True,
    type=click.FloatRange(50, 100, min_open=True, max_open=True),
    help="Share (%) of each SSIM sample inside the shaded ranges of Fig. 5; sets the suggested threshold.",
)
@click.option(
    "--iou-size",
    default=256,
    show_default=True,
    type=click.IntRange(16, 2048),
    help="Side of the common square frame masks are resized to for the IoU.",
)
@click.option(
    "--no-register",
    is_flag=True,
    help="Mask IoU by resizing both masks to a common square only (no scale+shift registration).",
)
@click.option("--no-gallery", is_flag=True, help="No thumbnail gallery of the groups (a table only).")
@click.option(
    "--thumb-height",
    default=80,
    show_default=True,
    type=click.IntRange(16, 512),
    help="Height (px) of the gallery's thumbnails.",
)
@click.option("--dpi", default=300, show_default=True, type=click.IntRange(50, 1200), help="Resolution of figure PNGs.")
@click.option(
    "--max-panels",
    default=None,
    type=click.IntRange(0),
    hidden=True,
    help="Deprecated (until 0.3): the gallery shows every group; --max-panels 0 means --no-gallery.",
)
@click.option("--quiet", is_flag=True, help="No progress bars (mask IoU, gallery) on stderr.")
def report(
    scan_dir: Path,
    out: Path,
    decisions: Path | None,
    include_adjacent: bool,
    threshold_percentile: float,
    iou_size: int,
    no_register: bool,
    no_gallery: bool,
    thumb_height: int,
    dpi: int,
    max_panels: int | None,
    quiet: bool,
) -> None:
    """Write the findings of a review as a report: groups, class conflicts, mask IoU (Table 2), SSIM of
    duplicate vs other pairs with tests (Table 1, Fig. 5), class distributions (Table 3), a thumbnail
    gallery of every group and the commands that reproduce it.

    Writes OUT/report.md, OUT/report.html, CSV tables, figures (PNG + SVG), OUT/gallery/ and OUT/report.json.
    """
    from busi_curate.findings import ReportSettings, make_report

    if max_panels is not None:
        click.echo(
            "warning: --max-panels is deprecated: the report's gallery shows every group"
            + ("; --max-panels 0 is read as --no-gallery" if max_panels == 0 else " (use --no-gallery for none)"),
            err=True,
        )
        no_gallery = no_gallery or max_panels == 0
    settings = ReportSettings(
        include_adjacent=include_adjacent,
        threshold_percentile=threshold_percentile,
        iou_size=iou_size,
        register=not no_register,
        gallery=not no_gallery,
        thumb_height=thumb_height,
        figure_dpi=dpi,
    )
    rep = make_report(scan_dir, out, decisions, settings, progress=not quiet)
    c, s = rep["counts"], rep["ssim"]
    sizes = [k for k in c if k.endswith("plet")]  # duplet, triplet, ..., "7-tuplet": smallest size first
    kinds = ", ".join(f"{c[k]} {k}s" for k in reversed(sizes)) or "no groups"
    thr = s["threshold"]
    click.echo(
        f"{c['groups']} duplicate groups ({kinds}; {c['class_conflicts']} with class conflicts), "
        f"{c['images']} images in groups, {c['images_after_remove_all']} images left after curation; "
        f"suggested SSIM threshold {'n/a' if thr is None else f'{thr:.3f}'} -> {out / 'report.html'}"
    )
    for n in rep["notes"]:
        click.echo(f"note: {n}", err=True)
