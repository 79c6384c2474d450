"""The other commands: predict, speed, pack, grid, models, profiles."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import click

from benchmark.commands.common import EXTRA_HINT, out_folder, user_errors
from benchmark.commands.common import data_root as _data_root
from benchmark.commands.common import needs_torch as _needs_torch

if TYPE_CHECKING:
    from benchmark.profiles import Precision


@click.command()
@click.argument("checkpoint", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.argument("images", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@out_folder("folder for the predicted masks and overlays (never overwritten)")
@click.option("--refine", help="refining rule (default: the checkpoint's)")
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda")
@user_errors
def predict(checkpoint: Path, images: tuple[Path, ...], out: Path, refine: str | None, device: str) -> None:
    """Masks, classes and refining warnings for new images (files, or folders of images).

    The network is built from the checkpoint's saved config as training builds it, and its output post-processed
    as the run scored it (threshold, hole filling, refining). Masks are saved at each image's native size, with
    an overlay for a figure (class, probability, legend, a mark where refining cleared the mask).
    """
    _needs_torch()
    from benchmark.experiments.predict import predict_images

    rows = predict_images(checkpoint, list(images), out, refine=refine, device=device)
    for r in rows:
        click.echo(
            f"{r['image']}: {r['class']} (p={r['p_class']:.3f}), {r['tumour_pixels']} tumour px at native size"
            f"{' [refined: ' + r['refine_action'] + ']' if r['refine_action'] else ''}"
        )


@click.command()
@click.option("--models", "names", help="comma-separated (default: every registered model)")
@click.option(
    "--size",
    "--image-size",
    "image_size",
    default=128,
    show_default=True,
    help="side of the input (--image-size: deprecated spelling, kept until 0.3)",
)
@click.option("--batch-size", default=2, show_default=True, help="images per timed step")
@click.option("--steps", default=5, show_default=True, help="timed training steps per model (after 1 warm-up)")
@click.option(
    "--epoch-images",
    default=860,
    show_default=True,
    help="images per epoch for the epoch estimate (about a curated fold after oversampling)",
)
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda")
@click.option(
    "--precision",
    "precisions",
    default="fp32,bf16",
    show_default=True,
    help="comma-separated: auto, fp32, bf16, fp16 (each model is timed at each; printed side by side with "
    "what auto picks on this device)",
)
@click.option("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per model and precision")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="also write speed.jsonl and speed.md (the tables, the command, the commit) into this folder",
)
@user_errors
def speed(
    names: str | None,
    image_size: int,
    batch_size: int,
    steps: int,
    epoch_images: int,
    device: str,
    precisions: str,
    threads: int,
    as_json: bool,
    out: Path | None,
) -> None:
    """Time training steps against the FLOP floor measured in the same run, and peak memory, per model."""
    _needs_torch()
    import json

    import torch

    from benchmark.experiments.speed import format_side_by_side, format_table, measure_all
    from benchmark.profiles import RunConfig
    from benchmark.training.precision import choose_precision
    from benchmark.training.train import select_device

    if threads > 0:
        torch.set_num_threads(threads)
    results = measure_all(
        names.split(",") if names else None,
        image_size,
        batch_size,
        steps,
        epoch_images,
        device,
        # unchecked here, as before: RunConfig's precision names are matched by amp_dtype
        cast("list[Precision]", [p.strip() for p in precisions.split(",") if p.strip()]),
    )
    lines = [json.dumps(r.as_json(), sort_keys=True) for r in results]
    auto = choose_precision(RunConfig(precision="auto"), select_device(device))
    text = format_table(results) + "\n\n" + format_side_by_side(results, f"{auto.name} ({auto.reason})")
    click.echo("\n".join(lines) if as_json else text)
    if out is not None:
        from benchmark.experiments.speed import write_speed

        for path in write_speed(out, lines, text):
            click.echo(f"wrote {path}", err=True)


@click.command()
@click.argument("manifest", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.argument("folds", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.argument("data_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--size", default=128, show_default=True, help="side of the packed network inputs")
@click.option(
    "--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="FILE.npz (+ FILE.json)"
)
@user_errors
def pack(manifest: Path, folds: Path, data_dir: Path, size: int, out: Path) -> None:
    """A compact, self-verifying dataset (uint8 images and masks, classes, folds, checksums) for busi-bench run --packed."""
    _needs_torch()
    from benchmark.data.packed import pack_dataset

    path = pack_dataset(manifest, folds, _data_root(data_dir, manifest), size, out)
    click.echo(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB) and {path.with_suffix('.json')}")


@click.command()
@click.argument("grid_file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@out_folder("folder of the run folders")
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True)
@click.option("--address", help="Ray cluster address (--engine ray; default: a local Ray instance)")
@click.option("--workers", type=int, default=1, show_default=True, help="--engine local: jobs at a time")
@click.option("--threads", type=int, help="torch threads per job (default: the run's cpus)")
@click.option("--nice", type=int, default=10, show_default=True, help="--engine local: niceness of the jobs")
@click.option("--only", multiple=True, help="run only these runs of the grid (repeatable)")
@click.option("--status", "show_status", is_flag=True, help="show what is done and stop")
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KEY=VALUE",
    help="a setting for every run of the grid, e.g. precision=auto or baseline_config=monai (repeatable)",
)
@user_errors
def grid(
    grid_file: Path,
    out: Path,
    engine: str,
    address: str | None,
    workers: int,
    threads: int | None,
    nice: int,
    only: tuple[str, ...],
    show_status: bool,
    sets: tuple[str, ...],
) -> None:
    """Run a grid of experiments (benchmark/experiments/grid.py): finished folds are skipped, unfinished ones resumed."""
    from benchmark.experiments.grid import load_grid, run_local, run_ray, status_table
    from benchmark.profiles import parse_set_options

    g = load_grid(grid_file, overrides=parse_set_options(sets) or None)
    if show_status:
        click.echo(status_table(g, out))
        return
    _needs_torch()
    out.mkdir(parents=True, exist_ok=True)
    echo = lambda m: click.echo(m, err=True)  # noqa: E731
    if engine == "ray":
        rc = run_ray(g, out, address, only, echo=echo)
    else:
        rc = run_local(g, out, workers, threads, nice, only, echo=echo)
    click.echo(status_table(g, out))
    sys.exit(1 if rc else 0)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="one JSON object per model")
@click.option("--quiet", is_flag=True, help="no progress bar on stderr (each model is built and its FLOPs counted)")
def models(as_json: bool, quiet: bool) -> None:
    """List the registered architectures: parameters, FLOPs per 128x128 image, tasks, paper table."""
    import json

    from tqdm.auto import tqdm

    _needs_torch()
    from benchmark.models import MODELS

    try:
        from benchmark.experiments.speed import model_facts
    except ImportError:
        model_facts = None  # type: ignore[assignment]
    rows = []
    bar = tqdm(MODELS.items(), desc="models", unit="model", disable=quiet, leave=False, file=sys.stderr)
    for name, spec in bar:
        bar.set_postfix_str(name)
        row: dict[str, Any] = {
            "model": name,
            "tasks": list(spec.tasks),
            "table": spec.table,
            "description": spec.description,
        }
        if model_facts is not None:
            try:
                row.update(model_facts(name, spec.tasks[0]))
            except ImportError:
                pass
        rows.append(row)
    if as_json:
        for row in rows:
            click.echo(json.dumps(row, sort_keys=True))
        return
    click.echo("| model | tasks | paper table | params (M) | GFLOP / 128x128 image (forward) | description |")
    click.echo("|---|---|---|---|---|---|")
    for r in rows:
        params = f"{r['params_m']:.2f}" if "params_m" in r else "?"
        flops = f"{r['gflops_forward']:.2f}" if "gflops_forward" in r else "?"
        click.echo(
            f"| {r['model']} | {'/'.join(r['tasks'])} | {r['table']} | {params} | {flops} | {r['description']} |"
        )
    if model_facts is None or not rows or "params_m" not in rows[0]:
        click.echo(EXTRA_HINT + " (for parameter and FLOP counts)", err=True)


@click.command()
@click.argument("name", required=False)
def profiles(name: str | None) -> None:
    """List the profiles, or print one as YAML."""
    import yaml

    from benchmark.profiles import PROFILES

    if name is None:
        for k, v in PROFILES.items():
            click.echo(f"{k}: {v.label}")
        return
    if name not in PROFILES:
        click.echo(f"busi-bench: error: unknown profile {name!r} (known: {', '.join(PROFILES)})", err=True)
        sys.exit(2)
    click.echo(yaml.safe_dump(PROFILES[name].to_dict(), sort_keys=False), nl=False)
