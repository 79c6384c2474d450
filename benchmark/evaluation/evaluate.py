"""Stage: evaluate -- refine test predictions, score them before and after refining, write the fold's outputs.

Per fold (``RUN/fold<K>/``): ``metrics.json`` (with provenance), ``per_image.csv``, ``confusion.csv``,
``refine_warnings.csv`` (each CSV with a ``.meta.json`` sidecar) and ``predictions.npz`` (test
probabilities, for later ablations that combine runs).
"""

from __future__ import annotations

import logging
from dataclasses import asdict
from pathlib import Path
from typing import Any, cast

import numpy as np
import pandas as pd

from benchmark.evaluation.metric_table import METRIC_KEYS
from benchmark.evaluation.metrics import accuracy, confusion_matrix, f1_scores, seg_scores, weighted_f1
from benchmark.inference.postprocess import Postprocess
from benchmark.inference.refine import RefineEvent
from benchmark.provenance import write_sidecar
from busi_curate.data.dataset import CLASSES
from busi_curate.fileio import atomic_open, write_csv, write_json

log = logging.getLogger("busi_bench")


def score_set(
    labels: np.ndarray, gt: np.ndarray, masks: np.ndarray | None, classes: np.ndarray | None, prefix: str = ""
) -> tuple[pd.DataFrame, dict[str, Any], np.ndarray | None]:
    """Per-image scores and aggregated metrics of one set of (possibly refined) predictions.

    Args:
        labels: ``(N,)`` true classes.
        gt: ``(N, S, S)`` true masks.
        masks: ``(N, S, S) bool`` predicted masks, or None without a segmentation branch.
        classes: ``(N,)`` predicted classes, or None without a classification branch.
        prefix: column prefix of the per-image frame.

    Returns:
        Per-image frame, the metrics of :data:`METRIC_KEYS`, and the confusion matrix (or None).
    """
    rows: dict[str, list[Any]] = {}  # per-image columns: scores (float), pixel counts (int), classes (str)
    metrics: dict[str, Any] = dict.fromkeys(METRIC_KEYS)
    if masks is not None:
        scores = [seg_scores(m, g > 0) for m, g in zip(masks, gt)]
        for name in ("dice", "jaccard", "hd95", "hd_max", "recall", "precision"):
            rows[prefix + name] = [getattr(s, name) for s in scores]
        dice = np.array(rows[prefix + "dice"])
        for c, cname in enumerate(CLASSES):
            sel = labels == c
            metrics[f"dsc_{cname}"] = float(dice[sel].mean()) if sel.any() else None
        metrics.update(
            dsc_avg=float(dice.mean()),
            jac=float(np.mean(rows[prefix + "jaccard"])),
            hd=float(np.mean(rows[prefix + "hd95"])),
            hd_max=float(np.mean(rows[prefix + "hd_max"])),
            rec=float(np.mean(rows[prefix + "recall"])),
            pre=float(np.mean(rows[prefix + "precision"])),
        )
        rows[prefix + "tumour_pixels"] = [int(m.sum()) for m in masks]
    cm = None
    if classes is not None:
        cm = confusion_matrix(labels, classes, len(CLASSES))
        f1 = f1_scores(cm)
        for c, cname in enumerate(CLASSES):
            metrics[f"f1_{cname}"] = float(f1[c])
        metrics.update(f1_weighted=weighted_f1(cm), acc=accuracy(cm))
        rows[prefix + "pred"] = [CLASSES[int(c)] for c in classes]
    return pd.DataFrame(rows), metrics, cm


def evaluate_fold(
    keys: list[tuple[str, str]],
    labels: np.ndarray,
    gt: np.ndarray,
    seg_prob: np.ndarray | None,
    cls_prob: np.ndarray | None,
    post: Postprocess,
) -> dict[str, Any]:
    """Score test predictions post-processed by ``post`` (the run's :class:`Postprocess`), before and after
    refining.

    Returns:
        ``{"metrics": after-refining metrics (+ before_pr, incoherence counts), "per_image": DataFrame,
        "confusion": DataFrame, "events": list of RefineEvent}``.
    """
    n = len(keys)
    out = post(keys, seg_prob, cls_prob)
    why, events = out.why, out.events
    before_df, before, _ = score_set(labels, gt, out.raw_masks, out.raw_classes, prefix="before_")
    after_df, metrics, cm = score_set(labels, gt, out.masks, out.classes)
    per_image = pd.DataFrame(
        {
            "class": [k[0] for k in keys],
            "id": [k[1] for k in keys],
            "true": [CLASSES[int(c)] for c in labels],
            "tumour_pixels_gt": [int((g > 0).sum()) for g in gt],
        }
    )
    if cls_prob is not None:
        for c, cname in enumerate(CLASSES):
            per_image[f"p_{cname}"] = cls_prob[:, c]
    per_image = pd.concat([per_image, before_df, after_df], axis=1)
    per_image["incoherent_before"] = why
    actions = {e.key: e.action for e in events}
    per_image["refine_action"] = [actions.get(f"{k[0]} {k[1]}", "") for k in keys]
    n_incoherent = sum(1 for w in why if w)
    metrics.update(
        n_test=n,
        refine=post.rule,
        incoherent_before_pr=n_incoherent / n if n else 0.0,
        incoherent_before_pr_count=n_incoherent,
        refined_cases=len(events),
        before_pr=before,
        hd_variant="hd = mean symmetric 95th-percentile Hausdorff distance, hd_max = mean maximum HD; pixels at "
        f"{gt.shape[-1]}x{gt.shape[-2]}; both masks empty -> 0, exactly one empty -> image diagonal",
    )
    confusion = None
    if cm is not None:
        confusion = pd.DataFrame(cm, columns=[f"pred_{c}" for c in CLASSES])
        confusion.insert(0, "true", list(CLASSES))
    return {"metrics": metrics, "per_image": per_image, "confusion": confusion, "events": events}


def write_fold_outputs(
    out_dir: str | Path,
    result: dict[str, Any],
    prov: dict[str, Any],
    seg_prob: np.ndarray | None,
    cls_prob: np.ndarray | None,
    extra: dict[str, Any],
    labels: np.ndarray | None = None,
    gt: np.ndarray | None = None,
) -> None:
    """Write metrics.json, the CSVs with sidecars, and predictions.npz into ``out_dir``.

    ``predictions.npz`` holds ``keys`` ("class id"), ``seg_prob_u8`` ``(N, S, S)`` (probability x 255),
    ``cls_prob`` ``(N, 3)`` and, when given, ``labels`` ``(N,)`` and ``gt_u8`` ``(N, S, S)``: enough to
    re-score or combine runs (:mod:`benchmark.evaluation.combine`) without the images.
    """
    out_dir = Path(out_dir)
    metrics = dict(result["metrics"], **extra, provenance=prov)
    write_json(out_dir / "metrics.json", metrics)
    write_csv(out_dir / "per_image.csv", result["per_image"])
    write_sidecar(out_dir / "per_image.csv", prov)
    if result["confusion"] is not None:
        write_csv(out_dir / "confusion.csv", result["confusion"])
        write_sidecar(out_dir / "confusion.csv", prov)
    events = result["events"]
    cols = list(RefineEvent.__dataclass_fields__)
    write_csv(out_dir / "refine_warnings.csv", pd.DataFrame([asdict(e) for e in events], columns=cols))
    write_sidecar(out_dir / "refine_warnings.csv", prov)
    arrays: dict[str, np.ndarray] = {
        "keys": np.array([f"{c} {i}" for c, i in result["per_image"][["class", "id"]].itertuples(index=False)])
    }
    if seg_prob is not None:
        arrays["seg_prob_u8"] = np.round(seg_prob * 255).astype(np.uint8)
    if cls_prob is not None:
        arrays["cls_prob"] = cls_prob.astype(np.float32)
    if labels is not None and gt is not None:
        arrays["labels"] = np.asarray(labels, np.int64)
        arrays["gt_u8"] = np.asarray(gt, np.uint8)
    with atomic_open(out_dir / "predictions.npz", "wb") as fh:
        np.savez_compressed(fh, **cast(dict[str, Any], arrays))  # numpy's stub reads ** as allow_pickle
    write_sidecar(out_dir / "predictions.npz", prov)
    for e in events:
        log.warning("refined %s", e.message())
