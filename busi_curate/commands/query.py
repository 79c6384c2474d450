"""``busi-curate query``: is this image already in my set?"""

from __future__ import annotations

from pathlib import Path

import click

from busi_curate.defaults import SCREEN_THRESHOLD


@click.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--scan",
    "scan_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="Scan folder to look in (busi-curate scan); its size, window and backend are used.",
)
@click.option(
    "--top",
    default=5,
    show_default=True,
    type=click.IntRange(1),
    help="Scanned images verified per query image at most (best SSIM first; pixel-identical ones always).",
)
@click.option(
    "--threshold",
    default=0.0,
    show_default=True,
    type=click.FloatRange(-1.0, 1.0),
    help=f"SSIM a scanned image must reach to be verified (default: the --top best always are; crops and rescales "
    f"of a frame often score below the paper's screening threshold {SCREEN_THRESHOLD}).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON (one object per query image) instead of text.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def query(images: tuple[Path, ...], scan_dir: Path, top: int, threshold: float, as_json: bool, quiet: bool) -> None:
    """Look IMAGES up in a scan: for each, the scanned images it matches, with SSIM and the assistant's grade.

    Exit status 0 whether or not anything matched; "in the scan" means the assistant called a match the same
    image (identical, same-frame or adjacent-frame). Timings go to stderr.
    """
    import json

    from tqdm.auto import tqdm

    from busi_curate.audit.query import ScanIndex, answer_lines

    index = ScanIndex(scan_dir, progress=not quiet)
    with tqdm(total=len(images), desc="queries", unit="img", disable=quiet, leave=False) as bar:
        answers = index.ask(list(images), top=top, threshold=threshold, progress=bar.update)
    if as_json:
        click.echo(json.dumps([a.to_dict() for a in answers], indent=2))
    else:
        for line in answer_lines(answers, threshold):
            click.echo(line)
    wall, cpu = sorted(a.seconds for a in answers), sorted(a.cpu_seconds for a in answers)
    click.echo(
        f"scan of {index.scan.n} images loaded in {index.load_seconds:.1f} s; per query image: median "
        f"{wall[len(wall) // 2]:.3f} s wall / {cpu[len(cpu) // 2]:.3f} CPU-s, max {wall[-1]:.3f} s / {cpu[-1]:.3f} CPU-s",
        err=True,
    )
