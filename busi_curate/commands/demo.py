"""``busi-curate demo``: the built-in default job."""

from __future__ import annotations

from pathlib import Path

import click

from busi_curate.commands.scan import echo_summary, scan_options


@click.command()
@click.option(
    "--out",
    default="outputs/demo",
    show_default=True,
    type=click.Path(path_type=Path),
    help="Folder for the synthetic dataset (OUT/data) and its scan (OUT/scan).",
)
@click.option("--seed", default=0, show_default=True, help="Seed of the synthetic dataset.")
@scan_options
def demo(
    out: Path, seed: int, size: int, backend: str, top_k: int, window: str, mode: str, prune_k: int, finder: str
) -> None:
    """Generate a small synthetic BUSI-like dataset with planted near-duplicates and scan it.

    Beside the copies it plants one neighbouring frame (the tissue moved, the speckle partly new): not a copy,
    and hard enough that the assistant leaves it to you, so the review page opens on a question.
    """
    from busi_curate.data.synthetic import KINDS, NEIGHBOUR, make_synthetic_busi
    from busi_curate.scan.run import ScanSettings, run_scan

    planted = make_synthetic_busi(out / "data", seed=seed, kinds=KINDS + NEIGHBOUR)
    copies = [p for p in planted if p.kind not in NEIGHBOUR]
    click.echo(
        f"wrote a synthetic BUSI-like dataset with {len(copies)} planted duplicates and "
        f"{len(planted) - len(copies)} neighbouring frame -> {out / 'data'}"
    )
    res = run_scan(
        out / "data",
        out / "scan",
        ScanSettings(size=size, backend=backend, top_k=top_k, window=window, mode=mode, prune_k=prune_k, finder=finder),
        progress=True,
    )
    echo_summary(res.meta, out / "scan")
    c = res.candidates
    first = c[c["rank"] == 1].set_index(["reference_class", "reference_id"])
    click.echo("\nplanted pair                     kind        copy's top candidate      ssim   found")
    hits = 0
    for p in planted:
        top = first.loc[(p.copy_class, p.copy_id)]
        ok = (top["candidate_class"], top["candidate_id"]) == (p.source_class, p.source_id)
        hits += ok and p.kind not in NEIGHBOUR
        click.echo(
            f"{p.copy_class:>9} {p.copy_id:>3} <- {p.source_class:>9} {p.source_id:>3}  {p.kind:<10}  "
            f"{top['candidate_class']:>9} {top['candidate_id']:>3}  {top['ssim']:.3f}  {'yes' if ok else 'NO'}"
        )
    scan_dir = out / "scan"
    exe = _command_prefix()
    click.echo(
        f"\n{hits}/{len(copies)} planted duplicates ranked first (the neighbouring frame is no copy: a question "
        "for you). Next steps:\n"
        f"  {exe} review {scan_dir} --auto --no-browser   # the assistant decides the confident pairs\n"
        f"  {exe} review {scan_dir} --auto                # in your browser: what is left, and (key g) the gallery\n"
        f"      of the assistant's decisions, each pair registered, to overrule any of them\n"
        f"  {exe} report {scan_dir} --out {out / 'report'}\n"
        f"  {exe} export {scan_dir} --out {out / 'manifest'}"
    )


def _command_prefix() -> str:
    """How to call busi-curate from here: its name when it is on PATH, else the path of the installed script."""
    import shutil
    import sys
    from pathlib import Path

    if shutil.which("busi-curate"):
        return "busi-curate"
    script = Path(sys.executable).with_name("busi-curate")
    return str(script) if script.exists() else f"{sys.executable} -m busi_curate"
