"""Stage: train one fold -- oversample, augment, optimise eq. (4), select on validation, checkpoint every epoch.

Determinism: every epoch's shuffle and augmentation are seeded from ``(seed, epoch)``, so a run
resumed from the checkpoint of epoch ``e`` continues exactly as the uninterrupted run would
(the checkpoint also carries the python / numpy / torch RNG states).
"""

from __future__ import annotations

import logging
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from benchmark.data.samples import SampleSet
from benchmark.errors import ConfigError
from benchmark.evaluation.metrics import dice_batch
from benchmark.models import build_network
from benchmark.models.losses import multitask_loss
from benchmark.profiles import RunConfig
from benchmark.training.augment import epoch_seed, make_augmenter
from benchmark.training.checkpoint import (
    _check_resumable,
    _rng_states,
    _set_rng_states,
    load_checkpoint,
    save_checkpoint,
)
from benchmark.training.oversampling import oversample_indices

log = logging.getLogger("busi_bench")


def select_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU.

    Raises:
        ConfigError: ``cuda`` asked for but unavailable.
    """
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} requested but CUDA is not available (use --device cpu or auto)")
    try:
        return torch.device(name)
    except RuntimeError as exc:
        raise ConfigError(f"unknown device {name!r} ({exc})") from exc


def setup_determinism(cfg: RunConfig, device: torch.device) -> None:
    """Seed python, numpy, torch (and MONAI); request deterministic algorithms when asked."""
    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed % (2**32))
    torch.manual_seed(cfg.seed)
    if cfg.deterministic:
        from monai.utils import set_determinism

        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        set_determinism(seed=cfg.seed, use_deterministic_algorithms=False)
        # on CUDA some backward kernels (interpolation, adaptive pooling) have no deterministic
        # implementation: warn instead of failing there
        torch.use_deterministic_algorithms(True, warn_only=device.type == "cuda")
    elif device.type == "cuda":
        torch.backends.cudnn.benchmark = True


def amp_dtype(cfg: RunConfig, device: torch.device) -> torch.dtype | None:
    """The autocast dtype of ``cfg.precision`` on ``device``; None = full fp32.

    The rule (``auto`` by the hardware) is :func:`benchmark.training.precision.choose_precision`.

    Raises:
        ConfigError: fp16 asked for on a CPU.
    """
    from benchmark.training.precision import choose_precision

    return choose_precision(cfg, device).dtype


def epoch_draws(cfg: RunConfig, n_list: int) -> int:
    """Images one epoch draws from a training list of ``n_list`` (see ``RunConfig.draws``)."""
    if not cfg.images_per_epoch:
        return n_list
    return cfg.images_per_epoch if cfg.draws == "fixed" else min(cfg.images_per_epoch, n_list)


def to_tensors(samples: SampleSet, device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(N, 1, S, S)`` float images, ``(N, 1, S, S)`` float masks, ``(N,)`` labels on ``device``."""
    x = torch.from_numpy(samples.images).unsqueeze(1).to(device)
    y = torch.from_numpy(samples.masks.astype(np.float32)).unsqueeze(1).to(device)
    return x, y, torch.from_numpy(samples.labels).to(device)


def subset_per_class(samples: SampleSet, n: int) -> SampleSet:
    """The first ``n`` images of each class (in key order); all when ``n`` is 0."""
    if n <= 0:
        return samples
    keep = np.concatenate([np.flatnonzero(samples.labels == c)[:n] for c in np.unique(samples.labels)])
    return samples.take(np.sort(keep))


@dataclass
class Predictions:
    """Network outputs on a set: ``seg_prob (N, S, S) float32`` or None, ``cls_prob (N, C) float32`` or None."""

    seg_prob: np.ndarray | None
    cls_prob: np.ndarray | None
    loss: float = math.nan


@torch.no_grad()
def predict(
    model: nn.Module,
    images: torch.Tensor,
    cfg: RunConfig,
    device: torch.device,
    masks: torch.Tensor | None = None,
    labels: torch.Tensor | None = None,
) -> Predictions:
    """Run the model in eval mode over ``(N, 1, S, S)`` images; with targets, also the mean loss."""
    model.eval()
    dtype = amp_dtype(cfg, device)
    segs, clss, losses = [], [], []
    for i in range(0, images.shape[0], cfg.eval_batch_size):
        xb = images[i : i + cfg.eval_batch_size].to(device)
        if device.type == "cuda" and cfg.channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            out = model(xb)
        if masks is not None and labels is not None:
            loss, _ = multitask_loss(
                out.seg,
                out.cls,
                masks[i : i + len(xb)].to(device),
                labels[i : i + len(xb)].to(device),
                cfg.lambda_seg,
                cfg.focal_gamma,
                cfg.dice_eps,
                out.recon,
                xb,
                cfg.recon_weight,
            )
            losses.append(loss.float() * len(xb))
        if out.seg:
            segs.append(torch.sigmoid(out.seg[0].float())[:, 0].cpu())
        if out.cls is not None:
            clss.append(torch.softmax(out.cls.float(), 1).cpu())
    mean_loss = float(torch.stack(losses).sum() / images.shape[0]) if losses else math.nan
    return Predictions(torch.cat(segs).numpy() if segs else None, torch.cat(clss).numpy() if clss else None, mean_loss)


def quick_scores(pred: Predictions, masks: np.ndarray, labels: np.ndarray, threshold: float) -> dict[str, float]:
    """Validation figures shown each epoch: mean Dice (unrefined) and accuracy."""
    out: dict[str, float] = {}
    if pred.seg_prob is not None:
        out["dsc"] = float(np.mean(dice_batch(pred.seg_prob >= threshold, masks > 0)))
    if pred.cls_prob is not None:
        out["acc"] = float(np.mean(pred.cls_prob.argmax(1) == labels))
    return out


@dataclass
class TrainState:
    """What the checkpoint needs beyond model / optimiser / scheduler state."""

    epoch: int = 0
    best_metric: float = math.inf
    best_epoch: int = 0
    since_best: int = 0
    finished: bool = False
    stopped_early: bool = False
    train_seconds: float = 0.0
    history: list[dict[str, float]] = field(default_factory=list)


def train_fold(
    cfg: RunConfig,
    train: SampleSet,
    val: SampleSet,
    out_dir: str | Path,
    *,
    resume: bool = False,
    progress: bool = True,
    on_epoch_end: Callable[[int], None] | None = None,
    provenance: dict[str, Any] | None = None,
) -> tuple[nn.Module, TrainState]:
    """Train on ``train``, select on ``val``; returns the selected (best) model and the final state.

    Writes ``out_dir/checkpoint/last.pt`` every ``checkpoint_every`` epochs and at the end (atomic), and
    ``best.pt`` when the selection metric improves.

    Args:
        cfg: resolved settings.
        train: training images (before oversampling).
        val: validation images (untouched: no oversampling, no augmentation).
        out_dir: the fold's output folder.
        resume: continue from ``last.pt`` when it exists.
        progress: tqdm bar per epoch on stderr.
        on_epoch_end: called with the epoch number after its checkpoint is written (tests use it
            to simulate a kill).
        provenance: stored inside the checkpoints.
    """
    ckpt_dir = Path(out_dir) / "checkpoint"
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    device = select_device(cfg.device)
    setup_determinism(cfg, device)
    fit = Fit.create(cfg, device, provenance or {})
    last = ckpt_dir / "last.pt"
    state = fit.resume(last) if resume and last.is_file() else TrainState()
    data, n_draw, augmenter = _fold_data(fit, train, val)
    while not state.finished and state.epoch < cfg.epochs:
        _train_one_epoch(fit, state, data, val, n_draw, augmenter, progress, ckpt_dir)
        if on_epoch_end is not None:
            on_epoch_end(state.epoch)

    best = load_checkpoint(ckpt_dir / "best.pt")
    fit.model.load_state_dict(best["model"])
    return fit.model, state


def _fold_data(fit: Fit, train: SampleSet, val: SampleSet) -> tuple[_FoldTensors, int, Any]:
    """The fold's tensors on the training device (the ``cfg.subset`` of ``train``, its oversampled order), the
    images drawn per epoch and the augmenter; logs the sizes."""
    cfg, device = fit.cfg, fit.device
    train = subset_per_class(train, cfg.subset)
    order = oversample_indices(train.labels, cfg.oversample_rule) if cfg.oversample else np.arange(len(train))
    data = _FoldTensors(*to_tensors(train, device), *to_tensors(val, device), torch.from_numpy(order).to(device))
    n_draw = epoch_draws(cfg, len(order))
    augmenter = make_augmenter(cfg.augment, device, cfg.image_interp)
    log.info(
        "training: %d images (%d after oversampling, %d drawn per epoch), validation: %d, device %s%s",
        len(train),
        len(order),
        n_draw,
        len(val),
        device,
        f", autocast {fit.dtype}" if fit.dtype else "",
    )
    return data, n_draw, augmenter


def _train_one_epoch(
    fit: Fit,
    state: TrainState,
    data: _FoldTensors,
    val: SampleSet,
    n_draw: int,
    augmenter: Any,
    progress: bool,
    ckpt_dir: Path,
) -> None:
    """Epoch ``state.epoch + 1``, in the order a resume replays it: train -> validate (``best.pt``) -> stop ->
    ``last.pt`` -> log; updates ``state`` (epoch, finished, history, seconds)."""
    cfg, epoch = fit.cfg, state.epoch + 1
    t0 = time.perf_counter()
    sums = fit.train_epoch(epoch, data, n_draw, augmenter, progress)
    t_steps = time.perf_counter() - t0
    record: dict[str, float] = {"epoch": epoch, "lr": fit.optimizer.param_groups[0]["lr"]}
    record.update({f"train_{k}": float(v) / n_draw for k, v in sums.items()})
    improved = fit.validate(epoch, data, val, state, record, ckpt_dir / "best.pt")
    t_ckpt = time.perf_counter()
    state.epoch = epoch
    if cfg.early_stopping and state.since_best >= cfg.early_stopping:
        state.finished = state.stopped_early = True
        log.info("early stopping after epoch %d (best epoch %d)", epoch, state.best_epoch)
    if state.epoch >= cfg.epochs:
        state.finished = True
    record["step_seconds"] = t_steps
    record["seconds"] = time.perf_counter() - t0
    state.history.append(record)
    state.train_seconds += record["seconds"]
    # last.pt every checkpoint_every epochs and at the end; a resume from an older one replays the
    # missing epochs exactly (every epoch is seeded from (seed, epoch))
    if state.finished or epoch % max(1, cfg.checkpoint_every) == 0:
        fit.save_last(ckpt_dir / "last.pt", state)
    record["checkpoint_seconds"] = time.perf_counter() - t_ckpt
    _log_epoch(cfg, record, improved, progress)


@dataclass
class _FoldTensors:
    """One fold's images on the training device, and the (oversampled) order training draws from."""

    x_tr: torch.Tensor
    y_tr: torch.Tensor
    l_tr: torch.Tensor
    x_va: torch.Tensor
    y_va: torch.Tensor
    l_va: torch.Tensor
    order: torch.Tensor


@dataclass
class Fit:
    """The model and what changes while it trains: optimiser, learning-rate scheduler, gradient scaler."""

    cfg: RunConfig
    device: torch.device
    model: nn.Module
    step_model: Any
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.ReduceLROnPlateau
    scaler: torch.amp.GradScaler
    dtype: torch.dtype | None
    provenance: dict[str, Any]

    @classmethod
    def create(cls, cfg: RunConfig, device: torch.device, provenance: dict[str, Any]) -> Fit:
        model = build_network(cfg, device)
        optimizer = torch.optim.Adam(
            model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, eps=cfg.adam_eps, fused=device.type == "cuda"
        )
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=cfg.plateau_factor, patience=cfg.plateau_patience, min_lr=cfg.min_lr
        )
        dtype = amp_dtype(cfg, device)
        scaler = torch.amp.GradScaler("cuda", enabled=dtype == torch.float16)
        step_model: Any = torch.compile(model, mode=cfg.compile_mode) if cfg.compile else model
        return cls(cfg, device, model, step_model, optimizer, scheduler, scaler, dtype, provenance)

    def resume(self, last: Path) -> TrainState:
        """Load ``last.pt`` (checked against the run's settings and inputs); the state it saved."""
        ck = load_checkpoint(last)
        _check_resumable(ck, self.cfg, last, self.provenance)
        self.model.load_state_dict(ck["model"])
        self.optimizer.load_state_dict(ck["optimizer"])
        self.scheduler.load_state_dict(ck["scheduler"])
        self.scaler.load_state_dict(ck["scaler"])
        state = TrainState(**ck["state"])
        if state.finished and not state.stopped_early and state.epoch < self.cfg.epochs:
            state.finished = False  # a finished run extended with a larger --epochs
        _set_rng_states(ck["rng"])
        log.info("resumed from %s after epoch %d", last, state.epoch)
        return state

    def train_epoch(
        self, epoch: int, data: _FoldTensors, n_draw: int, augmenter: Any, progress: bool
    ) -> dict[str, torch.Tensor]:
        """One epoch: ``n_draw`` images drawn (seeded by the epoch) from the order, in batches; summed losses."""
        from tqdm.auto import tqdm

        cfg, device = self.cfg, self.device
        self.model.train()
        gen = torch.Generator().manual_seed(epoch_seed(cfg.seed, epoch, 0))
        n = len(data.order)
        shuffles = [torch.randperm(n, generator=gen) for _ in range(max(1, math.ceil(n_draw / n)))]
        perm = data.order[torch.cat(shuffles).to(device)][:n_draw]
        if augmenter is not None:
            augmenter.reseed(epoch_seed(cfg.seed, epoch, 1))
        sums = {"loss": torch.zeros((), device=device)}
        n_batches = math.ceil(n_draw / cfg.batch_size)
        bar = tqdm(
            range(n_batches),
            desc=f"epoch {epoch}/{cfg.epochs}",
            unit="batch",
            leave=False,
            disable=not progress,
            dynamic_ncols=True,
        )
        for b in bar:
            idx = perm[b * cfg.batch_size : (b + 1) * cfg.batch_size]
            loss, parts = self.step(data.x_tr[idx], data.y_tr[idx], data.l_tr[idx], augmenter)
            sums["loss"] += loss.detach() * len(idx)
            for k, v in parts.items():
                sums[k] = sums.get(k, torch.zeros((), device=device)) + v * len(idx)
            if progress and (b % 10 == 0 or b == n_batches - 1):
                bar.set_postfix(loss=f"{float(loss.detach()):.4f}")  # detached: no requires_grad warning
        bar.close()
        return sums

    def step(
        self, xb: torch.Tensor, yb: torch.Tensor, lb: torch.Tensor, augmenter: Any
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """One optimisation step of eq. (4) on a batch (augmented on the device first): the loss and its parts."""
        cfg = self.cfg
        if augmenter is not None:
            xb, yb = augmenter(xb, yb)
        if self.device.type == "cuda" and cfg.channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        with torch.autocast(self.device.type, dtype=self.dtype or torch.float32, enabled=self.dtype is not None):
            out = self.step_model(xb)
        loss, parts = multitask_loss(
            out.seg, out.cls, yb, lb, cfg.lambda_seg, cfg.focal_gamma, cfg.dice_eps, out.recon, xb, cfg.recon_weight
        )
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return loss, parts

    def validate(
        self, epoch: int, data: _FoldTensors, val: SampleSet, state: TrainState, record: dict[str, float], best: Path
    ) -> bool:
        """Score the validation images, step the scheduler, write ``best.pt`` if the selection metric improved."""
        cfg = self.cfg
        t_eval = time.perf_counter()
        pred = predict(self.model, data.x_va, cfg, self.device, data.y_va, data.l_va)
        record["val_loss"] = pred.loss
        record.update({f"val_{k}": v for k, v in quick_scores(pred, val.masks, val.labels, cfg.threshold).items()})
        score = float(np.mean([record[k] for k in ("val_dsc", "val_acc") if k in record]))
        metric = pred.loss if cfg.select_on == "loss" else -score
        if cfg.plateau:
            self.scheduler.step(pred.loss)
        improved = metric < state.best_metric
        record["eval_seconds"] = time.perf_counter() - t_eval
        if improved:
            state.best_metric, state.best_epoch, state.since_best = metric, epoch, 0
            weights = {"model": self.model.state_dict(), "config": cfg.to_dict(), "epoch": epoch}
            save_checkpoint(best, {**weights, "provenance": self.provenance})
        else:
            state.since_best += 1
        return improved

    def save_last(self, last: Path, state: TrainState) -> None:
        """Everything a resume needs, the RNG states included, in ``last.pt``."""
        save_checkpoint(
            last,
            {
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict(),
                "state": dict(state.__dict__),
                "rng": _rng_states(),
                "config": self.cfg.to_dict(),
                "provenance": self.provenance,
            },
        )


def _log_epoch(cfg: RunConfig, record: dict[str, float], improved: bool, progress: bool) -> None:
    from tqdm.auto import tqdm

    vals = " ".join(f"{k}={record[k]:.4f}" for k in ("train_loss", "val_loss", "val_dsc", "val_acc") if k in record)
    best = " *best*" if improved else ""
    msg = f"epoch {int(record['epoch'])}/{cfg.epochs} {vals} lr={record['lr']:.2e} {record['seconds']:.1f}s{best}"
    log.info(msg)
    if progress:
        tqdm.write(msg)
