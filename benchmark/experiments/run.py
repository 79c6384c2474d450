"""Orchestration of ``busi-bench run``: inputs -> fold split -> train -> evaluate -> outputs, one fold or all."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from benchmark.data.samples import RunInputs, split_fold
from benchmark.errors import BenchError
from benchmark.profiles import RunConfig
from busi_curate.fileio import write_text

log = logging.getLogger("busi_bench")


def _fold_logger(path: Path) -> logging.StreamHandler:
    from busi_curate.fileio import open_append

    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.StreamHandler(open_append(path, encoding="utf-8"))  # O_NOFOLLOW: never through a link
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    return handler


def config_yaml(cfg: RunConfig, prov: dict[str, Any]) -> str:
    """The resolved config as YAML, with a provenance header comment."""
    import yaml

    head = (
        f"# {prov['tool']} {prov['version']} (busi-curate {prov['busi_curate_version']}, torch {prov['torch_version']}, "
        f"commit {prov['git_commit']}), written {prov['created_utc']}\n"
        f"# inputs: {', '.join(f'{k}={v}' for k, v in prov['inputs'].items())}\n"
    )
    if "precision" in prov:
        head += f"# trained in {prov['precision']} ({prov['precision_reason']}) on {prov['hardware']}\n"
    return head + yaml.safe_dump(cfg.to_dict(), sort_keys=False)


def run_fold(
    cfg: RunConfig,
    inputs: RunInputs,
    fold: int,
    out: str | Path,
    *,
    resume: bool = False,
    progress: bool = True,
    on_epoch_end: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Train and evaluate one fold; writes ``out/fold<K>/`` and returns its metrics.

    Raises:
        ManifestError: ``fold`` not in the folds file.
        BenchError: the fold folder holds a checkpoint and ``resume`` is off; data changed.
    """
    from benchmark.training.train import train_fold

    split, checksums, n_dropped = _fold_split(cfg, inputs, fold)
    fold_dir = Path(out) / f"fold{fold}"
    if (fold_dir / "checkpoint" / "last.pt").exists() and not resume:
        raise BenchError("holds a checkpoint already: pass --resume to continue it or choose another --out", fold_dir)
    allset, pos = inputs.samples(cfg.image_size, cfg.image_interp)  # decoded and verified before anything is written
    from benchmark.training.checkpoint import lock_fold, unlock_fold

    lock = lock_fold(fold_dir)  # one writer per fold folder
    try:
        handler = _fold_logger(fold_dir / "train.log")
    except BaseException:
        unlock_fold(lock)
        raise
    try:
        prov = _fold_provenance(cfg, inputs, fold, checksums, fold_dir)
        log.info(
            "fold %d: %d train, %d val, %d test; %s", fold, len(split.train), len(split.val), len(split.test), cfg.label
        )
        if cfg.exclude:
            log.info("fold %d: %d image(s) dropped from train / val by %s", fold, n_dropped, cfg.exclude)
        take = lambda keys: allset.take([pos[k] for k in keys])  # noqa: E731
        train, val, test = take(split.train), take(split.val), take(split.test)
        model, state = train_fold(
            cfg, train, val, fold_dir, resume=resume, progress=progress, on_epoch_end=on_epoch_end, provenance=prov
        )
        return _test_fold(cfg, model, state, (train, val, test), fold_dir, prov)
    finally:
        log.removeHandler(handler)
        handler.close()
        handler.stream.close()
        unlock_fold(lock)


def _fold_split(cfg: RunConfig, inputs: RunInputs, fold: int) -> tuple[Any, dict[str, str], int]:
    """Fold ``fold``'s split, less the images the run's exclusion file drops; the inputs' checksums; how many."""
    split = split_fold(inputs.folds, fold, cfg.class_subset)
    checksums = dict(inputs.checksums)
    n_dropped = 0
    if cfg.exclude:
        from benchmark.data.exclusion import apply_exclusion
        from busi_curate.fileio import file_sha256

        train_keys, val_keys, n_dropped = apply_exclusion(split.train, split.val, cfg.exclude, fold)
        split = type(split)(split.fold, train_keys, val_keys, split.test)
        checksums.update(exclude=cfg.exclude, exclude_sha256=file_sha256(cfg.exclude))
    return split, checksums, n_dropped


def _fold_provenance(
    cfg: RunConfig, inputs: RunInputs, fold: int, checksums: dict[str, str], fold_dir: Path
) -> dict[str, Any]:
    """The fold's provenance, written with the resolved config to ``config.yaml`` and logged."""
    from benchmark.provenance import provenance
    from benchmark.training.precision import choose_precision
    from benchmark.training.train import select_device

    paths = {"manifest": str(inputs.manifest_path), "folds": str(inputs.folds_path), "data_dir": str(inputs.data_dir)}
    precision = choose_precision(cfg, select_device(cfg.device)).as_dict()
    prov = provenance(cfg.to_dict(), dict(checksums, **paths), fold=fold, **precision)
    write_text(fold_dir / "config.yaml", config_yaml(cfg, prov))
    log.info(
        "%s %s (busi-curate %s, torch %s, commit %s) on %s; manifest sha256 %s, folds sha256 %s",
        *(prov[k] for k in ("tool", "version", "busi_curate_version", "torch_version", "git_commit", "hardware")),
        inputs.checksums["manifest_sha256"],
        inputs.checksums["folds_sha256"],
    )
    return prov


def _test_fold(
    cfg: RunConfig, model: Any, state: Any, sets: tuple[Any, Any, Any], fold_dir: Path, prov: dict[str, Any]
) -> dict[str, Any]:
    """Predict the test images with the trained ``model``, score them, write the fold's outputs; its metrics."""
    from benchmark.evaluation.evaluate import evaluate_fold, write_fold_outputs
    from benchmark.inference.postprocess import Postprocess
    from benchmark.training.train import predict, select_device, to_tensors

    train, val, test = sets
    fold = int(prov["fold"])
    device = select_device(cfg.device)
    x, _, _ = to_tensors(test, device)
    t0 = time.perf_counter()
    pred = predict(model, x, cfg, device)
    infer_s = time.perf_counter() - t0
    result = evaluate_fold(
        test.keys,
        test.labels,
        test.masks,
        pred.seg_prob,
        pred.cls_prob,
        Postprocess.of(cfg),
    )
    extra = {
        "fold": fold,
        "best_epoch": state.best_epoch,
        "epochs_run": state.epoch,
        "train_seconds": round(state.train_seconds, 1),
        "test_inference_seconds": round(infer_s, 2),
        "n_train": len(train),
        "n_val": len(val),
        "history": state.history,
    }
    write_fold_outputs(fold_dir, result, prov, pred.seg_prob, pred.cls_prob, extra, test.labels, test.masks)
    m = result["metrics"]
    log.info(
        "fold %d test: %s",
        fold,
        " ".join(f"{k}={m[k]:.3f}" for k in ("dsc_avg", "f1_weighted", "acc") if m.get(k) is not None),
    )
    return dict(m, **extra)


def run_folds(
    cfg: RunConfig,
    inputs: RunInputs,
    folds: Sequence[int],
    out: str | Path,
    *,
    resume: bool = False,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Run ``folds`` one after another in this process (images decoded once)."""
    from benchmark.provenance import provenance

    prov = provenance(cfg.to_dict(), inputs.checksums)
    write_text(Path(out) / "config.yaml", config_yaml(cfg, prov))
    return [run_fold(cfg, inputs, k, out, resume=resume, progress=progress) for k in folds]


def run_concurrent(
    cfg: RunConfig,
    inputs: RunInputs,
    folds: Sequence[int],
    out: str | Path,
    *,
    resume: bool = False,
    workers: int | None = None,
) -> int:
    """Run every fold as its own ``busi-bench run --fold K`` process and wait.

    ``workers=None``: all folds at once on the same device (GPU). ``workers=K``: at most K at a time,
    each with ``cpu_count // K`` torch threads (the CPU split between them).

    The children get the resolved config through ``out/config.yaml`` (every setting written out), so
    they train exactly what this process would. Each child logs to ``out/fold<K>.stdout.log``.

    Returns:
        0 when every fold succeeded, else the first non-zero exit status.
    """
    from concurrent.futures import ThreadPoolExecutor

    from benchmark.experiments.launcher import ChildRun, run_child
    from benchmark.provenance import provenance

    out = Path(out)
    prov = provenance(cfg.to_dict(), inputs.checksums)
    write_text(out / "config.yaml", config_yaml(cfg, prov))
    n_workers = workers or len(folds)
    threads = max(1, (os.cpu_count() or 1) // n_workers) if workers else cfg.threads

    def one(k: int) -> tuple[int, int]:
        paths = (inputs.manifest_path, inputs.folds_path, inputs.data_dir, out)
        child = ChildRun(*paths, cfg.profile, out / "config.yaml", k, resume, threads if workers else None)
        return k, run_child(child, out / f"fold{k}.stdout.log")

    status = 0
    with ThreadPoolExecutor(max_workers=n_workers) as pool:
        for k, rc in pool.map(one, folds):
            if rc != 0:
                print(f"fold {k} failed with exit status {rc}; see {out / f'fold{k}.stdout.log'}", file=sys.stderr)
                status = status or rc
    return status
