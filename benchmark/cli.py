"""``busi-bench``: train and evaluate the multi-task framework fold by fold, summarise, predict, time models.

Only option parsing lives here; torch / MONAI load inside the commands so ``--help`` is instant.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import click

from busi_curate.errors import CurateError

if TYPE_CHECKING:
    from .profiles import Precision

F = TypeVar("F", bound=Callable[..., Any])
EXTRA_HINT = "busi-bench needs the [bench] extra: pip install -e .[bench]"


def _needs_torch() -> None:
    try:
        import monai  # noqa: F401
        import torch  # noqa: F401
    except ImportError:
        click.echo(EXTRA_HINT, err=True)
        sys.exit(2)


def user_errors(fn: F) -> F:
    """Turn a :class:`CurateError` into one line on stderr and exit status 2."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except CurateError as exc:
            click.echo(f"busi-bench: error: {exc}", err=True)
            sys.exit(2)

    return wrapper  # type: ignore[return-value]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="busi-curate", prog_name="busi-bench")
def main() -> None:
    """Benchmark the prediction-refining multi-task framework (Aumente-Maestro et al. 2025) on a curated manifest."""


def _overrides(**kw: Any) -> dict[str, Any]:
    return {k: v for k, v in kw.items() if v is not None}


@main.command()
@click.option("--manifest", "manifest", type=click.Path(dir_okay=False, path_type=Path), help="manifest.csv")
@click.option("--folds", "folds", type=click.Path(dir_okay=False, path_type=Path), help="folds.csv")
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="folder the manifest's paths are relative to (the BUSI root or Dataset_BUSI_with_GT)",
)
@click.option(
    "--packed",
    "packed",
    type=click.Path(dir_okay=False, path_type=Path),
    help="a dataset written by busi-bench pack (instead of --manifest/--folds/--data)",
)
@click.option("--fold", "fold", type=int, help="test fold K (train / val from the folds file)")
@click.option("--all-folds", is_flag=True, help="run every fold in the folds file")
@click.option("--concurrent", is_flag=True, help="with --all-folds: one process per fold, all at once (GPU)")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path), help="run folder")
@click.option("--profile", default="paper", show_default=True, help="paper, cpu or smoke (see benchmark/profiles.py)")
@click.option("--config", "config", type=click.Path(dir_okay=False, exists=True, path_type=Path), help="YAML overrides")
@click.option("--model", help="architecture (busi-bench models)")
@click.option("--task", type=click.Choice(["mt", "seg", "cls"]), help="multi-task or a single-task ablation")
@click.option("--oversample/--no-oversample", default=None, help="deterministic oversampling (DO)")
@click.option("--refine", help="prediction refining rule: paper, probability, none (no PR)")
@click.option("--epochs", type=int, help="training epochs (default: the profile's)")
@click.option("--batch-size", type=int, help="images per optimisation step (default: the profile's)")
@click.option("--lr", type=float, help="Adam learning rate (default: the profile's)")
@click.option(
    "--size",
    "--image-size",
    "image_size",
    type=int,
    help="side of the network input in pixels (--image-size: deprecated spelling, kept until 0.3)",
)
@click.option("--lambda", "lambda_seg", type=float, help="weight of the segmentation loss (eq. 4)")
@click.option("--seed", type=int, help="seed of every random choice (default: the profile's)")
@click.option("--device", help="auto, cpu or cuda")
@click.option("--early-stopping", type=int, help="patience in epochs, 0 = off")
@click.option("--plateau/--no-plateau", default=None, help="reduce the learning rate on a plateau")
@click.option("--compile/--no-compile", "compile_", default=None, help="torch.compile the model (CUDA)")
@click.option("--threads", type=int, help="torch CPU threads")
@click.option(
    "--precision",
    type=click.Choice(["auto", "fp32", "bf16", "fp16"]),
    help="autocast: auto (bf16 on CUDA, fp32 on CPU), fp32, bf16 (CPU or CUDA), fp16 (CUDA)",
)
@click.option(
    "--subset",
    "class_subset",
    type=click.Choice(["all", "benign-malignant"]),
    help="classes trained and tested (Table 4: benign-malignant or all)",
)
@click.option(
    "--cls-head",
    type=click.Choice(["paper", "authors"]),
    help="classification branch (section 3.3 or the authors' code)",
)
@click.option("--head-norm", type=click.Choice(["batch", "instance"]), help="normalisation of the paper head")
@click.option("--adam-eps", type=float, help="Adam epsilon (authors' code: 1e-4)")
@click.option(
    "--image-interp", type=click.Choice(["bilinear", "nearest"]), help="image interpolation under resize/rotation"
)
@click.option(
    "--fill-holes/--no-fill-holes", default=None, help="fill holes in predicted masks (authors' ST inference)"
)
@click.option("--recon-weight", type=float, help="weight of the reconstruction loss (mt-adityan)")
@click.option("--checkpoint-every", type=int, help="write last.pt every N epochs (best.pt whenever it improves)")
@click.option(
    "--workers",
    type=int,
    default=1,
    show_default=True,
    help="with --all-folds: folds in this many processes, the CPU threads split between them",
)
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="any other setting (repeatable)")
@click.option("--resume", is_flag=True, help="continue from the fold's last checkpoint")
@click.option("--progress/--no-progress", default=True, help="progress bars on stderr")
@user_errors
def run(
    manifest: Path,
    folds: Path,
    data_dir: Path,
    fold: int | None,
    all_folds: bool,
    concurrent: bool,
    out: Path,
    profile: str,
    config: Path | None,
    sets: tuple[str, ...],
    resume: bool,
    progress: bool,
    compile_: bool | None,
    workers: int,
    packed: Path | None,
    **settings: Any,
) -> None:
    """Train and evaluate one fold (--fold K) or all folds (--all-folds) of the manifest."""
    from .errors import ConfigError
    from .profiles import parse_set_options, resolve_config

    if (fold is None) == (not all_folds):
        raise ConfigError("give exactly one of --fold K and --all-folds")
    if concurrent and not all_folds:
        raise ConfigError("--concurrent goes with --all-folds")
    overrides = dict(parse_set_options(sets), **_overrides(compile=compile_, **settings))
    cfg = resolve_config(profile, config, overrides)
    _needs_torch()
    from .run import RunInputs, run_concurrent, run_fold, run_folds

    if packed is not None:
        if manifest or folds or data_dir:
            raise ConfigError("give either --packed or --manifest/--folds/--data")
        if concurrent or workers > 1:
            raise ConfigError("--packed runs folds in this process (start one process per --fold instead)")
        from .packed import PackedInputs

        inputs: Any = PackedInputs.read(packed)
    else:
        if not (manifest and folds and data_dir):
            raise ConfigError("--manifest, --folds and --data are required (or --packed FILE)")
        inputs = RunInputs.read(manifest, folds, _data_root(data_dir, manifest))
    numbers = inputs.folds.numbers
    if workers > 1 and not all_folds:
        raise ConfigError("--workers goes with --all-folds")
    if concurrent or workers > 1:
        inputs.samples(cfg.image_size, cfg.image_interp)  # verify the pixel hashes once before starting the children
        sys.exit(run_concurrent(cfg, inputs, numbers, out, resume=resume, workers=workers if workers > 1 else None))
    if all_folds:
        results = run_folds(cfg, inputs, numbers, out, resume=resume, progress=progress)
    else:
        results = [run_fold(cfg, inputs, fold, out, resume=resume, progress=progress)]  # type: ignore[arg-type]
    for r in results:
        figs = " ".join(
            f"{k}={r[k]:.3f}" for k in ("dsc_avg", "f1_weighted", "acc", "incoherent_before_pr") if r.get(k) is not None
        )
        where = out / f"fold{r['fold']}" / "metrics.json"
        click.echo(f"fold {r['fold']}: {figs} -> {where}")


@main.command()
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
    from .summarize import summarize_run

    target = md_out or run_dir / "summary.md"
    text = summarize_run(run_dir, target, ddof=ddof)
    click.echo(text)
    click.echo(f"wrote {target}", err=True)


@main.command()
@click.argument("seg_run", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.argument("cls_run", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="folder for the combined run (metrics, per-image results)",
)
@click.option("--refine", default="paper", show_default=True, help="refining rule")
@user_errors
def combine(seg_run: Path, cls_run: Path, out: Path, refine: str) -> None:
    """Combine a --task seg run and a --task cls run with prediction refining (Table 5, ST (Seg + Cls) + PR)."""
    _needs_torch()
    from .combine import combine_runs

    for r in combine_runs(seg_run, cls_run, out, refine):
        click.echo(f"fold {r['fold']}: dsc_avg={r['dsc_avg']:.3f} acc={r['acc']:.3f} refined={r['refined_cases']}")


@main.command()
@click.argument("runs_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="folder for table4..table9, significance and curves",
)
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
    from .report import build_report, parse_cases

    files = build_report(runs_dir, out, grid_file, parse_cases(cases), data_dir, ddof)
    click.echo(f"wrote {len(files)} files to {out}")


@main.command()
@click.argument("naive_run", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option(
    "--decisions",
    "journal",
    required=True,
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="review journal naming the same-frame and adjacent-frame pairs (e.g. manifests/curated_busi_v1/decisions.csv)",
)
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="folder for the leakage report",
)
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
    naive_run: Path,
    journal: Path,
    out: Path,
    curated_run: Path | None,
    notes: Path | None,
    manifest: Path | None,
    folds: Path | None,
) -> None:
    """Score a naive-split run separately on test images with and without a same-frame copy in training."""
    from .leakage import write_leakage_report

    path = write_leakage_report(
        naive_run, journal, out, curated_run, notes.read_text(encoding="utf-8") if notes else "", manifest, folds
    )
    click.echo(path.read_text(encoding="utf-8"))


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@user_errors
def rescore(run_dir: Path) -> None:
    """Re-score a run's folds from their saved predictions.npz with the current metrics (no retraining)."""
    from .combine import rescore_run

    for r in rescore_run(run_dir):
        click.echo(f"fold {r['fold']}: dsc_avg={r['dsc_avg']} hd={r['hd']} acc={r['acc']}")


@main.command()
@click.argument("checkpoint", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.argument("images", nargs=-1, required=True, type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="folder for the predicted masks and overlays (never overwritten)",
)
@click.option("--refine", help="refining rule (default: the checkpoint's)")
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda")
@user_errors
def predict(checkpoint: Path, images: tuple[Path, ...], out: Path, refine: str | None, device: str) -> None:
    """Masks, classes and refining warnings for new images."""
    _needs_torch()
    from .predict import predict_images

    rows = predict_images(checkpoint, list(images), out, refine=refine, device=device)
    for r in rows:
        click.echo(
            f"{r['image']}: {r['class']} (p={r['p_class']:.3f}), {r['tumour_pixels']} tumour px"
            f"{' [refined: ' + r['refine_action'] + ']' if r['refine_action'] else ''}"
        )


@main.command()
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
    default="auto",
    show_default=True,
    help="comma-separated: auto, fp32, bf16, fp16 (each model is timed at each)",
)
@click.option("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
@click.option("--json", "as_json", is_flag=True, help="one JSON object per model and precision")
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
) -> None:
    """Time training steps against the FLOP floor measured in the same run, and peak memory, per model."""
    _needs_torch()
    import json

    import torch

    from .speed import format_table, measure_all

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
    if as_json:
        for r in results:
            click.echo(json.dumps(r.as_json(), sort_keys=True))
    else:
        click.echo(format_table(results))


def _data_root(data_dir: Path, manifest: Path) -> Path:
    """The folder the manifest's paths are relative to: ``data_dir``, or its parent when ``data_dir`` is the
    ``Dataset_BUSI_with_GT`` folder itself (as ``busi-curate`` accepts)."""
    from busi_curate.publish.manifest import read_manifest

    try:
        first = read_manifest(manifest).rows[0].image
    except CurateError:
        return data_dir
    if not (data_dir / first).exists() and (data_dir.parent / first).exists():
        return data_dir.parent
    return data_dir


@main.command()
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
    from .packed import pack_dataset

    path = pack_dataset(manifest, folds, _data_root(data_dir, manifest), size, out)
    click.echo(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB) and {path.with_suffix('.json')}")


@main.command()
@click.argument("grid_file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option(
    "--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path), help="folder of the run folders"
)
@click.option("--engine", type=click.Choice(["local", "ray"]), default="local", show_default=True)
@click.option("--address", help="Ray cluster address (--engine ray; default: a local Ray instance)")
@click.option("--workers", type=int, default=1, show_default=True, help="--engine local: jobs at a time")
@click.option("--threads", type=int, help="torch threads per job (default: the run's cpus)")
@click.option("--nice", type=int, default=10, show_default=True, help="--engine local: niceness of the jobs")
@click.option("--only", multiple=True, help="run only these runs of the grid (repeatable)")
@click.option("--status", "show_status", is_flag=True, help="show what is done and stop")
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
) -> None:
    """Run a grid of experiments (benchmark/grid.py): finished folds are skipped, unfinished ones resumed."""
    from .grid import load_grid, run_local, run_ray, status_table

    g = load_grid(grid_file)
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


@main.command()
@click.argument("data_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option(
    "--out",
    "out",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="folder for manifest.csv + folds.csv of the naive split",
)
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
    from .provisional import build_provisional

    m, f = build_provisional(data_dir, out, k=k, seed=seed, val_fraction=val_fraction)
    click.echo(f"wrote {m} and {f} (uncurated: every image kept, naive folds)")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="one JSON object per model")
def models(as_json: bool) -> None:
    """List the registered architectures: parameters, FLOPs per 128x128 image, tasks, paper table."""
    import json

    _needs_torch()
    from .models import MODELS

    try:
        from .speed import model_facts
    except ImportError:
        model_facts = None  # type: ignore[assignment]
    rows = []
    for name, spec in MODELS.items():
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


@main.command()
@click.argument("name", required=False)
def profiles(name: str | None) -> None:
    """List the profiles, or print one as YAML."""
    import yaml

    from .profiles import PROFILES

    if name is None:
        for k, v in PROFILES.items():
            click.echo(f"{k}: {v.label}")
        return
    if name not in PROFILES:
        click.echo(f"busi-bench: error: unknown profile {name!r} (known: {', '.join(PROFILES)})", err=True)
        sys.exit(2)
    click.echo(yaml.safe_dump(PROFILES[name].to_dict(), sort_keys=False), nl=False)


if __name__ == "__main__":
    main()
