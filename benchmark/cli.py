"""``busi-bench``: train and evaluate the multi-task framework fold by fold, summarise, predict, time models.

Only option parsing lives here; torch / MONAI load inside the commands so ``--help`` is instant.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from busi_curate.errors import CurateError

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
@click.option("--manifest", "manifest", required=True, type=click.Path(dir_okay=False, path_type=Path), help="manifest.csv")
@click.option("--folds", "folds", required=True, type=click.Path(dir_okay=False, path_type=Path), help="folds.csv")
@click.option("--data", "data_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="folder the manifest's paths are relative to")
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
@click.option("--epochs", type=int)
@click.option("--batch-size", type=int)
@click.option("--lr", type=float)
@click.option("--image-size", type=int)
@click.option("--lambda", "lambda_seg", type=float, help="weight of the segmentation loss (eq. 4)")
@click.option("--seed", type=int)
@click.option("--device", help="auto, cpu or cuda")
@click.option("--early-stopping", type=int, help="patience in epochs, 0 = off")
@click.option("--plateau/--no-plateau", default=None, help="reduce the learning rate on a plateau")
@click.option("--compile/--no-compile", "compile_", default=None, help="torch.compile the model (CUDA)")
@click.option("--threads", type=int, help="torch CPU threads")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="any other setting (repeatable)")
@click.option("--resume", is_flag=True, help="continue from the fold's last checkpoint")
@click.option("--progress/--no-progress", default=True, help="progress bars on stderr")
@user_errors
def run(manifest: Path, folds: Path, data_dir: Path, fold: int | None, all_folds: bool, concurrent: bool, out: Path,
        profile: str, config: Path | None, sets: tuple[str, ...], resume: bool, progress: bool, compile_: bool | None,
        **settings: Any) -> None:
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

    inputs = RunInputs.read(manifest, folds, data_dir)
    numbers = inputs.folds.numbers
    if concurrent:
        inputs.samples(cfg.image_size)  # verify the pixel hashes once before starting the children
        sys.exit(run_concurrent(cfg, inputs, numbers, out, resume=resume))
    if all_folds:
        results = run_folds(cfg, inputs, numbers, out, resume=resume, progress=progress)
    else:
        results = [run_fold(cfg, inputs, fold, out, resume=resume, progress=progress)]  # type: ignore[arg-type]
    for r in results:
        figs = " ".join(f"{k}={r[k]:.3f}" for k in ("dsc_avg", "f1_weighted", "acc", "incoherent_before_pr") if r.get(k) is not None)
        where = out / f"fold{r['fold']}" / "metrics.json"
        click.echo(f"fold {r['fold']}: {figs} -> {where}")


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--out", "md_out", type=click.Path(dir_okay=False, path_type=Path), help="Markdown file (default RUN/summary.md)")
@user_errors
def summarize(run_dir: Path, md_out: Path | None) -> None:
    """Mean +- std over folds in the layout of the paper's Tables 8 and 9, paper figures beside."""
    from .summarize import summarize_run

    text = summarize_run(run_dir, md_out or run_dir / "summary.md")
    click.echo(text)


@main.command()
@click.argument("seg_run", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.argument("cls_run", type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--refine", default="paper", show_default=True, help="refining rule")
@user_errors
def combine(seg_run: Path, cls_run: Path, out: Path, refine: str) -> None:
    """Combine a --task seg run and a --task cls run with prediction refining (Table 5, ST (Seg + Cls) + PR)."""
    _needs_torch()
    from .combine import combine_runs

    for r in combine_runs(seg_run, cls_run, out, refine):
        click.echo(f"fold {r['fold']}: dsc_avg={r['dsc_avg']:.3f} acc={r['acc']:.3f} refined={r['refined_cases']}")


@main.command()
@click.argument("checkpoint", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.argument("images", nargs=-1, required=True, type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--refine", help="refining rule (default: the checkpoint's)")
@click.option("--device", default="auto", show_default=True)
@user_errors
def predict(checkpoint: Path, images: tuple[Path, ...], out: Path, refine: str | None, device: str) -> None:
    """Masks, classes and refining warnings for new images."""
    _needs_torch()
    from .predict import predict_images

    rows = predict_images(checkpoint, list(images), out, refine=refine, device=device)
    for r in rows:
        click.echo(f"{r['image']}: {r['class']} (p={r['p_class']:.3f}), {r['tumour_pixels']} tumour px"
                   f"{' [refined: ' + r['refine_action'] + ']' if r['refine_action'] else ''}")


@main.command()
@click.option("--models", "names", help="comma-separated (default: every registered model)")
@click.option("--image-size", default=128, show_default=True)
@click.option("--batch-size", default=2, show_default=True)
@click.option("--steps", default=5, show_default=True, help="timed training steps per model (after 1 warm-up)")
@click.option("--epoch-images", default=860, show_default=True,
              help="images per epoch for the epoch estimate (about a curated fold after oversampling)")
@click.option("--device", default="auto", show_default=True)
@click.option("--amp/--no-amp", default=True, help="autocast on CUDA")
@click.option("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
@user_errors
def speed(names: str | None, image_size: int, batch_size: int, steps: int, epoch_images: int, device: str, amp: bool,
          threads: int) -> None:
    """Time one training step and an epoch, and peak memory, for each registered model."""
    _needs_torch()
    import torch

    from .speed import format_table, measure_all

    if threads > 0:
        torch.set_num_threads(threads)

    click.echo(format_table(measure_all(names.split(",") if names else None, image_size, batch_size, steps,
                                        epoch_images, device, amp)))


@main.command()
def models() -> None:
    """List the registered architectures."""
    from .models import MODELS

    for name in MODELS:
        click.echo(name)


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
