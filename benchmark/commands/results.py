"""Commands that read finished runs: summarize, combine, report, leakage, rescore, and the naive split."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from benchmark.commands.common import needs_torch as _needs_torch
from benchmark.commands.common import out_folder, user_errors

if TYPE_CHECKING:
    pass


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option(
    "--out", "md_out", type=click.Path(dir_okay=False, path_type=Path), help="Markdown file (default RUN/summary.md)"
)
@click.option(
    "--ddof",
    type=click.IntRange(0, 1),
    default=0,
    show_default=True,
    help="std over folds: 0 = population (as the paper's code computes it), 1 = sample",
)
@user_errors
def summarize(run_dir: Path, md_out: Path | None, ddof: int) -> None:
    """Mean +- std over folds in the layout of the paper's Tables 8 and 9, paper figures beside."""
    from benchmark.reporting.summarize import summarize_run

    target = md_out or run_dir / "summary.md"
    text = summarize_run(run_dir, target, ddof=ddof)
    click.echo(text)
    click.echo(f"wrote {target}", err=True)


@click.command()
@click.argument("seg_run", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.argument("cls_run", type=click.Path(file_okay=False, exists=True, path_type=Path))
@out_folder("folder for the combined run (metrics, per-image results)")
@click.option("--refine", default="paper", show_default=True, help="refining rule")
@user_errors
def combine(seg_run: Path, cls_run: Path, out: Path, refine: str) -> None:
    """Combine a --task seg run and a --task cls run with prediction refining (Table 5, ST (Seg + Cls) + PR)."""
    _needs_torch()
    from benchmark.evaluation.combine import combine_runs

    for r in combine_runs(seg_run, cls_run, out, refine):
        click.echo(f"fold {r['fold']}: dsc_avg={r['dsc_avg']:.3f} acc={r['acc']:.3f} refined={r['refined_cases']}")


@click.command()
@click.argument("runs_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@out_folder("folder for table4..table9, significance and curves")
@click.option(
    "--grid",
    "grid_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="the grid file (its 'table' fields decide which run feeds which table)",
)
@click.option("--cases", help="Fig. 6 cases, e.g. benign:337,malignant:176,normal:36")
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="dataset folder (for the images of the Fig. 6 grid)",
)
@click.option(
    "--ddof",
    type=click.IntRange(0, 1),
    default=0,
    show_default=True,
    help="std over folds: 0 = population (as the paper's code), 1 = sample",
)
@user_errors
def report(
    runs_dir: Path, out: Path, grid_file: Path | None, cases: str | None, data_dir: Path | None, ddof: int
) -> None:
    """Tables 4-9, significance tests, learning curves and Fig. 6 from a folder of run folders."""
    from benchmark.reporting.report import build_report, parse_cases

    files = build_report(runs_dir, out, grid_file, parse_cases(cases), data_dir, ddof)
    click.echo(f"wrote {len(files)} files to {out}")


@click.command()
@click.argument("naive_run", required=False, type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option(
    "--arms",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="folder of the paired arm runs (grids/cpu_leakage.yaml): per-image paired differences by stratum",
)
@click.option(
    "--mask-iou",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="the curation half's mask IoU table (reports/curated_busi_v1/mask_iou.csv), for the agreement strata",
)
@click.option(
    "--iou-threshold",
    type=click.FloatRange(0, 1),
    default=0.7,
    show_default=True,
    help="a copy's mask agrees with the test image's at this IoU or above (Table 2's bin edge)",
)
@click.option(
    "--decisions",
    "journal",
    required=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="review journal naming the same-frame and adjacent-frame pairs (e.g. manifests/curated_busi_v1/decisions.csv)",
)
@out_folder("folder for the leakage report")
@click.option(
    "--curated",
    "curated_run",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="a run on the curated manifest, reported beside",
)
@click.option(
    "--notes",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Markdown appended to README.md (what the numbers show and cannot show)",
)
@click.option(
    "--manifest",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="the run's manifest, when not at the path its provenance records",
)
@click.option(
    "--folds",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="the run's folds file (checked against the SHA-256 its provenance records)",
)
@user_errors
def leakage(
    naive_run: Path | None,
    arms: Path | None,
    mask_iou: Path | None,
    iou_threshold: float,
    journal: Path,
    out: Path,
    curated_run: Path | None,
    notes: Path | None,
    manifest: Path | None,
    folds: Path | None,
) -> None:
    """Paired arms (--arms): per-image differences with and without the copies of the test images, by stratum;
    a naive-split run (NAIVE_RUN): its test images scored by whether a same-frame copy is in training."""
    from benchmark.reporting.leakage import write_leakage_report

    path = write_leakage_report(
        naive_run,
        journal,
        out,
        curated_run,
        notes.read_text(encoding="utf-8") if notes else "",
        manifest,
        folds,
        arms,
        mask_iou,
        iou_threshold,
    )
    click.echo(path.read_text(encoding="utf-8"))


@click.command()
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@user_errors
def rescore(run_dir: Path) -> None:
    """Re-score a run's folds from their saved predictions.npz with the current metrics (no retraining)."""
    from benchmark.evaluation.combine import rescore_run

    for r in rescore_run(run_dir):
        click.echo(f"fold {r['fold']}: dsc_avg={r['dsc_avg']} hd={r['hd']} acc={r['acc']}")


@click.command()
@click.argument("data_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@out_folder("folder for manifest.csv + folds.csv of the naive split")
@click.option("--k", "k", type=click.IntRange(min=2), default=4, show_default=True, help="number of folds")
@click.option("--seed", type=int, default=1993, show_default=True, help="random_state of StratifiedKFold")
@click.option(
    "--val-fraction",
    type=click.FloatRange(0, 1, max_open=True),
    default=0.2,
    show_default=True,
    help="share of each training part held out for validation",
)
@user_errors
def provisional(data_dir: Path, out: Path, k: int, seed: int, val_fraction: float) -> None:
    """An UNCURATED manifest of every image in DATA_DIR with the paper code's naive folds (no group links):
    StratifiedKFold(k, shuffle=True, random_state=seed) by class, for leakage and inflation studies."""
    from benchmark.data.provisional import build_provisional

    m, f = build_provisional(data_dir, out, k=k, seed=seed, val_fraction=val_fraction)
    click.echo(f"wrote {m} and {f} (uncurated: every image kept, naive folds)")


@click.command("leakage-arms")
@click.option(
    "--folds",
    "folds_file",
    required=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="the naive folds file (e.g. manifests/raw_busi_naive/folds.csv)",
)
@click.option(
    "--manifest",
    required=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="its manifest",
)
@click.option(
    "--decisions",
    "journal",
    required=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="review journal naming the same-frame pairs (e.g. manifests/curated_busi_v1/decisions.csv)",
)
@out_folder("folder for copies-removed.csv and control-seed<S>.csv (each with a .json sidecar)")
@click.option("--seeds", default="1993", show_default=True, help="comma-separated seeds of the control draws")
@user_errors
def leakage_arms(folds_file: Path, manifest: Path, journal: Path, out: Path, seeds: str) -> None:
    """Exclusion files of the paired leakage design: every same-frame copy of a fold's test images dropped
    from its train / val splits, and a control dropping as many random non-copies (same split and class)."""
    from benchmark.data.exclusion import leakage_arms as make_arms
    from benchmark.errors import ConfigError

    try:
        seed_list = [int(s) for s in seeds.split(",") if s.strip()]
    except ValueError:
        raise ConfigError(f"--seeds expects comma-separated integers, got {seeds!r}") from None
    for path in make_arms(folds_file, manifest, journal, out, seed_list):
        click.echo(f"wrote {path}")
