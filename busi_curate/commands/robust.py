"""``busi-curate bench-robust``: plant transformed copies of a dataset's images and measure what the automatic
review finds (library code: :mod:`busi_curate.studies.robust_bench`)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("data_dir", type=click.Path(path_type=Path))
@click.option("--n", "n", default=3, show_default=True, type=click.IntRange(1), help="Copies per transformation.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed of the sources and parameters drawn.")
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    help="Keep the planted dataset, scans and results here (default: a temporary folder, removed).",
)
@click.option(
    "--decisions",
    "journal",
    type=click.Path(path_type=Path, dir_okay=False, exists=True),
    help="A journal of DATA_DIR; its adjacent-frame pairs join the known ones.",
)
@click.option("--scan-size", default=128, show_default=True, type=click.IntRange(16), help="SSIM thumbnail size.")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1), help="Processes/threads.")
@click.option(
    "--json", "json_out", type=click.Path(path_type=Path, dir_okay=False), help="Also write the results here."
)
def bench_robust(
    data_dir: Path,
    n: int,
    seed: int,
    out: Path | None,
    journal: Path | None,
    scan_size: int,
    workers: int,
    json_out: Path | None,
) -> None:
    """Plant N transformed copies per transformation into a copy of DATA_DIR and report recall per transformation,
    new false groups and how the known adjacent-frame pairs were graded."""
    from busi_curate.fileio import write_json
    from busi_curate.studies.robust_bench import bench_robust as run
    from busi_curate.studies.robust_bench import table

    r = run(data_dir, n=n, seed=seed, out=out, journal=journal, scan_size=scan_size, workers=workers)
    click.echo(table(r))
    secs = ", ".join(f"{k} {v:.0f} s" for k, v in r.seconds.items())
    click.echo(f"time: {secs}")
    if json_out:
        write_json(json_out, r.to_dict())
