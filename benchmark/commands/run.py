"""``busi-bench run``: train and evaluate one model on the folds of a manifest."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from benchmark.commands.common import data_root as _data_root
from benchmark.commands.common import needs_torch as _needs_torch
from benchmark.commands.common import out_folder, user_errors
from benchmark.profiles import CHOICES, PROFILES


def _overrides(**kw: Any) -> dict[str, Any]:
    return {k: v for k, v in kw.items() if v is not None}


def default_profile(device: str) -> tuple[str, str]:
    """The profile when none is given: ``paper`` (200 epochs, 128 px) where a CUDA device will run it, else the
    reduced ``cpu`` profile, so that a CPU-only machine never starts a days-long run by default; and the line that
    says which and why (printed on stderr once the inputs are read)."""
    import torch

    cuda = device != "cpu" and torch.cuda.is_available()
    name = "paper" if cuda else "cpu"
    why = (
        "a CUDA device is available"
        if cuda
        else "no CUDA device" + (" (--device cpu)" if device == "cpu" else "") + ": the paper profile's 200 epochs "
        "would take days here; pass --profile paper to run it anyway"
    )
    return name, f"no --profile given: using '{name}' ({why})"


def _read_inputs(
    packed: Path | None, manifest: Path, folds: Path, data_dir: Path, concurrent: bool, workers: int
) -> Any:
    """The run's images and folds: a packed file (``--packed``, folds run in this process), else the manifest,
    folds file and data folder; ConfigError for a mix of the two or a missing one."""
    from benchmark.data.samples import RunInputs
    from benchmark.errors import ConfigError

    if packed is not None:
        if manifest or folds or data_dir:
            raise ConfigError("give either --packed or --manifest/--folds/--data")
        if concurrent or workers > 1:
            raise ConfigError("--packed runs folds in this process (start one process per --fold instead)")
        from benchmark.data.packed import PackedInputs

        return PackedInputs.read(packed)
    if not (manifest and folds and data_dir):
        raise ConfigError("--manifest, --folds and --data are required (or --packed FILE)")
    return RunInputs.read(manifest, folds, _data_root(data_dir, manifest))


@click.command()
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
@out_folder("run folder")
@click.option(
    "--profile",
    default=None,
    help=f"{', '.join(PROFILES)} (see benchmark/profiles.py); default: paper on a CUDA device, else the "
    "reduced cpu profile (the command says which and why)",
)
@click.option("--config", "config", type=click.Path(dir_okay=False, exists=True, path_type=Path), help="YAML overrides")
@click.option("--model", help="architecture (busi-bench models)")
@click.option("--task", type=click.Choice(CHOICES["task"]), help="multi-task or a single-task ablation")
@click.option("--oversample/--no-oversample", default=None, help="deterministic oversampling (DO)")
@click.option("--refine", type=click.Choice(CHOICES["refine"]), help="prediction refining rule (none: no PR)")
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
    type=click.Choice(CHOICES["precision"]),
    help="autocast: auto (bf16 on CUDA, fp32 on CPU), fp32, bf16 (CPU or CUDA), fp16 (CUDA)",
)
@click.option(
    "--subset",
    "class_subset",
    type=click.Choice(CHOICES["class_subset"]),
    help="classes trained and tested (Table 4: benign-malignant or all)",
)
@click.option(
    "--cls-head",
    type=click.Choice(CHOICES["cls_head"]),
    help="classification branch (section 3.3 or the authors' code)",
)
@click.option("--head-norm", type=click.Choice(CHOICES["head_norm"]), help="normalisation of the paper head")
@click.option("--adam-eps", type=float, help="Adam epsilon (authors' code: 1e-4)")
@click.option(
    "--image-interp", type=click.Choice(CHOICES["image_interp"]), help="image interpolation under resize/rotation"
)
@click.option(
    "--fill-holes/--no-fill-holes", default=None, help="fill holes in predicted masks (authors' ST inference)"
)
@click.option(
    "--baseline-config",
    type=click.Choice(CHOICES["baseline_config"]),
    help="Table 4 baselines as the authors' code configures them, or the MONAI configurations (see busi-bench models)",
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
    profile: str | None,
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
    from benchmark.errors import ConfigError
    from benchmark.profiles import parse_set_options, resolve_config

    if (fold is None) == (not all_folds):
        raise ConfigError("give exactly one of --fold K and --all-folds")
    if concurrent and not all_folds:
        raise ConfigError("--concurrent goes with --all-folds")
    overrides = dict(parse_set_options(sets), **_overrides(compile=compile_, **settings))
    notice = ""
    if profile is None:
        _needs_torch()
        profile, notice = default_profile(str(overrides.get("device", "auto")))
    cfg = resolve_config(profile, config, overrides)
    _needs_torch()
    from benchmark.experiments.run import run_concurrent, run_fold, run_folds

    inputs = _read_inputs(packed, manifest, folds, data_dir, concurrent, workers)
    numbers = inputs.folds.numbers
    if notice:
        click.echo(notice, err=True)
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
