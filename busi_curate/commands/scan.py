"""``busi-curate scan``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from busi_curate.defaults import LAYOUT_NAMES
from busi_curate.engine import DEFAULT_ENGINE, ENGINES
from busi_curate.scan.run import DEFAULT_SIZE, DEFAULT_TOP_K, ScanSettings
from busi_curate.ssim import BACKENDS, DEFAULT_BACKEND


def scan_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Options shared by ``scan``, ``demo`` and ``audit``."""
    opts = [
        click.option(
            "--size",
            default=DEFAULT_SIZE,
            show_default=True,
            type=click.IntRange(16, 1024),
            help="Common side length images are resized to before SSIM.",
        ),
        click.option(
            "--backend",
            default=DEFAULT_BACKEND,
            show_default=True,
            type=click.Choice(sorted(BACKENDS)),
            help="SSIM backend.",
        ),
        click.option(
            "--top-k",
            default=DEFAULT_TOP_K,
            show_default=True,
            type=click.IntRange(1),
            help="Candidates kept per image.",
        ),
        click.option(
            "--window",
            default="uniform",
            show_default=True,
            type=click.Choice(["uniform", "gaussian"]),
            help="uniform: scikit-image default (7x7, sample covariance); gaussian: Wang et al. 2004.",
        ),
        click.option(
            "--mode",
            default="exhaustive",
            show_default=True,
            type=click.Choice(["exhaustive", "pruned"]),
            help="exhaustive: all N(N-1)/2 pairs; pruned: exact SSIM only on cheap shortlists (large sets).",
        ),
        click.option(
            "--prune-k",
            default=50,
            show_default=True,
            type=click.IntRange(1),
            help="Pruned mode: shortlisted neighbours per image.",
        ),
        click.option(
            "--finder",
            default="ssim-cascade",
            show_default=True,
            type=click.Choice(["ssim-cascade", "faiss", "ncc", "phash"]),
            help="Pruned mode: candidate finder (faiss: a FAISS index over SSIM-shaped descriptors, exact up to "
            "20,000 images and IVF above, for 10^4+ images; docs/scan.md).",
        ),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def engine_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """``--engine`` / ``--address``, shared by ``scan`` and ``review``."""
    f = click.option(
        "--address",
        default=None,
        help="--engine ray: the cluster to join (`ray start --head` prints it; 'auto': the one on this machine). "
        "Default: start a local Ray instance with every core. Data and scan folders must be at the same paths "
        "on every node (docs/scan.md).",
    )(f)
    return click.option(
        "--engine",
        "engine_name",
        default=DEFAULT_ENGINE,
        show_default=True,
        type=click.Choice(list(ENGINES)),
        help="Where the blocks of work run: local (this process) or ray (Ray tasks; needs the [grid] extra). "
        "The output files are the same.",
    )(f)


@click.command()
@click.argument("data_dir", type=click.Path(path_type=Path))
@click.option("--out", "out", type=click.Path(path_type=Path), help="Scan folder to write (required unless --update).")
@click.option(
    "--update",
    "update",
    type=click.Path(path_type=Path),
    help="Add the images new in DATA_DIR (the scanned folder, grown) to this existing scan folder: old pair scores, "
    "verdicts and review decisions stay; only pairs with a new image are scored (docs/scan.md).",
)
@scan_options
@click.option(
    "--layout",
    default="auto",
    show_default=True,
    type=click.Choice(["auto", *LAYOUT_NAMES]),
    help="Dataset layout (auto: labels.csv -> generic, BUS-BRA / BUS-UCLM / BrEaST by their files, BUSI by its "
    "folders, else folder: any tree of images, DICOM included; see the README).",
)
@click.option("--lenient", is_flag=True, help="Skip bad files with a warning instead of failing.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
@click.option(
    "--force",
    is_flag=True,
    help="Scan into a folder that holds a review journal: the old journal is moved aside under a dated name.",
)
@engine_options
def scan(
    data_dir: Path,
    out: Path | None,
    update: Path | None,
    size: int,
    backend: str,
    top_k: int,
    window: str,
    mode: str,
    prune_k: int,
    finder: str,
    layout: str,
    lenient: bool,
    quiet: bool,
    force: bool,
    engine_name: str,
    address: str | None,
) -> None:
    """Score every pair of images in DATA_DIR by exact SSIM and rank each image's candidates.

    Writes OUT/index.csv, OUT/ssim.npy (or pairs.npz in pruned mode), OUT/candidates.csv, OUT/scan.json.
    """
    from busi_curate.engine import open_engine
    from busi_curate.errors import ScanError
    from busi_curate.scan.run import run_scan

    if update is not None:
        if engine_name != DEFAULT_ENGINE:
            raise ScanError(f"--update runs here only (--engine {engine_name} is not supported for it yet)", update)
        if out is not None or force:
            raise ScanError("--update writes into the scan folder it names; drop --out / --force", update)
        run_update(update, data_dir, quiet)
        return
    if out is None:
        raise click.UsageError("Missing option '--out' (or --update SCAN_DIR to add images to a scan).")
    journal = _check_out(out, data_dir, force)
    settings = ScanSettings(size=size, backend=backend, top_k=top_k, window=window, mode=mode, prune_k=prune_k,
                            finder=finder, layout=layout, lenient=lenient)  # fmt: skip
    import contextlib

    from busi_curate.fileio import move_aside, sweep_leftovers
    from busi_curate.review.session import review_lock

    # a review running on this folder holds its lock: the scan files and the journal are not replaced under it
    with review_lock(out) if out.is_dir() else contextlib.nullcontext():
        sweep_leftovers(out)  # temporary files a killed scan left (the lock makes this the folder's one writer)
        with open_engine(engine_name, address) as engine:
            res = run_scan(data_dir, out, settings, progress=not quiet, engine=engine)
        if force and (journal.exists() or journal.is_symlink()):
            aside = move_aside(journal, "before-scan")
            click.echo(f"moved the old review journal aside to {aside}", err=True)
    echo_summary(res.meta, out)


def _check_out(out: Path, data_dir: Path, force: bool) -> Path:
    """The review journal path of a new scan into ``out``, after checking ``out`` is a real folder (or absent)
    outside ``data_dir`` and holds no journal unless ``force`` (which moves it aside after the scan).

    Raises:
        ScanError: naming ``out`` or its journal.
    """
    from busi_curate.defaults import JOURNAL_NAME
    from busi_curate.errors import ScanError

    if out.exists() and not out.is_dir():
        raise ScanError("--out must be a folder (this is an existing file)", out)
    if out.is_symlink():
        raise ScanError("--out is a symbolic link; give the real folder", out)
    if out.resolve().is_relative_to(data_dir.resolve()):  # its files would become images of the next scan
        raise ScanError(f"--out is inside the dataset folder {data_dir}; write the scan elsewhere", out)
    journal = out / JOURNAL_NAME
    if journal.exists() or journal.is_symlink():
        if not force:
            raise ScanError(
                "holds a review journal; a new scan would start over against old decisions. Scan into "
                "another folder, or pass --force to move the journal aside (it is never deleted)",
                journal,
            )
    return journal


def echo_summary(meta: dict[str, Any], out: Path) -> None:
    for s in meta["skipped"]:
        click.echo(f"warning: skipped {s['path']}: {s['reason']}", err=True)
    t = meta["timings_s"]
    click.echo(
        f"scanned {meta['n_images']} images ({meta['dataset']}), {meta['pairs_scored']:,} pairs by "
        f"{meta['settings']['backend']} at {meta['settings']['size']}px in {t['ssim']:.2f} s "
        f"({meta['pairs_per_s']:,.0f} pairs/s; load {t['load']:.1f} s) -> {out}"
    )


#: options whose value a scan records in ``scan.json``; ``--update`` refuses one given with another value.
UPDATE_CHECKED = ("size", "backend", "top_k", "window", "mode", "prune_k", "finder", "layout", "lenient")


def run_update(scan_dir: Path, data_dir: Path, quiet: bool) -> None:
    """``scan --update``: check the options given against the scan's settings, then add the new images."""
    from busi_curate.errors import ScanError
    from busi_curate.fileio import sweep_leftovers
    from busi_curate.review.session import review_lock
    from busi_curate.scan.run import read_scan
    from busi_curate.scan.update import scan_settings, update_scan

    ctx = click.get_current_context()
    settings = scan_settings(read_scan(scan_dir, load_matrix=False))
    for name in UPDATE_CHECKED:
        given = ctx.params[name]
        if ctx.get_parameter_source(name) != click.core.ParameterSource.DEFAULT and given != getattr(settings, name):
            raise ScanError(
                f"was made with {name} = {getattr(settings, name)!r}, not {given!r}: an update keeps the scan's "
                "settings (omit the option, or scan the whole folder anew)",
                scan_dir / "scan.json",
            )
    if scan_dir.is_symlink():
        raise ScanError("--update is a symbolic link; give the real folder", scan_dir)
    with review_lock(scan_dir):
        sweep_leftovers(scan_dir)
        res = update_scan(scan_dir, data_dir, progress=not quiet)
    if res.added == 0:
        click.echo(f"no new images in {data_dir}: {scan_dir} is up to date ({res.scan.n} images)")
        return
    click.echo(
        f"added {res.added} images to {scan_dir} ({res.scan.n} in all): {res.new_pairs:,} new pairs scored, "
        f"earlier scores and decisions kept ({res.seconds:.1f} s)"
    )
