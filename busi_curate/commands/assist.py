"""``busi-curate bench-auto``: time the automatic assistant's whole pass on a scan folder."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.argument("scan_dir", type=click.Path(path_type=Path))
@click.option("--warm", is_flag=True, help="Reuse SCAN_DIR/features (default: compute features from the images).")
@click.option(
    "--reference-pairs",
    default=40,
    show_default=True,
    type=click.IntRange(0),
    help="Pairs timed with the naive per-pair reference (extrapolated).",
)
@click.option(
    "--decisions",
    "journal",
    type=click.Path(path_type=Path, dir_okay=False),
    help="A journal of answers already given; the walk skips the pairs it settles.",
)
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1), help="Processes/threads.")
@click.option(
    "--json", "json_out", type=click.Path(path_type=Path, dir_okay=False), help="Also write the results here."
)
def bench_auto(
    scan_dir: Path, warm: bool, reference_pairs: int, journal: Path | None, workers: int, json_out: Path | None
) -> None:
    """Time the automatic pass on SCAN_DIR: features, shortlist, verification, walk, grouping."""
    from busi_curate.assistant import AssistantSettings
    from busi_curate.fileio import write_json
    from busi_curate.studies.assistant_bench import bench_auto as run

    r = run(
        scan_dir,
        cold=not warm,
        reference_pairs=reference_pairs,
        journal=journal,
        settings=AssistantSettings(workers=workers),
    )
    t, p = r["timings_s"], r["pairs"]
    click.echo(f"{r['n_images']} images, {r['hardware']}, workers={r['workers']}")
    click.echo(
        f"  features      {t['features']:7.2f} s  ({r['features']['computed']} computed, "
        f"{r['features']['from_cache']} from cache)"
    )
    click.echo(f"  shortlist     {t['shortlist']:7.2f} s  ({p['extra']} extra pairs beyond the SSIM walk)")
    click.echo(
        f"  verification  {t['verification']:7.2f} s  ({p['verified']} pairs: {p['walk_candidates']} walk "
        f"candidates + extra; {p['identical_pixels']} identical pixels; {r['pairs_per_s']:,.0f} pairs/s)"
    )
    click.echo(f"  walk          {t['walk']:7.2f} s  ({r['walk']})")
    click.echo(f"  grouping      {t['grouping']:7.2f} s")
    click.echo(f"  total         {t['total']:7.2f} s")
    ref = r["reference"]
    click.echo(
        f"reference: {ref['method']}: {ref['s_per_pair'] * 1000:.1f} ms/pair over {ref['pairs_timed']} pairs "
        f"-> {ref['extrapolated_s']:.1f} s for {p['verified']} pairs = {ref['speedup']:.1f}x the total above"
    )
    click.echo(f"questions left for a person: {r['questions']}")
    click.echo(
        f"groups (identical + same-frame): {r['groups']}, {r['images_in_groups']} images; "
        f"with adjacent frames: {r['groups_with_adjacent']}"
    )
    if json_out:
        write_json(json_out, r)
