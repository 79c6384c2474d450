"""Stage: score -- per-image segmentation metrics and per-fold classification metrics.

Conventions (all at the network resolution, e.g. 128 x 128 pixels):

* Dice, Jaccard, recall, precision: ``2TP/(2TP+FP+FN)``, ``TP/(TP+FP+FN)``, ``TP/(TP+FN)``,
  ``TP/(TP+FP)``. Both masks empty -> all four are 1 (the paper code's convention for normal
  images); exactly one mask empty -> all four are 0.
* Hausdorff distance: symmetric 95th-percentile HD (``hd95``, as MONAI computes it: the larger of the
  two directed 95th percentiles of boundary-to-boundary Euclidean distances) and the maximum HD
  (``hd_max``), in pixels. Both masks empty -> 0; exactly one empty -> the image diagonal
  (``sqrt(H^2 + W^2)``, 181.02 px at 128 x 128), the largest distance possible in the image.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class SegScores:
    """Segmentation metrics of one image (see the module docstring for the conventions)."""

    dice: float
    jaccard: float
    recall: float
    precision: float
    hd95: float
    hd_max: float


def _boundary(mask: np.ndarray) -> np.ndarray:
    # MONAI's edges: the mask minus its erosion by scipy's default (cross, 4-neighbour) structure
    eroded = ndimage.binary_erosion(mask, border_value=0)
    return mask & ~eroded


def hausdorff(pred: np.ndarray, gt: np.ndarray, percentile: float = 95.0) -> float:
    """Symmetric Hausdorff distance between the boundaries of two non-empty ``(H, W) bool`` masks, pixels.

    ``percentile=100`` gives the classical (maximum) distance.
    """
    bp, bg = _boundary(pred), _boundary(gt)
    d_to_g = ndimage.distance_transform_edt(~bg)[bp]
    d_to_p = ndimage.distance_transform_edt(~bp)[bg]
    return float(max(np.percentile(d_to_g, percentile), np.percentile(d_to_p, percentile)))


def seg_scores(pred: np.ndarray, gt: np.ndarray) -> SegScores:
    """All segmentation metrics of one ``(H, W)`` prediction against its ground truth."""
    pred, gt = np.asarray(pred, bool), np.asarray(gt, bool)
    p_any, g_any = bool(pred.any()), bool(gt.any())
    if not p_any and not g_any:
        return SegScores(1.0, 1.0, 1.0, 1.0, 0.0, 0.0)
    if p_any != g_any:
        diag = math.hypot(*pred.shape)
        return SegScores(0.0, 0.0, 0.0, 0.0, diag, diag)
    tp = float(np.logical_and(pred, gt).sum())
    fp = float(np.logical_and(pred, ~gt).sum())
    fn = float(np.logical_and(~pred, gt).sum())
    return SegScores(
        dice=2 * tp / (2 * tp + fp + fn),
        jaccard=tp / (tp + fp + fn),
        recall=tp / (tp + fn),
        precision=tp / (tp + fp) if tp + fp else 0.0,
        hd95=hausdorff(pred, gt, 95.0),
        hd_max=hausdorff(pred, gt, 100.0),
    )


def dice_batch(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """``(N,)`` Dice of ``(N, H, W)`` boolean predictions against ground truths, vectorised, with the
    conventions of :func:`seg_scores` (both empty -> 1, exactly one empty -> 0)."""
    p = pred.reshape(len(pred), -1).astype(bool)
    g = gt.reshape(len(gt), -1).astype(bool)
    tp = (p & g).sum(1).astype(float)
    denom = p.sum(1) + g.sum(1)
    return np.where(denom == 0, 1.0, 2 * tp / np.maximum(denom, 1))


def confusion_matrix(
    y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray, n_classes: int
) -> np.ndarray:
    """``(C, C) int64``: rows are true classes, columns predicted."""
    cm = np.zeros((n_classes, n_classes), np.int64)
    for t, p in zip(y_true, y_pred):
        cm[int(t), int(p)] += 1
    return cm


def f1_scores(cm: np.ndarray) -> np.ndarray:
    """``(C,)`` F1 per class from a confusion matrix (eq. 6); 0 for a class never true nor predicted."""
    tp = np.diag(cm).astype(float)
    fp = cm.sum(0) - tp
    fn = cm.sum(1) - tp
    denom = 2 * tp + fp + fn
    return np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)


def weighted_f1(cm: np.ndarray) -> float:
    """F1 averaged over classes weighted by their true support (scikit-learn's ``average='weighted'``)."""
    support = cm.sum(1).astype(float)
    return float((f1_scores(cm) * support).sum() / support.sum()) if support.sum() else 0.0


def accuracy(cm: np.ndarray) -> float:
    """Fraction of correct predictions (eq. 5 over all classes)."""
    return float(np.trace(cm) / cm.sum()) if cm.sum() else 0.0
