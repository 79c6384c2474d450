"""Findings, masks: agreement of the ground-truth masks inside every group (paper Table 2).

Masks are compared in a common frame, two ways: (1) each image's mask union resized to a ``size x size``
square (assumes both images cover the same field of view); (2) the second image registered onto the
first (scale + shift, :func:`~busi_curate.findings.registration.register_pair`) and the IoU taken over
the region both show. Two empty masks (normal images) have IoU 1.0 (they agree: no lesion); one empty
and one non-empty mask have IoU 0.0.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from busi_curate.findings.group_tables import group_pairs
from busi_curate.findings.registration import Registration, RegistrationSettings, register_pair
from busi_curate.review.groups import Group
from busi_curate.review.journal import Key

if TYPE_CHECKING:
    from busi_curate.scan.run import ScanResult

#: IoU bin edges of the Table 2 summary: [0, 0.5), [0.5, 0.7), [0.7, 0.9), [0.9, 1].
IOU_EDGES: tuple[float, ...] = (0.0, 0.5, 0.7, 0.9)
DEFAULT_IOU_SIZE = 256

#: ``(class, id) -> ((H, W) uint8 image, (H, W) bool mask union)``
ImageLoader = Callable[[Key], tuple[np.ndarray, np.ndarray]]


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two boolean masks of one shape; 1.0 when both are empty."""
    if a.shape != b.shape:
        raise ValueError(f"masks must have one shape, got {a.shape} and {b.shape}")
    union = int(np.count_nonzero(a | b))
    if union == 0:
        return 1.0
    return int(np.count_nonzero(a & b)) / union


def resize_mask(mask: np.ndarray, size: int) -> np.ndarray:
    """Resize a ``(H, W) bool`` mask to ``(size, size) bool``: area-average, then ``>= 0.5``."""
    from PIL import Image

    img = Image.fromarray(mask.astype(np.uint8) * 255)
    return np.asarray(img.resize((size, size), Image.Resampling.BOX), dtype=np.uint8) >= 128


def scan_loader(scan: ScanResult, verify: bool = True) -> ImageLoader:
    """A cached function ``(class, id) -> (image, mask union)`` reading from the scanned data folder.

    With ``verify`` each image goes through :func:`busi_curate.scan.run.checked_image` (ScanError if it is
    missing or its pixels changed since the scan), so the report never describes images other than the
    scanned ones.
    """
    from functools import cache

    from busi_curate.data.imageio import read_gray, read_mask_union
    from busi_curate.scan.run import checked_image

    @cache
    def load(key: Key) -> tuple[np.ndarray, np.ndarray]:
        row = scan.row_of(*key)
        image_path = scan.image_path(row)
        gray = checked_image(scan, row) if verify else read_gray(image_path)
        return gray, read_mask_union(scan.mask_paths(row), gray.shape, image_path)

    return load


def registered_mask_iou(
    mask_a: np.ndarray, mask_b: np.ndarray, reg: Registration, size: int = DEFAULT_IOU_SIZE
) -> float:
    """IoU of mask B mapped into A's frame by ``reg``, over the region both images show.

    A's frame is sampled on a grid whose long side is ``size``; B's mask is read at the mapped
    positions (nearest pixel). Pixels of A outside B's field of view are left out. Both masks empty on
    the shared region: 1.0.
    """
    h, w = mask_a.shape
    g = min(1.0, size / max(h, w))
    ys = (np.arange(max(1, round(h * g))) + 0.5) / g - 0.5
    xs = (np.arange(max(1, round(w * g))) + 0.5) / g - 0.5
    ya = np.clip(np.rint(ys), 0, h - 1).astype(np.int64)
    xa = np.clip(np.rint(xs), 0, w - 1).astype(np.int64)
    yb = np.rint((ys - reg.dy) / reg.scale).astype(np.int64)
    xb = np.rint((xs - reg.dx) / reg.scale).astype(np.int64)
    vy = (yb >= 0) & (yb < mask_b.shape[0])
    vx = (xb >= 0) & (xb < mask_b.shape[1])
    if not vy.any() or not vx.any():
        return float("nan")
    ma = mask_a[np.ix_(ya[vy], xa[vx])]
    mb = mask_b[np.ix_(yb[vy], xb[vx])]
    return mask_iou(ma, mb)


IOU_COLUMNS = [
    "group",
    "kind",
    "class_a",
    "id_a",
    "class_b",
    "id_b",
    "link",
    "empty_a",
    "empty_b",
    "iou",
    "method",
    "iou_resized",
    "iou_registered",
    "reg_scale",
    "reg_dy",
    "reg_dx",
    "reg_ncc",
]


def _pair_row(
    g: Group, a: Key, b: Key, load: ImageLoader, size: int, register: bool, reg_settings: RegistrationSettings
) -> tuple[object, ...]:
    """One row of :func:`mask_iou_table` (columns :data:`IOU_COLUMNS`)."""
    nan = float("nan")
    direct = {(p, q): gr for p, q, gr in g.pairs}
    link = direct.get((a, b)) or direct.get((b, a)) or "implied"
    (ga, ma), (gb, mb) = load(a), load(b)
    resized = mask_iou(resize_mask(ma, size), resize_mask(mb, size))
    reg, registered = None, nan
    if register:
        reg = register_pair(ga, gb, reg_settings)
        registered = registered_mask_iou(ma, mb, reg, size)
    trusted = reg is not None and reg.ncc >= reg_settings.min_ncc and not math.isnan(registered)
    iou, method = (registered, "registered") if trusted else (resized, "resized")
    fit = (round(reg.scale, 4), round(reg.dy, 1), round(reg.dx, 1), round(reg.ncc, 4)) if reg else (nan,) * 4
    return (
        g.id,
        g.kind,
        a[0],
        a[1],
        b[0],
        b[1],
        link,
        not ma.any(),
        not mb.any(),
        round(iou, 6),
        method,
        round(resized, 6),
        round(registered, 6),
        *fit,
    )


def mask_iou_table(
    groups: Sequence[Group],
    load: ImageLoader,
    size: int = DEFAULT_IOU_SIZE,
    register: bool = True,
    reg_settings: RegistrationSettings = RegistrationSettings(),
    progress: bool = False,
) -> pd.DataFrame:
    """Mask IoU of every pair inside every group (Table 2), in a common frame (``progress``: a bar on stderr).

    Two measurements per pair: ``iou_resized`` (both masks resized to ``size x size``: assumes both
    images show the same field of view) and, with ``register``, ``iou_registered`` (B registered onto A by
    :func:`~busi_curate.findings.registration.register_pair`, IoU over the region both show). ``iou`` is the
    registered value when the registration is trusted (``reg_ncc >= min_ncc``), else the resized one;
    ``method`` says which. ``link`` is the grade of the decision on that pair, or ``implied`` when the pair
    was joined through other members.
    """
    from tqdm.auto import tqdm

    pairs = list(group_pairs(groups))
    bar = tqdm(pairs, desc="mask IoU", unit="pair", disable=not progress, leave=False, file=sys.stderr)
    rows = [_pair_row(g, a, b, load, size, register, reg_settings) for g, a, b in bar]
    return pd.DataFrame(rows, columns=IOU_COLUMNS)


def iou_bin_labels(edges: Sequence[float] = IOU_EDGES) -> list[str]:
    """Labels of the IoU bins: ``IoU < 0.5``, ``0.5 <= IoU < 0.7``, ..., ``IoU >= 0.9``."""
    labels = [f"IoU < {edges[1]:g}"]
    labels += [f"{lo:g} <= IoU < {hi:g}" for lo, hi in zip(edges[1:-1], edges[2:])]
    labels.append(f"IoU >= {edges[-1]:g}")
    return labels


def _share(k: int, n: int) -> float:
    return round(k / n, 4) if n else float("nan")


def _summary_rows(col: str, iou: np.ndarray, lesion: np.ndarray, edges: Sequence[float]) -> list[tuple[object, ...]]:
    """The rows of one measure of :func:`iou_summary`: one per bin, then ``mean`` and ``median``."""
    idx = np.searchsorted(np.asarray(edges[1:]), iou, side="right")
    n_lesion = int(lesion.sum())
    rows: list[tuple[object, ...]] = []
    for i, lab in enumerate(iou_bin_labels(edges)):
        k_all, k_les = int(np.sum(idx == i)), int(np.sum((idx == i) & lesion))
        rows.append((col, lab, k_all, _share(k_all, len(iou)), k_les, _share(k_les, n_lesion)))
    for name, fn in (("mean", np.mean), ("median", np.median)):
        all_ = round(float(fn(iou)), 4) if len(iou) else float("nan")
        with_lesion = round(float(fn(iou[lesion])), 4) if lesion.any() else float("nan")
        rows.append((col, name, len(iou), all_, n_lesion, with_lesion))
    return rows


def iou_summary(
    table: pd.DataFrame, edges: Sequence[float] = IOU_EDGES, columns: Sequence[str] = ("iou",)
) -> pd.DataFrame:
    """Table 2: pairs per IoU bin, for all pairs and for pairs where at least one mask is non-empty.

    One block of rows per measurement in ``columns`` (pairs where it is NaN are left out). Columns:
    ``measure, bin, pairs, share, pairs_with_lesion, share_with_lesion``; each block ends with the
    ``mean`` and ``median`` IoU in the ``share`` columns' place (``pairs`` = number of pairs used).
    """
    rows = []
    for col in columns:
        if len(table) and col in table:
            iou = table[col].to_numpy(dtype=float)
            lesion = ~(table["empty_a"].to_numpy(dtype=bool) & table["empty_b"].to_numpy(dtype=bool))
            ok = ~np.isnan(iou)
            iou, lesion = iou[ok], lesion[ok]
        else:
            iou, lesion = np.zeros(0), np.zeros(0, bool)
        rows += _summary_rows(col, iou, lesion, edges)
    return pd.DataFrame(rows, columns=["measure", "bin", "pairs", "share", "pairs_with_lesion", "share_with_lesion"])
