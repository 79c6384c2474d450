"""``busi-curate bench-ssim`` and ``busi-curate size-study``: measurements, not unit tests."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from busi_curate.scan.run import DEFAULT_SIZE

if TYPE_CHECKING:
    import numpy as np


def _csv_list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _bench_images(data_dir: Path | None, synthetic: int | None, size: int, quiet: bool) -> tuple[np.ndarray, str]:
    """The ``(N, size, size) uint8`` images bench-ssim times and where they come from: the dataset in
    ``data_dir``, else ``synthetic`` synthetic images (400 when not given)."""
    from busi_curate.data.dataset import load_dataset
    from busi_curate.studies.ssim_bench import synthetic_thumbnails

    if data_dir is not None:
        images = load_dataset(data_dir, thumbnail_size=size, progress=not quiet).thumbnails
        source = str(data_dir)
    elif synthetic:
        images, _ = synthetic_thumbnails(synthetic, size)
        source = f"synthetic ({synthetic} images)"
    else:
        images, _ = synthetic_thumbnails(400, size)
        source = "synthetic (400 images)"
    assert images is not None
    return images, source


@click.command("bench-ssim")
@click.argument("data_dir", required=False, type=click.Path(path_type=Path))
@click.option(
    "--size", default=DEFAULT_SIZE, show_default=True, type=click.IntRange(16, 1024), help="Common image side."
)
@click.option(
    "--sample-pairs",
    default=300,
    show_default=True,
    type=click.IntRange(1),
    help="Pairs timed with the single-process scikit-image loop (the baseline).",
)
@click.option(
    "--backends",
    default="numba,reference",
    show_default=True,
    help="Comma-separated backends timed on all pairs (reference = the scikit-image loop, always run).",
)
@click.option(
    "--synthetic",
    type=click.IntRange(2),
    default=None,
    help="Also time the pruned mode on N synthetic images (without DATA_DIR, the backends run on them too).",
)
@click.option("--device", default=None, help="torch backend device: cuda, cpu (default: cuda when present).")
@click.option("--window", default="uniform", show_default=True, type=click.Choice(["uniform", "gaussian"]))
@click.option(
    "--prune-k", default=50, show_default=True, type=click.IntRange(1), help="Pruned mode: neighbours per image."
)
@click.option(
    "--json", "json_out", type=click.Path(path_type=Path), default=None, help="Also write the figures as JSON."
)
@click.option("--quiet", is_flag=True, help="No progress bars.")
def bench_ssim(
    data_dir: Path | None,
    size: int,
    sample_pairs: int,
    backends: str,
    synthetic: int | None,
    device: str | None,
    window: str,
    prune_k: int,
    json_out: Path | None,
    quiet: bool,
) -> None:
    """Time the scikit-image loop on a sample of pairs and each SSIM backend on all pairs, in one run.

    Prints pairs/s and the ratio to scikit-image measured in the same run. DATA_DIR (a dataset) is
    optional: without it the images are synthetic (400, or --synthetic N).

    \b
    Examples:
      busi-curate bench-ssim ../shared/data/BUSI --synthetic 10000
      busi-curate bench-ssim --synthetic 10000 --backends torch --device cuda   # GPU check
    """
    from busi_curate.fileio import write_json
    from busi_curate.ssim import BACKENDS
    from busi_curate.studies.ssim_bench import run_bench

    names = _csv_list(backends)
    unknown = [b for b in names if b not in BACKENDS]
    if unknown:
        raise click.BadParameter(
            f"unknown backend {unknown[0]!r} (known: {', '.join(BACKENDS)})", param_hint="--backends"
        )
    prune_on = synthetic
    images, source = _bench_images(data_dir, synthetic, size, quiet)
    click.echo(f"images: {source}, {len(images)} at {size}x{size}; window {window}")
    res = run_bench(
        images,
        names,
        sample=sample_pairs,
        window=window,
        device=device,
        synthetic=prune_on,
        prune_k=prune_k,
        source=source,
        progress=not quiet,
        echo=click.echo,
    )
    hw = res.hardware
    click.echo(f"hardware: {hw.get('cpu', '?')}, {hw.get('cpus')} CPUs, numba threads {hw.get('numba_threads')}")
    if json_out is not None:
        write_json(json_out, res.to_dict())
        click.echo(f"wrote {json_out}")


@click.command("size-study")
@click.argument("data_dir", type=click.Path(path_type=Path))
@click.option("--sizes", default="64,128,256", show_default=True, help="Comma-separated common sizes to compare.")
@click.option("--top", default=5, show_default=True, type=click.IntRange(1), help="Top-K sets compared between sizes.")
@click.option(
    "--journal",
    type=click.Path(path_type=Path),
    default=None,
    help="A review journal (decisions.csv): its confirmed duplicates are ranked at each size.",
)
@click.option(
    "--json", "json_out", type=click.Path(path_type=Path), default=None, help="Also write the figures as JSON."
)
@click.option("--quiet", is_flag=True, help="No progress bars.")
def size_study(data_dir: Path, sizes: str, top: int, journal: Path | None, json_out: Path | None, quiet: bool) -> None:
    """Compare common sizes on a real dataset: separation of top-ranked pairs, agreement, time."""
    from busi_curate.fileio import write_json
    from busi_curate.studies.size_study import format_table, run_size_study

    try:
        size_list = [int(s) for s in _csv_list(sizes)]
    except ValueError as exc:
        raise click.BadParameter(f"sizes must be integers: {sizes!r}", param_hint="--sizes") from exc
    if not size_list or min(size_list) < 16:
        raise click.BadParameter(f"sizes must be at least 16: {sizes!r}", param_hint="--sizes")
    res = run_size_study(data_dir, size_list, top=top, progress=not quiet, journal=journal)
    click.echo(format_table(res))
    if json_out is not None:
        write_json(json_out, res)
        click.echo(f"wrote {json_out}")


@click.command("bench-scale")
@click.option("--n", "n", required=True, type=click.IntRange(100), help="Number of images (distinct frames).")
@click.option("--seed", default=0, show_default=True, type=int, help="The data set is a function of N and the seed.")
@click.option(
    "--work",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Folder for the data set, scan and manifest (kept; an existing data set of N images is reused). "
    "Default: a temporary folder, removed.",
)
@click.option("--finder", default=None, help="Candidate finder of the pruned scan (default: the scan's default).")
@click.option(
    "--check-rows",
    default=0,
    show_default=True,
    type=click.IntRange(0),
    help="Also score this many random images against every image (exhaustive SSIM) and report the share of "
    "their top-10 and of their pairs >= the screening threshold that the pruned scan scored.",
)
@click.option(
    "--json", "json_out", type=click.Path(path_type=Path), default=None, help="Also write the figures as JSON."
)
@click.option("--scan-only", is_flag=True, help="Stop after the scan (and the --check-rows check).")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def bench_scale(
    n: int,
    seed: int,
    work: Path | None,
    finder: str | None,
    check_rows: int,
    json_out: Path | None,
    scan_only: bool,
    quiet: bool,
) -> None:
    """Scan -> review --auto -> export on N distinct synthetic frames with planted copies; cost and recall.

    Each command runs in its own process; per stage it prints CPU-seconds, wall time and peak RSS, then the
    pairs scored and verified, the questions left, the planted copies found, neighbours merged and false groups.

    \b
    Example:
      busi-curate bench-scale --n 10000 --work /tmp/scale10k --check-rows 200 --json scale10k.json
    """
    import tempfile

    from busi_curate.fileio import write_json
    from busi_curate.studies.scale_bench import bench_scale as run
    from busi_curate.studies.scale_bench import table

    tmp = tempfile.TemporaryDirectory(prefix="bench-scale-") if work is None else None
    try:
        res = run(n, Path(tmp.name) if tmp is not None else Path(str(work)), seed=seed, finder=finder, check_rows=check_rows,
                  quiet=quiet, echo=click.echo, scan_only=scan_only)  # fmt: skip
    finally:
        if tmp is not None:
            tmp.cleanup()
    click.echo(table(res))
    if json_out is not None:
        write_json(json_out, res.to_dict())
        click.echo(f"wrote {json_out}")
